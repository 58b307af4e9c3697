"""Group models and the composer's state: plain pydantic, serialisable, persisted by the caller.

The composer is ``compose(prev_state, communities, ...) -> (new_state, events)``; everything it
remembers between cycles (groups, hysteresis counters, candidates not yet formed) lives in
:class:`ComposerState`, so a SQL state store can save it as JSON and hand it back next cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SHARED_SERVICES_ID",
    "Candidate",
    "ComposerConfig",
    "ComposerState",
    "EventKind",
    "Group",
    "GroupEvent",
    "GroupKind",
    "ManualGroup",
    "mint_id",
]

SHARED_SERVICES_ID = "shared-services"


class GroupKind(StrEnum):
    DISCOVERED = "discovered"
    MANUAL = "manual"
    TENANT = "tenant"
    SHARED_SERVICES = "shared_services"


class EventKind(StrEnum):
    FORMED = "formed"
    GREW = "grew"
    SHRANK = "shrank"
    MERGED = "merged"
    SPLIT = "split"
    DISSOLVED = "dissolved"


class ComposerConfig(BaseModel):
    """Hysteresis and matching parameters.

    A community must be seen ``form_cycles`` cycles in a row to form a group; a group unseen for
    ``dissolve_cycles`` cycles dissolves. A resource joins a group after ``member_join_cycles``
    cycles in its community and leaves after ``member_leave_cycles`` cycles out of it, so one
    noisy flow does not move it. Communities and groups match when the traffic-weighted overlap
    covers at least ``min_overlap`` of either side.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    form_cycles: int = Field(default=2, ge=1)
    dissolve_cycles: int = Field(default=3, ge=1)
    member_join_cycles: int = Field(default=2, ge=1)
    member_leave_cycles: int = Field(default=2, ge=1)
    min_overlap: float = Field(default=0.5, gt=0, le=1)
    min_group_size: int = Field(default=1, ge=1)
    tenant_tag_keys: tuple[str, ...] = ()
    id_prefix: str = "grp-"


class ManualGroup(BaseModel):
    """A group pinned by an operator: never dissolved or re-split automatically."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    members: tuple[str, ...]
    reason: str = "pinned by operator"
    #: what the operator calls it ("": its id)
    name: str = ""
    #: the policy class the operator gave it (None: the policy's default class)
    group_class: str | None = None


class Group(BaseModel):
    """A group with a stable id and the hysteresis counters of its membership."""

    id: str
    kind: GroupKind
    members: list[str]
    created_at: datetime
    updated_at: datetime
    #: a human name, unique among live groups and kept with the id (``reconciler.groups.naming``)
    name: str = ""
    #: who chose ``name``: "composer", "policy" (a manual group's definition) or "operator"
    named_by: str = ""
    confidence: float = 0.0
    origin: str = ""
    #: the policy class an operator gave it (manual groups); None: the policy's default class
    group_class: str | None = None
    cycles_missing: int = 0
    joining: dict[str, int] = Field(default_factory=dict, description="candidate members: cycles")
    leaving: dict[str, int] = Field(default_factory=dict, description="absent members: cycles")


class Candidate(BaseModel):
    """A community seen but not yet persistent enough to form a group."""

    members: list[str]
    seen: int = 1
    first_seen: datetime


class ComposerState(BaseModel):
    cycle: int = 0
    at: datetime | None = None
    groups: dict[str, Group] = Field(default_factory=dict)
    candidates: list[Candidate] = Field(default_factory=list)

    def group_of(self, resource: str, kind: GroupKind = GroupKind.DISCOVERED) -> str | None:
        """The id of the group of ``kind`` holding ``resource``, if any."""
        for gid, group in self.groups.items():
            if group.kind == kind and resource in group.members:
                return gid
        return None

    def membership(self, kind: GroupKind = GroupKind.DISCOVERED) -> dict[str, str]:
        """resource -> group id for groups of ``kind``."""
        return {m: gid for gid, g in self.groups.items() if g.kind == kind for m in g.members}


class GroupEvent(BaseModel):
    """Something that happened to a group this cycle, with why (remediation consumes these)."""

    kind: EventKind
    group_id: str
    group_kind: GroupKind
    cycle: int
    at: datetime
    reason: str
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list, description="merged into / split from")


def mint_id(prefix: str, members: Iterable[str], at: datetime, taken: Collection[str]) -> str:
    """A short id from the founding members and time, minted once; unique among ``taken``."""
    used = taken
    seed = "|".join(sorted(members)) + "@" + at.isoformat()
    salt = 0
    while True:
        digest = hashlib.sha256(f"{seed}#{salt}".encode()).hexdigest()[:10]
        candidate = f"{prefix}{digest}"
        if candidate not in used:
            return candidate
        salt += 1
