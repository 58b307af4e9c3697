"""Leiden community detection on the symmetrised traffic graph, combined with tags.

Hard tag keys are applied by contraction and splitting: resources sharing a hard-tag value are
contracted into one vertex before Leiden (so they are never split), and a community holding more
than one hard-tag value is split by value afterwards (so values are never merged); untagged members
follow the value they exchange most traffic with. Soft tag keys multiply the weight of edges
between resources sharing a value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

import igraph as ig
import leidenalg
import polars as pl

from reconciler.analysis.config import AnalysisConfig

__all__ = ["leiden_membership", "renumber", "symmetrise"]


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


def _soft_bonus(
    und: pl.DataFrame, tags: Mapping[str, Mapping[str, str]], config: AnalysisConfig
) -> pl.DataFrame:
    if not config.soft_tag_keys or config.soft_tag_bonus == 0 or und.height == 0:
        return und
    factor = pl.lit(1.0)
    for key in config.soft_tag_keys:
        values = {n: t[key] for n, t in tags.items() if key in t}
        if not values:
            continue
        va = pl.col("a").replace_strict(values, default=None, return_dtype=pl.String)
        vb = pl.col("b").replace_strict(values, default=None, return_dtype=pl.String)
        same = va.is_not_null() & (va == vb)
        factor = factor * pl.when(same).then(1.0 + config.soft_tag_bonus).otherwise(1.0)
    return und.with_columns(pl.col("weight") * factor)


def _hard_label(tags: Mapping[str, str] | None, keys: tuple[str, ...]) -> str | None:
    if not tags or not keys:
        return None
    parts = [f"{k}={tags[k]}" for k in keys if k in tags]
    return ",".join(parts) if parts else None


def renumber(membership: Mapping[str, int]) -> dict[str, int]:
    """Renumber communities 0..k-1 in order of their smallest member, for deterministic output."""
    first: dict[int, str] = {}
    for node, comm in membership.items():
        if comm not in first or node < first[comm]:
            first[comm] = node
    order = {c: i for i, c in enumerate(sorted(first, key=lambda c: first[c]))}
    return {node: order[c] for node, c in membership.items()}


def leiden_membership(
    nodes: Iterable[str],
    und: pl.DataFrame,
    *,
    tags: Mapping[str, Mapping[str, str]],
    config: AnalysisConfig,
    use_tags: bool = True,
) -> dict[str, int]:
    """Community of every node in ``nodes`` (isolated nodes get their own community).

    ``und`` is the output of :func:`symmetrise` restricted to any subset of nodes.
    """
    node_list = sorted(set(nodes))
    if not node_list:
        return {}
    hard_keys = config.hard_tag_keys if use_tags else ()
    if use_tags:
        und = _soft_bonus(und, tags, config)
    labels = {n: _hard_label(tags.get(n), hard_keys) for n in node_list}
    # contraction: one vertex per hard-tag value, one per untagged node
    vertex_of: dict[str, int] = {}
    label_vertex: dict[str, int] = {}
    n_vertices = 0
    for n in node_list:
        label = labels[n]
        if label is not None and label in label_vertex:
            vertex_of[n] = label_vertex[label]
            continue
        vertex_of[n] = n_vertices
        if label is not None:
            label_vertex[label] = n_vertices
        n_vertices += 1
    index = pl.DataFrame(
        {"node": list(vertex_of), "v": list(vertex_of.values())},
        schema={"node": pl.String, "v": pl.Int64},
    )
    vedges = (
        und.join(index.rename({"node": "a", "v": "va"}), on="a")
        .join(index.rename({"node": "b", "v": "vb"}), on="b")
        .group_by("va", "vb")
        .agg(pl.col("weight").sum())
        .sort("va", "vb")
    )
    graph = ig.Graph(
        n=n_vertices,
        edges=list(zip(vedges["va"].to_list(), vedges["vb"].to_list(), strict=True)),
        directed=False,
    )
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights=vedges["weight"].to_list(),
        resolution_parameter=config.leiden_resolution,
        n_iterations=config.leiden_iterations,
        seed=config.seed,
    )
    vmember = partition.membership
    membership = {n: vmember[v] for n, v in vertex_of.items()}
    if hard_keys:
        membership = _split_by_label(membership, labels, und)
    return renumber(membership)


def _split_by_label(
    membership: dict[str, int], labels: Mapping[str, str | None], und: pl.DataFrame
) -> dict[str, int]:
    """Split communities holding several hard-tag values; untagged members follow traffic."""
    by_comm: dict[int, list[str]] = defaultdict(list)
    for n, c in membership.items():
        by_comm[c].append(n)
    mixed = {
        c for c, ms in by_comm.items() if len({labels[m] for m in ms if labels[m] is not None}) > 1
    }
    if not mixed:
        return membership
    out: dict[str, int] = {}
    next_id = max(membership.values()) + 1
    pulls: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    mixed_nodes = {n for c in mixed for n in by_comm[c]}
    for a, b, w in und.filter(
        pl.col("a").is_in(list(mixed_nodes)) | pl.col("b").is_in(list(mixed_nodes))
    ).iter_rows():
        la, lb = labels.get(a), labels.get(b)
        if lb is not None and la is None:
            pulls[a][lb] += w
        if la is not None and lb is None:
            pulls[b][la] += w
    for c, members in by_comm.items():
        if c not in mixed:
            out.update({m: c for m in members})
            continue
        sizes: dict[str, int] = defaultdict(int)
        for m in members:
            own = labels[m]
            if own is not None:
                sizes[own] += 1
        largest = max(sorted(sizes), key=lambda lab: sizes[lab])
        label_comm: dict[str, int] = {}
        for name in sorted(sizes):
            label_comm[name] = next_id
            next_id += 1
        for m in members:
            lab = labels[m]
            if lab is None:
                candidates = {k: v for k, v in pulls[m].items() if k in sizes}
                lab = (
                    max(sorted(candidates), key=lambda k: candidates[k]) if candidates else largest
                )
            out[m] = label_comm[lab]
    return out
