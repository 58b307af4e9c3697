from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.models import ProviderName, Resource
from reconciler.groups import (
    SHARED_SERVICES_ID,
    ComposerConfig,
    ComposerState,
    EventKind,
    GroupKind,
    ManualGroup,
    compose,
    tenant_id,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CFG = ComposerConfig(form_cycles=2, dissolve_cycles=2, member_join_cycles=2, member_leave_cycles=2)

A = [f"a{i}" for i in range(6)]
B = [f"b{i}" for i in range(4)]


def run(cycles: list[list[list[str]]], state: ComposerState | None = None, **kw):
    """Compose each cycle's communities in turn; return the final state and all events."""
    events = []
    start = state.cycle if state else 0
    for i, comms in enumerate(cycles):
        state, evs = compose(
            state, comms, at=T0 + timedelta(minutes=5 * (start + i)), config=CFG, **kw
        )
        events.append(evs)
    return state, events


def kinds(evs) -> list[tuple[str, str]]:
    return sorted((e.kind.value, e.group_id) for e in evs)


def test_group_forms_after_n_cycles_and_keeps_its_id() -> None:
    state, events = run([[A, B]] * 20)
    assert events[0] == []  # seen once: still a candidate
    formed = [e for e in events[1] if e.kind == EventKind.FORMED]
    assert len(formed) == 2 and all(e.group_id.startswith("grp-") for e in formed)
    assert all(evs == [] for evs in events[2:])  # 18 more identical cycles: zero churn
    assert sorted(sorted(g.members) for g in state.groups.values()) == [A, B]


def test_single_noisy_cycle_does_not_move_a_resource() -> None:
    state, _ = run([[A, B]] * 2)
    ids = state.membership()
    noisy = [A[:-1], [*B, A[-1]]]
    state, events = run([noisy, [A, B], [A, B]], state)
    assert state.membership() == ids
    assert all(e == [] for e in events)


def test_persistent_move_shrinks_one_group_and_grows_the_other() -> None:
    state, _ = run([[A, B]] * 2)
    ga, gb = state.group_of("a0"), state.group_of("b0")
    moved = [A[:-1], [*B, A[-1]]]
    state, events = run([moved, moved], state)
    assert events[0] == []
    assert kinds(events[1]) == [("grew", gb), ("shrank", ga)]
    assert state.group_of(A[-1]) == gb and state.group_of("a0") == ga


def test_state_is_serialisable_and_prev_is_not_mutated() -> None:
    state, _ = run([[A, B]] * 2)
    frozen = state.model_dump_json()
    again = ComposerState.model_validate_json(frozen)
    assert again == state
    compose(state, [A + B], at=T0 + timedelta(hours=1), config=CFG)
    assert state.model_dump_json() == frozen


def test_split_is_confirmed_after_hysteresis() -> None:
    state, _ = run([[A, B]] * 2)
    ga = state.group_of("a0")
    state, events = run([[A[:3], A[3:], B]] * 3, state)
    split = [e for evs in events for e in evs if e.kind == EventKind.SPLIT]
    assert len(split) == 1 and split[0].related == [ga]
    assert state.group_of("a0") == ga  # the larger-overlap part keeps the id
    assert state.group_of("a3") == split[0].group_id != ga
    assert state.group_of("b0") not in (ga, split[0].group_id)


def test_merge_keeps_the_larger_id_and_records_merged() -> None:
    state, _ = run([[A, B]] * 2)
    ga, gb = state.group_of("a0"), state.group_of("b0")
    state, events = run([[A + B]] * 3, state)
    flat = [e for evs in events for e in evs]
    merged = [e for e in flat if e.kind == EventKind.MERGED]
    assert [(e.group_id, e.related) for e in merged] == [(gb, [ga])]
    assert gb not in state.groups
    assert sorted(state.groups[ga].members) == sorted(A + B)


def test_group_dissolves_only_after_m_cycles_absent() -> None:
    state, _ = run([[A, B]] * 2)
    gb = state.group_of("b0")
    state, events = run([[A], [A]], state)
    assert events[0] == []
    (dissolved,) = events[1]
    assert dissolved.kind == EventKind.DISSOLVED and dissolved.group_id == gb
    assert "no matching community for 2 cycle(s)" in dissolved.reason


def test_manual_group_is_pinned_and_members_leave_discovered_groups() -> None:
    state, _ = run([[A, B]] * 2)
    manual = [ManualGroup(id="payments", members=("a0", "a1"), reason="finance asked")]
    state, events = run([[A, B]] * 4, state, manual=manual)
    assert state.groups["payments"].kind == GroupKind.MANUAL
    assert state.group_of("a0") is None
    assert ("formed", "payments") in kinds(events[0])
    # the pinned group survives cycles where nothing talks to it
    state, _ = run([[[]]] * 5, state, manual=manual)
    assert state.groups["payments"].members == ["a0", "a1"]


def test_manual_definitions_are_checked() -> None:
    twice = [ManualGroup(id="x", members=("a0",)), ManualGroup(id="y", members=("a0",))]
    with pytest.raises(ValueError, match="'a0' is pinned to both 'x' and 'y'"):
        compose(None, [A], at=T0, config=CFG, manual=twice)


def test_hubs_go_to_shared_services_and_out_of_groups() -> None:
    state, _ = run([[A, B]] * 2)
    state, events = run([[A, B]], state, hubs=["a5"])
    assert state.groups[SHARED_SERVICES_ID].members == ["a5"]
    assert state.group_of("a5") is None
    assert any(e.kind == EventKind.SHRANK and "hubs" in e.reason for e in events[0])


def test_tenant_groups_from_tag() -> None:
    inv = [
        Resource(id=r, provider=ProviderName.FAKE, account="1", region="r", tags={"tenant": t})
        for r, t in (("a0", "acme"), ("b0", "acme"), ("b1", "globex"))
    ]
    cfg = CFG.model_copy(update={"tenant_tag_keys": ("tenant",)})
    state, events = compose(None, [A, B], at=T0, config=cfg, inventory=inv)
    acme = state.groups[tenant_id("tenant", "acme")]
    assert acme.kind == GroupKind.TENANT and acme.members == ["a0", "b0"]
    assert {e.kind for e in events} == {EventKind.FORMED}
    state, events = compose(
        state, [A, B], at=T0 + timedelta(minutes=5), config=cfg, inventory=inv[:2]
    )
    tenant_events = [e for e in events if e.group_kind == GroupKind.TENANT]
    assert tenant_events == []  # globex tenant missing once: not yet dissolved
    state, events = compose(
        state, [A, B], at=T0 + timedelta(minutes=10), config=cfg, inventory=inv[:2]
    )
    assert kinds(events) == [("dissolved", tenant_id("tenant", "globex"))]


def test_time_must_move_forward_and_confidence_align() -> None:
    state, _ = compose(None, [A], at=T0, config=CFG)
    with pytest.raises(ValueError, match="not after the previous cycle"):
        compose(state, [A], at=T0, config=CFG)
    with pytest.raises(ValueError, match="1 confidence values for 2 communities"):
        compose(None, [A, B], at=T0, config=CFG, confidence=[0.5])
    with pytest.raises(ValueError, match="no timezone"):
        compose(None, [A], at=datetime(2026, 1, 1), config=CFG)


def test_no_communities_is_a_quiet_cycle() -> None:
    state, events = compose(None, [], at=T0, config=CFG)
    assert state.groups == {} and events == [] and state.cycle == 1
