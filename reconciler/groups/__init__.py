"""Dynamic resource groups: stable ids, hysteresis, events, manual and tenant groups."""

from reconciler.groups.composer import compose, compose_from_analysis
from reconciler.groups.models import (
    SHARED_SERVICES_ID,
    Candidate,
    ComposerConfig,
    ComposerState,
    EventKind,
    Group,
    GroupEvent,
    GroupKind,
    ManualGroup,
)
from reconciler.groups.naming import NamedBy, assign_names, suggest_name
from reconciler.groups.special import resolve_members, tenant_id

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
    "NamedBy",
    "assign_names",
    "compose",
    "compose_from_analysis",
    "resolve_members",
    "suggest_name",
    "tenant_id",
]
