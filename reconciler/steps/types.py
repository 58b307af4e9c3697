"""What each step of the cycle hands to the next, in plain, provider-neutral data.

The packages behind the steps (history, groups, forecasting, allocation, planning, actuation)
have their own richer types; each view carries the package's result it was made from under a
typed name (``ingest``, ``result``, ``composer_events``, ``actuation``), so later steps read what
they need from typed data and the loop, remediation, the record and the report depend on this
file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import JsonValue

from infra.desired_state import DesiredState

if TYPE_CHECKING:
    from reconciler.allocation import AllocationResult
    from reconciler.allocation.usage import Measured
    from reconciler.analysis import AnalysisResult
    from reconciler.context import ActuationOutcome
    from reconciler.groups import GroupEvent
    from reconciler.history.ingest import IngestReport
    from reconciler.planning import Command
    from reconciler.planning import Plan as PlanResult
    from reconciler.users.models import UserGroup, UserSignals

__all__ = [
    "ANOMALIES_LISTED",
    "FORECAST_COLUMNS",
    "LOOKAHEAD_COLUMN",
    "LOOKAHEAD_SUFFIX",
    "Allocation",
    "Analysis",
    "Anomaly",
    "ApplyOutcome",
    "ApplyResult",
    "Collected",
    "CommandOutcome",
    "CommandView",
    "Drift",
    "ForecastSet",
    "Group",
    "GroupChange",
    "GroupSet",
    "Plan",
    "PoolAllocation",
    "Recomposed",
    "Scored",
    "is_lookahead",
]

#: Columns of ``ForecastSet.frame``: one row per (group, metric, future timestamp).
FORECAST_COLUMNS = ("group_id", "metric", "ts", "p50", "p90", "p99")
#: Optional Boolean column of ``ForecastSet.frame``: the row is a look-ahead model's hourly
#: peak (each quantile's highest from its ``ts`` to the next hour), not a full-resolution step.
LOOKAHEAD_COLUMN = "lookahead"
#: Appended to the model name of stored look-ahead rows (``ForecastRecord.model_kind``).
LOOKAHEAD_SUFFIX = "/lookahead-1h-peak"


def is_lookahead(model_kind: str) -> bool:
    """Whether a stored forecast row is a look-ahead hourly peak (not scored point by point)."""
    return model_kind.endswith(LOOKAHEAD_SUFFIX)


@dataclass(frozen=True)
class Collected:
    """What the collect step brought into the history store for the cycle's window."""

    window_start: datetime
    window_end: datetime
    resources: int
    flow_records: int
    metric_points: int
    rejected: int = 0
    ingest: IngestReport | None = None  # the history store's report of this window's ingest
    #: damaged history files moved aside so far, by reason (``HistoryStore.quarantined_files``)
    files_quarantined: dict[str, int] = field(default_factory=dict)
    #: request logs read this cycle (``reconciler.users.collect``); None: not read
    requests: dict[str, int] | None = None
    #: metric files merged away this cycle (``HistoryStore.compact_metrics``)
    files_compacted: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "flow_records": self.flow_records,
            "metric_points": self.metric_points,
            "rejected": self.rejected,
            "files_quarantined": sum(self.files_quarantined.values()),
            "files_compacted": self.files_compacted,
            **({"requests": self.requests} if self.requests is not None else {}),
        }


@dataclass(frozen=True)
class Anomaly:
    """Traffic that left its usual range: whose (a resource and the group it was in, or a
    group), which way (``traffic_high``, ``traffic_low``, ``membership``), by how much and why."""

    kind: str
    resource_id: str | None
    group_id: str | None
    at: datetime
    score: float
    value: float
    expected: float
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource_id,
            "group": self.group_id,
            "at": self.at.isoformat(),
            "score": round(self.score, 2),
            "reason": self.reason,
        }


#: At most this many anomalies (the highest scores) are listed in the analyze step's summary.
ANOMALIES_LISTED = 20


@dataclass(frozen=True)
class Analysis:
    """The traffic graph and anomalies found in it (``result``: the analysis package's)."""

    nodes: int
    edges: int
    anomaly_events: tuple[Anomaly, ...] = ()
    graph_edges: pl.DataFrame | None = None  # src, dst, bytes (decayed) for reports
    result: AnalysisResult | None = None  # communities, hubs, strengths for the composer

    @property
    def anomalies(self) -> int:
        return len(self.anomaly_events)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nodes": self.nodes, "edges": self.edges}
        out["anomalies"] = self.anomalies
        if self.anomaly_events:
            top = sorted(self.anomaly_events, key=lambda a: -abs(a.score))[:ANOMALIES_LISTED]
            out["anomaly_events"] = [a.summary() for a in top]
        return out


