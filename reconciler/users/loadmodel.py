"""Load -> resource models per application group (AHPA-style), and user groups' needs from them.

An application group's CPU, memory, network and IO are fitted, on its history, as a baseline
plus a cost per request per second of each request class (non-negative least squares: a
request never frees resources). A user group's forecast request rate, split by its class mix and
by the application groups serving it, then says what that user group's load needs from each.

Only origin requests count (ALB rows whose target resolved to a resource): a request a CDN
served from its cache never reached the application group. The rates handed to ``user_needs``
must be read the same way; the shares (``reconciler.users.series.group_shares``) and mixes
(``class_mix``) are computed from origin rows.

A model is used only when it predicts a held-out tail it was not fitted on (the last 20 % of
the aligned points): R^2 at least ``MIN_R2``, or MAPE at most ``MAX_MAPE`` (a flat tail has a
tiny variance, so a good fit can score a poor R^2 there). A metric with a large idle baseline
has a small MAPE whatever the requests do: when the fit does not beat a constant (the fitted
part's mean) by ``MAX_MAPE_SKILL`` of its MAPE, it is kept as that constant, requests costing
nothing measurable of it, rather than with per-request costs that explain nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import polars as pl
from scipy.optimize import nnls

from reconciler.users.models import UserGroup, UserLoad

__all__ = [
    "LOAD_METRICS",
    "LOAD_SCHEMA",
    "MAX_CLASSES",
    "MAX_MAPE",
    "MAX_MAPE_SKILL",
    "MIN_COVERED",
    "MIN_R2",
    "OTHER",
    "LoadModel",
    "MetricFit",
    "class_mix",
    "fit_load_models",
    "measured_rates",
    "request_load",
    "user_loads",
    "user_needs",
]

_TS = pl.Datetime("us", "UTC")

#: Planner metrics a request drives (latency is a level, not a capacity: not modelled).
LOAD_METRICS: tuple[str, ...] = ("cpu_vcpu", "memory_gib", "network_gbps", "io_mbps")
#: The pooled class of rare request classes (and of a user group's classes a model never saw).
OTHER = "other"
#: At most this many classes get their own coefficient (the busiest); the rest are pooled.
MAX_CLASSES = 8
#: A model is usable when its held-out R^2 reaches this ...
MIN_R2 = 0.5
#: ... or its held-out MAPE (over points above zero) is at most this.
MAX_MAPE = 0.15
#: ... and beats a constant (the fitted part's mean) by this ratio of MAPEs.
MAX_MAPE_SKILL = 0.8
#: Share of a user group's origin requests whose app groups must have a usable model for a
#: metric before its need is stated (the rest is assumed to cost like the covered part).
MIN_COVERED = 0.95
#: The held-out tail: this fraction of the aligned points, the most recent.
_HOLDOUT = 0.2

LOAD_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "request_class": pl.String(),
        "ts": _TS,
        "requests_per_s": pl.Float64(),
        "bytes_in_per_s": pl.Float64(),
        "bytes_out_per_s": pl.Float64(),
    }
)
_NEEDED = ("ts", "log_kind", "user", "resource_id", "request_class", "requests")


@dataclass(frozen=True)
class MetricFit:
    """One metric of one application group: ``y = intercept + sum(coef[c] * rate[c])``.

    ``coefficients`` are per req/s of each class (``OTHER``: the pooled rare ones);
    ``mean_per_request`` is the fitted per-request cost averaged over the history's load (what
    a class the model has no column for is charged). ``r2``/``mape`` are on the held-out tail.
    """

    metric: str
    intercept: float
    coefficients: dict[str, float]
    mean_per_request: float
    r2: float
    mape: float
    points: int
    usable: bool
    reason: str = ""

    def cost_of(self, request_class: str) -> float:
        """Cost of one req/s of ``request_class`` (pooled or unknown: ``OTHER``, else the mean)."""
        if request_class in self.coefficients:
            return self.coefficients[request_class]
        return self.coefficients.get(OTHER, self.mean_per_request)


@dataclass(frozen=True)
class LoadModel:
    """An application group's fits, one per planner metric (``LOAD_METRICS``)."""

    group_id: str
    fits: dict[str, MetricFit] = field(default_factory=dict)

    def usable(self, metric: str) -> MetricFit | None:
        """The fit of ``metric`` if it may be used, else None."""
        fit = self.fits.get(metric)
        return fit if fit is not None and fit.usable else None


