"""Prometheus metrics in the app's own registry: request counts and latency, and the recorded
state (pools, groups, forecasts, congestion, commands, cycles: ``reconciler.api.state_metrics``)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.api.state_metrics import StateCollector
from reconciler.state import StateStore

__all__ = ["KNOWN_METHODS", "HttpMetrics", "MetricsMiddleware", "install_metrics"]

#: Methods that get their own label value; any other string a client sends is ``other``.
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class HttpMetrics:
    """Counters and histograms labelled by route template and method, both from fixed sets
    (``unmatched`` and ``other`` for the rest), so no request can add series of its own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "headroom_http_requests_total",
            "HTTP requests served.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "headroom_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )


class MetricsMiddleware:
    """Pure ASGI middleware timing each HTTP request (cheaper than ``@app.middleware``)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = _method(scope)
            self.metrics.requests.labels(method, route, str(status_code)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)


def _method(scope: Scope) -> str:
    method = scope.get("method")
    return method if method in KNOWN_METHODS else "other"


def install_metrics(
    app: FastAPI,
    registry: CollectorRegistry,
    store: StateStore | None = None,
    *,
    top_groups: int = 50,
) -> HttpMetrics:
    """Time every request and serve the registry at ``GET /metrics``, with the gauges of the
    recorded state when a store is given (``top_groups`` groups get their own series)."""
    metrics = HttpMetrics(registry)
    if store is not None:
        registry.register(StateCollector(store, top_groups=top_groups))
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
