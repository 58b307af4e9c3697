from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import StatementError

from reconciler.state import (
    GroupEventRecord,
    GroupExistsError,
    GroupRecord,
    NotFoundError,
    StateStore,
)
from tests.state.conftest import T0


def _g(gid: str, members: tuple[str, ...], **kw) -> GroupRecord:
    return GroupRecord(
        id=gid,
        name=kw.pop("name", gid),
        kind=kw.pop("kind", "discovered"),
        created_at=T0,
        members=members,
        **kw,
    )


def test_save_composition_round_trips_groups_and_members(store: StateStore) -> None:
    groups = [
        _g("g1", ("i-1", "i-2"), confidence=0.9, explanation={"edges": 12}),
        _g("g2", ("i-3",), kind="shared-services", tag_selector={"app": "dns"}),
    ]
    events = [GroupEventRecord("g1", "formed", "traffic community", T0, {"size": 2}, "run-1")]
    store.save_composition(T0, groups, events)
    got = {g.id: g for g in store.latest_groups()}
    assert got["g1"].members == ("i-1", "i-2")
    assert got["g1"].explanation == {"edges": 12}
    assert got["g1"].confidence == pytest.approx(0.9)
    assert got["g2"].tag_selector == {"app": "dns"}
    assert got["g2"].kind == "shared-services"
    assert got["g1"].created_at == T0 and got["g1"].created_at.tzinfo is not None
    assert [e.kind for e in store.recent_events("g1")] == ["formed"]
    assert store.recent_events("g1")[0].details == {"size": 2}


def test_membership_history_is_kept(store: StateStore) -> None:
    t1 = T0 + timedelta(hours=1)
    store.save_composition(T0, [_g("g1", ("i-1", "i-2"))])
    store.save_composition(
        t1, [_g("g1", ("i-2", "i-3"))], [GroupEventRecord("g1", "grew", "i-3 joined", t1)]
    )
    assert store.get_group("g1").members == ("i-2", "i-3")  # type: ignore[union-attr]
    assert store.members_at("g1", T0) == ["i-1", "i-2"]
    assert store.members_at("g1", t1) == ["i-2", "i-3"]
    assert [e.kind for e in store.recent_events("g1")] == ["grew"]


def test_dissolved_groups_leave_the_latest_list(store: StateStore) -> None:
    store.save_composition(T0, [_g("g1", ("i-1",)), _g("g2", ("i-2",))])
    t1 = T0 + timedelta(hours=1)
    store.save_composition(
        t1,
        [_g("g1", ("i-1", "i-2"))],
        [GroupEventRecord("g2", "merged", "merged into g1", t1, {"into": "g1"})],
        dissolved=["g2"],
    )
    assert [g.id for g in store.latest_groups()] == ["g1"]
    all_groups = {g.id: g for g in store.latest_groups(include_dissolved=True)}
    assert all_groups["g2"].dissolved_at == t1
    assert all_groups["g2"].members == ()
    assert store.members_at("g2", T0) == ["i-2"]


def test_api_override_survives_a_composition_that_does_not_set_it(store: StateStore) -> None:
    store.save_composition(T0, [_g("g1", ("i-1",))])
    pinned = store.set_pinned_bandwidth("g1", 4.0, T0, reason="operator")
    assert pinned.pinned and pinned.pinned_gbps == 4.0
    store.save_composition(T0 + timedelta(hours=1), [_g("g1", ("i-1", "i-9"))])
    g = store.get_group("g1")
    assert g is not None and g.pinned and g.pinned_gbps == 4.0
    ev = store.recent_events("g1")[0]
    assert ev.kind == "overridden" and ev.details == {"before_gbps": None, "after_gbps": 4.0}


def test_create_manual_group_and_refuse_duplicates(store: StateStore) -> None:
    made = store.create_group(
        _g("m-1", ("i-1", "i-2"), kind="manual", name="checkout", policy_class="gold"),
        T0,
        reason="created through the API",
    )
    assert made.kind == "manual" and made.members == ("i-1", "i-2")
    assert made.policy_class == "gold"
    assert store.recent_events("m-1")[0].kind == "formed"
    with pytest.raises(GroupExistsError, match="already exists"):
        store.create_group(_g("m-1", (), kind="manual", name="other"), T0, reason="x")
    with pytest.raises(GroupExistsError, match="named 'checkout'"):
        store.create_group(_g("m-2", (), kind="manual", name="checkout"), T0, reason="x")


def test_errors_name_what_is_wrong(store: StateStore) -> None:
    with pytest.raises(NotFoundError, match="no active group 'nope'"):
        store.set_pinned_bandwidth("nope", 1.0, T0, reason="x")
    store.save_composition(T0, [_g("g1", ())])
    with pytest.raises(ValueError, match="negative"):
        store.set_pinned_bandwidth("g1", -1.0, T0, reason="x")
    with pytest.raises(ValueError, match="kind 'weird'"):
        _g("g3", (), kind="weird")
    with pytest.raises(ValueError, match="appears twice"):
        store.save_composition(T0, [_g("g1", ()), _g("g1", ())])
    with pytest.raises(StatementError, match="has no timezone"):
        store.save_composition(datetime(2026, 1, 1), [_g("g4", ("i-1",))])


def test_large_composition_uses_chunked_queries(store: StateStore) -> None:
    groups = [_g(f"g{i:04d}", tuple(f"i-{i}-{j}" for j in range(3))) for i in range(600)]
    store.save_composition(T0, groups)
    latest = store.latest_groups()
    assert len(latest) == 600
    assert sum(len(g.members) for g in latest) == 1800
    groups[5] = _g("g0005", ("i-5-0",))
    store.save_composition(T0 + timedelta(hours=1), groups)
    assert store.get_group("g0005").members == ("i-5-0",)  # type: ignore[union-attr]
