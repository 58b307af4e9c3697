from datetime import UTC, datetime, timedelta

import pytest

from reconciler.remediation import (
    ActionKind,
    CircuitBreaker,
    GroupObservation,
    RemediationConfig,
    Signal,
    counter_increase,
    detect,
    remediate,
)
from reconciler.steps.types import Allocation, PoolAllocation

T0 = datetime(2026, 1, 5, tzinfo=UTC)
CFG = RemediationConfig()


def obs(gid: str, demand, allowance=(), upper=()) -> GroupObservation:
    times = tuple(T0 + timedelta(minutes=5 * i) for i in range(len(demand)))
    return GroupObservation(gid, times, tuple(demand), tuple(allowance), tuple(upper))


def alloc(groups: dict[str, float], capacity: float = 10.0) -> Allocation:
    return Allocation(
        T0,
        groups,
        (PoolAllocation("eu", "global", capacity, sum(groups.values())),),
        {g: "eu" for g in groups},
    )


def test_utilisation_needs_n_points_in_a_row() -> None:
    assert detect(obs("g", [0.5, 0.9, 0.9, 0.9]), 1.0, CFG)[0].signal is Signal.UTILISATION
    assert detect(obs("g", [0.9, 0.9, 0.5, 0.9]), 1.0, CFG) == []
    assert detect(obs("g", [0.9, 0.9]), 1.0, CFG) == []  # fewer than N points


def test_allowance_counters_rising_and_reset() -> None:
    assert counter_increase([5, 7, 7, 2]) == 4  # 2 then a reset to 2
    found = detect(obs("g", [0.1] * 4, allowance=[10, 0, 2, 3]), 1.0, CFG)
    assert [c.signal for c in found] == [Signal.ALLOWANCE_EXCEEDED]
    assert "rose by 5 over the last 3 points" in found[0].evidence
    assert detect(obs("g", [0.1] * 4, allowance=[10, 0, 0, 0]), 1.0, CFG) == []


def test_above_forecast_upper_quantile() -> None:
    found = detect(obs("g", [0.2, 0.6, 0.7], upper=[0.5, 0.5, 0.5]), 1.0, CFG)
    assert [c.signal for c in found] == [Signal.ABOVE_FORECAST]
    assert "2 of the last 3" in found[0].evidence


def test_observation_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="group g: forecast_upper_gbps has 2 points, expected 1"):
        GroupObservation("g", (T0,), (1.0,), (), (1.0, 2.0))


def test_borrow_from_free_pool_capacity_first() -> None:
    a = alloc({"hot": 1.0, "cold": 2.0}, capacity=10.0)
    res = remediate([obs("hot", [1.0, 1.0, 1.0])], a, {}, CircuitBreaker(CFG), CFG)
    [action] = res.actions
    assert action.kind is ActionKind.BORROW
    assert action.after_gbps == pytest.approx(1.2)  # peak * (1 + margin)
    assert action.lenders == {"pool:eu": pytest.approx(0.2)}
    assert res.allocation is not None
    assert res.allocation.groups["cold"] == 2.0
    assert res.allocation.pools[0].allocated_gbps == pytest.approx(3.2)


def test_borrow_from_siblings_slack_then_scale_for_the_rest() -> None:
    a = alloc({"hot": 1.0, "cold": 2.0}, capacity=3.0)  # pool full
    res = remediate(
        [obs("hot", [2.5, 2.5, 2.5]), obs("cold", [0.5, 0.5, 0.5])],
        a,
        {},
        CircuitBreaker(CFG),
        CFG,
    )
    kinds = [x.kind for x in res.actions]
    assert kinds == [ActionKind.BORROW, ActionKind.SCALE]
    borrow_action, scale = res.actions
    assert borrow_action.lenders == {"cold": pytest.approx(1.4)}  # cold keeps 0.5*1.2
    assert res.allocation is not None
    assert res.allocation.groups["cold"] == pytest.approx(0.6)
    assert res.allocation.groups["hot"] == pytest.approx(2.4)
    assert sum(res.allocation.groups.values()) == pytest.approx(3.0)  # conservation
    assert scale.before_gbps == pytest.approx(2.4)
    assert scale.after_gbps == pytest.approx(3.0)  # 2.5 * 1.2
    assert "scale out" in scale.reason


def test_recompose_instead_of_scale_when_membership_drifted() -> None:
    a = alloc({"hot": 1.0}, capacity=1.0)
    res = remediate([obs("hot", [2.0] * 3)], a, {"hot": 0.6}, CircuitBreaker(CFG), CFG)
    assert [x.kind for x in res.actions] == [ActionKind.RECOMPOSE]
    assert "60% of the group's traffic" in res.actions[0].reason


def test_breaker_opens_after_misses_and_closes_after_recovery() -> None:
    cfg = RemediationConfig(breaker_window=4, breaker_misses=3, breaker_recover=2)
    br = CircuitBreaker(cfg)
    assert [br.observe("g", m) for m in (True, False, True)] == [None, None, None]
    opened = br.observe("g", True)
    assert opened is not None and opened.kind is ActionKind.REACTIVE
    assert br.reactive_groups() == ("g",)
    assert br.observe("g", False) is None
    closed = br.observe("g", False)
    assert closed is not None and closed.kind is ActionKind.PREDICTIVE
    restored = CircuitBreaker.from_json(cfg, br.to_json())
    assert restored.state == br.state
    with pytest.raises(ValueError, match="unknown mode 'sleepy'"):
        CircuitBreaker.from_json(cfg, {"g": {"mode": "sleepy"}})


def test_reactive_group_is_sized_from_recent_use() -> None:
    cfg = RemediationConfig(breaker_misses=1)
    a = alloc({"g": 1.0}, capacity=10.0)
    upper = [0.5, 0.5, 0.5]
    res = remediate([obs("g", [0.7, 0.7, 0.7], upper=upper)], a, {}, CircuitBreaker(cfg), cfg)
    kinds = [x.kind for x in res.actions]
    assert kinds[0] is ActionKind.REACTIVE
    assert res.reactive_groups == ("g",)
    # 0.7 * 1.3 = 0.91 < 1.0 already allocated: no borrow needed
    assert ActionKind.BORROW not in kinds
    res2 = remediate(
        [obs("g", [0.9] * 3, upper=upper)],
        a,
        {},
        CircuitBreaker.from_json(cfg, res.breaker_state),
        cfg,
    )
    assert res2.allocation is not None
    assert res2.allocation.groups["g"] == pytest.approx(0.9 * 1.3)
