"""The HTTP API's app factory: every dependency is passed in, nothing is global."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from reconciler.allocation.override import apply_override
from reconciler.api.auth import Authenticator
from reconciler.api.cache import ResponseCache
from reconciler.api.commands import router as commands_router
from reconciler.api.deps import AllocationProvider, ApiContext, OverrideFn
from reconciler.api.gate import AuthGate
from reconciler.api.limits import ApiLimits, BodyLimitMiddleware
from reconciler.api.metrics import install_metrics
from reconciler.api.openapi import document_errors
from reconciler.api.routes import router
from reconciler.api.schemas import HealthOut
from reconciler.api.users import router as users_router
from reconciler.clock import Clock, SystemClock
from reconciler.state import StateStore

__all__ = ["create_app"]


def _field(loc: Any) -> str:
    """``body.tag_selector.team`` from pydantic's location; control characters escaped."""
    return ".".join(str(part).encode("unicode_escape").decode("ascii") for part in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 listing each bad field (``body.gbps``) and the reason, for humans and scripts."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(e.get("loc", ())), "reason": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors}
    )


def create_app(
    store: StateStore,
    *,
    allocation_provider: AllocationProvider | None = None,
    override: OverrideFn = apply_override,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    token_cache: timedelta = timedelta(seconds=2),
    response_cache_size: int = 4096,
    response_cache_bytes: int = 64 * 1024 * 1024,
    metrics_top_groups: int = 50,
    limits: ApiLimits | None = None,
) -> FastAPI:
    """The Headroom API over ``store``.

    ``allocation_provider`` returns the allocation in force (default: rebuilt from the store);
    ``override`` checks and applies a bandwidth override against it (default: the allocator's
    ``apply_override``). Each app has its own Prometheus registry unless one is passed.
    A verified token is trusted for ``token_cache`` (a revocation takes effect within it).
    Read responses are reused until the store's state version moves (at most
    ``response_cache_size`` entries, 0 turns the cache off, and ``response_cache_bytes``).
    ``/metrics`` gives the ``metrics_top_groups`` groups with the largest allocation their own
    series and sums the rest into ``group="other"``.
    ``limits`` caps request bodies and group member lists (``ApiLimits()``: 1 MiB, 5,000).
    """
    # /docs and /redoc load Swagger UI and Redoc from files packaged with fastapi-offline (no
    # CDN: they work air-gapped); Swagger UI's online validator badge is off for the same reason
    app = FastAPIOffline(
        title="Headroom",
        summary="Groups, bandwidth allocations, forecasts and pools of the Headroom reconciler.",
        version="1",
        static_url="/docs-static",
        swagger_ui_parameters={"validatorUrl": None},
    )
    clock = clock or SystemClock()
    limits = limits or ApiLimits()
    app.state.ctx = ApiContext(
        store=store,
        clock=clock,
        allocation_provider=allocation_provider or store.current_allocation_result,
        override=override,
        cache=(
            ResponseCache(response_cache_size, response_cache_bytes)
            if response_cache_size > 0
            else None
        ),
        limits=limits,
    )
    app.state.authenticator = Authenticator(store, clock, cache_for=token_cache)
    # the last added runs first: metrics time everything, the token is checked from the headers,
    # then the body is read, at most max_body_bytes of it
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    routers = (router, commands_router, users_router)
    guarded = [route for r in routers for route in r.routes]
    app.add_middleware(AuthGate, routes=guarded, authenticator=app.state.authenticator)
    app.state.metrics = install_metrics(
        app, registry or CollectorRegistry(), store, top_groups=metrics_top_groups
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    for r in routers:
        app.include_router(r)

    @app.get(
        "/healthz",
        response_model=HealthOut,
        tags=["health"],
        responses={503: {"model": HealthOut, "description": "the database is unreachable"}},
    )
    def healthz() -> JSONResponse:
        """Liveness and database reachability; needs no token."""
        try:
            store.ping()
        except SQLAlchemyError as exc:
            body = HealthOut(status="degraded", database=f"unreachable: {type(exc).__name__}")
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(HealthOut(status="ok", database="ok").model_dump())

    document_errors(app)
    return app