@dataclass(frozen=True)
class Group:
    """A group as later steps see it: stable id, kind, members, home region."""

    id: str
    kind: str
    members: tuple[str, ...]
    region: str
    confidence: float = 1.0
    name: str = ""
    group_class: str | None = None
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupChange:
    """An event in a group's life (formed, grew, shrank, merged, split, dissolved) and why."""

    group_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Recomposed:
    """What the compose step did with one stored recompose action (``command_id``)."""

    command_id: int
    group_id: str
    status: Literal["applied", "skipped"]
    note: str


@dataclass(frozen=True)
class GroupSet:
    """The groups in force after composition; ``state`` is the composer's state to keep (its
    JSON form), ``recomposes`` what became of the recompose actions taken up this cycle."""

    groups: tuple[Group, ...]
    events: tuple[GroupChange, ...] = ()
    dissolved: tuple[str, ...] = ()
    state: dict[str, object] | None = None
    composer_events: tuple[GroupEvent, ...] = ()
    recomposes: tuple[Recomposed, ...] = ()
    #: user groups from request logs (``reconciler.users``), and their composer's state to keep
    users: tuple[UserGroup, ...] = ()
    users_state: dict[str, Any] | None = None

    def by_id(self) -> dict[str, Group]:
        return {g.id: g for g in self.groups}

    def settlements(self) -> tuple[list[tuple[int, str, str | None]], dict[int, str]]:
        """The recompose actions taken up, as the store's compare-and-set update: ``(id,
        status, note)`` rows and the status each must still have (``planned``)."""
        rows: list[tuple[int, str, str | None]] = [
            (r.command_id, r.status, r.note) for r in self.recomposes
        ]
        return rows, {r.command_id: "planned" for r in self.recomposes}

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for g in self.groups:
            kinds[g.kind] = kinds.get(g.kind, 0) + 1
        out: dict[str, Any] = {
            "groups": len(self.groups),
            "kinds": kinds,
            "events": len(self.events),
        }
        if self.users:
            out["user_groups"] = len(self.users)
        out["recomposed"] = sum(1 for r in self.recomposes if r.status == "applied")
        skipped = sum(1 for r in self.recomposes if r.status == "skipped")
        if skipped:
            out["recompose_skipped"] = skipped
        return out


@dataclass(frozen=True)
class Scored:
    """A past forecast point next to what happened (the accuracy feedback loop)."""

    group_id: str
    metric: str
    ts: datetime
    predicted: dict[str, float]
    actual: float
    model_kind: str


@dataclass(frozen=True)
class ForecastSet:
    """Quantile forecasts in long form (``FORECAST_COLUMNS``), which model served each group,
    and the previous cycle's forecasts scored against the actual demand seen since.

    Rows flagged in ``LOOKAHEAD_COLUMN`` (when the frame has it) are a look-ahead model's hourly
    peaks beyond the near term; what is sized now reads ``near_term()`` only."""

    frame: pl.DataFrame
    model_by_group: dict[str, str] = field(default_factory=dict)
    scored: tuple[Scored, ...] = ()
    #: which model served each (group, metric) series, where the forecaster says so
    model_by_series: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the traffic measured at the latest complete step of the same demand series
    measured: Measured | None = None
    #: bandwidth steps a cap censored and the fit corrected (``forecasting.censor``)
    censored: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in FORECAST_COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"forecast frame lacks columns {missing}; has {self.frame.columns}")

    def model_of(self, group_id: str, metric: str) -> str:
        """The model that served ``group_id``'s ``metric`` series (else the group's model)."""
        found = self.model_by_series.get((group_id, metric))
        return found if found is not None else self.model_by_group.get(group_id, "unknown")

    def model_at(self, group_id: str, metric: str, lookahead: bool) -> str:
        """The model name stored with a row: look-ahead rows say so (``LOOKAHEAD_SUFFIX``)."""
        kind = self.model_of(group_id, metric)
        return kind + LOOKAHEAD_SUFFIX if lookahead else kind

    def near_term(self) -> pl.DataFrame:
        """The full-resolution rows: the near-term model's (every row without look-ahead)."""
        if LOOKAHEAD_COLUMN not in self.frame.columns:
            return self.frame
        return self.frame.filter(~pl.col(LOOKAHEAD_COLUMN))

    def peak(self, metric: str, quantile: str = "p90") -> dict[str, float]:
        """Highest forecast of ``quantile`` over the horizon per group, for ``metric``."""
        rows = (
            self.frame.filter(pl.col("metric") == metric)
            .group_by("group_id")
            .agg(pl.col(quantile).max())
            .iter_rows()
        )
        return {str(g): float(v) for g, v in rows}

    def summary(self) -> dict[str, Any]:
        models: dict[str, int] = {}
        for m in self.model_by_group.values():
            models[m] = models.get(m, 0) + 1
        inside = sum(1 for s in self.scored if s.actual <= s.predicted.get("0.9", float("inf")))
        return {
            "series": self.frame.select("group_id", "metric").unique().height,
            "rows": self.frame.height,
            "models": models,
            "scored_points": len(self.scored),
            "p90_coverage": round(inside / len(self.scored), 3) if self.scored else None,
            **self.censored,
        }


