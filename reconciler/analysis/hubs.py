"""Shared-service hubs: resources that talk to many applications and would glue them together.

A node is a hub when any of these holds (each becomes a line of its explanation):
- it is an ``external:*`` node (internet, region, AWS service) and the config says so;
- its resource kind is declared shared (NAT gateway, VPC endpoint, ...);
- its partner count is an outlier: robust z-score of log partner count above the threshold;
- its traffic spreads over several communities found without it (participation coefficient
  ``1 - sum_s (k_is / k_i)^2`` and the number of communities holding a real share of it).
Hubs are removed before the final clustering and form the shared-services class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from reconciler.analysis.config import AnalysisConfig
from reconciler.analysis.graph import TrafficGraph, is_external

__all__ = ["HubFinding", "detect_hubs", "participation", "partner_stats"]

ClusterFn = Callable[[list[str], pl.DataFrame], dict[str, int]]


class HubFinding(BaseModel):
    """Why a node was taken out of application groups."""

    model_config = ConfigDict(frozen=True)

    node: str
    reasons: tuple[str, ...]
    partners: int = 0
    communities: int = 0
    participation: float = 0.0
    external: bool = False


def partner_stats(und: pl.DataFrame) -> pl.DataFrame:
    """Per node: distinct partners and total (undirected) weight."""
    ends = pl.concat(
        [
            und.select(pl.col("a").alias("node"), pl.col("weight")),
            und.select(pl.col("b").alias("node"), pl.col("weight")),
        ]
    )
    return ends.group_by("node").agg(
        pl.len().alias("partners"), pl.col("weight").sum().alias("strength")
    )


def participation(
    und: pl.DataFrame, membership: Mapping[str, int], min_share: float
) -> pl.DataFrame:
    """Participation coefficient of every node over its partners' communities.

    Partners without a community (hubs already removed) are ignored. Columns: ``node,
    participation, communities`` (communities holding at least ``min_share`` of its weight),
    ``partners``.
    """
    memb = pl.DataFrame(
        {"partner": list(membership), "comm": list(membership.values())},
        schema={"partner": pl.String, "comm": pl.Int64},
    )
    ends = pl.concat(
        [
            und.select(pl.col("a").alias("node"), pl.col("b").alias("partner"), "weight"),
            und.select(pl.col("b").alias("node"), pl.col("a").alias("partner"), "weight"),
        ]
    ).join(memb, on="partner")
    per = ends.group_by("node", "comm").agg(pl.col("weight").sum(), pl.len().alias("n"))
    per = per.with_columns((pl.col("weight") / pl.col("weight").sum().over("node")).alias("share"))
    return per.group_by("node").agg(
        (1.0 - (pl.col("share") ** 2).sum()).alias("participation"),
        (pl.col("share") >= min_share).sum().alias("communities"),
        pl.col("n").sum().alias("partners"),
    )


def _degree_outliers(stats: pl.DataFrame, config: AnalysisConfig) -> dict[str, str]:
    if stats.height == 0:
        return {}
    logp = stats["partners"].cast(pl.Float64).log1p()
    med = float(np.median(logp.to_numpy()))
    mad = float(np.median(np.abs(logp.to_numpy() - med)))
    scale = max(1.4826 * mad, 0.25)  # floor: a fleet of identical degrees is not all hubs
    out: dict[str, str] = {}
    for node, partners in stats.select("node", "partners").iter_rows():
        if partners < config.hub_min_partners:
            continue
        z = (math.log1p(partners) - med) / scale
        if z >= config.hub_partner_zscore:
            out[node] = (
                f"talks to {partners} partners, robust z={z:.1f} over the fleet's partner "
                f"counts (median {math.expm1(med):.0f})"
            )
    return out


def detect_hubs(
    graph: TrafficGraph, und: pl.DataFrame, cluster: ClusterFn, config: AnalysisConfig
) -> tuple[list[HubFinding], dict[str, int]]:
    """Find hubs; return them and the membership of the remaining nodes clustered without them.

    ``cluster(nodes, und_subset)`` returns a membership for ``nodes``; passes repeat up to
    ``config.hub_passes`` times while new spread hubs are found.
    """
    reasons: dict[str, list[str]] = {}
    for node in graph.nodes:
        if config.external_nodes_are_hubs and is_external(node):
            reasons.setdefault(node, []).append("external endpoint (outside the fleet)")
        kind = graph.kinds.get(node)
        if kind in config.hub_kinds:
            reasons.setdefault(node, []).append(f"resource kind {kind} is shared infrastructure")
    stats = partner_stats(und)
    for node, why in _degree_outliers(stats, config).items():
        reasons.setdefault(node, []).append(why)
    spread: dict[str, tuple[int, float]] = {}
    membership: dict[str, int] = {}
    for _ in range(config.hub_passes):
        # the busiest nodes are judged on communities found without them: a hub that is left in
        # glues its applications into one community and then looks like a member of it
        held_out = _candidates(stats, set(reasons), config)
        rest = [n for n in graph.nodes if n not in reasons and n not in held_out]
        sub = _without(und, set(reasons))
        membership = cluster(rest, _without(sub, held_out))
        part = participation(sub, membership, config.hub_community_min_share)
        found = part.filter(
            (pl.col("partners") >= config.hub_min_partners)
            & (pl.col("communities") >= config.hub_min_communities)
            & (pl.col("participation") >= config.hub_min_participation)
        )
        for node, p, c, n in found.select(
            "node", "participation", "communities", "partners"
        ).iter_rows():
            spread[node] = (c, p)
            reasons.setdefault(node, []).append(
                f"its traffic spreads over {c} application communities "
                f"(participation {p:.2f}, {n} partners)"
            )
        if found.height == 0 and not held_out:
            break
    rest = [n for n in graph.nodes if n not in reasons]
    membership = cluster(rest, _without(und, set(reasons)))
    partners = dict(stats.select("node", "partners").iter_rows())
    findings = [
        HubFinding(
            node=node,
            reasons=tuple(why),
            partners=int(partners.get(node, 0)),
            communities=spread.get(node, (0, 0.0))[0],
            participation=spread.get(node, (0, 0.0))[1],
            external=is_external(node),
        )
        for node, why in sorted(reasons.items())
    ]
    return findings, membership


def _candidates(stats: pl.DataFrame, hubs: set[str], config: AnalysisConfig) -> set[str]:
    eligible = stats.filter(
        (pl.col("partners") >= config.hub_min_partners) & ~pl.col("node").is_in(list(hubs))
    )
    count = math.ceil(config.hub_candidate_share * stats.height)
    if count == 0 or eligible.height == 0:
        return set()
    top = eligible.sort(["partners", "node"], descending=[True, False]).head(count)
    return set(top["node"].to_list())


def _without(und: pl.DataFrame, drop: set[str]) -> pl.DataFrame:
    if not drop:
        return und
    gone = list(drop)
    return und.filter(~pl.col("a").is_in(gone) & ~pl.col("b").is_in(gone))
