"""What a cycle recorded about its user groups, read back for the API and the report.

The record step writes the user groups, their profiles and the users analysis' signals under
``"users"`` in the cycle's composer snapshot (:class:`RecordedUsers`, built and dumped with
``model_dump(mode="json")``); each group's forecasts and scored forecasts are stored under its
series ids (``users/<group id>@<client region>``) and its pre-allocation under the group id.
:func:`user_group_view` gathers all of it for one group, so ``GET /metrics/users/{id}`` and the
report's user-group page show the very numbers the record holds.

A snapshot without ``"users"`` (a cycle with no request logs) has no user groups. A group the
reader cannot take is left out and listed in ``rejected`` with the reason; a ``"users"`` section
whose own fields are broken raises :class:`RecordedUsersError` naming the field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forecasting.metrics import coverage, pinball
from reconciler.logs import get_logger
from reconciler.state import AccuracyRecord, ForecastRecord, PreAllocationRecord, StateStore
from reconciler.state.records import band
from reconciler.users.models import UserGroupKind, UserMetric, user_series_id

__all__ = [
    "PREALLOCATION_FIELDS",
    "USERS_KEY",
    "AccuracyView",
    "MetricView",
    "NeedAllocated",
    "PreAllocationView",
    "RecordedLatency",
    "RecordedSignals",
    "RecordedUserGroup",
    "RecordedUsers",
    "RecordedUsersError",
    "SeriesView",
    "UserGroupView",
    "UsersSnapshot",
    "latest_users",
    "read_users",
    "user_group_view",
    "user_group_views",
]

log = get_logger(__name__)

#: The composer snapshot's key holding the user groups.
USERS_KEY = "users"
#: Planner metric -> (need, allocated) attribute of ``PreAllocationRecord``: the same pairs as
#: ``reconciler.steps.current.PREALLOCATION_COLUMNS`` (not imported: it pulls in the planner).
PREALLOCATION_FIELDS: dict[str, tuple[str, str]] = {
    "cpu_vcpu": ("cpu_need", "cpu_allocated"),
    "memory_gib": ("memory_need_gib", "memory_allocated_gib"),
    "network_gbps": ("network_need_gbps", "network_allocated_gbps"),
    "io_mbps": ("io_need_mbps", "io_allocated_mbps"),
    "latency_ms": ("latency_need_ms", "latency_allocated_ms"),
}
_REQUESTS = str(UserMetric.REQUESTS_PER_S)


class RecordedUsersError(ValueError):
    """The snapshot's ``users`` section cannot be read (the message names the field)."""


