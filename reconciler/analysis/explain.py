"""Confidence and explanation of each community: why these resources form one application.

Confidence is the share of a community's application traffic (hub traffic excluded, since every
application talks to DNS and monitoring) that stays inside it; conductance is the usual
``cut / min(vol(S), vol(rest))`` on the application graph. The explanation lists the strongest
internal edges, the tags all members share and one line per member saying why it is in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

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
    membership: Mapping[str, int],
    tags: Mapping[str, Mapping[str, str]],
    *,
    top_edges: int = 5,
    hard_tag_keys: tuple[str, ...] = (),
) -> list[Community]:
    """Build :class:`Community` objects from directed ``edges`` (src, dst, weight) and membership.

    Nodes absent from ``membership`` (hubs, externals) count as shared services.
    """
    if not membership:
        return []
    memb = pl.DataFrame(
        {"node": list(membership), "comm": list(membership.values())},
        schema={"node": pl.String, "comm": pl.Int64},
    )
    e = (
        edges.select("src", "dst", "weight")
        .filter(pl.col("src") != pl.col("dst"))
        .join(memb.rename({"node": "src", "comm": "cs"}), on="src", how="left")
        .join(memb.rename({"node": "dst", "comm": "cd"}), on="dst", how="left")
        .filter(pl.col("cs").is_not_null() | pl.col("cd").is_not_null())
    )
    internal = e.filter(pl.col("cs") == pl.col("cd"))
    cut = e.filter(
        pl.col("cs").is_not_null() & pl.col("cd").is_not_null() & (pl.col("cs") != pl.col("cd"))
    )
    hub = e.filter(pl.col("cs").is_null() | pl.col("cd").is_null())
    w_int = dict(internal.group_by("cs").agg(pl.col("weight").sum()).iter_rows())
    w_cut: dict[int, float] = defaultdict(float)
    for col in ("cs", "cd"):
        for c, w in cut.group_by(col).agg(pl.col("weight").sum()).iter_rows():
            w_cut[c] += w
    w_hub: dict[int, float] = defaultdict(float)
    for c, w in (
        hub.select(pl.coalesce("cs", "cd").alias("c"), "weight")
        .group_by("c")
        .agg(pl.col("weight").sum())
        .iter_rows()
    ):
        w_hub[c] += w
    total_vol = 2.0 * sum(w_int.values()) + sum(w_cut.values())
    top = (
        internal.sort(["cs", "weight", "src", "dst"], descending=[False, True, False, False])
        .group_by("cs", maintain_order=True)
        .head(top_edges)
    )
    top_by: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
    for src, dst, w, c in top.select("src", "dst", "weight", "cs").iter_rows():
        top_by[c].append((src, dst, w))
    reasons = _member_reasons(e, membership, tags, hard_tag_keys)
    by_comm: dict[int, list[str]] = defaultdict(list)
    for node, c in membership.items():
        by_comm[c].append(node)
    out: list[Community] = []
    for c in sorted(by_comm):
        members = tuple(sorted(by_comm[c]))
        wi, wc, wh = w_int.get(c, 0.0), w_cut.get(c, 0.0), w_hub.get(c, 0.0)
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
                        EdgeShare(src=s, dst=d, weight=w, share=w / wi if wi else 0.0)
                        for s, d, w in top_by.get(c, [])
                    ],
                    shared_tags=_shared_tags(members, tags),
                    member_reasons={m: reasons[m] for m in members},
                ),
            )
        )
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
    e: pl.DataFrame,
    membership: Mapping[str, int],
    tags: Mapping[str, Mapping[str, str]],
    hard_tag_keys: tuple[str, ...],
) -> dict[str, str]:
    both = pl.concat(
        [
            e.select(
                pl.col("src").alias("node"),
                pl.col("dst").alias("peer"),
                "weight",
                pl.col("cs").alias("c"),
                pl.col("cd").alias("pc"),
            ),
            e.select(
                pl.col("dst").alias("node"),
                pl.col("src").alias("peer"),
                "weight",
                pl.col("cd").alias("c"),
                pl.col("cs").alias("pc"),
            ),
        ]
    ).filter(pl.col("c").is_not_null())
    stats = both.group_by("node").agg(
        pl.col("weight").filter(pl.col("c") == pl.col("pc")).sum().alias("inside"),
        pl.col("weight").filter(pl.col("pc").is_not_null()).sum().alias("app"),
        pl.col("weight").filter(pl.col("pc").is_null()).sum().alias("hub"),
        pl.col("peer")
        .filter(pl.col("c") == pl.col("pc"))
        .sort_by(pl.col("weight").filter(pl.col("c") == pl.col("pc")), descending=True)
        .first()
        .alias("best"),
    )
    rows = {r[0]: r[1:] for r in stats.iter_rows()}
    out: dict[str, str] = {}
    for node in membership:
        inside, app, hub, best = rows.get(node, (0.0, 0.0, 0.0, None))
        if inside and inside > 0:
            out[node] = (
                f"{inside / app:.0%} of its application traffic ({_fmt_bytes(inside)}) is inside "
                f"the group; strongest partner {best}"
            )
            continue
        t = tags.get(node, {})
        hard = [f"{k}={t[k]}" for k in hard_tag_keys if k in t]
        if hard:
            out[node] = f"no traffic inside the group; placed by tag {', '.join(hard)}"
        elif hub and hub > 0:
            out[node] = "talks only to shared services; an application of its own"
        else:
            out[node] = "no application traffic; a group of its own"
    return out
