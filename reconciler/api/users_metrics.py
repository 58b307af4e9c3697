"""Prometheus gauges of the user groups the newest cycle recorded (``StateCollector`` adds them).

Per user group (``user_group`` id and ``user_group_name`` labels): the next-step p90 request
rate forecast summed over its client regions, and the vCPU pre-allocated to it now. The same
cap as the application groups' series: the ``top`` user groups by forecast request rate get
their own series, the rest are summed into ``user_group="other"``, and
``headroom_user_groups{series="own|other"}`` says how many each holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily

from reconciler.logs import get_logger
from reconciler.state import StateStore
from reconciler.users.recorded import RecordedUsersError, UserGroupView, user_group_views

__all__ = ["OTHER_USERS", "user_group_gauges"]

#: the ``user_group`` (and ``user_group_name``) label of the groups beyond ``top``
OTHER_USERS = "other"
_LABELS = ["user_group", "user_group_name"]
log = get_logger(__name__)


@dataclass
class _Row:
    group: str
    name: str
    requests_p90: float | None = None
    vcpu: float | None = None

    def add(self, other: _Row) -> None:
        if other.requests_p90 is not None:
            self.requests_p90 = (self.requests_p90 or 0.0) + other.requests_p90
        if other.vcpu is not None:
            self.vcpu = (self.vcpu or 0.0) + other.vcpu


def _row(v: UserGroupView) -> _Row:
    pre = v.pre_allocation.metrics.get("cpu_vcpu") if v.pre_allocation is not None else None
    return _Row(v.group.id, v.group.name, v.requests_p90, pre.allocated if pre else None)


def user_group_gauges(store: StateStore, top: int) -> list[GaugeMetricFamily]:
    """The user-group gauges at the store's newest cycle (``top`` series at most, + other).
    A users section that cannot be read gives no user-group series (and is logged) rather
    than failing the whole scrape."""
    try:
        views = user_group_views(store, with_accuracy=False)
    except RecordedUsersError as exc:
        log.error("user_group_gauges_skipped", reason=str(exc))
        views = []
    rows = sorted((_row(v) for v in views), key=lambda r: (-(r.requests_p90 or 0.0), r.group))
    own, rest = rows[:top], rows[top:]
    series = list(own)
    if rest:
        other = _Row(OTHER_USERS, OTHER_USERS)
        for r in rest:
            other.add(r)
        series.append(other)
    requests = GaugeMetricFamily(
        "headroom_user_group_requests_per_s_p90",
        "Next-step p90 request-rate forecast of the user group, summed over its client "
        "regions (req/s).",
        labels=_LABELS,
    )
    vcpu = GaugeMetricFamily(
        "headroom_user_group_preallocated_vcpu",
        "vCPU pre-allocated to the user group (the record in force).",
        labels=_LABELS,
    )
    for r in series:
        if r.requests_p90 is not None:
            requests.add_metric([r.group, r.name], r.requests_p90)
        if r.vcpu is not None:
            vcpu.add_metric([r.group, r.name], r.vcpu)
    count = GaugeMetricFamily(
        "headroom_user_groups",
        "User groups of the newest cycle: with their own series (top by forecast request "
        "rate) or summed into user_group=other.",
        labels=["series"],
    )
    count.add_metric(["own"], len(own))
    count.add_metric(["other"], len(rest))
    return [requests, vcpu, count]
