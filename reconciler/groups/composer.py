"""The dynamic group composer: communities in, groups with stable ids and events out.

Each cycle new communities are matched to the previous discovered groups by traffic-weighted
overlap (greedy, largest overlap first, one-to-one), so an unchanged application keeps its id.
Hysteresis at two levels stops churn: a community must persist ``form_cycles`` cycles to form a
group and a group must be unmatched ``dissolve_cycles`` cycles to dissolve; a single resource
joins or leaves a group only after ``member_join_cycles`` / ``member_leave_cycles`` cycles.
A group that loses its members to another is *merged* into it; a new group formed mostly from an
existing group's members is *split* from it.

A group named in ``recompose`` (remediation found its membership no longer matches its traffic)
is re-formed from this cycle's communities at once: it keeps its id only on a community that is
mostly its members and takes that community's members as they are; its other members follow
their own communities (joining their groups, or forming a new group without the ``form_cycles``
wait); no join/leave hysteresis applies to it. Every other group keeps its hysteresis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from providers.models import Resource
from reconciler.groups.models import (
    Candidate,
    ComposerConfig,
    ComposerState,
    EventKind,
    Group,
    GroupEvent,
    GroupKind,
    ManualGroup,
    mint_id,
)
from reconciler.groups.naming import assign_names
from reconciler.groups.special import (
    apply_manual,
    apply_shared_services,
    apply_tenants,
    emit_diff,
)

if TYPE_CHECKING:
    from reconciler.analysis.pipeline import AnalysisResult

__all__ = ["compose", "compose_from_analysis"]


class _Weights:
    """Traffic weight of a resource (+1 so quiet resources still count)."""

    def __init__(self, weights: Mapping[str, float] | None) -> None:
        self._w = weights or {}

    def __call__(self, m: str) -> float:
        return self._w.get(m, 0.0) + 1.0

    def total(self, members: Collection[str]) -> float:
        return sum(self(m) for m in members)


def _greedy_match(
    comms: Sequence[list[str]],
    owners: Mapping[str, str],
    sizes: Mapping[str, float],
    w: _Weights,
    min_overlap: float,
    strict: Collection[str] = (),
) -> dict[int, str]:
    """community index -> owner key, one-to-one, largest traffic overlap first; a key in
    ``strict`` matches only a community that is mostly its members."""
    pairs: list[tuple[float, str, int]] = []
    for ci, members in enumerate(comms):
        cw = w.total(members)
        inter: dict[str, float] = defaultdict(float)
        for m in members:
            key = owners.get(m)
            if key is not None:
                inter[key] += w(m)
        for key, x in inter.items():
            if x / cw >= min_overlap or (key not in strict and x / sizes[key] >= min_overlap):
                pairs.append((x, key, ci))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    taken: set[str] = set()
    out: dict[int, str] = {}
    for _, key, ci in pairs:
        if key not in taken and ci not in out:
            taken.add(key)
            out[ci] = key
    return out


def compose(
    prev: ComposerState | None,
    communities: Sequence[Collection[str]],
    *,
    at: datetime,
    config: ComposerConfig,
    weights: Mapping[str, float] | None = None,
    confidence: Sequence[float] | None = None,
    hubs: Collection[str] = (),
    manual: Sequence[ManualGroup] = (),
    inventory: Sequence[Resource] = (),
    recompose: Collection[str] = (),
    names: Mapping[str, str] | None = None,
) -> tuple[ComposerState, list[GroupEvent]]:
    """One composer cycle. ``prev`` is not modified; the new state and the events are returned.

    ``weights``: traffic per resource (analysis ``strength``) for overlap matching;
    ``confidence``: one per community, copied to the matched group; ``recompose``: discovered
    groups to re-form from these communities at once (other ids are ignored); ``names``: group
    id -> the name an operator gave it. Every group gets a name (``reconciler.groups.naming``).
    """
    if at.tzinfo is None:
        raise ValueError(f"compose at={at.isoformat()} has no timezone; pass UTC")
    state = prev.model_copy(deep=True) if prev is not None else ComposerState()
    if state.at is not None and at <= state.at:
        raise ValueError(
            f"compose at={at.isoformat()} is not after the previous cycle {state.at.isoformat()}"
        )
    if confidence is not None and len(confidence) != len(communities):
        raise ValueError(f"{len(confidence)} confidence values for {len(communities)} communities")
    state.cycle += 1
    state.at = at
    events: list[GroupEvent] = []
    pinned = apply_manual(state, manual, at, events)
    hub_set = set(hubs) - pinned
    apply_shared_services(state, hub_set, at, events)
    excluded = pinned | hub_set
    comms: list[list[str]] = []
    conf: list[float] = []
    seen: set[str] = set()
    for i, c in enumerate(communities):
        members = sorted(set(c) - excluded - seen)
        seen.update(members)
        if len(members) >= config.min_group_size:
            comms.append(members)
            conf.append(confidence[i] if confidence is not None else 0.0)
    _discovered(state, comms, conf, _Weights(weights), config, at, events, recompose)
    apply_tenants(state, inventory, config, at, events)
    assign_names(state, inventory, names, _Weights(weights))
    return state, events


def _event(
    state: ComposerState,
    kind: EventKind,
    group: Group,
    at: datetime,
    reason: str,
    **extra: list[str],
) -> GroupEvent:
    return GroupEvent(
        kind=kind,
        group_id=group.id,
        group_kind=group.kind,
        cycle=state.cycle,
        at=at,
        reason=reason,
        **extra,
    )


def _discovered(
    state: ComposerState,
    comms: list[list[str]],
    conf: list[float],
    w: _Weights,
    config: ComposerConfig,
    at: datetime,
    events: list[GroupEvent],
    recompose: Collection[str] = (),
) -> None:
    groups = {gid: g for gid, g in state.groups.items() if g.kind == GroupKind.DISCOVERED}
    strict = {gid for gid in recompose if gid in groups}
    owner = {m: gid for gid, g in groups.items() for m in g.members}
    sizes = {gid: w.total(g.members) for gid, g in groups.items()}
    match = _greedy_match(comms, owner, sizes, w, config.min_overlap, strict)
    # membership hysteresis on matched groups: decide all moves first, then apply them
    joins: dict[str, list[str]] = defaultdict(list)
    leaves: dict[str, list[str]] = defaultdict(list)
    at_once: dict[str, set[str]] = defaultdict(set)  # group -> recomposed groups it took from
    for ci, gid in match.items():
        group, cset = groups[gid], set(comms[ci])
        group.cycles_missing = 0
        group.confidence = conf[ci]
        if gid in strict:  # re-formed at once: its community's members, as they are
            joins[gid] = [m for m in comms[ci] if m not in group.members]
            continue
        for m in group.members:
            if m in cset:
                group.leaving.pop(m, None)
            else:
                group.leaving[m] = group.leaving.get(m, 0) + 1
                if group.leaving[m] >= config.member_leave_cycles:
                    leaves[gid].append(m)
        group.joining = {
            m: group.joining.get(m, 0) + 1 for m in comms[ci] if m not in group.members
        }
        joins[gid] = [m for m, n in group.joining.items() if n >= config.member_join_cycles]
        # a recomposed group's members follow their community at once
        for m in comms[ci]:
            src = owner.get(m)
            if src in strict and src != gid and m not in joins[gid]:
                joins[gid].append(m)
                at_once[gid].add(src)
    placed = {m for c in comms for m in c}
    for gid in strict:
        # members in no community leave at once; those in another community move to its group
        # (joins) or form a new group with it (``_candidates``)
        group = groups[gid]
        home = next((set(comms[ci]) for ci, g in match.items() if g == gid), set())
        leaves[gid] = [m for m in group.members if m not in home and m not in placed]
        group.joining, group.leaving = {}, {}
    moved_to: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    new_members = {gid: set(g.members) - set(leaves.get(gid, [])) for gid, g in groups.items()}
    for gid, ms in joins.items():
        for m in ms:
            src = owner.get(m)
            if src is not None and src != gid:
                new_members[src].discard(m)
                moved_to[src][gid] += 1
            new_members[gid].add(m)
            groups[gid].joining.pop(m, None)
            groups[gid].leaving.pop(m, None)
    for gid, group in groups.items():
        group.leaving = {m: n for m, n in group.leaving.items() if m in new_members[gid]}
        grew = f"seen in its community for {config.member_join_cycles} cycle(s)"
        shrank = "left its community (absent or moved to another group)"
        if gid in strict:
            grew = shrank = f"followed its community at once on a recompose of {gid}"
        elif at_once[gid]:
            grew += f" (at once on a recompose of {', '.join(sorted(at_once[gid]))})"
        emit_diff(state, group, new_members[gid], at, events, grew, shrank)
    matched = set(match.values())
    for gid, group in groups.items():
        if gid not in matched:
            group.cycles_missing += 1
        if not group.members:
            into = max(moved_to[gid], key=lambda k: moved_to[gid][k]) if moved_to[gid] else None
            why = "all its resources moved" + (" on a recompose" if gid in strict else "")
            _retire(state, group, at, events, into, why)
        elif gid not in strict and group.cycles_missing >= config.dissolve_cycles:
            _dissolve_or_merge(state, group, comms, match, w, config, at, events)
    _candidates(state, comms, conf, match, owner, w, config, at, events, strict)


def _retire(
    state: ComposerState,
    group: Group,
    at: datetime,
    events: list[GroupEvent],
    into: str | None,
    why: str,
) -> None:
    state.groups.pop(group.id, None)
    if into is not None:
        events.append(
            _event(state, EventKind.MERGED, group, at, f"merged into {into}: {why}", related=[into])
        )
    else:
        events.append(
            _event(state, EventKind.DISSOLVED, group, at, why, removed=list(group.members))
        )


def _dissolve_or_merge(
    state: ComposerState,
    group: Group,
    comms: list[list[str]],
    match: Mapping[int, str],
    w: _Weights,
    config: ComposerConfig,
    at: datetime,
    events: list[GroupEvent],
) -> None:
    where: dict[int, float] = defaultdict(float)
    mine = set(group.members)
    index = {m: ci for ci, c in enumerate(comms) for m in c if m in mine}
    for m in group.members:
        if m in index:
            where[index[m]] += w(m)
    best = max(where, key=lambda ci: where[ci]) if where else None
    total = w.total(group.members)
    if best is not None and best in match and where[best] / total >= config.min_overlap:
        into = state.groups[match[best]]
        emit_diff(
            state,
            into,
            set(into.members) | set(group.members),
            at,
            events,
            f"merged in from {group.id}",
            "",
        )
        _retire(
            state,
            group,
            at,
            events,
            into.id,
            f"its community has been part of {into.id}'s for {group.cycles_missing} cycles",
        )
    else:
        _retire(
            state,
            group,
            at,
            events,
            None,
            f"no matching community for {group.cycles_missing} cycle(s)",
        )


def _candidates(
    state: ComposerState,
    comms: list[list[str]],
    conf: list[float],
    match: Mapping[int, str],
    prior_owner: Mapping[str, str],
    w: _Weights,
    config: ComposerConfig,
    at: datetime,
    events: list[GroupEvent],
    strict: Collection[str] = (),
) -> None:
    free = [ci for ci in range(len(comms)) if ci not in match]
    free_comms = [comms[ci] for ci in free]
    prev = {str(i): cand for i, cand in enumerate(state.candidates)}
    owner = {m: key for key, cand in prev.items() for m in cand.members}
    sizes = {key: w.total(cand.members) for key, cand in prev.items()}
    cmatch = _greedy_match(free_comms, owner, sizes, w, config.min_overlap)
    kept: list[Candidate] = []
    group_of = state.membership(GroupKind.DISCOVERED)
    for j, ci in enumerate(free):
        old = prev.get(cmatch[j]) if j in cmatch else None
        cand = Candidate(
            members=comms[ci],
            seen=old.seen + 1 if old else 1,
            first_seen=old.first_seen if old else at,
        )
        # a community holding a recomposed group's members forms at once
        urgent = sorted({prior_owner[m] for m in cand.members if prior_owner.get(m) in strict})
        if cand.seen < config.form_cycles and not urgent:
            kept.append(cand)
            continue
        _form(state, cand, conf[ci], group_of, prior_owner, w, config, at, events, urgent)
    state.candidates = kept


def _form(
    state: ComposerState,
    cand: Candidate,
    confidence: float,
    owner: dict[str, str],
    prior_owner: Mapping[str, str],
    w: _Weights,
    config: ComposerConfig,
    at: datetime,
    events: list[GroupEvent],
    recomposed: Sequence[str] = (),
) -> None:
    gid = mint_id(config.id_prefix, cand.members, at, state.groups)
    origin: dict[str, float] = defaultdict(float)  # where the members were before this cycle
    holders: set[str] = set()  # groups still holding some of them now
    for m in cand.members:
        if m in prior_owner:
            origin[prior_owner[m]] += w(m)
        if m in owner:
            holders.add(owner[m])
    for src in sorted(holders):
        held = state.groups[src]
        emit_diff(
            state,
            held,
            set(held.members) - set(cand.members),
            at,
            events,
            "",
            f"split off into {gid}",
        )
    group = Group(
        id=gid,
        kind=GroupKind.DISCOVERED,
        members=list(cand.members),
        created_at=at,
        updated_at=at,
        confidence=confidence,
        origin=f"community seen for {cand.seen} cycles since {cand.first_seen.isoformat()}",
    )
    if recomposed:
        group.origin = f"formed at once on a recompose of {', '.join(recomposed)}: {group.origin}"
    state.groups[gid] = group
    owner.update({m: gid for m in cand.members})
    parent = max(origin, key=lambda k: origin[k]) if origin else None
    if parent is not None and origin[parent] / w.total(cand.members) >= config.min_overlap:
        events.append(
            _event(
                state,
                EventKind.SPLIT,
                group,
                at,
                f"split from {parent}: {group.origin}",
                related=[parent],
                added=list(cand.members),
            )
        )
    else:
        events.append(
            _event(state, EventKind.FORMED, group, at, group.origin, added=list(cand.members))
        )
    for src in sorted(holders):
        if src in state.groups and not state.groups[src].members:
            _retire(state, state.groups[src], at, events, gid, "all its resources split off")


def compose_from_analysis(
    prev: ComposerState | None,
    result: AnalysisResult,
    *,
    at: datetime,
    config: ComposerConfig,
    manual: Sequence[ManualGroup] = (),
    inventory: Sequence[Resource] = (),
    names: Mapping[str, str] | None = None,
) -> tuple[ComposerState, list[GroupEvent]]:
    """:func:`compose` fed from an :class:`~reconciler.analysis.AnalysisResult`."""
    return compose(
        prev,
        [c.members for c in result.communities],
        at=at,
        config=config,
        weights=result.strength,
        confidence=[c.confidence for c in result.communities],
        hubs=result.hub_nodes,
        manual=manual,
        inventory=inventory,
        names=names,
    )
