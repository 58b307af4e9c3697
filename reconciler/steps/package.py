"""``PackageSteps``: the eight steps wired to the project's packages (the production steps).

Each method is a thin adapter: it reads what it needs from the context (provider, history
store, policy, state), calls one package, and returns the step view. What one step learns that
a later one needs (inventory, traffic graph, group demand) is kept on the instance for this
cycle only; a new ``PackageSteps`` is made per cycle by ``reconciler.steps.build``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl

from forecasting.cache import ModelCache, review_models
from forecasting.censor import ALLOWANCE_COUNTERS
from forecasting.demand import SOURCE_METRICS, build_demand, member_capacity
from forecasting.grid import ForecastGrid, ForecastSettings
from forecasting.review import FeedbackSettings
from policies.schema import ForecastSettings as PolicyForecast
from providers.models import (
    MetricName,
    MetricQuery,
    Resource,
    ScalingGroup,
    TimeWindow,
    metric_applies,
)
from reconciler.allocation.usage import measure
from reconciler.context import RunContext
from reconciler.groups import ComposerState
from reconciler.history import ingest
from reconciler.history.engine import HistoryQueries, history_queries
from reconciler.planning.models import PlanMetric
from reconciler.remediation import RemediationConfig, RemediationResult
from reconciler.steps.allocate import provisioning_window, run_allocate
from reconciler.steps.apply import run_apply
from reconciler.steps.forecast import run_forecast, scored_frame
from reconciler.steps.groups import (
    analysis_config,
    membership_drift,
    pending_recomposes,
    run_analysis,
    run_compose,
)
from reconciler.steps.plan import run_plan
from reconciler.steps.remediate import ALLOWANCE_METRICS, build_observations, run_remediation
from reconciler.steps.respond import act_on_remediation
from reconciler.steps.types import (
    Allocation,
    Analysis,
    ApplyResult,
    Collected,
    ForecastSet,
    GroupSet,
    Plan,
    Scored,
    is_lookahead,
)
from reconciler.steps.users import (
    collect_users,
    compose_users,
    users_demand,
    users_requests,
    users_signals,
)

__all__ = ["COLLECTED_METRICS", "PackageSteps", "StepSettings"]

_BANDWIDTH = str(PlanMetric.NETWORK_GBPS)
#: Hours of metric points are merged into one file once they ended this long ago: late points
#: (CloudWatch's lag) still land in a file of their own and are merged by a later cycle.
COMPACT_AFTER = timedelta(hours=1)

#: Metrics collected each cycle, each of the resources whose kind publishes it
#: (``providers.models.METRIC_KINDS``): what the forecast step's demand series are built from
#: (``forecasting.demand.DEMAND_SOURCES``), and the allowance counters. Memory and the
#: allowance counters exist only with the CloudWatch agent (else they come back empty); the
#: response time is a load balancer's.
COLLECTED_METRICS: tuple[tuple[MetricName, str], ...] = (
    (MetricName.NETWORK_IN, "Sum"),
    (MetricName.NETWORK_OUT, "Sum"),
    (MetricName.CPU_UTILIZATION, "Average"),
    (MetricName.MEMORY_USED_PERCENT, "Average"),
    (MetricName.EBS_READ_BYTES, "Sum"),
    (MetricName.EBS_WRITE_BYTES, "Sum"),
    (MetricName.BW_IN_ALLOWANCE_EXCEEDED, "Sum"),
    (MetricName.BW_OUT_ALLOWANCE_EXCEEDED, "Sum"),
    (MetricName.PPS_ALLOWANCE_EXCEEDED, "Sum"),
    (MetricName.TARGET_RESPONSE_TIME, "Average"),
)


@dataclass(frozen=True)
class StepSettings:
    """How far back each step looks; defaults suit a 5-15 minute schedule.

    The forecast's reach is the policy's (``forecast.lookback``, ``frequency``, ``horizon``):
    ``forecast_history`` and ``forecast.step`` / ``forecast.horizon`` left ``None`` take it;
    set them only to override the policy (tests, benchmarks).
    """

    collect_lookback: timedelta = timedelta(hours=1)
    forecast_history: timedelta | None = None
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    remediation: RemediationConfig = field(default_factory=RemediationConfig)
    flow_backfill: timedelta = timedelta(days=7)
    metric_backfill: timedelta = timedelta(days=7)
    metrics: tuple[tuple[MetricName, str], ...] = COLLECTED_METRICS
    hub_min_partners: int | None = None
    #: Where group demand comes from: CloudWatch NetworkIn/Out ("metrics") or the bytes of the
    #: flow logs in and out of each member ("flows", when metrics do not reach back far enough).
    demand_source: Literal["metrics", "flows"] = "metrics"
    #: the accuracy tracker's windows and thresholds (demotion to the baseline, drift refits);
    #: it is kept in the model cache (``RunContext.models``), so only between cycles of a process
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)


@dataclass
class PackageSteps:
    """Implements ``reconciler.context.CycleSteps`` with the real packages."""

    settings: StepSettings = field(default_factory=StepSettings)
    state: Any = None  # reconciler.state.StateStore, for previous forecasts and commands
    inventory: list[Resource] = field(default_factory=list)
    scaling: list[ScalingGroup] = field(default_factory=list)  # as the cloud has them now
    catalog: dict[str, Any] = field(default_factory=dict)
    graph: Any = None
    hubs: set[str] = field(default_factory=set)
    demand: pl.DataFrame | None = None  # bandwidth per group: series_id, ts, y (Gbps)
    group_demand: pl.DataFrame | None = None  # every metric: group_id, metric, ts, y
    #: the request history the forecast step read (its lookback), for the plan's user signals
    requests: pl.DataFrame | None = None
    previous: dict[str, list[Any]] = field(default_factory=dict)
    resource_gbps: pl.DataFrame | None = None
    #: builds a forecaster per model kind (``run_forecast``'s ``make_model``); None: the real ones
    make_model: Callable[[str, ForecastGrid], Any] | None = None
    grid: ForecastGrid | None = None  # this cycle's, set by ``forecast``
    #: who answers the history queries: None until first asked, then the policy's ``engine``
    queries: HistoryQueries | None = None

    # ---- collect ------------------------------------------------------------------------------
    def collect(self, ctx: RunContext) -> Collected:
        """Inventory, then flows and metrics since the last stored point (a backfill of up to
        ``flow_backfill`` / ``metric_backfill`` when the history has none), into the history."""
        now = ctx.clock.now()
        lookback = self.settings.collect_lookback
        self.inventory = ctx.provider.inventory()
        self.scaling = ctx.provider.scaling_groups()
        ctx.history.write_inventory(self.inventory, now)
        flow_window = _since(
            ctx.history.latest("flows"), now, lookback, self.settings.flow_backfill
        )
        report = ingest(ctx.provider.flow_records(flow_window), ctx.history)
        points = 0
        if self.settings.metrics:
            window = _since(
                ctx.history.latest("metrics"),
                now,
                lookback,
                self.settings.metric_backfill,
            )
            queries = [
                MetricQuery(resource_id=r.id, metric=m, stat=stat, region=r.region)
                for r in self.inventory
                for m, stat in self.settings.metrics
                if metric_applies(m, r.kind)
            ]
            points = ctx.history.write_metrics(ctx.provider.metrics(queries, window))
        compacted = ctx.history.compact_metrics(now - COMPACT_AFTER)
        self.catalog = ctx.provider.instance_catalog()
        requests = collect_users(
            ctx,
            self.inventory,
            _since(ctx.history.latest("requests"), now, lookback, self.settings.flow_backfill),
        )
        return Collected(
            window_start=flow_window.start,
            window_end=flow_window.end,
            resources=len(self.inventory),
            flow_records=report.accepted,
            metric_points=points,
            rejected=report.rejected,
            ingest=report,
            files_quarantined=ctx.history.file_quarantine_counts(),
            requests=requests,
            files_compacted=compacted,
        )

    # ---- analyze / compose --------------------------------------------------------------------
    def analyze(self, ctx: RunContext, collected: Collected) -> Analysis:
        now = ctx.clock.now()
        cfg = analysis_config(ctx.policy, hub_min_partners=self.settings.hub_min_partners)
        edges = self._queries(ctx).edges(TimeWindow(start=now - cfg.lookback, end=now))
        prev = _previous(ctx).get("composer")
        group_of = ComposerState.model_validate(prev).membership() if prev else {}
        analysis, self.graph = run_analysis(edges, self.inventory, now, cfg, group_of)
        self.hubs = set(analysis.result.hub_nodes) if analysis.result is not None else set()
        return analysis

    def compose(self, ctx: RunContext, analysis: Analysis) -> GroupSet:
        """Groups from traffic, plus the policy's manual groups and those made through the API;
        the groups remediation asked to recompose are re-formed at once (the record settles
        their actions with the cycle; a dry run changes no real command state)."""
        prev = _previous(ctx).get("composer")
        operator = self.state.operator_groups() if self.state is not None else []
        pending = pending_recomposes(self.state) if self.state is not None else None
        names = self.state.operator_names() if self.state is not None else None
        now = ctx.clock.now()
        assert analysis.result is not None  # the analyze step always sets it
        composed = run_compose(
            prev, analysis.result, self.inventory, now, ctx.policy, operator, pending, names
        )
        before = (_previous(ctx).get("users") or {}).get("composer")
        lookback = analysis_config(ctx.policy).lookback
        users, users_state = compose_users(ctx, before, lookback)
        return replace(composed, users=users, users_state=users_state)

    # ---- forecast / allocate / plan / apply ---------------------------------------------------
    def forecast_grid(self, ctx: RunContext) -> ForecastGrid:
        """This cycle's forecast grid: the policy's frequency and horizon, unless overridden; the
        near-term model covers the policy's provisioning window (next cycle + lead time)."""
        policy = ctx.policy
        window = None
        if getattr(policy, "schedule", None) is not None and hasattr(policy, "actions"):
            window = provisioning_window(policy, ctx.clock.now())
        return self.settings.forecast.resolve(getattr(policy, "forecast", None), window)

    def forecast_lookback(self, ctx: RunContext) -> timedelta:
        """How much history the forecast reads: the policy's ``forecast.lookback``."""
        if self.settings.forecast_history is not None:
            return self.settings.forecast_history
        policy = getattr(ctx.policy, "forecast", None)
        return policy.lookback if policy is not None else PolicyForecast().lookback

    def forecast(self, ctx: RunContext, groups: GroupSet) -> ForecastSet:
        """Every planner metric each group has data for (bandwidth, CPU, memory, IO, latency),
        forecast in one go over the policy's lookback, on its grid, to its horizon; the previous
        cycle's forecasts are scored per metric."""
        now = ctx.clock.now()
        self.grid = grid = self.forecast_grid(ctx)
        window = TimeWindow(start=now - self.forecast_lookback(ctx), end=now)
        step = grid.step
        points = self._queries(ctx).metric_points(window, [*SOURCE_METRICS, *ALLOWANCE_COUNTERS])
        flows = None
        if self.settings.demand_source == "flows":
            flows = self._queries(ctx).resource_series(window, step)
        capacity = member_capacity(self.inventory, self.catalog)
        demand = build_demand(points, step, capacity, groups, flows)
        self.resource_gbps, self.group_demand = demand.resource_gbps, demand.groups
        self.demand = demand.bandwidth
        cache = ctx.models if isinstance(ctx.models, ModelCache) else None
        self.requests = users_requests(ctx, groups, window)
        users = users_demand(groups, self.requests, window, step)
        series = self.group_demand if users is None else pl.concat([self.group_demand, users])
        scorable = demand.scorable if users is None else pl.concat([demand.scorable, users])
        self.previous = self._previous_forecasts(groups)
        if users is not None and self.state is not None:
            for sid in users.get_column("group_id").unique().to_list():
                self.previous[sid] = self.state.latest_forecasts(sid)
        scored = _score(self.previous, scorable)
        review = None
        if cache is not None and cache.track_feedback:  # the tracker lives in a kept cache
            review = review_models(
                cache, self.settings.feedback, scored_frame(scored), series, grid, now
            )
        result = run_forecast(
            series,
            now,
            grid,
            make_model=self.make_model,
            cache=cache,
            demoted=review.demoted if review is not None else (),
        )
        if cache is not None and cache.feedback is not None and result.shadow is not None:
            cache.feedback.keep_shadow(result.shadow)
        members = {g.id: g.members for g in groups.groups}
        measured = measure(self.demand, self.resource_gbps, members, step, now)
        return replace(
            result,
            scored=tuple(scored),
            feedback=review,
            measured=measured,
            censored=demand.censoring.summary(),
        )

    def allocate(self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet) -> Allocation:
        """The pools divided by forecast and class, holding the operators' bandwidth pins."""
        pins = self.state.pinned_bandwidth() if self.state is not None else {}
        return run_allocate(ctx.policy, groups, forecasts, ctx.clock.now(), pins)

    def plan(
        self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet, allocation: Allocation
    ) -> Plan:
        now = ctx.clock.now()
        signals = users_signals(
            ctx,
            groups,
            forecasts,
            self.group_demand,
            now + provisioning_window(ctx.policy, now),
            (self.grid or self.forecast_grid(ctx)).step,
            self.forecast_lookback(ctx),
            self.requests,
        )
        return run_plan(
            ctx.policy,
            groups,
            forecasts,
            allocation,
            self.inventory,
            self.catalog,
            ctx.clock.now(),
            self.state,
            self.scaling,
            users=signals,
        )

    def apply(
        self, ctx: RunContext, groups: GroupSet, allocation: Allocation, plan: Plan
    ) -> ApplyResult:
        return run_apply(ctx, plan, groups, allocation, self.inventory, self.scaling)

    # ---- remediate ----------------------------------------------------------------------------
    def remediate(
        self,
        ctx: RunContext,
        groups: GroupSet,
        forecasts: ForecastSet,
        allocation: Allocation,
        plan: Plan,
        applied: ApplyResult,
    ) -> RemediationResult:
        cfg = self.settings.remediation
        now = ctx.clock.now()
        demand = (
            self.demand
            if self.demand is not None
            else pl.DataFrame(
                schema={"series_id": pl.String, "ts": pl.Datetime("us", "UTC"), "y": pl.Float64}
            )
        )
        step = (self.grid or self.forecast_grid(ctx)).step
        recent = TimeWindow(start=now - step * (cfg.points + 2), end=now)
        allowance = self._queries(ctx).metric_points(recent, list(ALLOWANCE_METRICS))
        observations = build_observations(
            demand, allowance, groups, self._previous_upper(groups), points=cfg.points
        )
        drift = membership_drift(self.graph, groups, self.hubs) if self.graph is not None else {}
        breaker = _previous(ctx).get("breaker") or {}
        found = run_remediation(observations, allocation, drift, breaker, cfg)
        return act_on_remediation(
            ctx,
            found,
            groups,
            forecasts,
            plan,
            applied,
            self.inventory,
            self.scaling,
            self.catalog,
        )

    def _queries(self, ctx: RunContext) -> HistoryQueries:
        """The history queries on the engine the policy names (``engine: local | dask``)."""
        if self.queries is None:
            self.queries = history_queries(getattr(ctx.policy, "engine", None), ctx.history)
        return self.queries

    def _previous_forecasts(self, groups: GroupSet) -> dict[str, list[Any]]:
        """The previous good cycle's forecasts per group, every metric (from the state store)."""
        if self.state is None:
            return {}
        return {g.id: self.state.latest_forecasts(g.id) for g in groups.groups}

    def _previous_upper(self, groups: GroupSet) -> dict[str, dict[datetime, float]]:
        """The previous cycle's p99 bandwidth forecasts per group and timestamp (its
        full-resolution steps: a look-ahead hourly peak stands for an hour, not its first step)."""
        out: dict[str, dict[datetime, float]] = {}
        for gid, records in self.previous.items():
            for f in records:
                if is_lookahead(f.model_kind):
                    continue
                if f.metric == _BANDWIDTH and "0.99" in f.quantiles:
                    out.setdefault(gid, {})[_aware(f.ts)] = float(f.quantiles["0.99"])
        return out


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _score(previous: dict[str, list[Any]], demand: pl.DataFrame) -> list[Scored]:
    """Previous forecast points whose time has come, next to the demand actually seen for the
    same group and metric (``demand``: ``group_id, metric, ts, y``). Look-ahead hourly peaks are
    not points: they are left out (``reconciler.steps.types.is_lookahead``)."""
    if not previous or demand.height == 0:
        return []
    actual = {
        (str(g), str(m), _aware(t)): float(y)
        for g, m, t, y in demand.select("group_id", "metric", "ts", "y").iter_rows()
    }
    out = []
    for gid, records in previous.items():
        for f in records:
            if is_lookahead(f.model_kind):
                continue
            seen = actual.get((gid, str(f.metric), _aware(f.ts)))
            if seen is not None:
                out.append(
                    Scored(gid, f.metric, _aware(f.ts), dict(f.quantiles), seen, f.model_kind)
                )
    return out


def _since(
    last: datetime | None, now: datetime, lookback: timedelta, backfill: timedelta
) -> TimeWindow:
    """From the last stored point (at least ``lookback`` back, at most ``backfill``) to now."""
    start = now - backfill if last is None else max(now - backfill, min(last, now - lookback))
    return TimeWindow(start=start, end=now)


def _previous(ctx: RunContext) -> dict[str, Any]:
    """What the last good cycle left for this one (composer and breaker state)."""
    return dict(ctx.store.previous_state() or {})
