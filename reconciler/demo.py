"""``headroom demo``: the real cycle against a sandbox AWS account, no cloud account needed.

1. An in-process moto account is seeded (``reconciler.sandbox``) with a two-region fleet of
   tagged instances running several applications and shared services, flow logs and CloudWatch
   metrics for several days with daily and weekly patterns, and a surge on one application.
2. The real ``run_once`` runs several cycles on a simulated clock through the AWS provider,
   the history store, analysis and grouping, LightGBM forecasts, the allocator, the planner and
   the actuator (which stops at the plan when the Pulumi CLI is absent, and says so).
3. A summary is printed (groups, forecasts, pools, commands with reasons, remediation) and an
   HTML report is written with the traffic graph, forecast bands against what happened, pool
   allocations over the cycles and congestion avoided versus a reactive policy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from reconciler.clock import SimulatedClock
from reconciler.report.compare import CongestionComparison

if TYPE_CHECKING:
    from collections.abc import Sequence

    from providers.aws.requestsources import RequestLogSource
    from providers.models import Resource
    from reconciler.sandbox import SandboxSpec
    from reconciler.state.engine import StateLocation

__all__ = [
    "DEMO_MARKER",
    "DEMO_POLICY",
    "DemoFolderError",
    "DemoResult",
    "demo_main",
    "demo_paths",
    "demo_spec",
    "prepare_out",
]

DEMO_POLICY = Path(__file__).with_name("demo_policy.yaml")
DEMO_MARKER = ".headroom-demo"
# what a demo writes into its folder (the ``state.db`` and ``pulumi`` of older demos too):
# only these are replaced when the demo runs again
_WRITTEN = (
    "headroom.db",
    "headroom.db-wal",
    "headroom.db-shm",
    "report.html",
    "desired-state.json",
    "inventory.json",
    "history",
    "pulumi-state",
)
_OLD_WRITTEN = ("state.db", "state.db-wal", "state.db-shm", "pulumi")


class DemoFolderError(Exception):
    """``--out`` names a folder the demo will not write into (it could hold a user's files)."""


def demo_paths(out: Path) -> StateLocation:
    """The demo's folder is a state folder like any other: ``headroom.db``, ``history/``,
    ``pulumi-state/``, so ``--state-dir out`` (or ``--demo``) finds what it wrote."""
    from reconciler.state.engine import state_location

    return state_location(out, environ={})


def prepare_out(out: Path) -> None:
    """Make ``out`` ready for a demo without ever deleting a user's file: a missing or empty
    folder is taken; one the demo made (its marker file, or an older demo's ``state.db`` with
    nothing else beside what a demo writes) has only the demo's own files removed; anything
    else is refused with ``DemoFolderError``."""
    if out.exists() and not out.is_dir():
        raise DemoFolderError(f"--out {out} is a file, not a folder: choose another --out")
    entries = {p.name for p in out.iterdir()} if out.exists() else set()
    ours = set(_WRITTEN) | set(_OLD_WRITTEN) | {DEMO_MARKER}
    older_demo = "state.db" in entries and entries <= ours
    if entries and DEMO_MARKER not in entries and not older_demo:
        raise DemoFolderError(
            f"--out {out} is not empty and was not made by `headroom demo` (no {DEMO_MARKER}): "
            "nothing was deleted; choose a new or empty folder for --out"
        )
    for name in sorted(entries & (set(_WRITTEN) | set(_OLD_WRITTEN))):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text(
        "This folder was made by `headroom demo`; running it again replaces only its own files.\n",
        encoding="utf-8",
    )


@dataclass
class DemoResult:
    report_path: Path
    cycles: int
    ok_cycles: int
    groups: int
    commands: int
    apply_message: str
    comparison: CongestionComparison | None
    seconds: dict[str, float] = field(default_factory=dict)
    #: what the cycles exercised: command kinds planned (any cycle) -> how many
    command_kinds: dict[str, int] = field(default_factory=dict)
    #: metric -> groups forecast for it at the last good cycle
    forecast_metrics: dict[str, int] = field(default_factory=dict)
    #: instances held in capacity reservations by each tenant's latest ``preallocate``
    reserved_instances: int = 0
    #: flow-log lines rejected into the history store's quarantine
    quarantined: int = 0


def demo_main(
    now: datetime,
    *,
    days: float = 3.0,
    cycles: int = 8,
    interval: timedelta = timedelta(minutes=30),
    out: Path = Path(".headroom/demo"),
    policy_path: Path = DEMO_POLICY,
    console: Any = None,
    quiet_logs: bool = True,
) -> DemoResult:
    """Seed the sandbox, run ``cycles`` cycles ``interval`` apart, print, write the report.

    The sandbox covers the ``days`` before ``now``'s midnight (moto keeps CloudWatch points
    only for recent times); the cycles run on a simulated clock over its last hours, through
    the surge, and the hour after the last cycle is kept back to score the forecasts."""
    import time

    from moto import mock_aws
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from reconciler.logs import configure_logging

    prepare_out(out)
    if quiet_logs:
        configure_logging("WARNING")
    con: Console = console or Console()
    timings: dict[str, float] = {}
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days
    )
    end = start + timedelta(days=days)
    first = end - interval * (cycles + 1)
    surge_start = (first - start + 2 * interval) / timedelta(hours=1)  # from the third cycle
    con.rule("[bold]Headroom demo[/bold]: sandbox AWS account (moto), simulated clock")
    with mock_aws():
        from reconciler.sandbox import seed_sandbox

        spec = demo_spec(days, surge_start, (end - first) / timedelta(hours=1))
        t0 = time.perf_counter()
        with con.status(f"seeding the sandbox: {days:g} days of flow logs and metrics..."):
            info = seed_sandbox(spec, start)
        timings["seed"] = time.perf_counter() - t0
        con.print(
            f"sandbox: {sum(len(v) for v in info.instances.values())} instances in "
            f"{', '.join(info.regions)}; {info.objects} flow-log objects, {info.records} "
            f"flow records, {info.metric_points} metric points; surge on 'shop' from "
            f"{start + timedelta(hours=surge_start):%a %H:%M} for 3 h; {info.requests} "
            f"requests in {info.request_objects} ALB and CloudFront log objects"
        )
        t0 = time.perf_counter()
        run = _Cycles(info.regions, out, policy_path, first, interval, info.request_sources)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=con
        ) as bar:
            task = bar.add_task("cycles", total=cycles)
            for _ in range(cycles):
                report = run.once()
                bar.update(task, advance=1, description=f"cycle at {report.started_at:%a %H:%M}")
        timings["cycles"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        actual = run.actual_after()
        run.inventory = run.provider.inventory()
        run.tags = {r.id: dict(r.tags) for r in run.inventory}
        timings["observe"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    surge_at = start + timedelta(hours=surge_start)
    seen = [r.started_at for r in run.log.reports if r.started_at > surge_at]
    surprise = (surge_at, seen[0]) if seen else None
    result = _finish(run, actual, out, con, surprise)
    timings["report"] = time.perf_counter() - t0
    result.seconds = timings
    con.print(
        "exercised: commands "
        + (", ".join(f"{k} x{n}" for k, n in result.command_kinds.items()) or "none")
        + "; forecasts "
        + (", ".join(f"{m} ({n} groups)" for m, n in result.forecast_metrics.items()) or "none")
        + f"; tenants' latest pre-allocations reserve {result.reserved_instances} instance(s)"
        + f"; {result.quarantined} malformed flow-log line(s) quarantined"
    )
    con.print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    _explore(out, result.report_path, con)
    return result


def demo_spec(days: float, surge_start: float, metric_hours: float) -> SandboxSpec:
    """The demo's fleet: the sandbox's default applications, with the surging ``shop`` in
    autoscaling groups (so a scale command can show), one tenant (``billing``, tagged
    ``tenant=globex``), a load balancer whose response time rises with load, and two malformed
    lines in every text flow-log file (so the quarantine is exercised), and ALB and CloudFront
    request logs for eight tenants whose content popularity shifts when the surge starts.

    Only one small application is a tenant: a tenant group is allocated bandwidth beside its
    members' application groups, so a large tenant would book the pool twice."""
    from reconciler.sandbox import SandboxSpec, SurgeSpec
    from reconciler.sandbox_requests import RequestSpec

    apps = [
        a.model_copy(
            update={
                "autoscaling": a.name == "shop",
                "tenant": a.tenant if a.name == "billing" else None,
            }
        )
        for a in SandboxSpec().apps
    ]
    return SandboxSpec(
        days=days,
        apps=apps,
        surge=SurgeSpec(app="shop", start_hours=surge_start, duration_hours=3),
        metric_hours=metric_hours,
        bad_lines_per_file=2,
        # content popularity shifts when the surge starts, inside the cycles' window
        requests=RequestSpec(shift_hours=surge_start),
    )


def _explore(out: Path, report: Path, con: Any) -> None:
    """How to look at what the demo left, each step one command (no cloud account needed)."""
    from reconciler.state.engine import DEMO_STATE_DIR

    flag = "--demo" if out.resolve() == DEMO_STATE_DIR.resolve() else f"--state-dir {out}"
    con.print("\n[bold]Explore the demo's state[/bold] (no cloud account needed):")
    for line in (
        f"headroom commands list {flag}",
        f"headroom token create --scope read {flag}",
        f"headroom token create --scope write {flag}",
        f"headroom serve {flag}",
    ):
        con.print(f"  {line}", soft_wrap=True)
    con.print("  then http://127.0.0.1:8080/docs, with the token as `Authorization: Bearer ...`")
    con.print("  Prometheus scrapes http://127.0.0.1:8080/metrics; Grafana imports", soft_wrap=True)
    con.print(
        "  docs/grafana/headroom.json (alert rules: docs/prometheus/alerts.yml)", soft_wrap=True
    )
    con.print(
        f"  headroom plan --desired {out / 'desired-state.json'} "
        f"--inventory {out / 'inventory.json'} --no-preview",
        soft_wrap=True,
    )
    con.print(f"  report: {report.resolve()}", soft_wrap=True)


class _Cycles:
    """Runs cycles through the real ``run_once`` and keeps their log."""

    def __init__(
        self,
        regions: list[str],
        out: Path,
        policy_path: Path,
        first: datetime,
        interval: timedelta,
        request_sources: Sequence[RequestLogSource] | None = None,
    ) -> None:
        from forecasting.cache import ModelCache
        from forecasting.grid import ForecastSettings
        from policies import load_policy
        from providers.aws.provider import AwsProvider
        from providers.aws.session import AwsSessionFactory
        from providers.models import MetricName
        from reconciler.history import HistoryStore
        from reconciler.report.cycles import CycleLog
        from reconciler.state import StateStore
        from reconciler.steps.build import CycleSettings
        from reconciler.steps.package import StepSettings

        # the sandbox's ALBs are log-only (no elbv2 resource to discover): their logs are named
        self.provider = AwsProvider(
            factory=AwsSessionFactory(), regions=regions, request_sources=request_sources
        )
        self.policy = load_policy(policy_path)
        self.paths = demo_paths(out)
        self.state = StateStore.open(f"sqlite:///{self.paths.database.resolve()}")
        self.clock = SimulatedClock(first)
        self.interval = interval
        self.log = CycleLog()
        self.models = ModelCache()
        self.settings = CycleSettings(
            policy_path=policy_path,
            history_root=str(self.paths.history),
            state_dir=out,
            steps=StepSettings(
                collect_lookback=interval,
                forecast=ForecastSettings(min_lgbm_days=1.5, retrain_every=timedelta(hours=3)),
                demand_source="flows",
                metric_backfill=interval,  # moto's GetMetricData is slow on long windows
                metrics=(  # every metric the planner forecasts, and the allowance counter
                    (MetricName.NETWORK_OUT, "Sum"),
                    (MetricName.CPU_UTILIZATION, "Average"),
                    (MetricName.MEMORY_USED_PERCENT, "Average"),
                    (MetricName.EBS_READ_BYTES, "Sum"),
                    (MetricName.EBS_WRITE_BYTES, "Sum"),
                    (MetricName.TARGET_RESPONSE_TIME, "Average"),
                    (MetricName.BW_OUT_ALLOWANCE_EXCEEDED, "Sum"),
                ),
            ),
        )
        self.out = out
        self.history = HistoryStore(self.settings.history_root)  # kept across the cycles
        self.tags: dict[str, dict[str, str]] = {}
        self.inventory: list[Resource] = []  # the fleet as the last cycle left it

    def once(self) -> Any:
        from reconciler.actuate.actuator import Actuator, StackTarget
        from reconciler.loop import run_once
        from reconciler.steps.build import build_context

        root = Path(__file__).resolve().parent.parent
        target = StackTarget("demo", root, self.paths.pulumi)
        ctx = build_context(
            self.settings,
            clock=self.clock,
            provider=self.provider,
            policy=self.policy,
            state=self.state,
            actuator=Actuator(target, self.clock),
            holder="demo",
            history=self.history,
        )
        ctx.models = self.models
        ctx.observer = self.log.observe
        report = run_once(ctx)
        self.clock.advance(self.interval)
        return report

    def actual_after(self) -> pl.DataFrame:
        """What each group's demand turned out to be, from six hours before the first cycle
        to an interval after the last: the flows after the last cycle are ingested first."""
        from forecasting.demand import flow_gbps, group_series
        from providers.models import TimeWindow
        from reconciler.history import HistoryStore, ingest

        good = self.log.good()
        groups = good[-1][1].groups if good else None
        if groups is None:
            return pl.DataFrame()
        history = HistoryStore(self.settings.history_root)
        last = self.log.reports[-1].started_at
        ingest(self.provider.flow_records(TimeWindow(start=last, end=self.clock.now())), history)
        start = self.log.reports[0].started_at - timedelta(hours=6)
        step = timedelta(minutes=5)
        series = history.resource_series(TimeWindow(start=start, end=self.clock.now()), step)
        return group_series(flow_gbps(series, step), groups)


def _finish(
    run: _Cycles,
    actual: pl.DataFrame,
    out: Path,
    con: Any,
    surprise: tuple[datetime, datetime] | None = None,
) -> DemoResult:
    from reconciler.report import ReportData, compare_with_reactive, write_report
    from reconciler.users.recorded import user_group_views

    good = run.log.good()
    last = good[-1][1] if good else None
    comparison = None
    in_force: pl.DataFrame | None = None
    demand = (
        actual.rename({"series_id": "group_id", "y": "demand_gbps"}) if actual.height else actual
    )
    if demand.height:
        in_force = run.log.in_force(demand)
        if in_force.height:
            # the reactive peer on Headroom's terms: it decides when a cycle runs, its change
            # is in force from the same interval, and it is capped at the same class ceiling
            cls = run.policy.group_classes[run.policy.default_class]
            comparison = compare_with_reactive(
                in_force,
                decide_at=[r.started_at for r in run.log.reports],
                ceiling_gbps=cls.ceiling_gbps,
                surprise=surprise,
            )
    _summary(run, comparison, con)
    desired = last.applied.desired if last is not None and last.applied else None
    if desired is not None:
        # with the Pulumi CLI absent this is what `pulumi up` would apply
        written = out / "desired-state.json"
        written.write_text(desired.model_dump_json(indent=2) + "\n", encoding="utf-8")
        con.print(f"desired state: [bold]{written.resolve()}[/bold]")
        # the fleet it was built from: `headroom plan --desired ... --inventory ...` diffs them
        fleet = out / "inventory.json"
        fleet.write_text(
            json.dumps([r.model_dump(mode="json") for r in run.inventory], indent=2) + "\n",
            encoding="utf-8",
        )
    peaks: dict[str, float] = {}
    if last is not None and last.forecasts is not None and last.allocation is not None:
        from reconciler.steps.allocate import BANDWIDTH_METRIC, provisioning_window, window_peaks

        at = last.allocation.at
        until = at + provisioning_window(run.policy, at)
        peaks = window_peaks(last.forecasts, BANDWIDTH_METRIC, until)
    edges = last.analysis.graph_edges if last is not None and last.analysis else None
    data = ReportData(
        title="Headroom demo: sandbox fleet, simulated cycles",
        runs=list(run.log.reports),
        groups=last.groups if last else None,
        edges=edges,
        forecasts=run.log.rolling_forecasts(),
        actual=actual.rename({"series_id": "group_id"}) if actual.height else None,
        allocations=run.log.allocations(),
        commands=list(last.plan.commands) if last and last.plan else [],
        actions=[a for _, o in good if o.remediation for a in o.remediation.actions],
        comparison=comparison,
        notes=[f"apply: {last.applied.message}"] if last and last.applied else [],
        desired=desired,
        forecast_peaks=peaks,
        in_force=in_force,
        markers=[(surprise[0], "sandbox surge starts")] if surprise else [],
        users=user_group_views(run.state),
    )
    path = write_report(data, out / "report.html")
    con.print(f"\nHTML report: [bold]{path.resolve()}[/bold]")
    exercised = _exercised(run)
    return DemoResult(
        command_kinds=exercised.command_kinds,
        forecast_metrics=exercised.forecast_metrics,
        reserved_instances=exercised.reserved_instances,
        quarantined=exercised.quarantined,
        report_path=path,
        cycles=len(run.log.reports),
        ok_cycles=len(good),
        groups=len(last.groups.groups) if last and last.groups else 0,
        commands=len(last.plan.commands) if last and last.plan else 0,
        apply_message=last.applied.message if last and last.applied else "",
        comparison=comparison,
    )


@dataclass
class _Exercised:
    command_kinds: dict[str, int]
    forecast_metrics: dict[str, int]
    reserved_instances: int
    quarantined: int


def _exercised(run: _Cycles) -> _Exercised:
    """Which metrics and actions the cycles exercised (the demo covers them all)."""
    from collections import Counter

    from reconciler.history import HistoryStore
    from reconciler.planning.preallocate import RESERVATIONS_KEY

    good = run.log.good()
    kinds: Counter[str] = Counter()
    reserved: dict[str, int] = {}  # tenant group -> instances its latest command reserves
    for _, o in good:
        for cmd in o.plan.commands if o.plan else ():
            kinds[str(cmd.kind)] += 1
            after = cmd.after if isinstance(cmd.after, dict) else {}
            held = after.get(RESERVATIONS_KEY)
            if str(cmd.kind) == "preallocate" and isinstance(held, list):
                counts = [r.get("count") if isinstance(r, dict) else None for r in held]
                reserved[cmd.target] = sum(c for c in counts if isinstance(c, int))
    metrics: dict[str, int] = {}
    last = good[-1][1] if good else None
    if last is not None and last.forecasts is not None and last.forecasts.frame.height:
        per = last.forecasts.frame.group_by("metric").agg(pl.col("group_id").n_unique())
        metrics = {str(m): int(n) for m, n in per.sort("metric").iter_rows()}
    quarantined = sum(HistoryStore(run.settings.history_root).quarantine_counts().values())
    return _Exercised(dict(sorted(kinds.items())), metrics, sum(reserved.values()), quarantined)


def _summary(run: _Cycles, comparison: CongestionComparison | None, con: Any) -> None:
    from rich.table import Table

    from reconciler.runner_cli import print_report

    if run.log.reports:
        print_report(run.log.reports[-1])
    good = run.log.good()
    if not good:
        con.print("[red]no cycle succeeded[/red]")
        return
    out = good[-1][1]
    alloc = (out.remediation.allocation if out.remediation else None) or out.allocation
    if out.groups is not None:
        tags = run.tags
        t = Table(title="groups found (apps: the sandbox's own app tags, to compare)")
        for c in ("group", "name", "kind", "members", "apps", "region", "confidence", "alloc Gbps"):
            t.add_column(c)
        for g in out.groups.groups:
            apps = sorted({tags.get(m, {}).get("app", m.split(":")[0]) for m in g.members})
            got = alloc.groups.get(g.id) if alloc else None
            t.add_row(
                g.id,
                g.name,
                g.kind,
                str(len(g.members)),
                ", ".join(apps),
                g.region,
                f"{g.confidence:.2f}",
                f"{got:.3f}" if got is not None else "-",
            )
        con.print(t)
    if out.forecasts is not None and out.forecasts.frame.height:
        t = Table(title="bandwidth forecasts, next hour (peak, Gbps)")
        for c in ("group", "model", "p50", "p90", "p99"):
            t.add_column(c)
        peaks = (
            out.forecasts.near_term()
            .filter(pl.col("metric") == "network_gbps")
            .group_by("group_id")
            .agg(pl.col("p50").max(), pl.col("p90").max(), pl.col("p99").max())
            .sort("p90", descending=True)
        )
        for gid, p50, p90, p99 in peaks.iter_rows():
            t.add_row(
                gid,
                out.forecasts.model_by_group.get(gid, "?"),
                f"{p50:.3f}",
                f"{p90:.3f}",
                f"{p99:.3f}",
            )
        con.print(t)
        others = (
            out.forecasts.frame.filter(pl.col("metric") != "network_gbps")
            .group_by("metric")
            .agg(pl.col("group_id").n_unique())
            .sort("metric")
        )
        if others.height:
            con.print(
                "also forecast: "
                + ", ".join(f"{m} for {n} group(s)" for m, n in others.iter_rows())
            )
    if alloc is not None:
        t = Table(title="pools")
        for c in ("pool", "parent", "capacity Gbps", "allocated Gbps"):
            t.add_column(c)
        for p in alloc.pools:
            t.add_row(
                p.pool_id, p.parent or "-", f"{p.capacity_gbps:.3f}", f"{p.allocated_gbps:.3f}"
            )
        con.print(t)
    # the same change planned again in later cycles (nothing applied it) is one row
    planned: dict[tuple[str, str, str], tuple[Any, int]] = {}
    for _, o in good:
        for cmd in o.plan.commands if o.plan else ():
            key = (cmd.kind, cmd.target, str(cmd.after))
            planned[key] = (cmd, planned.get(key, (cmd, 0))[1] + 1)
    t = Table(title=f"commands planned over {len(good)} cycles (latest reason)")
    for c in ("kind", "target", "before", "after", "cycles", "reason"):
        t.add_column(c)
    for cmd, n in list(planned.values())[:25]:
        t.add_row(cmd.kind, cmd.target, str(cmd.before), str(cmd.after), str(n), cmd.reason[:120])
    con.print(t)
    acted: dict[tuple[str, str], tuple[Any, int]] = {}
    for _, o in good:
        for a in o.remediation.actions if o.remediation else ():
            rkey = (str(a.kind), a.group_id)
            acted[rkey] = (a, acted.get(rkey, (a, 0))[1] + 1)
    if acted:
        t = Table(title="remediation (latest reason)")
        for c in ("action", "group", "cycles", "reason"):
            t.add_column(c)
        for a, n in list(acted.values())[:20]:
            t.add_row(str(a.kind), a.group_id, str(n), a.reason[:140])
        con.print(t)
    if out.applied is not None:
        con.print(f"[yellow]apply:[/yellow] {out.applied.message}")
    if comparison is not None:
        con.print(
            f"congestion: headroom {comparison.headroom_congested} of {comparison.intervals} "
            f"group-intervals, reactive policy {comparison.reactive_congested} "
            f"({comparison.avoided} avoided); slack {comparison.headroom_slack:.0%} vs "
            f"{comparison.reactive_slack:.0%} (both decide at each "
            f"{run.interval / timedelta(minutes=1):g}-minute cycle)"
        )
        con.print(
            f"  of which at the surge start, before any cycle could see it: headroom "
            f"{comparison.headroom_surprise}, reactive {comparison.reactive_surprise}; "
            f"after it: headroom "
            f"{comparison.headroom_congested - comparison.headroom_surprise}, reactive "
            f"{comparison.reactive_congested - comparison.reactive_surprise}"
        )
