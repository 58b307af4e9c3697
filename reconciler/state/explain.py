"""The explanation stored with a group: why its members belong together, and its traffic.

The analysis explains each community it finds (strongest internal edges, shared tags, one reason
per member, confidence and conductance); the composer then gives groups stable ids, so a group is
matched to the community holding most of its members. The group's measured traffic pattern
(``reconciler.allocation.usage.TrafficPattern``) is stored beside it. Plain JSON, kept in the
group's ``explanation`` column and served by ``GET /groups/{id}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel

__all__ = ["CommunityLike", "group_explanation"]


class CommunityLike(Protocol):
    """What is read of an analysis community (``reconciler.analysis.Community``)."""

    @property
    def members(self) -> tuple[str, ...]: ...
    @property
    def confidence(self) -> float: ...
    @property
    def conductance(self) -> float: ...
    @property
    def internal_share(self) -> float: ...
    @property
    def explanation(self) -> BaseModel: ...


def group_explanation(
    members: Sequence[str],
    communities: Sequence[CommunityLike],
    traffic: BaseModel | None,
) -> dict[str, object] | None:
    """``{"community": {...}, "traffic": {...}}`` for a group (each part only when known; None
    when neither is): the community sharing most members, and the measured traffic pattern."""
    out: dict[str, object] = {}
    mine = set(members)
    best = max(communities, key=lambda c: len(mine & set(c.members)), default=None)
    shared = len(mine & set(best.members)) if best is not None else 0
    if best is not None and shared:
        out["community"] = {
            "members_in_community": shared,
            "confidence": best.confidence,
            "conductance": best.conductance,
            "internal_share": best.internal_share,
            **best.explanation.model_dump(mode="json"),
        }
    if traffic is not None:
        out["traffic"] = traffic.model_dump(mode="json")
    return out or None
