"""A provider that replays recorded demand as a cloud: one autoscaling group per application.

Each replayed application is an autoscaling group of one instance type whose members share the
application's recorded demand evenly (a load balancer in front of them), and the provider
answers the ``CloudProvider`` contract from it, up to its clock's ``now``:

- ``inventory``: the members in service, tagged with their group (``aws:autoscaling:groupName``)
  and ``app``, each launched when it came into service;
- ``scaling_groups``: each group's desired count as last set (at once, as AWS reports it), its
  launch template and subnets, and its members in service;
- ``metrics``: CloudWatch-shaped series per member, only for periods that ended by ``now`` and
  while the member was in service: ``NetworkIn``/``NetworkOut`` (bytes per period, the demand
  split half in, half out), ``CPUUtilization`` and ``mem_used_percent`` (percent of the member's
  type). The demand is the recording's, not capped at 100 %: what the application asked for,
  which is what every replayed strategy is scored against. Other metrics come back empty;
- ``flow_records``: none (the recordings have no flows; groups come from the policy).

Capacity is changed through ``set_capacity`` (the replay actuator calls it with what it was
asked to apply): a scale-out's instances come into service ``scale_out_delay`` later, a
scale-in terminates at once, pending launches first, then the newest members (the
``NewestInstance`` termination policy).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from providers.models import (
    FlowChunk,
    InstanceType,
    MetricName,
    MetricQuery,
    MetricSeries,
    ProviderName,
    Resource,
    ResourceKind,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["ASG_TAG", "Clock", "ReplayApp", "ReplayProvider"]

#: The tag AWS puts on every member of an autoscaling group.
ASG_TAG = "aws:autoscaling:groupName"
_GB = 1e9 / 8  # bytes per second in one Gbps


class Clock(Protocol):
    """What the provider reads the time from (``reconciler.clock.SimulatedClock`` in a replay)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class ReplayApp:
    """One application's recorded demand on a regular grid: arrays of equal length."""

    name: str
    region: str
    cpu_vcpu: np.ndarray
    memory_gib: np.ndarray
    network_gbps: np.ndarray

    @property
    def asg(self) -> str:
        return f"asg-{self.name}"


@dataclass
class _Member:
    id: str
    instance_type: str
    launched_at: datetime  # in service from
    terminated_at: datetime | None = None


@dataclass
class _Group:
    app: ReplayApp
    instance_type: str
    desired: int
    members: list[_Member] = field(default_factory=list)  # every member ever, launch order
    pending: list[_Member] = field(default_factory=list)  # launched, not yet in service
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # in service per grid step

    def live(self, at: datetime) -> list[_Member]:
        return [
            m
            for m in self.members
            if m.launched_at <= at and (m.terminated_at is None or at < m.terminated_at)
        ]