def _origin(requests: pl.DataFrame, where: str) -> pl.DataFrame:
    """ALB rows whose target resolved (the requests an application group served)."""
    missing = [c for c in _NEEDED if c not in requests.columns]
    if missing:
        raise ValueError(f"{where}: requests table lacks columns {', '.join(missing)}")
    return requests.filter(
        (pl.col("log_kind") == "alb") & pl.col("resource_id").is_not_null()
    ).with_columns(pl.col("request_class").fill_null(OTHER))


def request_load(
    requests: pl.DataFrame, members: Mapping[str, Sequence[str]], step: timedelta
) -> pl.DataFrame:
    """Origin request rows (``REQUEST_BUCKET_SCHEMA``) -> ``LOAD_SCHEMA``: per (application
    group, request class, ts on the ``step`` grid) requests and bytes per second. ``members``
    maps a group id to its resource ids (a resource in two groups counts for the first)."""
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError(f"request_load: step must be positive, got {step}")
    origin = _origin(requests, "request_load")
    owner: dict[str, str] = {}
    for gid, rids in members.items():
        for rid in rids:
            owner.setdefault(rid, gid)
    if origin.height == 0 or not owner:
        return pl.DataFrame(schema=LOAD_SCHEMA)
    groups = pl.DataFrame(
        {"resource_id": list(owner), "group_id": list(owner.values())},
        schema={"resource_id": pl.String, "group_id": pl.String},
    )
    sums = [pl.col("requests").sum().cast(pl.Float64)]
    for col in ("bytes_in", "bytes_out"):
        sums.append(
            (pl.col(col).sum() if col in origin.columns else pl.lit(0)).cast(pl.Float64).alias(col)
        )
    out = (
        origin.join(groups, on="resource_id", how="inner")
        .with_columns(pl.col("ts").cast(_TS).dt.truncate(step))
        .group_by("group_id", "request_class", "ts")
        .agg(*sums)
        .select(
            "group_id",
            "request_class",
            "ts",
            (pl.col("requests") / seconds).alias("requests_per_s"),
            (pl.col("bytes_in") / seconds).alias("bytes_in_per_s"),
            (pl.col("bytes_out") / seconds).alias("bytes_out_per_s"),
        )
        .sort("group_id", "request_class", "ts")
    )
    return out.cast(LOAD_SCHEMA)


def _columns(load: pl.DataFrame, min_nonzero: int) -> tuple[pl.DataFrame, list[str]]:
    """One group's load pivoted to ``ts`` + one rate column per kept class (rare: ``OTHER``)."""
    counts = (
        load.filter(pl.col("requests_per_s") > 0)
        .group_by("request_class")
        .agg(pl.len().alias("n"), pl.col("requests_per_s").sum().alias("total"))
        .filter(pl.col("n") >= min_nonzero)
        .sort("total", "request_class", descending=[True, False])
    )
    kept = [c for c in counts["request_class"].to_list() if c != OTHER][:MAX_CLASSES]
    named = load.with_columns(
        pl.when(pl.col("request_class").is_in(kept))
        .then(pl.col("request_class"))
        .otherwise(pl.lit(OTHER))
        .alias("request_class")
    )
    wide = named.pivot(
        on="request_class", index="ts", values="requests_per_s", aggregate_function="sum"
    ).fill_null(0.0)
    classes = [c for c in wide.columns if c != "ts"]
    classes = [c for c in kept if c in classes] + ([OTHER] if OTHER in classes else [])
    return wide.select("ts", *classes), classes


