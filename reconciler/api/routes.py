"""Routes: groups (and their names), bandwidth overrides, group and global metrics.

Every route is a plain function: FastAPI runs it, with its database work and any CPU-heavy
step (a large group, an override re-allocation), in its thread pool, so the event loop keeps
answering other requests meanwhile.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter

from reconciler.api.auth import require_scope
from reconciler.api.cache import CacheKey
from reconciler.api.deps import ApiContext
from reconciler.api.fields import GroupIdPath
from reconciler.api.schemas import (
    AccuracyOut,
    AllocationOut,
    BandwidthOut,
    BandwidthOverride,
    EventOut,
    ForecastOut,
    GlobalMetricsOut,
    GroupCreate,
    GroupKind,
    GroupMetricsOut,
    GroupOut,
    GroupRename,
    PoolOut,
)
from reconciler.state import AccuracyRecord, GroupExistsError, GroupRecord, NotFoundError
from reconciler.state.records import band

__all__ = ["router"]

router = APIRouter()
_read = [Depends(require_scope("read"))]
_write = [Depends(require_scope("write"))]


_GROUP_LIST: TypeAdapter[list[GroupOut]] = TypeAdapter(list[GroupOut])


def _json(body: bytes | str) -> Response:
    """Already-serialised JSON: read endpoints skip FastAPI's second validation pass."""
    return Response(body, media_type="application/json")


def _cached(
    request: Request, key: CacheKey, build: Callable[[ApiContext], bytes | str]
) -> Response:
    """The response body for ``key`` (the route and its validated parameters) at the current
    state version, built at most once."""
    ctx = _ctx(request)
    if ctx.cache is None:
        return _json(build(ctx))
    version = ctx.store.state_version()
    body = ctx.cache.get(key, version)
    if body is None:
        built = build(ctx)
        body = built.encode() if isinstance(built, str) else built
        ctx.cache.put(key, version, body)
    return _json(body)


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _group_or_404(ctx: ApiContext, group_id: str) -> GroupRecord:
    group = ctx.store.get_group(group_id)
    if group is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no group {group_id!r}")
    return group


@router.post(
    "/groups/create",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupOut,
    dependencies=_write,
    tags=["groups"],
    responses={
        409: {"description": "a group of that name exists, or pinned_gbps is above the pool"}
    },
)
def create_group(body: GroupCreate, request: Request) -> GroupOut:
    """Create a manual (or tenant) group that the composer keeps and the allocator honours."""
    ctx = _ctx(request)
    _check_member_count(body.members, ctx.limits.max_group_members)
    if body.pinned_gbps is not None:
        pools = ctx.store.latest_pool_states()
        top = next((p for p in pools if p.parent is None), None)
        if top is not None and body.pinned_gbps > top.capacity_gbps:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"pinned_gbps {body.pinned_gbps:g} is above the {top.pool} pool capacity "
                f"{top.capacity_gbps:g} Gbps",
            )
    record = GroupRecord(
        id=f"{'m' if body.kind == 'manual' else 't'}-{uuid.uuid4().hex[:12]}",
        name=body.name,
        kind=body.kind,
        created_at=ctx.clock.now(),
        members=tuple(body.members),
        pinned=body.pinned_gbps is not None,
        policy_class=body.policy_class,
        pinned_gbps=body.pinned_gbps,
        tag_selector=body.tag_selector,
        explanation={"source": "api", "created_by": "operator"},
    )
    try:
        made = ctx.store.create_group(record, ctx.clock.now(), reason="created through the API")
    except GroupExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return GroupOut.of(made)


def _check_member_count(members: Sequence[str], limit: int) -> None:
    """The configured member cap, refused like the schema's own (a 422 on ``body.members``)."""
    if len(members) > limit:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "members"),
                    "msg": f"List should have at most {limit} items, not {len(members)}",
                }
            ]
        )


@router.get("/groups", response_model=list[GroupOut], dependencies=_read, tags=["groups"])
def list_groups(
    request: Request, kind: GroupKind | None = None, include_dissolved: bool = False
) -> Response:
    """Every group with its members and the bandwidth allocated to it now."""

    def build(ctx: ApiContext) -> bytes:
        with ctx.store.reading():
            allocated = ctx.store.latest_allocated_gbps()
            groups = ctx.store.latest_groups(include_dissolved=include_dissolved)
        out = [GroupOut.of(g, allocated.get(g.id)) for g in groups if kind in (None, g.kind)]
        return _GROUP_LIST.dump_json(out)

    return _cached(request, ("groups", kind, include_dissolved), build)


@router.get("/groups/{group_id}", response_model=GroupOut, dependencies=_read, tags=["groups"])
def get_group(group_id: GroupIdPath, request: Request) -> Response:
    def build(ctx: ApiContext) -> str:
        with ctx.store.reading():
            group = _group_or_404(ctx, group_id)
            history = ctx.store.allocation_history(group_id, 1, with_ledger=False)
        current = history[0] if history else None
        allocated = current.gbps if current else None
        return GroupOut.of(group, allocated, current).model_dump_json()

    return _cached(request, ("group", group_id), build)


def _bandwidth(ctx: ApiContext, group: GroupRecord) -> BandwidthOut:
    history = ctx.store.allocation_history(group.id, 1)
    current = history[0] if history else None
    pool = None
    if current is not None:
        pool = next((p for p in ctx.store.latest_pool_states() if p.pool == current.pool), None)
    steps = (current.ledger or {}).get("steps", []) if current else []
    return BandwidthOut(
        group_id=group.id,
        pool=current.pool if current else None,
        allocated_gbps=current.gbps if current else None,
        used_gbps=current.used_gbps if current else None,
        pinned=group.pinned,
        pinned_gbps=group.pinned_gbps,
        ledger=[str(s) for s in steps],
        run_id=current.run_id if current else None,
        at=current.at if current else None,
        pool_state=PoolOut.of(pool) if pool else None,
    )


