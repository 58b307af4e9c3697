"""Leiden community detection on the symmetrised traffic graph, combined with tags.

Hard tag keys are applied by contraction and splitting: resources sharing a hard-tag value are
contracted into one vertex before Leiden (so they are never split), and a community holding more
than one hard-tag value is split by value afterwards (so values are never merged); untagged members
follow the value they exchange most traffic with. Soft tag keys multiply the weight of edges
between resources sharing a value.

Modularity has a resolution limit: in a graph of total weight ``m`` two communities of volumes
``d1, d2`` joined by any weight above ``d1 * d2 / 2m`` score better merged, so in a fleet of
100,000 resources small applications that call each other once merge. After Leiden every
community is therefore judged on its own: Leiden is re-run on the communities' internal edges
with each community's weights normalised so that its null model is its own total (the RB
configuration model with resolution ``k * resolution`` over ``k`` normalised communities equals
each community's own modularity), and the parts it finds are kept apart only where the traffic
between them is below ``split_max_link_share`` of the smaller part's volume. Parts linked more
strongly than that stay together, so an application's own sub-structure is not cut up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import igraph as ig
import numpy as np
import polars as pl

from reconciler.analysis.config import AnalysisConfig
from reconciler.analysis.ugraph import IntGraph, components, leiden, renumber_by_first

__all__ = ["Clusterer", "renumber", "split_weak_links", "symmetrise"]


def symmetrise(edges: pl.DataFrame) -> pl.DataFrame:
    """Undirected edges ``a < b`` with ``weight`` = w(a->b) + w(b->a); self-loops removed."""
    if edges.height == 0:
        return pl.DataFrame(schema={"a": pl.String, "b": pl.String, "weight": pl.Float64})
    return (
        edges.filter(pl.col("src") != pl.col("dst"))
        .select(
            pl.min_horizontal("src", "dst").alias("a"),
            pl.max_horizontal("src", "dst").alias("b"),
            pl.col("weight").cast(pl.Float64),
        )
        .group_by("a", "b")
        .agg(pl.col("weight").sum())
        .sort("a", "b")
    )


def renumber(membership: Mapping[str, int]) -> dict[str, int]:
    """Renumber communities 0..k-1 in order of their smallest member, for deterministic output."""
    first: dict[int, str] = {}
    for node, comm in membership.items():
        if comm not in first or node < first[comm]:
            first[comm] = node
    order = {c: i for i, c in enumerate(sorted(first, key=lambda c: first[c]))}
    return {node: order[c] for node, c in membership.items()}


def _label_codes(
    nodes: Sequence[str], tags: Mapping[str, Mapping[str, str]], keys: tuple[str, ...]
) -> np.ndarray:
    """Per node the code of its hard-tag label (codes in label-name order), -1 if untagged."""
    labels: list[str | None] = []
    for n in nodes:
        t = tags.get(n)
        parts = [f"{k}={t[k]}" for k in keys if t and k in t]
        labels.append(",".join(parts) if parts else None)
    names = sorted({x for x in labels if x is not None})
    code = {name: i for i, name in enumerate(names)}
    return np.array([code[x] if x is not None else -1 for x in labels], dtype=np.int64)


def _soft_factor(
    graph: IntGraph, tags: Mapping[str, Mapping[str, str]], config: AnalysisConfig
) -> np.ndarray:
    factor = np.ones(graph.a.size, dtype=np.float64)
    if config.soft_tag_bonus == 0:
        return factor
    for key in config.soft_tag_keys:
        values = [tags.get(n, {}).get(key) for n in graph.nodes]
        names = sorted({v for v in values if v is not None})
        if not names:
            continue
        code = {v: i for i, v in enumerate(names)}
        per_node = np.array([code[v] if v is not None else -1 for v in values], dtype=np.int64)
        va, vb = per_node[graph.a], per_node[graph.b]
        factor *= np.where((va >= 0) & (va == vb), 1.0 + config.soft_tag_bonus, 1.0)
    return factor


def split_weak_links(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    weight: np.ndarray,
    membership: np.ndarray,
    *,
    resolution: float,
    max_link_share: float,
    seed: int,
    graph: ig.Graph | None = None,
) -> np.ndarray:
    """Split communities into their own-scale parts joined by less than ``max_link_share``.

    ``graph``: the igraph graph of ``n`` vertices and edges ``a, b`` if already built.
    """
    if a.size == 0 or max_link_share <= 0:
        return membership
    intra = membership[a] == membership[b]
    ia, ib, iw = a[intra], b[intra], weight[intra]
    comm = membership[ia]
    total = np.bincount(comm, iw, int(membership.max()) + 1)
    k = int((total > 0).sum())
    if k == 0:
        return membership
    sub = None
    if graph is not None:
        sub = graph.subgraph_edges(np.flatnonzero(intra).tolist(), delete_vertices=False)
    # two passes are enough: parts only need to be found, strong links are joined again below
    parts = leiden(
        n, ia, ib, iw / total[comm], resolution=resolution * k, seed=seed, iterations=2, graph=sub
    )
    pa, pb = parts[ia], parts[ib]
    n_parts = int(parts.max()) + 1
    volume = np.bincount(pa, iw, n_parts) + np.bincount(pb, iw, n_parts)
    cross = pa != pb
    if not cross.any():
        return membership
    lo, hi = np.minimum(pa, pb)[cross], np.maximum(pa, pb)[cross]
    pairs, inverse = np.unique(lo * n_parts + hi, return_inverse=True)
    link = np.bincount(inverse, iw[cross], pairs.size)
    p1, p2 = pairs // n_parts, pairs % n_parts
    strong = link >= max_link_share * np.minimum(volume[p1], volume[p2])
    return np.asarray(components(n_parts, p1[strong], p2[strong])[parts])


def _split_by_label(
    membership: np.ndarray, labels: np.ndarray, graph: IntGraph, emask: np.ndarray
) -> np.ndarray:
    """Split communities holding several hard-tag values; untagged members follow traffic."""
    idx = np.flatnonzero(membership >= 0)
    frame = pl.DataFrame({"node": idx, "comm": membership[idx], "label": labels[idx]})
    sizes = (
        frame.filter(pl.col("label") >= 0)
        .group_by("comm", "label")
        .agg(pl.len().alias("size"))
        .with_columns(pl.len().over("comm").alias("k"))
        .filter(pl.col("k") > 1)
        .drop("k")
    )
    if sizes.height == 0:
        return membership
    mixed = np.zeros(int(membership.max()) + 1, dtype=bool)
    mixed[sizes["comm"].unique().to_numpy()] = True
    a, b, w = graph.a[emask], graph.b[emask], graph.weight[emask]
    ends = pl.DataFrame(
        {"node": np.concatenate([a, b]), "peer": np.concatenate([b, a]), "w": np.tile(w, 2)}
    )
    node, peer = ends["node"].to_numpy(), ends["peer"].to_numpy()
    follow = (labels[node] < 0) & mixed[membership[node]] & (labels[peer] >= 0)
    pulls = (
        ends.filter(pl.Series(follow))
        .with_columns(
            pl.Series("comm", membership[node[follow]]),
            pl.Series("label", labels[peer[follow]]),
        )
        .group_by("node", "comm", "label")
        .agg(pl.col("w").sum())
        .join(sizes.select("comm", "label"), on=["comm", "label"])  # values of its community
        .sort(["node", "w", "label"], descending=[False, True, False])
        .group_by("node", maintain_order=True)
        .first()
    )
    largest = (
        sizes.sort(["comm", "size", "label"], descending=[False, True, False])
        .group_by("comm", maintain_order=True)
        .first()
    )
    chosen = labels.copy()
    default = np.full(mixed.size, -1, dtype=np.int64)
    default[largest["comm"].to_numpy()] = largest["label"].to_numpy()
    in_mixed = (membership >= 0) & mixed[np.maximum(membership, 0)] & (labels < 0)
    chosen[in_mixed] = default[membership[in_mixed]]
    chosen[pulls["node"].to_numpy()] = pulls["label"].to_numpy()
    sel = (membership >= 0) & mixed[np.maximum(membership, 0)]
    out = membership.copy()
    pair = membership[sel] * (int(labels.max()) + 1) + chosen[sel]
    _, new = np.unique(pair, return_inverse=True)
    out[sel] = int(membership.max()) + 1 + new
    return out


def _rough_iterations(configured: int) -> int:
    return 2 if configured < 0 else min(2, configured)


class Clusterer:
    """Leiden + tags + weak-link splitting over a node subset of one :class:`IntGraph`."""

    def __init__(
        self,
        graph: IntGraph,
        tags: Mapping[str, Mapping[str, str]],
        config: AnalysisConfig,
        *,
        use_tags: bool = True,
    ) -> None:
        self.graph = graph
        self.config = config
        keys = config.hard_tag_keys if use_tags else ()
        self.labels = (
            _label_codes(graph.nodes, tags, keys) if keys else np.full(graph.n, -1, np.int64)
        )
        self.weight = graph.weight * _soft_factor(graph, tags, config) if use_tags else graph.weight

    def membership(self, active: np.ndarray | None = None, *, rough: bool = False) -> np.ndarray:
        """Community (0..k-1, by smallest member) of every active node; -1 for the others.

        Active nodes without edges to other active nodes are communities of their own.
        ``rough``: two Leiden iterations and no weak-link split, enough to see how a node's
        traffic spreads over applications (the hub passes), at a fraction of the cost.
        """
        g, cfg = self.graph, self.config
        active = np.ones(g.n, dtype=bool) if active is None else active
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return np.full(g.n, -1, dtype=np.int64)
        emask = g.edges_within(active)
        w = self.weight[emask]
        base: ig.Graph | None = None
        if (self.labels[idx] >= 0).any():
            # contraction: one vertex per hard-tag value, one per untagged node
            key = np.where(self.labels >= 0, self.labels, self.labels.max() + 1 + np.arange(g.n))
            _, vertex = np.unique(key[idx], return_inverse=True)
            vertex_of = np.full(g.n, -1, dtype=np.int64)
            vertex_of[idx] = vertex
            nv = int(vertex.max()) + 1
            va, vb = vertex_of[g.a[emask]], vertex_of[g.b[emask]]
        else:  # vertices are the nodes themselves; inactive ones stay isolated and are dropped
            vertex, nv, va, vb = idx, g.n, g.a[emask], g.b[emask]
            base = g.sub_igraph(emask)
        vmemb = leiden(
            nv, va, vb, w, resolution=cfg.leiden_resolution, seed=cfg.seed,
            iterations=_rough_iterations(cfg.leiden_iterations) if rough else cfg.leiden_iterations,
            graph=base,
        )  # fmt: skip
        if not rough:
            vmemb = split_weak_links(
                nv, va, vb, w, vmemb, resolution=cfg.leiden_resolution,
                max_link_share=cfg.split_max_link_share, seed=cfg.seed, graph=base,
            )  # fmt: skip
        memb = np.full(g.n, -1, dtype=np.int64)
        memb[idx] = vmemb[vertex]
        if (self.labels[idx] >= 0).any():
            memb = _split_by_label(memb, self.labels, g, emask)
        return renumber_by_first(memb, active)
