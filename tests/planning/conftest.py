from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies.loader import parse_policy
from providers.models import InstanceType

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def it(name, vcpu, mem, base, peak, price):
    return InstanceType(
        name=name,
        vcpu=vcpu,
        memory_gib=mem,
        baseline_gbps=base,
        peak_gbps=peak,
        hourly_price_usd=price,
    )


def base_types() -> list[InstanceType]:
    """The m6i and c6i types most planner tests size from (with prices)."""
    return [
        it("m6i.large", 2, 8, 0.78, 12.5, 0.096),
        it("m6i.xlarge", 4, 16, 1.56, 12.5, 0.192),
        it("m6i.2xlarge", 8, 32, 3.12, 12.5, 0.384),
        it("m6i.8xlarge", 32, 128, 12.5, 12.5, 1.536),
        it("c6i.large", 2, 4, 0.78, 12.5, 0.085),
        it("c6i.xlarge", 4, 8, 1.56, 12.5, 0.17),
    ]


@pytest.fixture
def catalog():
    types = [*base_types(), it("r6i.large", 2, 16, 0.78, 12.5, 0.126)]
    return {t.name: t for t in types}


POLICY = """\
name: plan-test
pools:
  global_gbps: 40
  regions:
    r1: {capacity_gbps: 30, guaranteed_gbps: 20}
    r2: {capacity_gbps: 20, guaranteed_gbps: 10}
forecast:
  default_quantile: 0.9
  quantile_by_class: {gold: 0.99}
headroom: {relative: 0.0}
group_classes:
  default: {guarantee_gbps: 0, priority: 1}
  gold: {guarantee_gbps: 1, ceiling_gbps: 20, priority: 0, weight: 2}
actions:
{actions}
safety:
  max_fraction_changed: 1.0
  max_resources_changed: 50
  min_change_fraction: 0.1
  cooldowns: {{scale: 10m, resize: 1h}}
  needs_approval: [routing]
"""

DEFAULT_ACTIONS = """\
  - type: resize
    families: [m6i, c6i]
    largest_size: 2xlarge
    lead_time: 20m
  - type: scale
    min_count: 1
    max_count: 10
    target_utilization: 0.5
  - type: bandwidth_tier
    tiers:
      - {name: basic, gbps: 1}
      - {name: fast, gbps: 10}
  - type: edge_cache
    regions: [r1]
    node_type: cache.r6g.large
    node_gbps: 2
    threshold_gbps: 3
    max_nodes: 4
  - type: routing
    min_weight: 1
"""


def make_policy(actions: str = DEFAULT_ACTIONS, **safety):
    text = POLICY.replace("{actions}", actions.rstrip("\n")).replace("{{", "{").replace("}}", "}")
    policy = parse_policy(text)
    return policy.model_copy(update={"safety": policy.safety.model_copy(update=safety)})


@pytest.fixture
def policy():
    return make_policy()
