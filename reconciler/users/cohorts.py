"""User groups with stable ids: the policy's named groups, then behaviour cohorts of the rest.

A user's *profile* over the window (edge or origin rows, each request once: ``one_tier``):

- ``hour_share_HH``: share of its requests in each four-hour block of the UTC day (HH = 00, 04,
  ... 20);
- ``class_share:<class>``: share of its requests in each of the window's ``TOP_CLASSES`` most
  requested classes (``GET /api``);
- ``log_object_kb``: log(1 + mean response KB per request); ``log_request_rate``: log10 of its
  requests per second over the window.

Users named by ``policy.groups`` (their tenant keys hashed as ``identity`` hashes them) form
those groups, whatever their behaviour. ``ANONYMOUS`` (requests without a key) is a group of its
own. Every other user is clustered into ``policy.cohorts`` cohorts by k-means (scipy
``kmeans2``, k-means++ with a fixed seed, on standardised profiles), or is its own group when
``cohorts`` is 0. At most ``MAX_CLUSTERED`` users are clustered per cycle: beyond that the
centroids are fitted on the ``MAX_CLUSTERED`` users whose BLAKE2b digest is smallest (a
deterministic sample that does not depend on the order users arrive in) and every other user
joins its nearest centroid.

Identities are stable across cycles: the new cohorts are matched to the previous cycle's
(``previous``, the state this function returned then) by minimum total centroid distance
(Hungarian assignment, ``scipy.optimize.linear_sum_assignment``) and keep their ids and names.
A cohort left over gets ``ug-`` + 6 hex characters of a hash of its members and a name from its
most distinctive feature (``cohort-morning``, ``cohort-small-objects``, ``cohort-heavy``...,
made unique). Named groups' ids derive from their names; a user's own group's from its hash.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from scipy.cluster.vq import kmeans2, vq
from scipy.optimize import linear_sum_assignment

from policies.users import UsersPolicy
from reconciler.users.identity import hash_tenants, user_key
from reconciler.users.models import ANONYMOUS, UserGroup, UserGroupKind
from reconciler.users.series import one_tier

__all__ = ["MAX_CLUSTERED", "SEED", "TOP_CLASSES", "compose_user_groups", "user_profiles"]

#: Users clustered per cycle at most (the rest join the nearest centroid).
MAX_CLUSTERED = 5000
#: Request classes whose shares are profile features.
TOP_CLASSES = 6
#: k-means seed: the same data gives the same cohorts.
SEED = 15
_STATE_VERSION = 1
_BLOCKS = tuple(range(0, 24, 4))
_TIME_WORDS = {0: "night", 4: "early", 8: "morning", 12: "midday", 16: "afternoon", 20: "evening"}


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _totals(rows: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Per user: requests, bytes out, requests per four-hour block and per top class."""
    top = (
        rows.group_by("request_class")
        .agg(pl.col("requests").sum())
        .sort(["requests", "request_class"], descending=[True, False])
        .get_column("request_class")
        .head(TOP_CLASSES)
        .to_list()
    )
    block = (pl.col("ts").dt.hour() // 4) * 4
    totals = rows.group_by("user").agg(
        pl.col("requests").sum(),
        pl.col("bytes_out").sum(),
        *[
            pl.col("requests").filter(block == b).sum().alias(f"hour_share_{b:02d}")
            for b in _BLOCKS
        ],
        *[
            pl.col("requests").filter(pl.col("request_class") == c).sum().alias(f"class_share:{c}")
            for c in top
        ],
    )
    return totals.sort("user"), [f"class_share:{c}" for c in top]


def _features(totals: pl.DataFrame, shares: Sequence[str], window_s: float) -> pl.DataFrame:
    """Clustering features from summed totals (one row per user or group)."""
    n = pl.col("requests").cast(pl.Float64)
    return totals.select(
        *[c for c in totals.columns if c not in (*shares, "requests", "bytes_out")],
        *[(pl.col(c) / n).alias(c) for c in shares],
        (pl.col("bytes_out") / n / 1024).log1p().alias("log_object_kb"),
        (n / window_s).log10().alias("log_request_rate"),
    )


def user_profiles(requests: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """``(totals, features, window_s)``: per-user totals and profile features (``user`` plus
    one column per feature), and the window's length in seconds."""
    rows = one_tier(requests).filter(pl.col("user").is_not_null() & (pl.col("requests") > 0))
    if rows.height == 0:
        empty = pl.DataFrame(schema={"user": pl.String})
        return empty, empty, 300.0
    first, last = rows.get_column("ts").min(), rows.get_column("ts").max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    window_s = (last - first).total_seconds() + 300.0  # the last bucket is 5 minutes long
    totals, classes = _totals(rows)
    shares = [f"hour_share_{b:02d}" for b in _BLOCKS] + classes
    return totals, _features(totals, shares, window_s), window_s


def _profile(totals: pl.DataFrame, users: Sequence[str], window_s: float) -> dict[str, float]:
    """A group's profile: its members' totals summed, as shares, KB and requests/s."""
    mine = totals.filter(pl.col("user").is_in(list(users)))
    out: dict[str, float] = {"users": float(len(users))}
    if mine.height == 0:
        return out
    summed = mine.drop("user").sum()
    n = float(summed.item(0, "requests")) or 1.0
    for c in summed.columns:
        if c.startswith(("hour_share_", "class_share:")):
            out[c] = float(summed.item(0, c)) / n
    out["mean_object_kb"] = float(summed.item(0, "bytes_out")) / n / 1024
    out["requests_per_s"] = n / window_s
    return out


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "root"


def _words(z: Mapping[str, float]) -> list[tuple[float, str]]:
    """Descriptors by strength: the strongest time block, class, size and rate deviation."""
    out: list[tuple[float, str]] = []
    hours = {k: v for k, v in z.items() if k.startswith("hour_share_")}
    if hours:
        k = max(sorted(hours), key=lambda h: hours[h])
        out.append((hours[k], _TIME_WORDS[int(k[-2:])]))
    classes = {k: v for k, v in z.items() if k.startswith("class_share:")}
    if classes:
        k = max(sorted(classes), key=lambda c: classes[c])
        name = k.split(":", 1)[1].split(" ", 1)[-1]
        out.append((classes[k], _slug(name) + "-heavy" if name != "other" else "mixed"))
    if "log_object_kb" in z:
        size = z["log_object_kb"]
        out.append((abs(size), "large-objects" if size > 0 else "small-objects"))
    if "log_request_rate" in z:
        rate = z["log_request_rate"]
        out.append((abs(rate), "heavy" if rate > 0 else "light"))
    return sorted(out, key=lambda w: -w[0])


def _name(z: Mapping[str, float], taken: set[str]) -> str:
    """``cohort-<strongest descriptor>``, then its second descriptor, then a number: unique."""
    words = [w for s, w in _words(z) if s >= 0.1] or ["typical"]
    candidates = [f"cohort-{words[0]}"]
    if len(words) > 1:
        candidates.append(f"cohort-{words[0]}-{words[1]}")
    for c in candidates:
        if c[:63] not in taken:
            return c[:63]
    base, n = candidates[-1][:58], 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _new_id(seed: str, taken: set[str]) -> str:
    n, text = 0, seed
    while (gid := "ug-" + _digest(text)[:6]) in taken:
        n += 1
        text = f"{seed}#{n}"
    return gid


def _kmeans(x: np.ndarray, k: int) -> np.ndarray:
    """Centroids of ``x`` (standardised) in at most ``k`` clusters."""
    distinct = np.unique(x, axis=0)
    if k >= len(distinct):
        return distinct
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty cluster is dropped below
        centroids, labels = kmeans2(x, k, iter=30, minit="++", seed=np.random.default_rng(SEED))
    return np.asarray(centroids[np.unique(labels)])


def _cohorts(
    features: pl.DataFrame,
    k: int,
    previous: Sequence[Mapping[str, Any]],
    taken_ids: set[str],
    taken_names: set[str],
) -> tuple[list[tuple[str, str, list[str], dict[str, float]]], list[dict[str, Any]]]:
    """``(id, name, members, centroid)`` per cohort, and the state to keep."""
    names = [c for c in features.columns if c != "user"]
    users = features.get_column("user").to_list()
    raw = features.select(names).fill_nan(0.0).fill_null(0.0).to_numpy().astype(np.float64)
    order = sorted(range(len(users)), key=lambda i: _digest("sample:" + users[i]))
    fit = raw[order[:MAX_CLUSTERED]]  # a deterministic sample, fair whatever the user ids
    mean, sd = fit.mean(axis=0), fit.std(axis=0)
    sd[sd == 0] = 1.0
    centroids = _kmeans((fit - mean) / sd, k)
    labels, _ = vq((raw - mean) / sd, centroids)
    groups = [np.flatnonzero(labels == i) for i in range(len(centroids))]
    groups = [g for g in groups if len(g)]
    centres = [raw[g].mean(axis=0) for g in groups]
    matched: dict[int, Mapping[str, Any]] = {}
    if previous and centres:
        old = np.array([[float(p["centroid"].get(f, 0.0)) for f in names] for p in previous])
        new = np.array(centres)
        cost = np.linalg.norm(((old - mean) / sd)[:, None, :] - ((new - mean) / sd)[None], axis=2)
        for i, j in zip(*linear_sum_assignment(cost), strict=True):
            matched[int(j)] = previous[int(i)]
    for p in previous:
        taken_ids.add(str(p["id"]))
    for p in matched.values():
        taken_names.add(str(p["name"]))
    out = []
    for j, members in enumerate(groups):
        ids = sorted(users[i] for i in members)
        centroid = dict(zip(names, (float(v) for v in centres[j]), strict=True))
        if j in matched:
            gid, name = str(matched[j]["id"]), str(matched[j]["name"])
        else:
            gid = _new_id("cohort:" + ",".join(ids), taken_ids)
            z = dict(zip(names, ((centres[j] - mean) / sd).tolist(), strict=True))
            name = _name(z, taken_names)
        taken_ids.add(gid)
        taken_names.add(name)
        out.append((gid, name, ids, centroid))
    state = [{"id": g, "name": n, "centroid": c} for g, n, _, c in out]
    return out, state


def compose_user_groups(
    requests: pl.DataFrame, policy: UsersPolicy, previous: Mapping[str, Any] | None
) -> tuple[list[UserGroup], dict[str, Any]]:
    """The user groups over ``requests`` (``REQUEST_BUCKET_SCHEMA`` rows of the window) and
    the JSON-able state the next cycle passes back as ``previous`` (see the module)."""
    prev = previous if previous and previous.get("version") == _STATE_VERSION else {}
    totals, features, window_s = user_profiles(requests)
    region = pl.coalesce("client_region", "serving_region")
    regions_of = {
        u: tuple(sorted(r))
        for u, r in one_tier(requests)
        .filter(region.is_not_null())
        .group_by("user")
        .agg(region.unique().alias("r"))
        .iter_rows()
    }

    def group(gid: str, name: str, kind: UserGroupKind, users: Sequence[str]) -> UserGroup:
        regions = sorted({r for u in users for r in regions_of.get(u, ())})
        profile = _profile(totals, users, window_s)
        return UserGroup(gid, name, kind, tuple(sorted(users)), profile, tuple(regions))

    out: list[UserGroup] = []
    named: set[str] = set()
    taken_ids: set[str] = set()
    taken_names = {g.name for g in policy.groups} | {ANONYMOUS}
    key = user_key(policy)
    for spec in policy.groups:
        members = sorted(set(hash_tenants(spec.tenants, policy.tenant_key, key).values()))
        named.update(members)
        gid = _new_id("named:" + spec.name, taken_ids)
        taken_ids.add(gid)
        out.append(group(gid, spec.name, UserGroupKind.NAMED, members))
    seen = features.get_column("user").to_list() if features.height else []
    rest = features.filter(~pl.col("user").is_in([*named, ANONYMOUS])) if seen else features
    idle = rest.height == 0  # no one to group: the last state is kept, so ids resume later
    state: dict[str, Any] = {
        "version": _STATE_VERSION,
        "cohorts": list(prev.get("cohorts", [])) if idle else [],
        "users": dict(prev.get("users", {})) if idle else {},
    }
    if rest.height and policy.cohorts == 0:
        known: Mapping[str, str] = prev.get("users", {})
        users = rest.get_column("user").to_list()
        taken_ids.update(known[u] for u in users if u in known)
        for user in users:
            gid = known.get(user) or _new_id("user:" + user, taken_ids)
            taken_ids.add(gid)
            state["users"][user] = gid
            out.append(group(gid, f"user-{user[:12]}", UserGroupKind.USER, [user]))
    elif rest.height:
        cohorts, state["cohorts"] = _cohorts(
            rest, policy.cohorts, prev.get("cohorts", []), taken_ids, taken_names
        )
        for gid, name, members, _ in sorted(cohorts, key=lambda c: c[1]):
            out.append(group(gid, name, UserGroupKind.COHORT, members))
    if ANONYMOUS in seen:
        gid = _new_id("anonymous", taken_ids)
        out.append(group(gid, ANONYMOUS, UserGroupKind.USER, [ANONYMOUS]))
    return out, state
