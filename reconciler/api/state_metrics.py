"""Prometheus gauges of what the cycles recorded, read from the state store at scrape time.

Per pool, per group (``group`` id and ``group_name`` labels), per step and per command kind:
the allocation in force and its measured use, the next-step bandwidth forecast (p50/p90/p99),
the congestion signals of the last cycle's remediation, the error of the last scored forecasts,
the last cycle's commands by kind and status, its step durations and the time of the last
successful cycle; per user group its forecast request rate and pre-allocated vCPU
(``reconciler.api.users_metrics``). Built once per state version (every write bumps it), so
scrapes between two cycles cost one primary-key read.

Cardinality is bounded: only the ``top_groups`` groups with the largest allocation get their
own series; the rest are summed into one ``group="other"`` series (its forecast is the sum of
the groups' quantiles: an upper bound for the quantile of the sum), and
``headroom_groups{series="own|other"}`` says how many groups each holds.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciler.allocation.usage import utilisation
from reconciler.api.users_metrics import user_group_gauges
from reconciler.remediation.types import Signal
from reconciler.state import AccuracyRecord, GroupRecord, RunRecord, StateStore

__all__ = ["FORECAST_METRIC", "FORECAST_QUANTILES", "OTHER", "StateCollector"]

#: the forecast metric exported (the one allocation is sized from)
FORECAST_METRIC = "network_gbps"
FORECAST_QUANTILES = ("0.5", "0.9", "0.99")
#: the ``group`` (and ``group_name``) label of the groups beyond ``top_groups``
OTHER = "other"
_SIGNALS = tuple(str(s) for s in Signal)
_STEP_FAILED = re.compile(r"^step (\w+) failed")
_GROUP = ["group", "group_name", "pool"]


@dataclass
class _GroupRow:
    """One exported group series (or the ``other`` aggregate)."""

    group: str
    name: str
    pool: str
    allocated: float = 0.0
    used: float | None = None
    forecast: dict[str, float] = field(default_factory=dict)
    signals: Counter[str] = field(default_factory=Counter)
    errors: list[float] = field(default_factory=list)  # |actual - p50|, newest first
    misses: int = 0
    reactive: int = 0

    def add(self, other: _GroupRow) -> None:
        self.allocated += other.allocated
        if other.used is not None:
            self.used = (self.used or 0.0) + other.used
        for q, v in other.forecast.items():
            self.forecast[q] = self.forecast.get(q, 0.0) + v
        self.signals.update(other.signals)
        self.errors.extend(other.errors)
        self.misses += other.misses
        self.reactive += other.reactive


def _seconds(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _miss(record: AccuracyRecord) -> bool:
    """The actual was above the highest quantile forecast (the under-forecast that congests)."""
    if not record.predicted:
        return False
    top = max(record.predicted, key=float)
    return record.actual > record.predicted[top]


class StateCollector(Collector):
    """Gauges of the recorded state; ``top_groups`` caps the group series, ``scored_points``
    is how many of each group's newest scored forecasts the error gauges cover, ``runs`` how
    many recent runs the failure counts cover."""

    def __init__(
        self,
        store: StateStore,
        *,
        top_groups: int = 50,
        scored_points: int = 12,
        runs: int = 20,
    ) -> None:
        if top_groups < 0 or scored_points < 1 or runs < 1:
            raise ValueError(
                f"top_groups >= 0, scored_points >= 1 and runs >= 1 needed, got "
                f"{top_groups}, {scored_points}, {runs}"
            )
        self._store = store
        self._top = top_groups
        self._points = scored_points
        self._runs = runs
        self._lock = threading.Lock()
        self._cached: tuple[int, list[GaugeMetricFamily]] | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not read the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        version = self._store.state_version()
        with self._lock:
            if self._cached is None or self._cached[0] != version:
                with self._store.reading():
                    self._cached = (version, self._build())
            families = self._cached[1]
        yield from families

    # ---- building -------------------------------------------------------------------------
    def _build(self) -> list[GaugeMetricFamily]:
        runs = self._store.recent_runs(self._runs)
        users = user_group_gauges(self._store, self._top)
        return [*self._pools(), *self._groups(runs), *users, *self._cycle(runs)]

    def _pools(self) -> list[GaugeMetricFamily]:
        def gauge(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"headroom_pool_{name}", doc, labels=["pool"])

        capacity = gauge("capacity_gbps", "Pool capacity (ceiling), Gbps.")
        allocated = gauge("allocated_gbps", "Bandwidth allocated from the pool, Gbps.")
        used = gauge("used_gbps", "Measured use of the pool at the last cycle, Gbps.")
        util = gauge("utilisation", "Pool use / allocation at the last cycle (1 = all used).")
        free = gauge("free_gbps", "Capacity not allocated, Gbps.")
        borrowed = gauge("borrowed_gbps", "Bandwidth the pool borrowed from its parent, Gbps.")
        for p in self._store.latest_pool_states():
            labels = [p.pool]
            capacity.add_metric(labels, p.capacity_gbps)
            allocated.add_metric(labels, p.allocated_gbps)
            free.add_metric(labels, max(0.0, p.free_gbps))
            if p.used_gbps is not None:
                used.add_metric(labels, p.used_gbps)
            u = utilisation(p.used_gbps, p.allocated_gbps)
            if u is not None:
                util.add_metric(labels, u)
            if p.borrowed_gbps is not None:
                borrowed.add_metric(labels, p.borrowed_gbps)
        return [capacity, allocated, used, util, free, borrowed]

    def _rows(self, runs: Sequence[RunRecord]) -> tuple[list[_GroupRow], list[_GroupRow]]:
        """Every live group's row, split into the exported top and the rest."""
        store = self._store
        groups: dict[str, GroupRecord] = {g.id: g for g in store.latest_groups()}
        allocations = {a.group_id: a for a in store.latest_allocations()}
        rows: dict[str, _GroupRow] = {}
        for gid in sorted(set(groups) | set(allocations)):
            a = allocations.get(gid)
            g = groups.get(gid)
            rows[gid] = _GroupRow(
                group=gid,
                name=g.name if g is not None else gid,
                pool=a.pool if a is not None else "",
                allocated=a.gbps if a is not None else 0.0,
                used=a.used_gbps if a is not None else None,
            )
        ranked = sorted(rows.values(), key=lambda r: (-r.allocated, r.group))
        top, rest = ranked[: self._top], ranked[self._top :]
        for row in ranked:
            forecasts = store.latest_forecasts(row.group, FORECAST_METRIC)
            if forecasts:
                first = min(forecasts, key=lambda f: f.ts)
                row.forecast = {
                    q: first.quantiles[q] for q in FORECAST_QUANTILES if q in first.quantiles
                }
            scored = store.accuracy_for_group(row.group, FORECAST_METRIC, limit=self._points)
            row.errors = [
                abs(r.actual - r.predicted["0.5"]) for r in scored if "0.5" in r.predicted
            ]
            row.misses = sum(_miss(r) for r in scored)
        last = next((r for r in runs if r.status == "succeeded"), None)
        if last is not None:
            for c in store.commands_for_run(last.id):
                if c.kind.startswith("remediate.") and c.target in rows:
                    found = {p.split(":", 1)[0].strip() for p in c.reason.split(";")}
                    for signal in found & set(_SIGNALS):
                        rows[c.target].signals[signal] = 1
        snapshot = store.latest_composer_snapshot()
        breaker = (snapshot[1] or {}).get("breaker", {}) if snapshot else {}
        for gid, entry in (breaker or {}).items():
            if gid in rows and isinstance(entry, dict) and entry.get("mode") == "reactive":
                rows[gid].reactive = 1
        return top, rest

    def _groups(self, runs: Sequence[RunRecord]) -> list[GaugeMetricFamily]:
        top, rest = self._rows(runs)
        series = list(top)
        if rest:
            other = _GroupRow(OTHER, OTHER, "")
            for row in rest:
                other.add(row)
            series.append(other)

        def gauge(name: str, doc: str, extra: Sequence[str] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"headroom_group_{name}", doc, labels=[*_GROUP, *extra])

        allocated = gauge("allocated_gbps", "Bandwidth allocated to the group now, Gbps.")
        used = gauge("used_gbps", "Measured use of the group at the last cycle, Gbps.")
        util = gauge("utilisation", "Group use / allocation at the last cycle.")
        forecast = gauge(
            "forecast_gbps",
            f"Next-step forecast of {FORECAST_METRIC} by quantile, Gbps (newest forecast).",
            ["quantile"],
        )
        congestion = gauge(
            "congestion_signals",
            "Congestion signals remediation raised for the group in the last successful cycle "
            "(1 raised, 0 not; for group=other the number of groups).",
            ["signal"],
        )
        abs_error = gauge(
            "forecast_abs_error_gbps", "|actual - p50| of the newest scored forecast point, Gbps."
        )
        mae = gauge(
            "forecast_mae_gbps",
            f"Mean |actual - p50| over the newest {self._points} scored points per group, Gbps.",
        )
        misses = gauge(
            "forecast_misses",
            f"Of the newest {self._points} scored points per group, how many had the actual "
            "above the highest forecast quantile.",
        )
        points = gauge("forecast_scored_points", "Scored forecast points the error gauges cover.")
        reactive = gauge(
            "reactive",
            "1 when repeated forecast misses switched the group to reactive sizing (circuit "
            "breaker open); for group=other the number of groups.",
        )
        for row in series:
            labels = [row.group, row.name, row.pool]
            allocated.add_metric(labels, row.allocated)
            if row.used is not None:
                used.add_metric(labels, row.used)
                u = utilisation(row.used, row.allocated)
                if u is not None:
                    util.add_metric(labels, u)
            for q, v in row.forecast.items():
                forecast.add_metric([*labels, q], v)
            for signal in _SIGNALS:
                congestion.add_metric([*labels, signal], row.signals.get(signal, 0))
            if row.errors:
                if row.group != OTHER:
                    abs_error.add_metric(labels, row.errors[0])
                mae.add_metric(labels, sum(row.errors) / len(row.errors))
            misses.add_metric(labels, row.misses)
            points.add_metric(labels, len(row.errors))
            reactive.add_metric(labels, row.reactive)
        count = GaugeMetricFamily(
            "headroom_groups",
            "Live groups: with their own series (top by allocation) or summed into group=other.",
            labels=["series"],
        )
        count.add_metric(["own"], len(top))
        count.add_metric(["other"], len(rest))
        return [allocated, used, util, forecast, congestion, abs_error, mae, misses, points,
                reactive, count]  # fmt: skip

    def _cycle(self, runs: Sequence[RunRecord]) -> list[GaugeMetricFamily]:
        finished = [r for r in runs if r.status != "running"]
        last = finished[0] if finished else None
        success = next((r for r in finished if r.status == "succeeded"), None)
        last_success = GaugeMetricFamily(
            "headroom_cycle_last_success_timestamp_seconds",
            "When the last successful cycle finished (Unix time).",
        )
        if success is not None and (at := _seconds(success.finished)) is not None:
            last_success.add_metric([], at)
        last_run = GaugeMetricFamily(
            "headroom_cycle_last_run_timestamp_seconds",
            "When the last finished cycle finished (Unix time), by its status.",
            labels=["status"],
        )
        if last is not None and (at := _seconds(last.finished)) is not None:
            last_run.add_metric([last.status], at)
        failures = 0
        for r in finished:
            if r.status != "failed":
                break
            failures += 1
        consecutive = GaugeMetricFamily(
            "headroom_cycle_consecutive_failures",
            "Finished cycles that failed in a row, newest first (0 after a success).",
        )
        consecutive.add_metric([], failures)
        recent = GaugeMetricFamily(
            "headroom_cycle_runs",
            f"Of the newest {self._runs} cycles, how many ended with each status.",
            labels=["status"],
        )
        by_status = Counter(r.status for r in runs)
        for status in ("succeeded", "failed", "running"):
            recent.add_metric([status], by_status.get(status, 0))
        steps = GaugeMetricFamily(
            "headroom_cycle_step_duration_seconds",
            "How long each step of the last finished cycle took.",
            labels=["step"],
        )
        for step, seconds in (last.step_timings if last is not None else {}).items():
            steps.add_metric([step], seconds)
        failed_steps: Counter[str] = Counter()
        known: set[str] = set()
        for r in finished:
            known.update(r.step_timings)
            if r.status == "failed":
                m = _STEP_FAILED.match(r.error or "")
                failed_steps[m.group(1) if m else "cycle"] += 1
        step_failures = GaugeMetricFamily(
            "headroom_cycle_step_failures",
            f"Of the newest {self._runs} cycles, how many failed in each step (step=cycle: "
            "outside a step, e.g. recording or the lease).",
            labels=["step"],
        )
        for step in sorted(known | set(failed_steps) | {"cycle"}):
            step_failures.add_metric([step], failed_steps.get(step, 0))
        commands = GaugeMetricFamily(
            "headroom_cycle_commands",
            "Commands the last successful cycle recorded, by kind and status (planned, applied, "
            "failed, scheduled, needs_approval, ...).",
            labels=["kind", "status"],
        )
        if success is not None:
            counted: dict[str, Counter[str]] = defaultdict(Counter)
            for c in self._store.commands_for_run(success.id):
                counted[c.kind][c.status] += 1
            for kind, statuses in sorted(counted.items()):
                for status in sorted(set(statuses) | {"planned", "applied", "failed"}):
                    commands.add_metric([kind, status], statuses.get(status, 0))
        return [last_success, last_run, consecutive, recent, steps, step_failures, commands]
