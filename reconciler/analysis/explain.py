"""Confidence and explanation of each community: why these resources form one application.

Confidence is the share of a community's application traffic (hub traffic excluded, since every
application talks to DNS and monitoring) that stays inside it; conductance is the usual
``cut / min(vol(S), vol(rest))`` on the application graph. The explanation lists the strongest
internal edges, the tags all members share and one line per member saying why it is in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from reconciler.analysis.ugraph import node_codes

__all__ = ["Community", "CommunityExplanation", "EdgeShare", "describe_communities"]


class EdgeShare(BaseModel):
    model_config = ConfigDict(frozen=True)

    src: str
    dst: str
    weight: float
    share: float = Field(description="of the community's internal traffic")


class CommunityExplanation(BaseModel):
    top_edges: list[EdgeShare] = Field(default_factory=list)
    shared_tags: dict[str, str] = Field(default_factory=dict)
    member_reasons: dict[str, str] = Field(default_factory=dict)


class Community(BaseModel):
    """One application instance found this cycle (before the composer gives it an id)."""

    index: int
    members: tuple[str, ...]
    confidence: float
    conductance: float
    internal_share: float = Field(description="internal / all traffic including shared services")
    internal_weight: float
    boundary_weight: float = Field(description="to other applications")
    shared_services_weight: float
    explanation: CommunityExplanation


def _fmt_bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} PB"


def describe_communities(
    edges: pl.DataFrame,
    nodes: Sequence[str],
    membership: np.ndarray,
    tags: Mapping[str, Mapping[str, str]],
    *,
    top_edges: int = 5,
    hard_tag_keys: tuple[str, ...] = (),
) -> list[Community]:
    """Build :class:`Community` objects from directed ``edges`` (src, dst, weight).

    ``membership`` is the community of each of ``nodes`` (sorted ids, as in the traffic graph);
    ``-1`` marks hubs and externals, which count as shared services.
    """
    has = np.flatnonzero(membership >= 0)
    if has.size == 0:
        return []
    s = node_codes(edges["src"], nodes)
    d = node_codes(edges["dst"], nodes)
    w = edges["weight"].cast(pl.Float64).to_numpy()
    keep = s != d
    s, d, w = s[keep], d[keep], w[keep]
    cs, cd = membership[s], membership[d]
    k = int(membership.max()) + 1
    internal = (cs == cd) & (cs >= 0)
    cut = (cs >= 0) & (cd >= 0) & (cs != cd)
    hub = (cs >= 0) != (cd >= 0)
    w_int = np.bincount(cs[internal], w[internal], k)
    w_cut = np.bincount(cs[cut], w[cut], k) + np.bincount(cd[cut], w[cut], k)
    w_hub = np.bincount(np.maximum(cs, cd)[hub], w[hub], k)
    total_vol = 2.0 * w_int.sum() + w_cut.sum()
    top_by = _top_edges(s[internal], d[internal], w[internal], cs[internal], top_edges)
    reasons = _member_reasons(nodes, has, s, d, w, cs, cd, tags, hard_tag_keys)
    order = has[np.argsort(membership[has], kind="stable")]
    bounds = np.flatnonzero(np.diff(membership[order])) + 1
    out: list[Community] = []
    for group in np.split(order, bounds):
        c = int(membership[group[0]])
        members = tuple(nodes[i] for i in group.tolist())
        wi, wc, wh = float(w_int[c]), float(w_cut[c]), float(w_hub[c])
        vol = 2.0 * wi + wc
        denom = min(vol, total_vol - vol)
        conductance = wc / denom if denom > 0 else (0.0 if wc == 0 else 1.0)
        out.append(
            Community(
                index=c,
                members=members,
                confidence=wi / (wi + wc) if wi + wc > 0 else 0.0,
                conductance=min(conductance, 1.0),
                internal_share=wi / (wi + wc + wh) if wi + wc + wh > 0 else 0.0,
                internal_weight=wi,
                boundary_weight=wc,
                shared_services_weight=wh,
                explanation=CommunityExplanation(
                    top_edges=[
                        EdgeShare(src=nodes[a], dst=nodes[b], weight=x, share=x / wi if wi else 0.0)
                        for a, b, x in top_by.get(c, [])
                    ],
                    shared_tags=_shared_tags(members, tags),
                    member_reasons={nodes[i]: reasons[i] for i in group.tolist()},
                ),
            )
        )
    return out


def _top_edges(
    s: np.ndarray, d: np.ndarray, w: np.ndarray, c: np.ndarray, top: int
) -> dict[int, list[tuple[int, int, float]]]:
    """The ``top`` heaviest internal edges of each community (ties by src, dst id)."""
    order = np.lexsort((d, s, -w, c))
    c_sorted = c[order]
    starts = np.flatnonzero(np.r_[True, c_sorted[1:] != c_sorted[:-1]])
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    pick = order[rank < top]
    out: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for a, b, x, comm in zip(
        s[pick].tolist(), d[pick].tolist(), w[pick].tolist(), c[pick].tolist(), strict=True
    ):
        out[comm].append((a, b, x))
    return out


def _shared_tags(members: tuple[str, ...], tags: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    common: dict[str, str] | None = None
    for m in members:
        t = tags.get(m, {})
        common = dict(t) if common is None else {k: v for k, v in common.items() if t.get(k) == v}
        if not common:
            return {}
    return dict(sorted((common or {}).items()))


def _member_reasons(
    nodes: Sequence[str],
    grouped: np.ndarray,
    s: np.ndarray,
    d: np.ndarray,
    w: np.ndarray,
    cs: np.ndarray,
    cd: np.ndarray,
    tags: Mapping[str, Mapping[str, str]],
    hard_tag_keys: tuple[str, ...],
) -> dict[int, str]:
    """One line per grouped node: how much of its traffic is inside, or why it is in anyway."""
    n = len(nodes)
    node, peer = np.concatenate([s, d]), np.concatenate([d, s])
    ww = np.concatenate([w, w])
    c, pc = np.concatenate([cs, cd]), np.concatenate([cd, cs])
    own = c >= 0
    inside_mask = own & (c == pc)
    inside = np.bincount(node[inside_mask], ww[inside_mask], n)
    app = np.bincount(node[own & (pc >= 0)], ww[own & (pc >= 0)], n)
    hub = np.bincount(node[own & (pc < 0)], ww[own & (pc < 0)], n)
    best = np.full(n, -1, dtype=np.int64)
    i_node, i_peer, i_w = node[inside_mask], peer[inside_mask], ww[inside_mask]
    order = np.lexsort((i_peer, -i_w, i_node))
    first = order[np.r_[True, i_node[order][1:] != i_node[order][:-1]]] if order.size else order
    best[i_node[first]] = i_peer[first]
    out: dict[int, str] = {}
    inside_l, app_l, hub_l, best_l = inside.tolist(), app.tolist(), hub.tolist(), best.tolist()
    for i in grouped.tolist():
        if inside_l[i] > 0:
            out[i] = (
                f"{inside_l[i] / app_l[i]:.0%} of its application traffic "
                f"({_fmt_bytes(inside_l[i])}) is inside the group; "
                f"strongest partner {nodes[best_l[i]]}"
            )
            continue
        t = tags.get(nodes[i], {})
        hard = [f"{k}={t[k]}" for k in hard_tag_keys if k in t]
        if hard:
            out[i] = f"no traffic inside the group; placed by tag {', '.join(hard)}"
        elif hub_l[i] > 0:
            out[i] = "talks only to shared services; an application of its own"
        else:
            out[i] = "no application traffic; a group of its own"
    return out
