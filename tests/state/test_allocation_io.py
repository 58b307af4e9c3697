from __future__ import annotations

import pytest

from policies.schema import Pools, RegionPool
from reconciler.allocation import GroupDemand, OverrideRefused, allocate, apply_override
from reconciler.state import AllocationRecord, StateStore
from reconciler.state.allocation_io import StoredAllocationError, result_from_records
from tests.state.conftest import T0


def _result():
    pools = Pools(
        global_gbps=20.0,
        regions={
            "us-east-1": RegionPool(capacity_gbps=12.0, guaranteed_gbps=8.0),
            "eu-west-1": RegionPool(capacity_gbps=10.0, guaranteed_gbps=6.0),
        },
    )
    demands = [
        GroupDemand(
            group_id="web", region="us-east-1", demand_gbps=6.0, guarantee_gbps=2.0, priority=0
        ),
        GroupDemand(group_id="batch", region="us-east-1", demand_gbps=9.0, priority=2),
        GroupDemand(group_id="api", region="eu-west-1", demand_gbps=4.0, priority=1),
    ]
    return allocate(pools, demands)


def test_allocation_result_round_trips_through_the_store(store: StateStore) -> None:
    result = _result()
    assert store.current_allocation_result() is None
    store.record_run_start("r1", T0)
    store.save_allocation_result(
        "r1", T0, result, used_gbps={"web": 3.5}, pool_used_gbps={"global": 9.0}
    )
    store.record_run_finish("r1", T0, status="succeeded", step_timings={})
    back = store.current_allocation_result()
    assert back is not None
    assert {a.group_id: a for a in back.allocations} == result.by_group()
    assert sorted(back.pools, key=lambda p: p.name) == sorted(result.pools, key=lambda p: p.name)
    assert {e.group_id: e.steps for e in back.ledger} == {
        e.group_id: e.steps for e in result.ledger
    }
    web = next(a for a in store.latest_allocations() if a.group_id == "web")
    assert web.used_gbps == 3.5 and web.ledger is not None and web.ledger["steps"]


def test_record_override_puts_the_new_allocation_in_force(store: StateStore) -> None:
    from reconciler.state import GroupRecord

    store.save_composition(T0, [GroupRecord("web", "web", "discovered", T0, ("i-1",))])
    store.record_run_start("r1", T0)
    store.save_allocation_result("r1", T0, _result(), used_gbps={"web": 3.0})
    store.record_run_finish("r1", T0, status="succeeded", step_timings={})
    current = store.current_allocation_result()
    assert current is not None
    new = apply_override(current, "web", 7.0)
    group = store.record_override("web", 7.0, T0, new, reason="launch day")
    assert group.pinned_gbps == 7.0
    in_force = {a.group_id: a for a in store.latest_allocations()}
    assert in_force["web"].gbps == pytest.approx(7.0)
    assert in_force["web"].used_gbps == 3.0
    assert in_force["web"].run_id.startswith("override-")
    with pytest.raises(OverrideRefused, match="refused"):
        apply_override(store.current_allocation_result(), "web", 500.0)  # type: ignore[arg-type]


def test_rows_without_details_are_reported() -> None:
    with pytest.raises(StoredAllocationError, match="group g1 in run r1 has no stored"):
        result_from_records([AllocationRecord("g1", "eu", 1.0, run_id="r1")], [])