def _scores(x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> tuple[float, float]:
    """R^2 and MAPE (over points above zero) of ``x @ coef`` against ``y``."""
    pred = x @ coef
    sse = float(np.sum((y - pred) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = (1.0 if sse <= 1e-12 else 0.0) if sst <= 1e-12 else 1.0 - sse / sst
    pos = y > 1e-9
    mape = float(np.mean(np.abs(y[pos] - pred[pos]) / y[pos])) if pos.any() else math.inf
    return r2, mape


def _constant_mape(fitted: np.ndarray, tail: np.ndarray) -> float:
    """MAPE on ``tail`` (points above zero) of predicting ``fitted``'s mean everywhere."""
    pos = tail > 1e-9
    if not pos.any() or fitted.size == 0:
        return math.inf
    level = float(fitted.mean())
    return float(np.mean(np.abs(tail[pos] - level) / tail[pos]))


def _fit(metric: str, x: np.ndarray, y: np.ndarray, classes: list[str], rates: np.ndarray,
         min_points: int) -> MetricFit:  # fmt: skip
    n = len(y)
    if n < min_points:
        reason = f"{n} aligned points, fewer than {min_points}"
        return MetricFit(metric, 0.0, {}, 0.0, math.nan, math.nan, n, False, reason)
    tail = max(1, math.ceil(n * _HOLDOUT))
    early, _ = nnls(x[:-tail], y[:-tail])
    r2, mape = _scores(x[-tail:], y[-tail:], early)
    flat = _constant_mape(y[:-tail], y[-tail:])
    coef, _ = nnls(x, y)
    total = float(rates.sum())
    mean = float((x[:, 1:] @ coef[1:]).sum() / total) if total > 0 else 0.0
    usable = r2 >= MIN_R2 or mape <= MAX_MAPE
    reason = (
        "" if usable else f"held-out R^2 {r2:.2f} < {MIN_R2} and MAPE {mape:.0%} > {MAX_MAPE:.0%}"
    )
    if usable and r2 < MIN_R2 and mape > MAX_MAPE_SKILL * flat:
        coef = np.zeros_like(coef)
        coef[0] = float(y.mean())
        mean = 0.0
        reason = (
            f"no better than a constant (held-out MAPE {mape:.1%} vs {flat:.1%}): kept as the "
            "level, requests cost nothing measurable"
        )
    per_class = {c: float(v) for c, v in zip(classes, coef[1:], strict=True)}
    return MetricFit(metric, float(coef[0]), per_class, mean, r2, mape, n, usable, reason)


def fit_load_models(
    load: pl.DataFrame, group_demand: pl.DataFrame, min_points: int = 24
) -> dict[str, LoadModel]:
    """Per application group of ``load`` (``request_load``) and per ``LOAD_METRICS`` metric of
    ``group_demand`` (``group_id, metric, ts, y``): NNLS of the metric on an intercept and each
    class's rate, on the steps both have. A class needs ``min_points // 2`` non-zero steps for
    its own column (else pooled into ``OTHER``). A fit on fewer than ``min_points`` aligned
    points, or one that misses its held-out tail (``MIN_R2``/``MAX_MAPE``), is kept with the
    reason and ``usable=False``."""
    if min_points < 5:
        raise ValueError(f"fit_load_models: min_points must be at least 5, got {min_points}")
    for frame, cols, what in (
        (load, ("group_id", "request_class", "ts", "requests_per_s"), "load"),
        (group_demand, ("group_id", "metric", "ts", "y"), "group_demand"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"fit_load_models: {what} lacks columns {', '.join(missing)}")
    demand = group_demand.filter(pl.col("metric").is_in(LOAD_METRICS)).with_columns(
        pl.col("ts").cast(_TS), pl.col("y").cast(pl.Float64)
    )
    models: dict[str, LoadModel] = {}
    for (gid,), part in load.with_columns(pl.col("ts").cast(_TS)).group_by(
        "group_id", maintain_order=True
    ):
        wide, classes = _columns(part, max(1, min_points // 2))
        mine = demand.filter(pl.col("group_id") == gid)
        fits: dict[str, MetricFit] = {}
        for metric in LOAD_METRICS:
            ys = (
                mine.filter(pl.col("metric") == metric)
                .group_by("ts")
                .agg(pl.col("y").mean())
                .filter(pl.col("y").is_not_null() & pl.col("y").is_not_nan())
            )
            joined = wide.join(ys, on="ts", how="inner").sort("ts")
            rates = joined.select(classes).to_numpy().astype(float)
            x = np.column_stack([np.ones(joined.height), rates])
            y = joined["y"].to_numpy().astype(float)
            fits[metric] = _fit(metric, x, y, classes, rates, min_points)
        models[str(gid)] = LoadModel(str(gid), fits)
    return models


def _fractions(frame: pl.DataFrame, key: str) -> dict[str, dict[str, float]]:
    """``user_group, <key>, requests`` -> per user group, each key's share of its requests."""
    out: dict[str, dict[str, float]] = {}
    totals = frame.group_by("user_group").agg(pl.col("requests").sum().alias("total"))
    rows = frame.join(totals, on="user_group").filter(pl.col("total") > 0)
    for ug, k, n, total in rows.select("user_group", key, "requests", "total").iter_rows():
        out.setdefault(ug, {})[k] = out.get(ug, {}).get(k, 0.0) + n / total
    return out


def _by_user_group(requests: pl.DataFrame, groups: Sequence[UserGroup], where: str) -> pl.DataFrame:
    origin = _origin(requests, where)
    pairs = [(u, g.id) for g in groups for u in g.users]
    member = pl.DataFrame(pairs, schema={"user": pl.String, "user_group": pl.String}, orient="row")
    return origin.join(member.unique("user", keep="first"), on="user", how="inner")


def class_mix(requests: pl.DataFrame, groups: Sequence[UserGroup]) -> dict[str, dict[str, float]]:
    """Per user group, each request class's share of its origin requests."""
    rows = _by_user_group(requests, groups, "class_mix")
    agg = rows.group_by("user_group", "request_class").agg(pl.col("requests").sum())
    return _fractions(agg, "request_class")


def measured_rates(
    requests: pl.DataFrame, groups: Sequence[UserGroup], step: timedelta
) -> dict[str, float]:
    """Per user group, origin requests per second in the table's last ``step`` (0 when a group
    had none then): what its pre-allocation is watched against."""
    rows = _by_user_group(requests, groups, "measured_rates").with_columns(
        pl.col("ts").cast(_TS).dt.truncate(step)
    )
    out = {g.id: 0.0 for g in groups}
    if rows.height == 0:
        return out
    last = rows["ts"].max()
    agg = rows.filter(pl.col("ts") == last).group_by("user_group").agg(pl.col("requests").sum())
    for ug, n in agg.iter_rows():
        out[ug] = n / step.total_seconds()
    return out


def user_loads(
    forecast_rates: Mapping[str, Mapping[str, float]],
    shares: Mapping[str, Mapping[str, float]],
    class_mix: Mapping[str, Mapping[str, float]],
    models: Mapping[str, LoadModel],
    resource_group: Mapping[str, str],
    measured: Mapping[str, float] | None = None,
) -> dict[str, UserLoad]:
    """Per user group: its forecast rate, ``measured`` rate, cost per req/s per metric and the
    R^2 of the serving groups' usable fits (``UserSignals.load``; arguments as ``user_needs``)."""
    needs, serving = user_needs(forecast_rates, shares, class_mix, models, resource_group)
    out: dict[str, UserLoad] = {}
    for ug, regions in forecast_rates.items():
        rate = float(sum(regions.values()))
        r2 = {
            app: {m: f.r2 for m in LOAD_METRICS if (f := models[app].usable(m)) is not None}
            for app in serving.get(ug, {})
            if app in models
        }
        out[ug] = UserLoad(
            requests_per_s=rate,
            measured_per_s=None if measured is None else measured.get(ug),
            per_request={m: v / rate for m, v in needs.get(ug, {}).items()} if rate > 0 else {},
            r2={app: v for app, v in r2.items() if v},
        )
    return out


def user_needs(
    forecast_rates: Mapping[str, Mapping[str, float]],
    shares: Mapping[str, Mapping[str, float]],
    class_mix: Mapping[str, Mapping[str, float]],
    models: Mapping[str, LoadModel],
    resource_group: Mapping[str, str],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Each user group's need per metric and the application groups serving it.

    ``forecast_rates``: user group -> client region -> origin req/s at the provisioning quantile
    (summed); ``shares``: user group -> serving resource -> share of its origin requests (a key
    that is no resource in ``resource_group`` is taken as an application group id);
    ``class_mix``: user group -> request class -> share. The need is rate x share x the class
    mix's per-request cost of each serving group's usable fit, summed. The intercept is left
    out: it is the application group's baseline (idle cost), paid whoever sends requests, so it
    belongs to no user group. A metric is stated only when groups with a usable fit serve at
    least ``MIN_COVERED`` of the user group's share (scaled up to the whole). Returns
    ``(needs, serving)`` as ``UserSignals.needs`` and ``UserSignals.serving``.
    """
    needs: dict[str, dict[str, float]] = {}
    serving: dict[str, dict[str, float]] = {}
    for ug, regions in forecast_rates.items():
        rate = float(sum(regions.values()))
        by_app: dict[str, float] = {}
        for key, share in shares.get(ug, {}).items():
            app = resource_group.get(key, key)
            by_app[app] = by_app.get(app, 0.0) + float(share)
        by_app = {a: s for a, s in by_app.items() if s > 0}
        if not by_app:
            continue
        serving[ug] = by_app
        total = sum(by_app.values())
        mix = class_mix.get(ug, {})
        mix_total = sum(mix.values())
        mine: dict[str, float] = {}
        for metric in LOAD_METRICS:
            need = covered = 0.0
            for app, share in by_app.items():
                fit = models[app].usable(metric) if app in models else None
                if fit is None:
                    continue
                cost = (
                    sum(v * fit.cost_of(c) for c, v in mix.items()) / mix_total
                    if mix_total > 0
                    else fit.mean_per_request
                )
                need += rate * share * cost
                covered += share
            if covered > 0 and covered >= MIN_COVERED * total:
                mine[metric] = need * total / covered
        if mine:
            needs[ug] = mine
    return needs, serving
