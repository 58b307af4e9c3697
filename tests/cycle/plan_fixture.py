"""A small fleet driven through the real plan and apply steps and the real state store.

Collect/analyze/compose/forecast are fixed (the demand is set by the test); allocate, plan and
apply are the production adapters; a fake actuator keeps the stack's desired state in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import polars as pl

from infra.desired_state import DesiredState
from policies.loader import parse_policy
from providers.models import InstanceType, ProviderName, Resource, ScalingGroup
from reconciler.clock import SimulatedClock
from reconciler.context import RunContext
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.remediation.types import RemediationResult
from reconciler.state import StateStore
from reconciler.steps.allocate import run_allocate
from reconciler.steps.apply import run_apply
from reconciler.steps.plan import ASG_TAG, PROTECTED_TAG, run_plan
from reconciler.steps.record import StateRecorder
from reconciler.steps.types import (
    Allocation,
    Analysis,
    ApplyResult,
    Collected,
    ForecastSet,
    Group,
    GroupSet,
    Plan,
)

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
EAST, WEST = "us-east-1", "eu-west-1"

POLICY = """\
name: cycle-plan-test
pools:
  global_gbps: 40
  regions:
    us-east-1: {capacity_gbps: 30, guaranteed_gbps: 20}
    eu-west-1: {capacity_gbps: 20, guaranteed_gbps: 10}
forecast:
  default_quantile: 0.9
headroom: {relative: 0.0}
group_classes:
  default: {guarantee_gbps: 0, priority: 1}
actions:
  - type: resize
    families: [m6i]
    largest_size: 8xlarge
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
    regions: [us-east-1]
    node_type: cache.r6g.large
    node_gbps: 2
    threshold_gbps: 3
    max_nodes: 4
  - type: routing
    record: app
    min_weight: 1
safety:
  max_fraction_changed: 1.0
  max_resources_changed: 50
  min_change_fraction: 0.1
  default_cooldown: 30m
  cooldowns: {resize: 1h}
"""


def policy(**safety: Any) -> Any:
    p = parse_policy(POLICY)
    return p.model_copy(update={"safety": p.safety.model_copy(update=safety)})


def _it(name: str, vcpu: int, mem: float, gbps: float, price: float) -> InstanceType:
    return InstanceType(
        name=name,
        vcpu=vcpu,
        memory_gib=mem,
        baseline_gbps=gbps,
        peak_gbps=gbps,
        hourly_price_usd=price,
    )


CATALOG = {
    t.name: t
    for t in (
        _it("m6i.large", 2, 8, 0.78, 0.096),
        _it("m6i.xlarge", 4, 16, 1.56, 0.192),
        _it("m6i.2xlarge", 8, 32, 3.12, 0.384),
        _it("m6i.8xlarge", 32, 128, 12.5, 1.536),
    )
}


def _vm(rid: str, region: str, itype: str = "m6i.large", **tags: str) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="1",
        region=region,
        instance_type=itype,
        tags=tags,
    )


INVENTORY = [
    _vm("i-1", EAST, "m6i.xlarge", **{ASG_TAG: "asg-1"}),
    _vm("i-2", EAST, "m6i.xlarge", **{ASG_TAG: "asg-1"}),
    _vm("i-3", WEST, **{PROTECTED_TAG: "true"}),
    _vm("i-4", WEST),
]
GROUPS = GroupSet(
    (
        Group("g1", "application", ("i-1", "i-2"), EAST),
        Group("t1", "tenant", ("i-3",), WEST, name="acme"),
    )
)


def desired_state() -> dict[str, Any]:
    """The stack's desired state before the first cycle: what the commands fold into."""
    return {
        "schema_version": 1,
        "groups": [
            {
                "id": "g1",
                "scaling_groups": [
                    {
                        "name": "asg-1",
                        "region": EAST,
                        "desired": 2,
                        "min_size": 1,
                        "max_size": 10,
                        "launch_template_id": "lt-1",
                        "subnet_ids": ["subnet-1"],
                    }
                ],
                "bandwidth_tier": {"tier": "basic", "guaranteed_mbps": 500, "ceiling_mbps": 1000},
            },
            {
                "id": "t1",
                "instances": [
                    {
                        "name": "acme-3",
                        "region": WEST,
                        "import_id": "i-3",
                        "instance_type": "m6i.large",
                        "ami": "ami-1",
                    }
                ],
                "bandwidth_tier": {"tier": "basic", "guaranteed_mbps": 500, "ceiling_mbps": 1000},
            },
            {
                "id": "g2",
                "instances": [
                    {
                        "name": "web-4",
                        "region": WEST,
                        "import_id": "i-4",
                        "instance_type": "m6i.large",
                        "ami": "ami-1",
                    }
                ],
            },
        ],
        "routing": [
            {
                "name": "app",
                "zone_id": "Z1",
                "record_name": "app.example.com",
                "regions": [
                    {"region": EAST, "share": 1, "target": "east.lb.example.com"},
                    {"region": WEST, "share": 1, "target": "west.lb.example.com"},
                ],
            }
        ],
    }


