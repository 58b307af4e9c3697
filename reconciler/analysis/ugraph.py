"""The undirected traffic graph as integer arrays, and the igraph calls made on it.

Nodes are numbered by their position in the sorted node tuple, so "smallest member" orders are
index orders. Edges are ``a < b`` with ``weight`` = w(a->b) + w(b->a). Everything that clusters,
scores hubs or explains communities works on these arrays (numpy gathers, ``bincount``) rather
than on joins of string ids: at 100,000 resources and a million edges string joins and Python
tuples are what cost the time.

Leiden runs in igraph's C implementation (``Graph.community_leiden``, modularity with a
resolution = the RB configuration model), seeded through a private ``random.Random`` so results
are deterministic for a given seed without touching the process-wide generator's state.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import igraph as ig
import numpy as np
import polars as pl

__all__ = [
    "IntGraph",
    "components",
    "int_graph",
    "leiden",
    "node_codes",
    "renumber_by_first",
]

_RNG_LOCK = threading.Lock()


@dataclass(frozen=True)
class IntGraph:
    """Undirected weighted edges over ``nodes`` (``a[i] < b[i]``, one row per pair)."""

    nodes: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    weight: np.ndarray

    @property
    def n(self) -> int:
        return len(self.nodes)

    @cached_property
    def igraph(self) -> ig.Graph:
        """The igraph graph of all edges (edge ``i`` is row ``i``), built once."""
        return _igraph(self.n, self.a, self.b)

    def sub_igraph(self, emask: np.ndarray) -> ig.Graph:
        """All nodes, only the edges in ``emask`` (in row order)."""
        return self.igraph.subgraph_edges(np.flatnonzero(emask).tolist(), delete_vertices=False)

    def edges_within(self, active: np.ndarray) -> np.ndarray:
        """Boolean mask of edges with both ends in the boolean node mask ``active``."""
        return active[self.a] & active[self.b]

    def strength(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Total weight per node over the (masked) edges."""
        w = self.weight if mask is None else np.where(mask, self.weight, 0.0)
        return np.bincount(self.a, w, self.n) + np.bincount(self.b, w, self.n)

    def partners(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Distinct partners per node over the (masked) edges."""
        m = np.ones(self.a.size, dtype=np.float64) if mask is None else mask.astype(np.float64)
        return (np.bincount(self.a, m, self.n) + np.bincount(self.b, m, self.n)).astype(np.int64)


def node_codes(column: pl.Series, nodes: Sequence[str]) -> np.ndarray:
    """Index of every value of ``column`` in the sorted, unique ``nodes`` (all must be present)."""
    return column.cast(pl.Enum(list(nodes))).to_physical().to_numpy().astype(np.int64)


def int_graph(edges: pl.DataFrame, nodes: Sequence[str]) -> IntGraph:
    """Symmetrise directed ``src, dst, weight`` edges over ``nodes``; self-loops dropped."""
    nodes = tuple(nodes)
    if edges.height == 0:
        empty = np.zeros(0, dtype=np.int64)
        return IntGraph(nodes, empty, empty, np.zeros(0, dtype=np.float64))
    s = node_codes(edges["src"], nodes)
    d = node_codes(edges["dst"], nodes)
    w = edges["weight"].cast(pl.Float64).to_numpy()
    keep = s != d
    lo, hi, w = np.minimum(s, d)[keep], np.maximum(s, d)[keep], w[keep]
    key = lo * len(nodes) + hi
    uniq, inverse = np.unique(key, return_inverse=True)
    return IntGraph(
        nodes=nodes,
        a=uniq // len(nodes),
        b=uniq % len(nodes),
        weight=np.bincount(inverse, w, uniq.size),
    )


def _igraph(n: int, a: np.ndarray, b: np.ndarray) -> ig.Graph:
    # zip of two lists is the quickest edge list igraph takes from Python
    return ig.Graph(n=n, edges=list(zip(a.tolist(), b.tolist(), strict=True)), directed=False)


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """igraph draws from one module-wide generator: give it a seeded one for this call only."""
    with _RNG_LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            ig.set_random_number_generator(random)


def leiden(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    weight: np.ndarray,
    *,
    resolution: float,
    seed: int,
    iterations: int = -1,
    graph: ig.Graph | None = None,
) -> np.ndarray:
    """Leiden (modularity with ``resolution``) membership of ``n`` vertices; isolated ones alone.

    ``graph``, if given, is the igraph graph of exactly these ``n`` vertices and edges ``a, b``
    in the same order (saves building it again).
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if a.size == 0:
        return np.arange(n, dtype=np.int64)
    graph = _igraph(n, a, b) if graph is None else graph
    with _seeded(seed):
        clusters = graph.community_leiden(
            objective_function="modularity",
            weights=weight.tolist(),
            resolution=resolution,
            n_iterations=iterations,
        )
    return np.asarray(clusters.membership, dtype=np.int64)


def components(n: int, a: np.ndarray, b: np.ndarray, graph: ig.Graph | None = None) -> np.ndarray:
    """Connected-component label of each of ``n`` vertices (``graph``: as for :func:`leiden`)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = _igraph(n, a, b) if graph is None else graph
    return np.asarray(graph.connected_components().membership, dtype=np.int64)


def renumber_by_first(membership: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Relabel communities 0..k-1 in order of their smallest node index; inactive nodes get -1.

    Node indices follow the sorted node ids, so this is "in order of their smallest member".
    """
    out = np.full(membership.size, -1, dtype=np.int64)
    idx = np.arange(membership.size) if active is None else np.flatnonzero(active)
    if idx.size == 0:
        return out
    labels, inverse = np.unique(membership[idx], return_inverse=True)
    first = np.full(labels.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inverse, idx)
    rank = np.empty(labels.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(labels.size)
    out[idx] = rank[inverse]
    return out
