"""User-group routes: ``GET /users/groups`` and ``GET /metrics/users/{group_id}``.

Both read what the newest successful cycle recorded (``reconciler.users.recorded``): the user
groups of its composer snapshot, the forecasts and scored forecasts of each group's series
(``users/<group id>@<client region>``), and the pre-allocation record in force. The numbers are
the recorded ones, unchanged; the report's user-group page reads the same view.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, TypeAdapter

from reconciler.api.auth import require_scope
from reconciler.api.deps import ApiContext
from reconciler.api.fields import GroupIdPath
from reconciler.api.routes import _cached
from reconciler.api.schemas import AccuracyOut, ForecastOut
from reconciler.users.recorded import (
    AccuracyView,
    SeriesView,
    UserGroupView,
    user_group_view,
    user_group_views,
)

__all__ = [
    "LatencyOut",
    "PreAllocationMetricOut",
    "PreAllocationOut",
    "ServingOut",
    "UserAccuracyOut",
    "UserGroupMetricsOut",
    "UserGroupOut",
    "UserSeriesOut",
    "router",
]

router = APIRouter()
_read = [Depends(require_scope("read"))]


class UserGroupOut(BaseModel):
    """A user group: named in the policy, a behaviour cohort, or one user."""

    id: str
    name: str
    kind: str = Field(description="named, cohort or user")
    users: int = Field(description="users in the group (keyed hashes; none is shown)")
    regions: list[str] = Field(description="client regions its requests come from")
    requests_per_s_p90: float | None = Field(
        description="next-step p90 request-rate forecast (req/s), summed over its client regions"
    )
    at: datetime | None = Field(description="when the cycle that recorded it computed its signals")

    @classmethod
    def of(cls, v: UserGroupView) -> UserGroupOut:
        g = v.group
        return cls(
            id=g.id,
            name=g.name,
            kind=str(g.kind),
            users=g.users,
            regions=list(g.regions),
            requests_per_s_p90=v.requests_p90,
            at=v.at,
        )


class UserAccuracyOut(AccuracyOut):
    p90_coverage: float | None = Field(description="share of actuals at or below p90")
    p90_pinball: float | None = Field(description="mean pinball loss of p90")

    @classmethod
    def of(cls, metric: str, a: AccuracyView) -> UserAccuracyOut:
        return cls(
            metric=metric,
            points=a.points,
            mean_absolute_error=a.mean_absolute_error,
            interval_coverage=a.interval_coverage,
            model_kinds=list(a.model_kinds),
            p90_coverage=a.p90_coverage,
            p90_pinball=a.p90_pinball,
        )


class UserSeriesOut(BaseModel):
    """One client region of the group: requests_per_s, bytes_out_gbps and user_latency_ms."""

    series_id: str = Field(description="users/<group id>@<client region>")
    client_region: str
    forecasts: list[ForecastOut] = Field(description="the newest forecast, by metric and time")
    accuracy: list[UserAccuracyOut]

    @classmethod
    def of(cls, s: SeriesView) -> UserSeriesOut:
        return cls(
            series_id=s.series_id,
            client_region=s.client_region,
            forecasts=[ForecastOut.of(f) for m in s.metrics for f in m.forecasts],
            accuracy=[UserAccuracyOut.of(m.metric, m.accuracy) for m in s.metrics if m.accuracy],
        )


class PreAllocationMetricOut(BaseModel):
    metric: str = Field(description="cpu_vcpu, memory_gib, network_gbps, io_mbps or latency_ms")
    need: float | None = Field(description="predicted need")
    allocated: float | None = Field(description="pre-allocated (in force)")


class PreAllocationOut(BaseModel):
    at: datetime | None
    run_id: str | None
    metrics: list[PreAllocationMetricOut]


class ServingOut(BaseModel):
    group_id: str = Field(description="an application group serving the user group")
    share: float = Field(description="its share of the user group's requests")


class LatencyOut(BaseModel):
    client: str = Field(description="client region")
    serving: str = Field(description="serving region")
    ms: float = Field(description="measured median latency, ms")


class UserGroupMetricsOut(BaseModel):
    group: UserGroupOut
    run_id: str = Field(description="the cycle that recorded it")
    profile: dict[str, float] = Field(
        description="the behaviour the group was formed on (hour_share_HH, mean_object_kb, ...)"
    )
    series: list[UserSeriesOut]
    predicted_need: dict[str, float] = Field(
        description="resources its forecast load needs (planner metric -> value)"
    )
    pre_allocation: PreAllocationOut | None = Field(description="the record in force")
    serving: list[ServingOut]
    latency: list[LatencyOut] = Field(description="measured latency from its client regions")

    @classmethod
    def of(cls, v: UserGroupView) -> UserGroupMetricsOut:
        pre = v.pre_allocation
        return cls(
            group=UserGroupOut.of(v),
            run_id=v.run_id,
            profile=dict(v.group.profile),
            series=[UserSeriesOut.of(s) for s in v.series],
            predicted_need=dict(v.predicted_need),
            pre_allocation=(
                PreAllocationOut(
                    at=pre.at,
                    run_id=pre.run_id,
                    metrics=[
                        PreAllocationMetricOut(metric=m, need=x.need, allocated=x.allocated)
                        for m, x in pre.metrics.items()
                    ],
                )
                if pre is not None
                else None
            ),
            serving=[
                ServingOut(group_id=g, share=share)
                for g, share in sorted(v.serving.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            latency=[LatencyOut(client=x.client, serving=x.serving, ms=x.ms) for x in v.latency],
        )


_GROUP_LIST: TypeAdapter[list[UserGroupOut]] = TypeAdapter(list[UserGroupOut])


@router.get("/users/groups", response_model=list[UserGroupOut], dependencies=_read, tags=["users"])
def list_user_groups(request: Request) -> Response:
    """The user groups of the newest cycle with their next-step p90 request rate."""

    def build(ctx: ApiContext) -> bytes:
        views = user_group_views(ctx.store, with_accuracy=False)
        return _GROUP_LIST.dump_json([UserGroupOut.of(v) for v in views])

    return _cached(request, ("users/groups",), build)


@router.get(
    "/metrics/users/{group_id}",
    response_model=UserGroupMetricsOut,
    dependencies=_read,
    tags=["metrics", "users"],
)
def user_group_metrics(group_id: GroupIdPath, request: Request) -> Response:
    """A user group's profile, forecasts with intervals per client region, their accuracy,
    the pre-allocation in force against the predicted need, and the groups serving it."""

    def build(ctx: ApiContext) -> str:
        view = user_group_view(ctx.store, group_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user group {group_id!r}")
        return UserGroupMetricsOut.of(view).model_dump_json()

    return _cached(request, ("metrics/users", group_id), build)
