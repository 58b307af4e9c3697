"""A synthetic fleet with known applications and shared-service hubs.

Used by tests, the demo sandbox and ``bench.groups``: every application is a connected set of
resources talking mostly among themselves, a few applications call each other lightly, and the
hubs are what real fleets have: a DNS resolver and a monitoring collector every resource talks to,
a NAT gateway to the internet for some, and a database shared by several applications. The
output is the same edges frame ``HistoryStore.edges`` returns, plus inventory and ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from providers.models import ProviderName, Resource, ResourceKind

__all__ = ["HUB_IDS", "SyntheticFleet", "synthetic_fleet"]

HUB_IDS: dict[str, str] = {
    "dns": "i-hub-dns",
    "monitoring": "i-hub-monitoring",
    "nat": "nat-hub-egress",
    "shared_db": "db-hub-shared",
}


@dataclass
class SyntheticFleet:
    """Edges (history-store shape), inventory, app of every application resource, hub ids."""

    edges: pl.DataFrame
    inventory: list[Resource]
    truth: dict[str, str]
    hubs: list[str] = field(default_factory=list)

    @property
    def resources(self) -> int:
        return len(self.inventory)


def _resource(rid: str, tags: dict[str, str], kind: ResourceKind) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.FAKE,
        account="000000000000",
        region="us-east-1",
        kind=kind,
        tags=tags,
    )


def synthetic_fleet(
    *,
    apps: int,
    app_size: tuple[int, int] = (4, 16),
    internal_degree: float = 3.0,
    hubs: bool = True,
    shared_db_apps: int = 8,
    cross_app_share: float = 0.3,
    windows: int = 1,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    window: timedelta = timedelta(minutes=5),
    seed: int = 7,
    name_prefix: str = "app",
) -> SyntheticFleet:
    """A fleet of ``apps`` applications of ``app_size`` resources each (inclusive range).

    ``internal_degree``: extra random internal edges per resource beyond a spanning tree.
    ``cross_app_share``: fraction of applications that make one light call into another app.
    Traffic per window follows a daily cycle with noise.
    """
    if apps < 0 or app_size[0] < 1 or app_size[1] < app_size[0]:
        raise ValueError(f"bad fleet shape: apps={apps}, app_size={app_size}")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(app_size[0], app_size[1] + 1, size=apps)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n_app_nodes = int(offsets[-1])
    app_of = np.repeat(np.arange(apps), sizes)
    local = np.arange(n_app_nodes) - offsets[app_of]
    names = np.array(
        [f"i-{name_prefix}{a:05d}-{k:03d}" for a, k in zip(app_of, local, strict=True)],
        dtype=object,
    )
    # spanning tree: every non-first node calls a random earlier node of its app
    child = np.flatnonzero(local > 0)
    parent = offsets[app_of[child]] + (rng.random(child.size) * local[child]).astype(np.int64)
    src = [parent]
    dst = [child]
    base = [rng.lognormal(13.0, 1.0, child.size)]  # ~0.5 MB per window
    extra = round(internal_degree * n_app_nodes)
    if extra:
        a = rng.integers(0, n_app_nodes, size=extra)
        span = sizes[app_of[a]]
        b = offsets[app_of[a]] + rng.integers(0, np.iinfo(np.int64).max, size=extra) % span
        keep = a != b
        src.append(a[keep])
        dst.append(b[keep])
        base.append(rng.lognormal(12.0, 1.0, int(keep.sum())))
    n_cross = round(cross_app_share * apps) if apps > 1 else 0
    if n_cross:
        ca = rng.choice(apps, size=n_cross, replace=False)
        cb = (ca + rng.integers(1, apps, size=n_cross)) % apps
        src.append(offsets[ca] + rng.integers(0, 1 << 30, n_cross) % sizes[ca])
        dst.append(offsets[cb] + rng.integers(0, 1 << 30, n_cross) % sizes[cb])
        base.append(rng.lognormal(10.0, 0.5, n_cross))  # light calls between applications
    all_names = list(names)
    hub_ids: list[str] = []
    if hubs and n_app_nodes:
        ids = {k: len(all_names) + i for i, k in enumerate(HUB_IDS)}
        all_names.extend(HUB_IDS.values())
        hub_ids = list(HUB_IDS.values())
        every = np.arange(n_app_nodes)
        src += [every, every]
        dst += [np.full(n_app_nodes, ids["dns"]), np.full(n_app_nodes, ids["monitoring"])]
        base += [rng.lognormal(9.0, 0.3, n_app_nodes), rng.lognormal(11.0, 0.3, n_app_nodes)]
        egress = every[rng.random(n_app_nodes) < 0.2]
        internet = len(all_names)
        all_names.append("external:internet")
        src += [egress, np.full(egress.size, ids["nat"])]
        dst += [np.full(egress.size, ids["nat"]), np.full(egress.size, internet)]
        base += [rng.lognormal(12.0, 1.0, egress.size), rng.lognormal(12.0, 1.0, egress.size)]
        users = rng.choice(apps, size=min(shared_db_apps, apps), replace=False)
        callers = np.concatenate([offsets[u] + np.arange(min(2, sizes[u])) for u in users])
        src.append(callers)
        dst.append(np.full(callers.size, ids["shared_db"]))
        base.append(rng.lognormal(13.5, 0.5, callers.size))  # heavy, like a real database
    s = np.concatenate(src)
    d = np.concatenate(dst)
    w = np.concatenate(base)
    frames = []
    for t in range(windows):
        ts = start + t * window
        day = 1.0 + 0.5 * math.sin(2 * math.pi * (ts.hour * 60 + ts.minute) / 1440.0)
        noise = rng.lognormal(0.0, 0.1, w.size)
        b = np.maximum((w * day * noise).astype(np.int64), 1)
        frames.append(
            pl.DataFrame(
                {
                    "window_start": [ts] * w.size,
                    "src_i": s,
                    "dst_i": d,
                    "bytes": b,
                    "packets": np.maximum(b // 1200, 1),
                    "flows": np.maximum(b // 200_000, 1),
                }
            )
        )
    lookup = pl.Series("n", all_names, dtype=pl.String)
    edges = pl.concat(frames)
    edges = edges.with_columns(
        pl.col("window_start").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.Series("src", lookup.gather(edges["src_i"].to_numpy())),
        pl.Series("dst", lookup.gather(edges["dst_i"].to_numpy())),
    ).select("window_start", "src", "dst", "bytes", "packets", "flows")
    app_names = [f"{name_prefix}{a:05d}" for a in range(apps)]
    truth = {str(n): app_names[int(a)] for n, a in zip(names, app_of, strict=True)}
    inventory = [_resource(n, {"app": truth[n]}, ResourceKind.INSTANCE) for n in truth]
    kinds = {
        "dns": ResourceKind.OTHER,
        "monitoring": ResourceKind.INSTANCE,
        "nat": ResourceKind.NAT_GATEWAY,
        "shared_db": ResourceKind.DATABASE,
    }
    if hub_ids:
        inventory += [_resource(HUB_IDS[k], {"app": k}, kinds[k]) for k in HUB_IDS]
    return SyntheticFleet(edges=edges, inventory=inventory, truth=truth, hubs=hub_ids)