class _Recorded(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordedUserGroup(_Recorded):
    """A user group as recorded: ``series`` are its forecast series, one per client region."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    kind: UserGroupKind
    users: int = Field(ge=0)
    regions: tuple[str, ...] = ()
    profile: dict[str, float] = Field(default_factory=dict)
    series: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _own_series(self) -> RecordedUserGroup:
        prefix = user_series_id(self.id, "")
        strangers = [s for s in self.series if not s.startswith(prefix) or s == prefix]
        if strangers:
            raise ValueError(f"series {', '.join(strangers)} are not {prefix}<client region>")
        return self

    def series_region(self, series_id: str) -> str:
        """The client region of one of this group's series."""
        return series_id.removeprefix(user_series_id(self.id, ""))


class RecordedLatency(_Recorded):
    client: str
    serving: str
    ms: float = Field(ge=0, allow_inf_nan=False)


class RecordedSignals(_Recorded):
    """``UserSignals`` as recorded (curves and hot objects are not kept)."""

    region_requests: dict[str, float] = Field(default_factory=dict)
    region_gbps: dict[str, float] = Field(default_factory=dict)
    latency_ms: tuple[RecordedLatency, ...] = ()
    needs: dict[str, dict[str, float]] = Field(default_factory=dict)
    serving: dict[str, dict[str, float]] = Field(default_factory=dict)


class RecordedUsers(_Recorded):
    """The ``users`` section of a composer snapshot."""

    at: datetime | None = None  # when the signals were computed (None: no signals)
    composer: dict[str, Any] | None = None
    groups: tuple[RecordedUserGroup, ...] = ()
    signals: RecordedSignals = Field(default_factory=RecordedSignals)


@dataclass(frozen=True)
class UsersSnapshot:
    """The users section of the run ``run_id``; ``rejected``: groups left out, with why."""

    run_id: str
    users: RecordedUsers
    rejected: tuple[str, ...] = ()

    def group(self, group_id: str) -> RecordedUserGroup | None:
        return next((g for g in self.users.groups if g.id == group_id), None)


def _reason(exc: ValidationError, where: str) -> str:
    e = exc.errors()[0]
    loc = ".".join(str(p) for p in e.get("loc", ()))
    return f"{where}{'.' + loc if loc else ''}: {e.get('msg', '')}"


def read_users(state: Mapping[str, Any] | None, run_id: str = "?") -> UsersSnapshot | None:
    """The users section of a composer snapshot's ``state`` (None when it has none)."""
    raw = (state or {}).get(USERS_KEY)
    if raw is None:
        return None
    where = f"composer snapshot of run {run_id}: users"
    if not isinstance(raw, Mapping):
        raise RecordedUsersError(f"{where} is a {type(raw).__name__}, not an object")
    listed = raw.get("groups") or []
    if not isinstance(listed, list):
        raise RecordedUsersError(f"{where}.groups is a {type(listed).__name__}, not a list")
    try:
        head = RecordedUsers.model_validate({k: v for k, v in raw.items() if k != "groups"})
    except ValidationError as exc:
        raise RecordedUsersError(_reason(exc, where)) from exc
    groups: list[RecordedUserGroup] = []
    rejected: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(listed):
        try:
            g = RecordedUserGroup.model_validate(item)
        except ValidationError as exc:
            rejected.append(_reason(exc, f"{where}.groups.{i}"))
            continue
        if g.id in seen:
            rejected.append(f"{where}.groups.{i}: id {g.id} is listed twice")
            continue
        seen.add(g.id)
        groups.append(g)
    if rejected:
        log.warning("user_groups_rejected", run_id=run_id, count=len(rejected), first=rejected[0])
    users = head.model_copy(update={"groups": tuple(groups)})
    return UsersSnapshot(run_id, users, tuple(rejected))


def latest_users(store: StateStore) -> UsersSnapshot | None:
    """The users section of the newest successful cycle's snapshot."""
    snap = store.latest_composer_snapshot()
    if snap is None or not isinstance(snap[1], Mapping):
        return None
    return read_users(snap[1], snap[0])


# ---- one group's view ---------------------------------------------------------------------
@dataclass(frozen=True)
class AccuracyView:
    """Scored forecasts of one metric: ``mean_absolute_error`` and ``interval_coverage`` as
    ``GET /metrics/group`` computes them (|actual - p50|, inside the widest band), plus the
    share of actuals at or below p90 and the mean p90 pinball loss."""

    points: int
    mean_absolute_error: float | None
    interval_coverage: float | None
    p90_coverage: float | None
    p90_pinball: float | None
    model_kinds: tuple[str, ...]


def _accuracy_of(records: Sequence[AccuracyRecord]) -> AccuracyView:
    """The accuracy of scored forecasts (of one metric)."""
    errors = [abs(r.actual - r.predicted["0.5"]) for r in records if "0.5" in r.predicted]
    bands = [(b, r.actual) for r in records if (b := band(r.predicted)) is not None]
    inside = sum(b[2] <= actual <= b[3] for b, actual in bands)
    p90 = [(r.actual, r.predicted["0.9"]) for r in records if "0.9" in r.predicted]
    actual = np.array([a for a, _ in p90], dtype=np.float64)
    upper = np.array([p for _, p in p90], dtype=np.float64)
    return AccuracyView(
        points=len(records),
        mean_absolute_error=sum(errors) / len(errors) if errors else None,
        interval_coverage=inside / len(bands) if bands else None,
        p90_coverage=coverage(actual, upper) if p90 else None,
        p90_pinball=pinball(actual, upper, 0.9) if p90 else None,
        model_kinds=tuple(sorted({r.model_kind for r in records})),
    )


@dataclass(frozen=True)
class MetricView:
    """The newest forecast of one metric of a series (points by time) and its accuracy."""

    metric: str
    forecasts: tuple[ForecastRecord, ...]
    accuracy: AccuracyView | None

    def next_quantile(self, q: str) -> float | None:
        """Quantile ``q`` at the first forecast step."""
        return self.forecasts[0].quantiles.get(q) if self.forecasts else None


@dataclass(frozen=True)
class SeriesView:
    series_id: str
    client_region: str
    metrics: tuple[MetricView, ...]

    def metric(self, metric: str) -> MetricView | None:
        return next((m for m in self.metrics if m.metric == metric), None)


@dataclass(frozen=True)
class NeedAllocated:
    need: float | None
    allocated: float | None


@dataclass(frozen=True)
class PreAllocationView:
    """The pre-allocation record in force: per planner metric, predicted need and allocated."""

    at: datetime | None
    run_id: str | None
    metrics: dict[str, NeedAllocated]

    @classmethod
    def of(cls, r: PreAllocationRecord) -> PreAllocationView:
        metrics = {
            m: NeedAllocated(getattr(r, need), getattr(r, allocated))
            for m, (need, allocated) in PREALLOCATION_FIELDS.items()
            if getattr(r, need) is not None or getattr(r, allocated) is not None
        }
        return cls(r.at, r.run_id, metrics)


@dataclass(frozen=True)
class UserGroupView:
    """Everything recorded about one user group at the newest cycle."""

    group: RecordedUserGroup
    at: datetime | None
    run_id: str
    series: tuple[SeriesView, ...]
    predicted_need: dict[str, float] = field(default_factory=dict)
    pre_allocation: PreAllocationView | None = None
    serving: dict[str, float] = field(default_factory=dict)
    latency: tuple[RecordedLatency, ...] = ()

    @property
    def requests_p90(self) -> float | None:
        """Next-step p90 request rate (req/s) summed over the group's client regions."""
        return _requests_p90(self.series)


def _requests_p90(series: Sequence[SeriesView]) -> float | None:
    found = [
        v
        for s in series
        if (m := s.metric(_REQUESTS)) is not None and (v := m.next_quantile("0.9")) is not None
    ]
    return sum(found) if found else None


def _series(store: StateStore, g: RecordedUserGroup, accuracy: int) -> tuple[SeriesView, ...]:
    out = []
    for sid in g.series:
        forecasts: dict[str, list[ForecastRecord]] = defaultdict(list)
        for f in store.latest_forecasts(sid):
            forecasts[f.metric].append(f)
        scored: dict[str, list[AccuracyRecord]] = defaultdict(list)
        for a in store.accuracy_for_group(sid, limit=accuracy) if accuracy else ():
            scored[a.metric].append(a)
        metrics = tuple(
            MetricView(
                metric,
                tuple(sorted(forecasts.get(metric, ()), key=lambda f: f.ts)),
                _accuracy_of(scored[metric]) if scored.get(metric) else None,
            )
            for metric in sorted(set(forecasts) | set(scored))
        )
        out.append(SeriesView(sid, g.series_region(sid), metrics))
    return tuple(out)


def _view(
    store: StateStore,
    snapshot: UsersSnapshot,
    g: RecordedUserGroup,
    pre: Mapping[str, PreAllocationRecord],
    accuracy: int,
) -> UserGroupView:
    signals = snapshot.users.signals
    regions = set(g.regions) | {g.series_region(s) for s in g.series}
    record = pre.get(g.id)
    return UserGroupView(
        group=g,
        at=snapshot.users.at,
        run_id=snapshot.run_id,
        series=_series(store, g, accuracy),
        predicted_need=dict(signals.needs.get(g.id, {})),
        pre_allocation=PreAllocationView.of(record) if record is not None else None,
        serving=dict(signals.serving.get(g.id, {})),
        latency=tuple(x for x in signals.latency_ms if x.client in regions),
    )


def user_group_view(
    store: StateStore, group_id: str, *, accuracy: int = 96
) -> UserGroupView | None:
    """One user group's view at the newest cycle (None: no such group). ``accuracy``: how many
    of each series' newest scored forecasts the accuracy covers."""
    with store.reading():
        snapshot = latest_users(store)
        g = snapshot.group(group_id) if snapshot is not None else None
        if snapshot is None or g is None:
            return None
        return _view(store, snapshot, g, store.latest_pre_allocations(), accuracy)


def user_group_views(
    store: StateStore, *, accuracy: int = 96, with_accuracy: bool = True
) -> list[UserGroupView]:
    """Every user group's view at the newest cycle, in recorded order (``with_accuracy=False``
    skips the scored forecasts: the list endpoint and the gauges need only forecasts)."""
    with store.reading():
        snapshot = latest_users(store)
        if snapshot is None:
            return []
        pre = store.latest_pre_allocations()
        depth = accuracy if with_accuracy else 0
        return [_view(store, snapshot, g, pre, depth) for g in snapshot.users.groups]