class ReplayProvider:
    """Serves ``apps`` as autoscaling groups on ``clock``'s time (see the module docstring).

    ``start`` is the time of the first grid step, ``step`` the grid's period; ``initial`` the
    desired count of each app's group (by app name) before anything is applied, its members in
    service since ``start``.
    """

    name = "replay"

    def __init__(
        self,
        apps: Sequence[ReplayApp],
        *,
        start: datetime,
        step: timedelta,
        clock: Clock,
        catalog: Mapping[str, InstanceType],
        instance_type: str,
        initial: Mapping[str, int],
        scale_out_delay: timedelta = timedelta(minutes=5),
        max_size: int = 1000,
        account: str = "000000000000",
    ) -> None:
        if instance_type not in catalog:
            raise ValueError(f"instance type {instance_type!r} is not in the catalog")
        self.start, self.step, self.clock = start, step, clock
        self.catalog = dict(catalog)
        self.scale_out_delay = scale_out_delay
        self.max_size, self.account = max_size, account
        self._seq = 0
        self._groups: dict[str, _Group] = {}
        self._owner: dict[str, tuple[_Group, _Member]] = {}
        for app in apps:
            g = _Group(app, instance_type, max(0, int(initial.get(app.name, 1))))
            g.counts = np.zeros(len(app.cpu_vcpu))
            self._groups[app.asg] = g
            for _ in range(g.desired):
                g.members.append(self._launch(g, start))

    # ---- capacity ---------------------------------------------------------------------------
    def _index(self, at: datetime) -> int:
        """The first grid step starting at or after ``at``."""
        return max(0, math.ceil((at - self.start) / self.step))

    def _launch(self, g: _Group, at: datetime) -> _Member:
        """A new member of ``g`` in service from ``at``, counted from its first whole step."""
        self._seq += 1
        m = _Member(f"i-{g.app.name}-{self._seq:06d}", g.instance_type, at)
        self._owner[m.id] = (g, m)
        g.counts[self._index(at) :] += 1
        return m

    def _end(self, g: _Group, m: _Member, at: datetime) -> None:
        """``m`` stops serving at ``at`` (a pending launch that is cancelled never served)."""
        g.counts[self._index(max(at, m.launched_at)) :] -= 1
        m.terminated_at = max(at, m.launched_at)

    def _now(self) -> datetime:
        return self.clock.now()

    def _settle(self) -> None:
        """Pending launches whose time has come are in service."""
        now = self._now()
        for g in self._groups.values():
            ready = [m for m in g.pending if m.launched_at <= now]
            if ready:
                g.pending = [m for m in g.pending if m.launched_at > now]
                g.members.extend(ready)

    def set_capacity(
        self, asg: str, desired: int, instance_type: str | None = None, *, delay: bool = True
    ) -> bool:
        """Set ``asg``'s desired count (and the type new instances launch with); True when
        something changed. ``delay=False`` brings a scale-out into service at once."""
        g = self._groups.get(asg)
        if g is None:
            raise KeyError(f"no replayed scaling group {asg!r}")
        self._settle()
        now = self._now()
        desired = max(0, int(desired))
        changed = desired != g.desired or (instance_type not in (None, g.instance_type))
        if instance_type is not None:
            if instance_type not in self.catalog:
                raise ValueError(f"instance type {instance_type!r} is not in the catalog")
            g.instance_type = instance_type  # new instances only (no instance refresh)
        live = g.live(now)
        total = len(live) + len(g.pending)
        ready_at = now + self.scale_out_delay if delay else now
        for _ in range(desired - total):
            m = self._launch(g, ready_at)
            (g.pending if ready_at > now else g.members).append(m)
        drop = total - desired
        while drop > 0 and g.pending:
            self._end(g, g.pending.pop(), now)
            drop -= 1
        for m in sorted(live, key=lambda m: m.launched_at, reverse=True)[: max(drop, 0)]:
            self._end(g, m, now)
        g.desired = desired
        return changed

    def units(self, asg: str, unit: InstanceType) -> int:
        """Capacity in service now, in ``unit`` instances (by vCPU)."""
        self._settle()
        g = self._groups[asg]
        return sum(
            round(self.catalog[m.instance_type].vcpu / unit.vcpu) for m in g.live(self._now())
        )

    def desired(self, asg: str) -> int:
        return self._groups[asg].desired

    # ---- the CloudProvider contract ---------------------------------------------------------
    def inventory(self) -> list[Resource]:
        self._settle()
        now = self._now()
        out = []
        for g in self._groups.values():
            for m in g.live(now):
                out.append(
                    Resource(
                        id=m.id,
                        provider=ProviderName.AWS,
                        account=self.account,
                        region=g.app.region,
                        zone=f"{g.app.region}a",
                        kind=ResourceKind.INSTANCE,
                        instance_type=m.instance_type,
                        tags={ASG_TAG: g.app.asg, "app": g.app.name, "Name": m.id},
                        launched_at=m.launched_at,
                        image_id="ami-replay",
                    )
                )
        return out

    def scaling_groups(self) -> list[ScalingGroup]:
        self._settle()
        now = self._now()
        return [
            ScalingGroup(
                name=g.app.asg,
                provider=ProviderName.AWS,
                account=self.account,
                region=g.app.region,
                desired=g.desired,
                min_size=0,
                max_size=max(self.max_size, g.desired),
                launch_template_id=f"lt-{g.app.name}",
                launch_template_version="$Latest",
                subnet_ids=(f"subnet-{g.app.region}",),
                instance_ids=tuple(m.id for m in g.live(now)),
                tags={"app": g.app.name},
            )
            for g in self._groups.values()
        ]

    def instance_catalog(self) -> dict[str, InstanceType]:
        return dict(self.catalog)

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        self._settle()
        now = self._now()
        out = []
        shares: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for q in queries:
            owner = self._owner.get(q.resource_id)
            series = MetricSeries(
                resource_id=q.resource_id, metric=q.metric, stat=q.stat, period_s=self._period
            )
            if owner is not None and (q.metric, q.stat) in _SERVED:
                g, member = owner
                if q.resource_id not in shares:
                    shares[q.resource_id] = self._share(g, member, window, now)
                idx, share = shares[q.resource_id]
                if idx.size:
                    series = self._series(q, g, member, idx, share)
            out.append(series)
        return out

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        return iter(())

    # ---- metric values ----------------------------------------------------------------------
    @property
    def _period(self) -> int:
        return int(self.step.total_seconds())

    def _share(
        self, g: _Group, member: _Member, window: TimeWindow, now: datetime
    ) -> tuple[np.ndarray, np.ndarray]:
        """Grid steps in ``window`` that ended by ``now`` while ``member`` served, and the share
        of the app's demand it carried at each (one over the members in service then)."""
        n = len(g.app.cpu_vcpu)
        lo = max(window.start, member.launched_at)
        hi = min(window.end, now - self.step + timedelta(microseconds=1))
        if member.terminated_at is not None:
            hi = min(hi, member.terminated_at)
        first = max(0, math.ceil((lo - self.start) / self.step))
        last = min(n, math.ceil((hi - self.start) / self.step))  # exclusive
        if last <= first:
            return np.empty(0, dtype=np.int64), np.empty(0)
        idx = np.arange(first, last)
        return idx, 1.0 / np.maximum(g.counts[idx], 1.0)

    def _series(
        self, q: MetricQuery, g: _Group, member: _Member, idx: np.ndarray, share: np.ndarray
    ) -> MetricSeries:
        itype = self.catalog[member.instance_type]
        app = g.app
        if q.metric in (MetricName.NETWORK_IN, MetricName.NETWORK_OUT):
            values = app.network_gbps[idx] * share * _GB * self._period / 2
            unit = "Bytes"
        elif q.metric is MetricName.CPU_UTILIZATION:
            values = app.cpu_vcpu[idx] * share / itype.vcpu * 100
            unit = "Percent"
        else:
            values = app.memory_gib[idx] * share / itype.memory_gib * 100
            unit = "Percent"
        return MetricSeries(
            resource_id=q.resource_id,
            metric=q.metric,
            stat=q.stat,
            unit=unit,
            period_s=self._period,
            timestamps=[self.start + self.step * int(i) for i in idx],
            values=[float(v) for v in values],
        )


_SERVED = {
    (MetricName.NETWORK_IN, "Sum"),
    (MetricName.NETWORK_OUT, "Sum"),
    (MetricName.CPU_UTILIZATION, "Average"),
    (MetricName.MEMORY_USED_PERCENT, "Average"),
}