@dataclass
class FakeActuator:
    """Keeps the desired state in memory; every apply is an ``up`` that changes something."""

    desired: str | None = field(default_factory=lambda: json.dumps(desired_state()))
    applied: list[dict[str, Any]] = field(default_factory=list)
    #: the fake cloud an ``up`` changes (instance types, ASG counts), as a real one would
    world: Steps | None = None

    def which(self, name: str) -> str:
        return f"/usr/bin/{name}"

    def open(self) -> object:
        return object()

    def current_desired_state(self, stack: object) -> str | None:
        return self.desired

    def apply(self, desired: Any, *, dry_run: bool = False) -> Any:
        if dry_run:
            return SimpleNamespace(status="previewed", message="dry run", counts={})
        self.desired = desired.model_dump_json()
        self.applied.append(json.loads(self.desired))
        if self.world is not None:
            self.world.converge(desired)
        return SimpleNamespace(status="applied", message="applied: 1 resources changed", counts={})


@dataclass
class Steps:
    """Fixed groups and forecasts (``demand``: group -> (p50, p90, p99) Gbps, peaking at
    ``peak_in`` from now); the real allocate, plan and apply adapters."""

    state: StateStore
    demand: dict[str, tuple[float, float, float]]
    peak_in: timedelta = timedelta(minutes=30)
    peak_at: datetime | None = None  # a fixed peak time instead of ``peak_in`` from now
    extra_metrics: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)
    inventory: list[Resource] = field(default_factory=lambda: list(INVENTORY))
    groups: GroupSet = GROUPS
    scaling: list[ScalingGroup] = field(default_factory=list)  # as the cloud reports them

    def converge(self, desired: DesiredState) -> None:
        """What ``pulumi up`` does to the cloud: instances get their declared types, ASGs
        their declared counts."""
        types = {
            i.import_id: i.instance_type for g in desired.groups for i in g.instances if i.import_id
        }
        counts = {s.physical_name: s.desired for g in desired.groups for s in g.scaling_groups}
        self.inventory = [
            r.model_copy(update={"instance_type": types[r.id]}) if r.id in types else r
            for r in self.inventory
        ]
        self.scaling = [
            g.model_copy(update={"desired": counts[g.name]}) if g.name in counts else g
            for g in self.scaling
        ]

    def collect(self, ctx: RunContext) -> Collected:
        now = ctx.clock.now()
        return Collected(now - timedelta(minutes=5), now, len(self.inventory), 0, 0)

    def analyze(self, ctx: RunContext, collected: Collected) -> Analysis:
        return Analysis(nodes=0, edges=0)

    def compose(self, ctx: RunContext, analysis: Analysis) -> GroupSet:
        return self.groups

    def forecast(self, ctx: RunContext, groups: GroupSet) -> ForecastSet:
        ts = self.peak_at or ctx.clock.now() + self.peak_in
        rows = [(g, "network_gbps", q) for g, q in self.demand.items()]
        rows += [(g, m, q) for (g, m), q in self.extra_metrics.items()]
        frame = pl.DataFrame(
            {
                "group_id": [g for g, _, _ in rows],
                "metric": [m for _, m, _ in rows],
                "ts": [ts] * len(rows),
                "p50": [q[0] for _, _, q in rows],
                "p90": [q[1] for _, _, q in rows],
                "p99": [q[2] for _, _, q in rows],
            },
            schema_overrides={"ts": pl.Datetime("us", "UTC")},
        )
        return ForecastSet(frame, dict.fromkeys(self.demand, "fixed"))

    def allocate(self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet) -> Allocation:
        return run_allocate(ctx.policy, groups, forecasts, ctx.clock.now())

    def plan(
        self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet, allocation: Allocation
    ) -> Plan:
        return run_plan(
            ctx.policy,
            groups,
            forecasts,
            allocation,
            self.inventory,
            CATALOG,
            ctx.clock.now(),
            self.state,
            self.scaling,
        )

    def apply(
        self, ctx: RunContext, groups: GroupSet, allocation: Allocation, plan: Plan
    ) -> ApplyResult:
        return run_apply(ctx, plan, groups, allocation, self.inventory, self.scaling)

    def remediate(
        self,
        ctx: RunContext,
        groups: GroupSet,
        forecasts: ForecastSet,
        allocation: Allocation,
        plan: Plan,
        applied: ApplyResult,
    ) -> RemediationResult:
        return RemediationResult((), (), (), allocation)


@dataclass
class Harness:
    """Runs cycles on one store and clock; keeps each cycle's outputs."""

    state: StateStore
    steps: Steps
    policy: Any
    actuator: FakeActuator | None = None
    clock: SimulatedClock = field(default_factory=lambda: SimulatedClock(NOW))
    outputs: list[CycleOutputs] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.actuator is not None and self.actuator.world is None:
            self.actuator.world = self.steps

    def cycle(
        self, *, after: timedelta | None = None, dry_run: bool = False, expect_ok: bool = True
    ) -> tuple[RunReport, CycleOutputs]:
        if after is not None:
            self.clock.advance(after)
        ctx = RunContext(
            clock=self.clock,
            provider=None,  # type: ignore[arg-type]  # the fixed steps never call it
            policy=self.policy,
            history=None,
            store=StateRecorder(self.state, self.clock),
            steps=self.steps,
            actuator=self.actuator,
            holder="test",
            dry_run=dry_run,
        )
        seen: list[CycleOutputs] = []
        ctx.observer = lambda report, out: seen.append(out)
        report = run_once(ctx)
        assert report.ok == expect_ok, report.error
        self.outputs.append(seen[0])
        return report, seen[0]


def open_store(tmp_path: Any) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
