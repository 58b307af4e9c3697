"""An in-memory provider that records calls and can be told to fail next (for tests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.base import ProviderError
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricQuery,
    MetricSeries,
    RequestChunk,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["FakeProvider", "RecordedCall"]


@dataclass(frozen=True)
class RecordedCall:
    method: str
    args: tuple[Any, ...]


@dataclass
class FakeProvider:
    """Serves what it was given; ``fail_next("metrics", ThrottledError(...))`` injects an error."""

    resources: list[Resource] = field(default_factory=list)
    catalog: dict[str, InstanceType] = field(default_factory=dict)
    series: list[MetricSeries] = field(default_factory=list)
    chunks: list[FlowChunk] = field(default_factory=list)
    scaling: list[ScalingGroup] = field(default_factory=list)
    requests: list[RequestChunk] = field(default_factory=list)
    name: str = "fake"
    calls: list[RecordedCall] = field(default_factory=list)
    _failures: dict[str, list[ProviderError]] = field(default_factory=dict)

    def fail_next(self, method: str, error: ProviderError) -> None:
        """Make the next call of ``method`` raise ``error`` (queued, one per call)."""
        if method not in {
            "inventory",
            "scaling_groups",
            "instance_catalog",
            "metrics",
            "flow_records",
            "request_records",
        }:
            raise ValueError(f"FakeProvider has no method {method!r}")
        self._failures.setdefault(method, []).append(error)

    def _enter(self, method: str, *args: Any) -> None:
        self.calls.append(RecordedCall(method, args))
        queued = self._failures.get(method)
        if queued:
            raise queued.pop(0)

    def inventory(self) -> list[Resource]:
        self._enter("inventory")
        return list(self.resources)

    def scaling_groups(self) -> list[ScalingGroup]:
        self._enter("scaling_groups")
        return list(self.scaling)

    def instance_catalog(self) -> dict[str, InstanceType]:
        self._enter("instance_catalog")
        return dict(self.catalog)

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        self._enter("metrics", tuple(queries), window)
        wanted = {(q.resource_id, q.metric, q.stat) for q in queries}
        out: list[MetricSeries] = []
        for s in self.series:
            if (s.resource_id, s.metric, s.stat) not in wanted:
                continue
            pairs = [
                (t, v) for t, v in zip(s.timestamps, s.values, strict=True) if window.contains(t)
            ]
            out.append(
                s.model_copy(
                    update={"timestamps": [t for t, _ in pairs], "values": [v for _, v in pairs]}
                )
            )
        return out

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        self._enter("flow_records", window)
        yield from self.chunks

    def request_records(
        self,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        """The chunks in ``requests`` (the call, with window and tenant field, is recorded)."""
        self._enter("request_records", window, tenant_field)
        yield from self.requests
