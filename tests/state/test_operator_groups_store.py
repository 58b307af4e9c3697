"""What the cycle reads back of operators' groups: API-made groups, pins, and who made them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.state import GroupRecord, StateStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
API = {"source": "api", "created_by": "operator"}


def test_api_groups_and_pins_survive_a_composition(store: StateStore) -> None:
    made = GroupRecord("m-1", "pay", "manual", T0, ("i-1",), policy_class="gold", explanation=API)
    store.create_group(made, T0, reason="created through the API")
    pinned = GroupRecord("m-2", "web", "manual", T0, ("i-2",), pinned=True, pinned_gbps=0.5)
    store.create_group(pinned, T0, reason="created through the API")
    store.save_composition(T0, [GroupRecord("grp-a", "grp-a", "discovered", T0, ("i-3",))])
    store.set_pinned_bandwidth("grp-a", 1.5, T0, reason="launch")
    # a cycle rewrites every group with its own explanation (or none)
    later = T0 + timedelta(minutes=5)
    store.save_composition(
        later,
        [
            GroupRecord("m-1", "pay", "manual", T0, ("i-1",), explanation={"community": 3}),
            GroupRecord("m-2", "web", "manual", T0, ("i-2",)),
            GroupRecord("grp-a", "grp-a", "discovered", T0, ("i-3",)),
        ],
    )
    ops = store.operator_groups()
    assert [g.id for g in ops] == ["m-1"]
    assert ops[0].explanation == {"community": 3, **API}
    assert ops[0].policy_class == "gold"
    assert store.pinned_bandwidth() == {"m-2": 0.5, "grp-a": 1.5}
    store.save_composition(later + timedelta(minutes=5), [], dissolved=["grp-a"])
    assert store.pinned_bandwidth() == {"m-2": 0.5}
