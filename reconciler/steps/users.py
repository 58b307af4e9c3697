"""User behaviour inside the cycle's steps (issue 15): the thin adapters the production steps call.

- collect: request logs (ALB, CloudFront) -> the history's ``requests`` and ``accesses`` tables;
- compose: user groups (the policy's named groups and behaviour cohorts) with stable ids;
- forecast: each user group's series per client region (requests, bytes, latency), forecast
  beside the application groups' series by the same forecaster and feedback loop;
- plan: ``UserSignals`` for the planner: per-region demand, measured latency, miss-ratio curves,
  hot objects, and each user group's resource needs from the load -> resource models.

Each function reads what it needs from the context and returns plain data; nothing is kept.
A cycle without a ``users`` policy section, or on a provider without request logs, skips all of
it (every function returns an empty result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from policies.actions import EdgeCacheAction
from policies.users import UsersPolicy
from providers.base import RequestLogProvider
from providers.models import Resource, TimeWindow
from reconciler.caching.mrc import hot_objects, hot_prefixes, region_curves
from reconciler.context import RunContext
from reconciler.history import HistoryStore
from reconciler.steps.allocate import window_peaks
from reconciler.steps.types import ForecastSet, GroupSet
from reconciler.users.cohorts import compose_user_groups
from reconciler.users.collect import collect_requests
from reconciler.users.loadmodel import (
    class_mix,
    fit_load_models,
    measured_rates,
    request_load,
    user_loads,
    user_needs,
)
from reconciler.users.models import UserGroup, UserMetric, UserSignals
from reconciler.users.series import (
    group_members,
    group_shares,
    latency_matrix,
    one_tier,
    user_demand,
)

__all__ = [
    "CURVE_WINDOW",
    "DELIVERY_LAG",
    "HOT_HALF_LIFE",
    "collect_users",
    "compose_users",
    "users_demand",
    "users_policy",
    "users_record",
    "users_signals",
]

#: How much of the access stream a miss-ratio curve is computed on.
CURVE_WINDOW = timedelta(hours=6)
#: Request logs arrive late (ALB every 5 minutes, CloudFront within the hour): the buckets of the
#: last ``DELIVERY_LAG`` are not forecast from or scored against, being still incomplete.
DELIVERY_LAG = timedelta(minutes=10)
#: How fast an object's past requests fade when ranking what is hot (a popularity shift shows
#: within about one half-life).
HOT_HALF_LIFE = timedelta(hours=1)


def users_policy(ctx: RunContext) -> UsersPolicy | None:
    """The policy's ``users`` section, or None when request logs are not read."""
    users = getattr(ctx.policy, "users", None)
    return users if isinstance(users, UsersPolicy) else None


def collect_users(
    ctx: RunContext, inventory: Sequence[Resource], window: TimeWindow
) -> dict[str, int] | None:
    """Request logs delivered for ``window`` into the history; None when not read."""
    policy = users_policy(ctx)
    if policy is None or not isinstance(ctx.provider, RequestLogProvider):
        return None
    report = collect_requests(ctx.provider, ctx.history, window, policy, inventory)
    return report.summary()


def _requests(history: HistoryStore, window: TimeWindow) -> pl.DataFrame:
    return _in_window(history.scan_requests(), window)


def _accesses(history: HistoryStore, window: TimeWindow) -> pl.DataFrame:
    return _in_window(history.scan_accesses(), window)


def _in_window(scan: pl.LazyFrame, window: TimeWindow) -> pl.DataFrame:
    """The rows of ``scan`` (a history table, partitioned by the UTC hour of ``ts``) in
    ``window``; the hours before it are not opened (a 6-hour read of three days' request
    files took a third of the time of reading them all)."""
    start, end = window.start, window.end
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    day = f"{first:%Y-%m-%d}"
    hours = (pl.col("date") > day) | ((pl.col("date") == day) & (pl.col("hour") >= first.hour))
    return scan.filter(hours).filter((pl.col("ts") >= start) & (pl.col("ts") < end)).collect()