@router.get(
    "/groups/{group_id}/bandwidth",
    response_model=BandwidthOut,
    dependencies=_read,
    tags=["bandwidth"],
)
def get_bandwidth(group_id: GroupIdPath, request: Request) -> Response:
    """The group's allocation in force, its pool, and the ledger explaining it."""

    def build(ctx: ApiContext) -> str:
        with ctx.store.reading():
            return _bandwidth(ctx, _group_or_404(ctx, group_id)).model_dump_json()

    return _cached(request, ("bandwidth", group_id), build)


@router.put(
    "/groups/{group_id}/bandwidth",
    response_model=BandwidthOut,
    dependencies=_write,
    tags=["bandwidth"],
    responses={409: {"description": "the override cannot fit; `detail.reason` says why"}},
)
def put_bandwidth(group_id: GroupIdPath, body: BandwidthOverride, request: Request) -> BandwidthOut:
    """Override the group's allocation within pool capacity, or refuse with the reason."""
    ctx = _ctx(request)
    group = _group_or_404(ctx, group_id)
    if group.dissolved_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"group {group_id} is dissolved")
    current = ctx.allocation_provider()
    if current is None:
        raise _refused(group_id, "no allocation is in force yet; wait for the first cycle")
    try:
        updated = ctx.override(current, group_id, body.gbps)
    except ValueError as exc:  # OverrideRefused is a ValueError carrying .reason
        raise _refused(group_id, str(getattr(exc, "reason", exc))) from exc
    try:
        group = ctx.store.record_override(
            group_id, body.gbps, ctx.clock.now(), updated, reason=body.reason
        )
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    return _bandwidth(ctx, group)


@router.put(
    "/groups/{group_id}/name",
    response_model=GroupOut,
    dependencies=_write,
    tags=["groups"],
    responses={
        404: {"description": "no such group, or it is dissolved"},
        409: {"description": "another active group has that name"},
    },
)
def put_name(group_id: GroupIdPath, body: GroupRename, request: Request) -> GroupOut:
    """Rename a group: the name is shown beside its id everywhere and kept by every cycle."""
    ctx = _ctx(request)
    _group_or_404(ctx, group_id)
    try:
        group = ctx.store.rename_group(group_id, body.name, ctx.clock.now(), reason=body.reason)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except GroupExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return GroupOut.of(group)


def _refused(group_id: str, reason: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail={"group_id": group_id, "reason": reason})


def _accuracy(records: Sequence[AccuracyRecord]) -> list[AccuracyOut]:
    by_metric: dict[str, list[AccuracyRecord]] = defaultdict(list)
    for r in records:
        by_metric[r.metric].append(r)
    out: list[AccuracyOut] = []
    for metric, rs in sorted(by_metric.items()):
        errors = [abs(r.actual - r.predicted["0.5"]) for r in rs if "0.5" in r.predicted]
        bands = [(b, r.actual) for r in rs if (b := band(r.predicted)) is not None]
        inside = sum(b[2] <= actual <= b[3] for b, actual in bands)
        out.append(
            AccuracyOut(
                metric=metric,
                points=len(rs),
                mean_absolute_error=sum(errors) / len(errors) if errors else None,
                interval_coverage=inside / len(bands) if bands else None,
                model_kinds=sorted({r.model_kind for r in rs}),
            )
        )
    return out


@router.get(
    "/metrics/group/{group_id}",
    response_model=GroupMetricsOut,
    dependencies=_read,
    tags=["metrics"],
)
def group_metrics(
    group_id: GroupIdPath, request: Request, history: Annotated[int, Query(ge=1, le=1000)] = 48
) -> Response:
    """Traffic and allocation per run, the newest forecast with intervals, accuracy, events."""

    def build(ctx: ApiContext) -> str:
        metrics = ctx.store.group_metrics(group_id, history=history)
        if metrics is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no group {group_id!r}")
        current = metrics.allocations[0] if metrics.allocations else None
        return GroupMetricsOut(
            group=GroupOut.of(metrics.group, current.gbps if current else None, current),
            traffic=[AllocationOut.of(a) for a in reversed(metrics.allocations)],
            forecasts=[ForecastOut.of(f) for f in metrics.forecasts],
            accuracy=_accuracy(metrics.accuracy),
            events=[EventOut.of(e) for e in metrics.events],
        ).model_dump_json()

    return _cached(request, ("metrics/group", group_id, history), build)


@router.get(
    "/metrics/global", response_model=GlobalMetricsOut, dependencies=_read, tags=["metrics"]
)
def global_metrics(request: Request) -> Response:
    """Global and regional pools: capacity, allocation and measured use."""

    def build(ctx: ApiContext) -> str:
        with ctx.store.reading():
            pools = ctx.store.latest_pool_states()
            groups, allocated = ctx.store.latest_allocation_totals()
        top = next((p for p in pools if p.parent is None), None)
        return GlobalMetricsOut(
            at=pools[0].at if pools else None,
            global_pool=PoolOut.of(top) if top else None,
            regions=[PoolOut.of(p) for p in pools if p.parent is not None],
            groups=groups,
            allocated_gbps=allocated,
        ).model_dump_json()

    return _cached(request, ("metrics/global",), build)
