"""The collect step: provider -> history store (inventory snapshot, metrics, flows).

``collect`` is a function of its inputs (provider, store, window, clock) and returns a report
with counts and per-step timings; it shows rich progress bars when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from providers.base import CloudProvider
from providers.models import FlowChunk, MetricName, MetricQuery, TimeWindow, metric_applies
from reconciler.clock import Clock
from reconciler.history import HistoryStore, IngestReport, ingest
from reconciler.logs import get_logger
from reconciler.sandbox import SandboxInfo, SandboxSpec

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "DEFAULT_METRICS",
    "SANDBOX_METRICS",
    "CollectReport",
    "collect",
    "collect_from_aws",
    "collect_from_sandbox",
]

#: Metrics asked of each resource whose kind publishes them (``providers.models.METRIC_KINDS``);
#: those the fleet does not publish come back empty.
DEFAULT_METRICS: tuple[MetricName, ...] = tuple(MetricName)

#: What the sandbox publishes (moto's GetMetricData is slow: ask only for these).
SANDBOX_METRICS: tuple[MetricName, ...] = (
    MetricName.NETWORK_IN,
    MetricName.NETWORK_OUT,
    MetricName.NETWORK_PACKETS_IN,
    MetricName.NETWORK_PACKETS_OUT,
    MetricName.CPU_UTILIZATION,
    MetricName.MEMORY_USED_PERCENT,
    MetricName.BW_OUT_ALLOWANCE_EXCEEDED,
)

log = get_logger(__name__)


@dataclass
class CollectReport:
    """What one collect step gathered, and how long each part took (seconds)."""

    window: TimeWindow
    resources: int = 0
    resources_by_kind: dict[str, int] = field(default_factory=dict)
    metric_series: int = 0
    metric_points: int = 0
    flows: IngestReport = field(default_factory=IngestReport)
    timings: dict[str, float] = field(default_factory=dict)


def _progress(enabled: bool | None) -> Progress | None:
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )


def collect(
    provider: CloudProvider,
    store: HistoryStore,
    window: TimeWindow,
    clock: Clock,
    *,
    metrics: Sequence[MetricName] = DEFAULT_METRICS,
    period_s: int = 300,
    metrics_window: TimeWindow | None = None,
    progress: bool | None = None,
) -> CollectReport:
    """Snapshot inventory at ``clock.now()``, fetch each resource's metrics (those of its kind),
    ingest flows.

    ``metrics_window`` (default ``window``) lets metrics cover a shorter span than flows.
    """
    report = CollectReport(window=window)
    bar = _progress(progress)
    if bar is not None:
        bar.start()
    try:
        t0 = time.perf_counter()
        resources = provider.inventory()
        store.write_inventory(resources, clock.now())
        report.resources = len(resources)
        for r in resources:
            report.resources_by_kind[str(r.kind)] = report.resources_by_kind.get(str(r.kind), 0) + 1
        report.timings["inventory"] = time.perf_counter() - t0
        log.info("collect.inventory", resources=len(resources))

        t0 = time.perf_counter()
        queries = [
            MetricQuery(
                resource_id=r.id, metric=m, period_s=period_s, region=r.region, stat=_stat(m)
            )
            for r in resources
            for m in metrics
            if metric_applies(m, r.kind)
        ]
        task = bar.add_task("metrics", total=len(queries)) if bar is not None else None
        span = metrics_window or window
        series = provider.metrics(queries, span) if queries else []
        if bar is not None and task is not None:
            bar.update(task, completed=len(queries))
        report.metric_series = sum(1 for s in series if s.values)
        report.metric_points = store.write_metrics(series)
        report.timings["metrics"] = time.perf_counter() - t0
        log.info("collect.metrics", series=report.metric_series, points=report.metric_points)

        t0 = time.perf_counter()
        flow_task = bar.add_task("flow logs", total=None) if bar is not None else None

        def advance(_: object) -> None:
            if bar is not None and flow_task is not None:
                bar.advance(flow_task)

        report.flows = ingest(_logged(provider.flow_records(window)), store, on_chunk=advance)
        report.timings["flows"] = time.perf_counter() - t0
        log.info("collect.flows", **report.flows.as_dict())
    finally:
        if bar is not None:
            bar.stop()
    return report


def _stat(metric: MetricName) -> str:
    """Counters are summed per period; gauges (and response times) are averaged."""
    gauges = {
        MetricName.CPU_UTILIZATION,
        MetricName.MEMORY_USED_PERCENT,
        MetricName.TARGET_RESPONSE_TIME,
    }
    return "Average" if metric in gauges else "Sum"


def _logged(chunks: Iterator[FlowChunk]) -> Iterator[FlowChunk]:
    for chunk in chunks:
        if chunk.rejected:
            log.debug("collect.rejected", source=chunk.source, count=len(chunk.rejected))
        yield chunk


def collect_from_aws(
    history: str,
    start: datetime,
    end: datetime,
    *,
    regions: Sequence[str],
    clock: Clock,
    profile: str | None = None,
    accounts: Sequence[str] | None = None,
    role_name: str | None = None,
    endpoint_url: str | None = None,
) -> CollectReport:
    """Wire an ``AwsProvider`` and a ``HistoryStore`` together and collect ``[start, end)``."""
    from providers.aws.provider import AwsProvider
    from providers.aws.session import AwsSessionFactory

    factory = AwsSessionFactory(profile=profile, role_name=role_name, endpoint_url=endpoint_url)
    provider = AwsProvider(factory, regions=list(regions), accounts=accounts)
    return collect(provider, HistoryStore(history), TimeWindow(start=start, end=end), clock)


def collect_from_sandbox(
    history: str,
    start: datetime,
    clock: Clock,
    *,
    spec: SandboxSpec | None = None,
    metrics: Sequence[MetricName] = SANDBOX_METRICS,
) -> tuple[CollectReport, SandboxInfo, HistoryStore]:
    """Seed an in-process moto account from ``start`` and collect all of it.

    Metrics are collected for the span the sandbox wrote them (its last ``metric_hours``).
    """
    from moto import mock_aws

    from providers.aws.provider import AwsProvider
    from providers.aws.session import AwsSessionFactory
    from reconciler.sandbox import seed_sandbox

    spec = spec or SandboxSpec()
    store = HistoryStore(history)
    with mock_aws():
        factory = AwsSessionFactory()
        info = seed_sandbox(spec, start, factory)
        provider = AwsProvider(factory, regions=info.regions)
        window = TimeWindow(start=info.start, end=info.end)
        metric_start = info.start
        if spec.metric_hours is not None:
            metric_start = max(info.start, info.end - timedelta(hours=spec.metric_hours))
        report = collect(
            provider,
            store,
            window,
            clock,
            metrics=metrics,
            metrics_window=TimeWindow(start=metric_start, end=info.end),
        )
    return report, info, store