def compose_users(
    ctx: RunContext, previous: Mapping[str, Any] | None, lookback: timedelta
) -> tuple[tuple[UserGroup, ...], dict[str, Any] | None]:
    """User groups over the last ``lookback`` of request history, ids kept from ``previous``
    (the last good cycle's ``composer`` state of the users)."""
    policy = users_policy(ctx)
    if policy is None:
        return (), None
    now = ctx.clock.now()
    requests = _requests(ctx.history, TimeWindow(start=now - lookback, end=now))
    if requests.height == 0:
        return (), dict(previous) if previous else None
    groups, state = compose_user_groups(requests, policy, previous)
    return tuple(groups), state


def users_requests(ctx: RunContext, groups: GroupSet, window: TimeWindow) -> pl.DataFrame | None:
    """The request history in ``window`` (the forecast's lookback), read once a cycle for the
    forecast and the plan; None without user groups."""
    if not groups.users:
        return None
    return _requests(ctx.history, window)


def users_demand(
    groups: GroupSet, requests: pl.DataFrame | None, window: TimeWindow, step: timedelta
) -> pl.DataFrame | None:
    """The user groups' series (``group_id, metric, ts, y``) from ``requests`` over ``window``
    but for its last ``DELIVERY_LAG`` (incomplete buckets); None without user groups or
    requests."""
    if not groups.users or requests is None:
        return None
    complete = requests.filter(pl.col("ts") < window.end - DELIVERY_LAG)
    if complete.height == 0:
        return None
    return user_demand(complete, groups.users, step)


def users_signals(
    ctx: RunContext,
    groups: GroupSet,
    forecasts: ForecastSet,
    group_demand: pl.DataFrame | None,
    until: datetime,
    step: timedelta,
    lookback: timedelta,
    requests: pl.DataFrame | None = None,
) -> UserSignals | None:
    """What the planner needs from request logs (``UserSignals``); None without users.
    ``requests``: the forecast step's read of the last ``lookback`` (read here without it)."""
    policy = users_policy(ctx)
    if policy is None or not groups.users:
        return None
    now = ctx.clock.now()
    if requests is None:
        requests = _requests(ctx.history, TimeWindow(start=now - lookback, end=now))
    accesses = _accesses(ctx.history, TimeWindow(start=now - 2 * CURVE_WINDOW, end=now))
    rate = window_peaks(forecasts, str(UserMetric.REQUESTS_PER_S), until)
    gbps = window_peaks(forecasts, str(UserMetric.BYTES_OUT_GBPS), until)
    high = window_peaks(forecasts, str(UserMetric.BYTES_OUT_GBPS), until, "p99")
    by_group: dict[str, dict[str, float]] = {}
    region_requests: dict[str, float] = {}
    region_gbps: dict[str, float] = {}
    for series, value in rate.items():
        gid, region = _split(series)
        by_group.setdefault(gid, {})[region] = value
        region_requests[region] = region_requests.get(region, 0.0) + value
    region_high: dict[str, float] = {}
    for series, value in gbps.items():
        _, region = _split(series)
        region_gbps[region] = region_gbps.get(region, 0.0) + value
    for series, value in high.items():
        _, region = _split(series)
        region_high[region] = region_high.get(region, 0.0) + value
    cache = ctx.policy.action(EdgeCacheAction)
    top = cache.prewarm_objects if cache is not None else 20
    # a resource serves requests for its application group: tenant groups re-list members of
    # application groups (they would take the load twice), so they come last and lose ties
    ordered = sorted(groups.groups, key=lambda g: g.kind == "tenant")
    members = {g.id: list(g.members) for g in ordered}
    resource_group: dict[str, str] = {}
    for g in ordered:
        for m in g.members:
            resource_group.setdefault(m, g.id)
    needs: dict[str, dict[str, float]] = {}
    serving: dict[str, dict[str, float]] = {}
    loads = {}
    if requests.height and group_demand is not None and group_demand.height:
        load = request_load(requests, members, step)
        models = fit_load_models(load, group_demand)
        origin = _origin_rates(by_group, requests, groups.users)
        shares = group_shares(requests, groups.users)
        mix = class_mix(requests, groups.users)
        needs, serving = user_needs(origin, shares, mix, models, resource_group)
        measured = measured_rates(requests, groups.users, step)
        loads = user_loads(origin, shares, mix, models, resource_group, measured)
    recent = now - CURVE_WINDOW
    curves = region_curves(
        accesses,
        policy.sample_rate,
        CURVE_WINDOW.total_seconds(),
        total_requests=_edge_requests(requests, recent),
        count_from=recent,
    )
    return UserSignals(
        at=now,
        region_requests=region_requests,
        region_gbps=region_gbps,
        region_gbps_high=region_high,
        latency_ms=latency_matrix(requests) if requests.height else {},
        curves=curves,
        hot_prefixes=hot_prefixes(accesses, curves, count_from=recent),
        hot_objects=hot_objects(accesses, now, HOT_HALF_LIFE, top),
        needs=needs,
        serving=serving,
        load=loads,
    )


