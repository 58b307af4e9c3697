"""Human names for groups, stable with their ids and unique among live groups.

A name is chosen when a group forms and kept in the composer state, so it does not flap
between cycles: from the members' dominant ``app``/``application``/``service`` tag, else the
common prefix of their ``Name`` tags, else the busiest member and how many others. Tenant
groups are named by their tag and value (``tenant=acme``), the shared-services group by its role,
manual groups by their definition. An operator's name (``PUT /groups/{id}/name``) replaces any
of these and is kept until the operator renames the group again. A new id (a group split off
or re-formed into something else) gets a new name. Collisions get a ``-2``, ``-3``... suffix;
the older group keeps the plain name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from providers.models import Resource
from reconciler.groups.models import ComposerState, Group, GroupKind

__all__ = ["NAME_TAG_KEYS", "NamedBy", "assign_names", "suggest_name"]

#: Tags that name an application, most specific first; ``Name`` is tried last, by prefix.
NAME_TAG_KEYS = ("app", "application", "service")
_SPLIT = re.compile(r"[-_.:/ ]+")


class NamedBy:
    """Who chose a group's name (``Group.named_by``)."""

    COMPOSER = "composer"
    POLICY = "policy"
    OPERATOR = "operator"


def suggest_name(
    members: Sequence[str],
    tags: Mapping[str, Mapping[str, str]],
    weight: Callable[[str], float] = lambda _m: 1.0,
) -> str:
    """A name for ``members`` from their tags (``tags``: resource id -> tags): the value of
    the first of :data:`NAME_TAG_KEYS` that covers at least half the members' traffic weight,
    else the shared prefix of their ``Name`` tags, else the busiest member (``+N`` others)."""
    if not members:
        return "empty"
    total = sum(weight(m) for m in members)
    for key in NAME_TAG_KEYS:
        votes: dict[str, float] = defaultdict(float)
        for m in members:
            value = tags.get(m, {}).get(key)
            if value:
                votes[value] += weight(m)
        if votes:
            best = min(votes, key=lambda v: (-votes[v], v))
            if votes[best] >= 0.5 * total:
                return best
    names = [tags.get(m, {}).get("Name") for m in members]
    if all(names):
        prefix = _common_prefix([_SPLIT.split(str(n)) for n in names])
        if prefix:
            return prefix
    top = min(members, key=lambda m: (-weight(m), m))
    label = tags.get(top, {}).get("Name") or top
    return label if len(members) == 1 else f"{label} +{len(members) - 1}"


def _common_prefix(tokens: Sequence[Sequence[str]]) -> str:
    out: list[str] = []
    for parts in zip(*tokens, strict=False):
        if len(set(parts)) != 1 or not parts[0]:
            break
        out.append(parts[0])
    return "-".join(out)


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name


def assign_names(
    state: ComposerState,
    inventory: Sequence[Resource],
    operator: Mapping[str, str] | None = None,
    weight: Callable[[str], float] = lambda _m: 1.0,
) -> None:
    """Give every group in ``state`` a name, in place.

    ``operator``: group id -> the name an operator gave it (taken as is, and kept from then
    on). Manual groups keep their definition's name. Every other group keeps the name it has
    unless a kept name took it meanwhile; a group without one gets :func:`suggest_name` (or the
    name its formation set, e.g. a tenant's ``key=value``), suffixed when another live group has
    it. Older groups claim names first, so a collision renames the newcomer."""
    for gid, name in (operator or {}).items():
        group = state.groups.get(gid)
        if group is not None and name:
            group.name, group.named_by = name, NamedBy.OPERATOR
    fixed: list[Group] = []
    rest: list[Group] = []
    for group in state.groups.values():
        if group.named_by == NamedBy.OPERATOR:
            fixed.append(group)
        elif group.kind == GroupKind.MANUAL:
            group.named_by = NamedBy.POLICY
            fixed.append(group)
        else:
            rest.append(group)
    taken = {g.name for g in fixed if g.name}
    tags = {r.id: r.tags for r in inventory}
    for group in sorted(rest, key=lambda g: (g.created_at, g.id)):
        base = group.name or suggest_name(group.members, tags, weight)
        group.name = _unique(base, taken)
        group.named_by = NamedBy.COMPOSER
        taken.add(group.name)
