"""Per-class provisioning quantile from prices (issue 14, section 2: newsvendor).

A class that prices unserved demand (``slo``) is sized at ``underage / (underage + overage)``
against the policy's ``prices``; the forecast's value there is read off its quantile function.
The cycle uses it: the recorded ledger (what ``/groups/{id}/bandwidth`` serves) names the
quantile and its basis, and the grant is the interpolated forecast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from policies.loader import PolicyError, parse_policy
from reconciler.allocation import provisioning_quantile, quantile_at
from reconciler.allocation.quantile import GB_PER_GBPS_HOUR
from reconciler.state import StateStore
from tests.cycle.plan_fixture import POLICY, FakeActuator, Harness, Steps, open_store

# underage of a Gbps-hour: 0.0019 USD/GB * 450 GB = 0.855; overage 0.045: ratio 0.95
PRICED = (
    POLICY.replace(
        "  default: {guarantee_gbps: 0, priority: 1}\n",
        "  default: {guarantee_gbps: 0, priority: 1}\n"
        "  gold:\n"
        "    priority: 0\n"
        "    slo: {unmet_gb_usd: 0.0019, unmet_vcpu_hour_usd: 0.432}\n"
        "  cheap:\n"
        "    slo: {unmet_gb_usd: 0.000001}\n",
    )
    + "prices: {gbps_hour_usd: 0.045, vcpu_hour_usd: 0.048}\n"
)


def test_the_newsvendor_ratio_per_metric_and_its_bounds() -> None:
    policy = parse_policy(PRICED)
    gold = provisioning_quantile(policy, "gold", "network_gbps")
    assert gold.basis == "newsvendor"
    assert gold.quantile == pytest.approx(0.0019 * GB_PER_GBPS_HOUR / (0.855 + 0.045))
    assert gold.quantile == pytest.approx(0.95)
    cpu = provisioning_quantile(policy, "gold", "cpu_vcpu")
    assert cpu.quantile == pytest.approx(0.432 / (0.432 + 0.048)) and cpu.basis == "newsvendor"
    # a metric the class does not price keeps the default; so does an unpriced class
    assert provisioning_quantile(policy, "gold", "memory_gib").basis == "default"
    assert provisioning_quantile(policy, "default", "network_gbps").quantile == 0.9
    # a tiny penalty would size below the median: held at 0.5
    assert provisioning_quantile(policy, "cheap", "network_gbps").quantile == 0.5
    # the operator's explicit quantile wins over prices
    explicit = PRICED.replace(
        "  default_quantile: 0.9\n", "  default_quantile: 0.9\n  quantile_by_class: {gold: 0.99}\n"
    )
    assert provisioning_quantile(parse_policy(explicit), "gold", "network_gbps").basis == "class"


def test_a_priced_class_without_prices_is_refused_at_its_field() -> None:
    unpriced = PRICED.replace("prices: {gbps_hour_usd: 0.045, vcpu_hour_usd: 0.048}\n", "")
    with pytest.raises(PolicyError, match=r"group_classes\.gold\.slo.*no prices"):
        parse_policy(unpriced)


def test_the_value_between_quantiles_is_interpolated_and_monotone() -> None:
    qs = {"p50": 1.0, "p90": 2.0, "p99": 4.0}
    assert quantile_at(qs, 0.5) == 1.0
    assert quantile_at(qs, 0.95) == pytest.approx(2.0 + 2.0 * 0.05 / 0.09)
    assert quantile_at(qs, 0.999) == 4.0 and quantile_at(qs, 0.1) == 1.0
    crossed = {"p50": 1.0, "p90": 3.0, "p99": 2.5}  # a forecast whose quantiles cross
    assert quantile_at(crossed, 0.95) == 3.0


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = open_store(tmp_path)
    yield s
    s.close()


def test_the_cycle_sizes_a_priced_group_at_its_newsvendor_quantile(state: StateStore) -> None:
    from reconciler.steps.types import Group, GroupSet

    steps = Steps(state, {"g1": (1.0, 2.0, 4.0), "g2": (1.0, 2.0, 4.0)})
    steps.groups = GroupSet(
        (
            Group("g1", "application", ("i-1", "i-2"), "us-east-1", group_class="gold"),
            Group("g2", "application", ("i-3",), "us-east-1"),
        )
    )
    h = Harness(state, steps, parse_policy(PRICED), FakeActuator())
    _, out = h.cycle()
    assert out.allocation is not None
    expected = 2.0 + 2.0 * (0.95 - 0.9) / (0.99 - 0.9)  # headroom 0 in this policy
    assert out.allocation.groups["g1"] == pytest.approx(expected, rel=1e-6)
    assert out.allocation.groups["g2"] == pytest.approx(2.0)  # the default p90
    recorded = state.allocation_history("g1", 1)[0]
    steps_text = " ".join(str(s) for s in (recorded.ledger or {}).get("steps", []))
    assert "q0.95 newsvendor" in steps_text, steps_text
    default_text = " ".join(
        str(s) for s in (state.allocation_history("g2", 1)[0].ledger or {}).get("steps", [])
    )
    assert "q0.9 default" in default_text, default_text