def _origin_rates(
    forecast: Mapping[str, Mapping[str, float]],
    requests: pl.DataFrame,
    groups: Sequence[UserGroup],
) -> dict[str, dict[str, float]]:
    """The forecast rates (counted once, at the outermost tier: CloudFront where it fronts a
    region) scaled to what reaches the origin, per user group: the load models are fitted on
    origin requests, so cache hits must not be charged to the application groups."""
    members = group_members(groups)
    counted = (
        one_tier(requests)
        .join(members, on="user")
        .group_by("group_id")
        .agg(pl.col("requests").sum())
    )
    origin = (
        requests.filter(pl.col("log_kind") == "alb")
        .join(members, on="user")
        .group_by("group_id")
        .agg(pl.col("requests").sum())
    )
    seen = dict(counted.iter_rows())
    reached = dict(origin.iter_rows())
    out: dict[str, dict[str, float]] = {}
    for gid, regions in forecast.items():
        total = float(seen.get(gid, 0) or 0)
        ratio = min(1.0, float(reached.get(gid, 0) or 0) / total) if total > 0 else 0.0
        out[gid] = {r: v * ratio for r, v in regions.items()}
    return out


def _edge_requests(requests: pl.DataFrame, since: datetime) -> dict[str, float]:
    """Each client region's CloudFront request count since ``since`` (the full stream the
    sampled accesses stand for)."""
    rows = requests.filter((pl.col("log_kind") == "cloudfront") & (pl.col("ts") >= since))
    agg = rows.group_by("client_region").agg(pl.col("requests").sum())
    return {str(r): float(n) for r, n in agg.iter_rows() if r is not None}


def _split(series_id: str) -> tuple[str, str]:
    """``users/<group>@<region>`` -> (group, region)."""
    body = series_id.removeprefix("users/")
    gid, _, region = body.rpartition("@")
    return gid, region


def users_record(
    groups: GroupSet, signals: UserSignals | None, series: Sequence[str]
) -> dict[str, Any] | None:
    """The users part of the cycle's snapshot (what the API and report read back)."""
    if groups.users_state is None and not groups.users:
        return None
    by_group: dict[str, list[str]] = {}
    for s in series:
        gid, _ = _split(s)
        by_group.setdefault(gid, []).append(s)
    out: dict[str, Any] = {
        "composer": groups.users_state,
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "kind": str(g.kind),
                "users": len(g.users),
                "regions": list(g.regions),
                "profile": dict(g.profile),
                "series": sorted(by_group.get(g.id, [])),
            }
            for g in groups.users
        ],
    }
    if signals is not None:
        out["at"] = signals.at.isoformat()
        out["signals"] = {
            "region_requests": signals.region_requests,
            "region_gbps": signals.region_gbps,
            "latency_ms": [
                {"client": c, "serving": s, "ms": v}
                for (c, s), v in sorted(signals.latency_ms.items())
            ],
            "needs": signals.needs,
            "serving": signals.serving,
        }
    return out
