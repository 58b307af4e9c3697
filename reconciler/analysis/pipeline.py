"""One cycle of behavioural analysis: edges + inventory -> hubs, communities, diagnostics.

``analyze`` is a pure function of its inputs. Degenerate inputs have defined outcomes recorded in
``AnalysisResult.notes``: no traffic gives no communities; idle inventory resources are listed,
not grouped; unknown nodes are grouped like any other but listed; a giant component is reported
with how far hub removal and Leiden broke it up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from providers.models import Resource
from reconciler.analysis.cluster import Clusterer
from reconciler.analysis.config import AnalysisConfig
from reconciler.analysis.explain import Community, describe_communities
from reconciler.analysis.graph import TrafficGraph, build_traffic_graph
from reconciler.analysis.hubs import HubFinding, detect_hubs
from reconciler.analysis.ugraph import IntGraph, components, int_graph

__all__ = ["AnalysisResult", "analyze", "analyze_graph", "largest_component_share"]


class AnalysisResult(BaseModel):
    """What the analysis step hands to the composer and to reports."""

    communities: list[Community] = Field(default_factory=list)
    hubs: list[HubFinding] = Field(default_factory=list)
    membership: dict[str, int] = Field(default_factory=dict)
    strength: dict[str, float] = Field(default_factory=dict, description="traffic per node")
    idle: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)
    set_aside: dict[str, int] = Field(default_factory=dict, description="rows per reason")
    node_count: int = 0
    edge_count: int = 0
    notes: list[str] = Field(default_factory=list)

    @property
    def hub_nodes(self) -> set[str]:
        return {h.node for h in self.hubs}


def largest_component_share(graph: IntGraph) -> float:
    """Share of the graph's nodes in its largest connected component."""
    if graph.n == 0:
        return 0.0
    return int(np.bincount(components(graph.n, graph.a, graph.b, graph.igraph)).max()) / graph.n


def analyze(
    edges: pl.DataFrame,
    inventory: Sequence[Resource],
    *,
    now: datetime,
    config: AnalysisConfig,
    use_tags: bool = True,
    handle_hubs: bool = True,
) -> AnalysisResult:
    """Build the traffic graph over the lookback and find applications and hubs in it."""
    graph = build_traffic_graph(edges, inventory, now=now, config=config)
    return analyze_graph(graph, config=config, use_tags=use_tags, handle_hubs=handle_hubs)


def analyze_graph(
    graph: TrafficGraph,
    *,
    config: AnalysisConfig,
    use_tags: bool = True,
    handle_hubs: bool = True,
) -> AnalysisResult:
    """Hubs, Leiden communities and explanations for an already built graph."""
    notes: list[str] = []
    set_aside = dict(Counter(graph.set_aside["reason"].to_list())) if graph.set_aside.height else {}
    for reason, count in sorted(set_aside.items()):
        notes.append(f"{count} edge row(s) set aside: {reason}")
    if graph.rows_outside_lookback:
        notes.append(f"{graph.rows_outside_lookback} edge row(s) older than the lookback ignored")
    if graph.idle:
        notes.append(f"{len(graph.idle)} inventory resource(s) had no traffic: not grouped")
    if graph.unknown:
        notes.append(
            f"{len(graph.unknown)} node(s) in traffic are not in the inventory: grouped anyway"
        )
    if graph.is_empty:
        notes.append("no usable traffic in the window: no communities")
        return AnalysisResult(
            idle=list(graph.idle), unknown=list(graph.unknown), set_aside=set_aside, notes=notes
        )
    ugraph = int_graph(graph.edges, graph.nodes)
    clusterer = Clusterer(ugraph, graph.tags, config, use_tags=use_tags)
    if handle_hubs:
        hubs, membership = detect_hubs(graph, ugraph, clusterer, config)
    else:
        hubs, membership = [], clusterer.membership()
    share = largest_component_share(ugraph)
    if share >= config.giant_component_share:
        k = int(membership.max()) + 1 if membership.size else 0
        notes.append(
            f"one component holds {share:.0%} of {len(graph.nodes)} nodes; "
            f"{len(hubs)} hub(s) removed and Leiden split the rest into {k} communities"
        )
    hard_keys = config.hard_tag_keys if use_tags else ()
    communities = describe_communities(
        graph.edges,
        graph.nodes,
        membership,
        graph.tags,
        top_edges=config.top_edges,
        hard_tag_keys=hard_keys,
    )
    grouped = np.flatnonzero(membership >= 0).tolist()
    return AnalysisResult(
        communities=communities,
        hubs=hubs,
        membership={graph.nodes[i]: int(membership[i]) for i in grouped},
        strength=dict(zip(graph.nodes, ugraph.strength().tolist(), strict=True)),
        idle=list(graph.idle),
        unknown=list(graph.unknown),
        set_aside=set_aside,
        node_count=len(graph.nodes),
        edge_count=graph.edges.height,
        notes=notes,
    )