@dataclass(frozen=True)
class PoolAllocation:
    """One pool's capacity and what was handed out from it (Gbps)."""

    pool_id: str
    parent: str | None
    capacity_gbps: float
    allocated_gbps: float


@dataclass(frozen=True)
class Allocation:
    """Bandwidth per group (Gbps) and per pool, with the ledger lines that explain each."""

    at: datetime
    groups: dict[str, float]
    pools: tuple[PoolAllocation, ...]
    pool_of_group: dict[str, str] = field(default_factory=dict)
    ledger: dict[str, list[str]] = field(default_factory=dict)
    result: AllocationResult | None = None  # the allocator's own result (ledgers, pools)
    #: each group's class ceiling (groups without one are absent): no correction goes above it
    ceiling_of_group: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "groups": len(self.groups),
            "pools": {p.pool_id: round(p.allocated_gbps, 3) for p in self.pools},
            "total_gbps": round(sum(self.groups.values()), 3),
        }


@dataclass(frozen=True)
class CommandView:
    """A planned change; ``body`` is the planner's full command (JSON) for the record."""

    kind: str
    target: str
    before: dict[str, JsonValue]
    after: dict[str, JsonValue]
    reason: str
    status: str = "proposed"
    body: dict[str, JsonValue] | None = None
    id: int | None = None  # set for a stored command of an earlier cycle carried into this one


@dataclass(frozen=True)
class Drift:
    """A setting the cloud reports otherwise than the last applied command left it."""

    kind: str  # the command kind that sets it (scale, resize, ...)
    target: str
    applied: dict[str, int]  # what Headroom last applied (the command's ``after``)
    observed: dict[str, int]  # what the cloud reports now
    action: str  # adopt (the cloud's value stands) or restore (a command puts it back)

    def text(self) -> str:
        return (
            f"{self.kind} {self.target}: applied {self.applied}, the cloud has {self.observed}"
            f" ({self.action})"
        )


@dataclass(frozen=True)
class Plan:
    """This cycle's commands (new ones, and waiting ones carried over with their ``id``).

    ``superseded`` are stored commands this plan replaces, ``(id, reason)``; ``history`` the
    earlier cycles' commands (planner ``Command``s) for the apply step's re-check;
    ``preallocation_needs`` / ``preallocations`` the predicted need and the record in force per
    tenant group (metric name -> value).
    """

    commands: tuple[CommandView, ...]
    skipped: int = 0
    result: PlanResult | None = None  # the planner's (with what the guards held back)
    superseded: tuple[tuple[int, str], ...] = ()
    history: tuple[Command, ...] = ()
    preallocation_needs: dict[str, dict[str, float]] = field(default_factory=dict)
    preallocations: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the bandwidth tier in force per group (group id -> tier name) when the plan was made
    tiers_in_force: dict[str, str] = field(default_factory=dict)
    #: settings the cloud reports otherwise than Headroom last applied (a manual change)
    drift: tuple[Drift, ...] = ()
    #: what request logs told the planner (``reconciler.users``); None: no users section
    users: UserSignals | None = None

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for c in self.commands:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        out: dict[str, Any] = {
            "commands": len(self.commands),
            "kinds": kinds,
            "held_back": self.skipped,
        }
        carried = sum(1 for c in self.commands if c.id is not None)
        if carried:
            out["carried_over"] = carried
        if self.superseded:
            out["superseded"] = len(self.superseded)
        if self.drift:
            out["drift"] = [d.text() for d in self.drift]
        return out


class ApplyOutcome(StrEnum):
    APPLIED = "applied"
    PREVIEWED = "previewed"  # dry run: preview only
    NOTHING_TO_DO = "nothing_to_do"
    STOPPED_AT_PLAN = "stopped_at_plan"  # no Pulumi CLI here: the plan is the result


@dataclass(frozen=True)
class CommandOutcome:
    """What became of one plan command: the state store's status and why."""

    status: str  # applied, planned, scheduled, needs_approval, skipped
    note: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    """The apply step's result; ``outcomes`` line up with the plan's commands (empty: the
    plan was not gated, each command is recorded by ``outcome``)."""

    outcome: ApplyOutcome
    message: str
    changes: dict[str, int] = field(default_factory=dict)
    actuation: ActuationOutcome | None = None  # what the actuator reported
    outcomes: tuple[CommandOutcome, ...] = ()
    #: the desired state this cycle produced (what ``pulumi up`` applies or would apply)
    desired: DesiredState | None = None
    #: resources the desired state could not declare, and why
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": str(self.outcome),
            "message": self.message,
            "changes": self.changes,
        }
        if self.outcomes:
            statuses: dict[str, int] = {}
            for o in self.outcomes:
                statuses[o.status] = statuses.get(o.status, 0) + 1
            out["commands"] = statuses
        if self.desired is not None:
            out["desired_groups"] = len(self.desired.groups)
        if self.notes:
            out["not_declared"] = len(self.notes)
        return out
