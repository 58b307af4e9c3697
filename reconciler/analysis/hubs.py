"""Shared-service hubs: resources that talk to many applications and would glue them together.

A node is a hub when any of these holds (each becomes a line of its explanation):
- it is an ``external:*`` node (internet, region, AWS service) and the config says so;
- its resource kind is declared shared (NAT gateway, VPC endpoint, ...);
- its partner count is an outlier: robust z-score of log partner count above the threshold;
- its traffic spreads over several communities found without it (participation coefficient
  ``1 - sum_s (k_is / k_i)^2`` and the number of communities holding a real share of it);
- it ends alone in its community (typically a hard tag value of its own, like ``app=shared-dns``)
  yet serves at least ``hub_min_partners`` grouped resources: an application of one node that
  only serves others is a shared service. This catches the DNS of a region with one application,
  whose traffic cannot spread over several communities.
``hub_min_partners`` is capped at ``ceil(sqrt(active nodes))`` (at least 3) on small fleets.
The busiest nodes are judged held out: at least ``hub_min_candidates`` of them, else the top 2%
of a small fleet would round to one node and leave the other hubs in to glue applications.
Hubs are removed before the final clustering and form the shared-services class.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from reconciler.analysis.cluster import Clusterer
from reconciler.analysis.config import AnalysisConfig
from reconciler.analysis.graph import TrafficGraph, is_external
from reconciler.analysis.ugraph import IntGraph, renumber_by_first

__all__ = ["HubFinding", "detect_hubs", "participation"]


class HubFinding(BaseModel):
    """Why a node was taken out of application groups."""

    model_config = ConfigDict(frozen=True)

    node: str
    reasons: tuple[str, ...]
    partners: int = 0
    communities: int = 0
    participation: float = 0.0
    external: bool = False


def participation(
    graph: IntGraph, emask: np.ndarray, membership: np.ndarray, min_share: float
) -> pl.DataFrame:
    """Participation coefficient of every node over its partners' communities.

    Only edges in ``emask`` count, and partners without a community (``-1``: hubs already
    removed) are ignored. Columns: ``node`` (index), ``participation``, ``communities``
    (communities holding at least ``min_share`` of its weight), ``partners``.
    """
    a, b, w = graph.a[emask], graph.b[emask], graph.weight[emask]
    node = np.concatenate([a, b])
    comm = np.concatenate([membership[b], membership[a]])
    keep = comm >= 0
    ends = pl.DataFrame({"node": node[keep], "comm": comm[keep], "weight": np.tile(w, 2)[keep]})
    per = ends.group_by("node", "comm").agg(pl.col("weight").sum(), pl.len().alias("n"))
    per = per.with_columns((pl.col("weight") / pl.col("weight").sum().over("node")).alias("share"))
    return per.group_by("node").agg(
        (1.0 - (pl.col("share") ** 2).sum()).alias("participation"),
        (pl.col("share") >= min_share).sum().alias("communities"),
        pl.col("n").sum().alias("partners"),
    )


def _degree_outliers(partners: np.ndarray, config: AnalysisConfig) -> dict[int, str]:
    seen = np.flatnonzero(partners > 0)
    if seen.size == 0:
        return {}
    logp = np.log1p(partners[seen].astype(np.float64))
    med = float(np.median(logp))
    mad = float(np.median(np.abs(logp - med)))
    scale = max(1.4826 * mad, 0.25)  # floor: a fleet of identical degrees is not all hubs
    z = (logp - med) / scale
    hit = (partners[seen] >= config.hub_min_partners) & (z >= config.hub_partner_zscore)
    return {
        int(i): (
            f"talks to {int(partners[i])} partners, robust z={zi:.1f} over the fleet's partner "
            f"counts (median {math.expm1(med):.0f})"
        )
        for i, zi in zip(seen[hit].tolist(), z[hit].tolist(), strict=True)
    }


def detect_hubs(
    graph: TrafficGraph, ugraph: IntGraph, clusterer: Clusterer, config: AnalysisConfig
) -> tuple[list[HubFinding], np.ndarray]:
    """Find hubs; return them and the membership of the other nodes clustered without them.

    The membership is per node index of ``ugraph`` (``-1`` for hubs). Passes repeat up to
    ``config.hub_passes`` times while new spread hubs are found.
    """
    nodes = ugraph.nodes
    config = _scaled(config, int((ugraph.partners() > 0).sum()))
    reasons: dict[int, list[str]] = {}
    for i, node in enumerate(nodes):
        if config.external_nodes_are_hubs and is_external(node):
            reasons.setdefault(i, []).append("external endpoint (outside the fleet)")
        kind = graph.kinds.get(node)
        if kind in config.hub_kinds:
            reasons.setdefault(i, []).append(f"resource kind {kind} is shared infrastructure")
    partners = ugraph.partners()
    strength = ugraph.strength()
    for i, why in _degree_outliers(partners, config).items():
        reasons.setdefault(i, []).append(why)
    spread: dict[int, tuple[int, float]] = {}
    hub = np.zeros(ugraph.n, dtype=bool)
    for _ in range(config.hub_passes):
        hub[list(reasons)] = True
        # the busiest nodes (by partners or traffic) are judged on communities found without
        # them: a hub left in glues its applications into one community and looks like a member
        held_out = _candidates(partners, strength, hub, config)
        part = _spread(ugraph, clusterer, hub, held_out, config)
        found = part.filter(
            (pl.col("partners") >= config.hub_min_partners)
            & (pl.col("communities") >= config.hub_min_communities)
            & (pl.col("participation") >= config.hub_min_participation)
        ).sort("node")
        for i, p, c, n in found.select(
            "node", "participation", "communities", "partners"
        ).iter_rows():
            spread[i] = (c, p)
            reasons.setdefault(i, []).append(
                f"its traffic spreads over {c} application communities "
                f"(participation {p:.2f}, {n} partners)"
            )
        if found.height == 0 and not held_out.any():
            break
    hub[list(reasons)] = True
    membership = clusterer.membership(~hub)
    if config.hub_lone_servers:
        lone = _lone_servers(ugraph, membership, config)
        for i, why in lone.items():
            reasons.setdefault(i, []).append(why)
        if lone:
            hub[list(lone)] = True
            membership = renumber_by_first(np.where(hub, -1, membership), ~hub)
    findings = [
        HubFinding(
            node=nodes[i],
            reasons=tuple(why),
            partners=int(partners[i]),
            communities=spread.get(i, (0, 0.0))[0],
            participation=spread.get(i, (0, 0.0))[1],
            external=is_external(nodes[i]),
        )
        for i, why in sorted(reasons.items(), key=lambda kv: nodes[kv[0]])
    ]
    return findings, membership


def _scaled(config: AnalysisConfig, active: int) -> AnalysisConfig:
    """``hub_min_partners`` capped at ``max(3, ceil(sqrt(active nodes)))``.

    Eight partners is noise on a fleet of thousands but 40% of a 20-node fleet, where a
    database shared by three small applications has six. Fleets of 64+ nodes are unaffected.
    """
    cap = max(3, math.ceil(math.sqrt(active)))
    if config.hub_min_partners <= cap:
        return config
    return config.model_copy(update={"hub_min_partners": cap})


def _spread(
    graph: IntGraph,
    clusterer: Clusterer,
    hub: np.ndarray,
    held_out: np.ndarray,
    config: AnalysisConfig,
) -> pl.DataFrame:
    """Participation of every non-hub node over communities found without hubs and candidates.

    A large fleet holds all candidates out at once (one clustering). A small one, where the
    ``hub_min_candidates`` floor applies, judges each candidate on communities found without it
    alone: holding out a third of a 24-node fleet would leave whole applications unclustered and
    the candidates' spread unseen. Hubs found in one pass are held out in the next.
    """
    emask = graph.edges_within(~hub)
    share = config.hub_community_min_share
    batch = math.ceil(config.hub_candidate_share * int((graph.partners() > 0).sum()))
    if batch >= config.hub_min_candidates or not held_out.any():
        membership = clusterer.membership(~hub & ~held_out, rough=True)
        return participation(graph, emask, membership, share)
    judged = np.flatnonzero(held_out & ~hub).tolist()
    base = participation(graph, emask, clusterer.membership(~hub, rough=True), share)
    frames = [base.filter(~pl.col("node").is_in(judged))]
    for c in judged:
        active = ~hub
        active[c] = False
        part = participation(graph, emask, clusterer.membership(active, rough=True), share)
        frames.append(part.filter(pl.col("node") == c))
    return pl.concat(frames)


def _candidates(
    partners: np.ndarray, strength: np.ndarray, hub: np.ndarray, config: AnalysisConfig
) -> np.ndarray:
    """The top ``hub_candidate_share`` (at least ``hub_min_candidates``) of nodes by partner
    count and by traffic (ties by id).

    Hubs already found are excluded. A shared database has few partners but carries a lot of
    traffic for each, so partner count alone would leave it in to glue its applications.
    """
    out = np.zeros(partners.size, dtype=bool)
    share = math.ceil(config.hub_candidate_share * int((partners > 0).sum()))
    count = max(share, config.hub_min_candidates)
    eligible = np.flatnonzero((partners >= config.hub_min_partners) & ~hub)
    if count == 0 or eligible.size == 0:
        return out
    for score in (partners, strength):
        order = np.lexsort((eligible, -score[eligible]))
        out[eligible[order[:count]]] = True
    return out


def _lone_servers(
    graph: IntGraph, membership: np.ndarray, config: AnalysisConfig
) -> dict[int, str]:
    """Nodes alone in their community that serve at least ``hub_min_partners`` grouped nodes.

    A community of one has no internal traffic: everything it carries goes to other groups.
    """
    grouped = membership >= 0
    if not grouped.any():
        return {}
    size = np.bincount(membership[grouped])
    alone = grouped & (size[np.where(grouped, membership, 0)] == 1)
    partners = graph.partners(graph.edges_within(grouped))
    hit = np.flatnonzero(alone & (partners >= config.hub_min_partners))
    if hit.size == 0:
        return {}
    emask = graph.edges_within(grouped)
    a, b = graph.a[emask], graph.b[emask]
    out: dict[int, str] = {}
    for i in hit.tolist():
        served = np.concatenate([membership[b[a == i]], membership[a[b == i]]])
        out[i] = (
            f"alone in its community (no internal traffic) yet serves {int(partners[i])} "
            f"resources in {np.unique(served).size} other group(s)"
        )
    return out
