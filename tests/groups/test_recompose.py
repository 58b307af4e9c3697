"""A recompose (remediation: membership no longer matches traffic) re-forms that group from this
cycle's communities at once: no member join/leave hysteresis and no ``form_cycles`` wait for
it, while every other group keeps its hysteresis (issue 11, finding 3)."""

from __future__ import annotations

from datetime import timedelta

from reconciler.groups import ComposerState, EventKind, ManualGroup, compose
from tests.groups.test_composer import CFG, T0, A, B, kinds, run

C = [f"c{i}" for i in range(4)]


def _next(state: ComposerState, comms: list[list[str]], **kw):  # one more cycle
    return compose(state, comms, at=T0 + timedelta(minutes=5 * state.cycle), config=CFG, **kw)


def test_a_recompose_moves_members_at_once_and_others_keep_their_hysteresis() -> None:
    state, _ = run([[A, B, C]] * 2)
    ga, gb, gc = (state.group_of(x) for x in ("a0", "b0", "c0"))
    # a5 now talks with B, and c3 with B too; only A is recomposed
    comms = [A[:-1], [*B, A[-1], C[-1]], C[:-1]]
    plain, events = _next(state, comms)
    assert events == [] and plain.membership() == state.membership()  # hysteresis holds
    after, events = _next(state, comms, recompose=[ga])
    assert kinds(events) == [("grew", gb), ("shrank", ga)]
    assert after.groups[ga].members == A[:-1]
    assert after.group_of(A[-1]) == gb  # A's member follows its community at once
    assert after.group_of(C[-1]) == gc  # C was not recomposed: c3 waits out its hysteresis
    assert after.groups[gb].joining == {C[-1]: 1}


def test_a_recompose_forms_the_split_off_part_without_waiting_form_cycles() -> None:
    state, _ = run([[A, B]] * 2)
    ga = state.group_of("a0")
    comms = [A[:4], A[4:], B]
    plain, events = _next(state, comms)
    assert events == [] and plain.candidates  # normally a candidate for form_cycles cycles
    after, events = _next(state, comms, recompose=[ga])
    split = [e for e in events if e.kind == EventKind.SPLIT]
    assert len(split) == 1 and split[0].related == [ga]
    assert "recompose" in split[0].reason
    assert after.groups[ga].members == A[:4]  # the part that is mostly its members keeps the id
    assert sorted(after.groups[split[0].group_id].members) == A[4:]
    assert after.candidates == []


def test_a_recomposed_group_whose_community_is_mostly_another_group_merges_into_it() -> None:
    state, _ = run([[A, B]] * 2)
    ga, gb = state.group_of("a0"), state.group_of("b0")
    plain, events = _next(state, [A + B])
    assert events == [] and gb in plain.groups
    after, events = _next(state, [A + B], recompose=[gb])
    merged = [e for e in events if e.kind == EventKind.MERGED]
    assert [(e.group_id, e.related) for e in merged] == [(gb, [ga])]
    assert gb not in after.groups and sorted(after.groups[ga].members) == sorted(A + B)


def test_a_recompose_of_a_missing_or_manual_group_changes_nothing() -> None:
    state, _ = run([[A, B]] * 2)
    pin = ManualGroup(id="manual-x", members=("b0",))
    before, _ = _next(state, [A, B], manual=[pin])
    after, events = _next(state, [A, B], manual=[pin], recompose=["grp-gone", "manual-x"])
    assert after.groups == before.groups and events == _next(state, [A, B], manual=[pin])[1]
