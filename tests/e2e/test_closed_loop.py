"""The loop closed, on moto_server through the real ``run_once``: observe -> decide -> change
the stack -> observe the change.

The fleet has an autoscaling application (``search``, tiers ``api`` and ``index`` as ASGs) so
counts are read back from the cloud. ``MotoActuator`` stands in for Pulumi: it keeps the stack
config and converges the moto cloud as ``pulumi up`` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from providers.models import ResourceKind
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.e2e.conftest import Seeded, moto_fleet
from tests.e2e.moto_actuator import MotoActuator

ROOT = Path(__file__).resolve().parents[2]


Fleet = Seeded


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    from reconciler.sandbox import AppSpec, SandboxSpec

    spec = SandboxSpec(
        days=1.2,
        metric_hours=1.0,
        surge=None,
        apps=[
            AppSpec(name="shop", region="us-east-1", tenant="acme", public=True, uses_db=True),
            AppSpec(
                name="search",
                region="us-east-1",
                tiers={"api": 2, "index": 2},
                mbps=80,
                autoscaling=True,
            ),
            AppSpec(name="analytics", region="eu-west-1", tiers={"ingest": 2}, mbps=60),
        ],
    )
    with moto_fleet(spec) as seeded:
        yield seeded


POLICY = (ROOT / "reconciler" / "demo_policy.yaml").read_text()


def _policy(tmp_path: Path, *, min_count: int = 1, on_drift: str = "adopt") -> Path:
    text = POLICY.replace("    min_count: 1\n", f"    min_count: {min_count}\n")
    text = text.replace(
        "  default_cooldown: 30m\n", f"  default_cooldown: 5m\n  on_drift: {on_drift}\n"
    )
    text = text.replace("  tenant_tag_keys: []\n", "  tenant_tag_keys: [tenant]\n")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@dataclass
class Loop:
    fleet: Fleet
    settings: CycleSettings
    actuator: MotoActuator | None
    clock: SimulatedClock

    def cycle(self, after: timedelta | None = None) -> tuple[RunReport, CycleOutputs]:
        if after is not None:
            self.clock.advance(after)
        provider = AwsProvider(
            factory=AwsSessionFactory(endpoint_url=self.fleet.endpoint), regions=self.fleet.regions
        )
        ctx = build_context(
            self.settings, clock=self.clock, provider=provider, actuator=self.actuator
        )
        seen: list[CycleOutputs] = []
        ctx.observer = lambda _report, out: seen.append(out)
        report = run_once(ctx)
        assert report.ok, report.error
        return report, seen[0]


def _loop(fleet: Fleet, tmp_path: Path, policy: Path, actuator: MotoActuator | None) -> Loop:
    settings = CycleSettings(
        policy_path=policy,
        history_root=str(tmp_path / "history"),
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        state_dir=tmp_path,
        steps=StepSettings(demand_source="flows", metric_backfill=timedelta(hours=1)),
        check_policy=False,
    )
    return Loop(fleet, settings, actuator, SimulatedClock(fleet.now))


def _asgs(fleet: Fleet) -> dict[str, int]:
    factory = AwsSessionFactory(endpoint_url=fleet.endpoint)
    asg = factory.client("autoscaling", "us-east-1")
    return {
        g["AutoScalingGroupName"]: g["DesiredCapacity"]
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    }


def test_first_cycle_builds_and_adopts_the_desired_state(fleet: Fleet, tmp_path: Path) -> None:
    """No seed written by hand: the desired state comes from the inventory and the groups,
    every resource with its import id and its type and count as the cloud has them."""
    loop = _loop(fleet, tmp_path, _policy(tmp_path), actuator=None)
    report, out = loop.cycle()
    assert out.applied is not None and out.applied.desired is not None
    assert report.step("apply").summary["outcome"] == "stopped_at_plan"
    desired = out.applied.desired
    provider = AwsProvider(
        factory=AwsSessionFactory(endpoint_url=fleet.endpoint), regions=fleet.regions
    )
    inventory = {r.id: r for r in provider.inventory() if r.kind is ResourceKind.INSTANCE}
    cloud_asgs = {g.name: g for g in provider.scaling_groups()}
    assert set(cloud_asgs) == {"search-api", "search-index"}
    declared = {i.import_id: i for g in desired.groups for i in g.instances}
    asgs = {s.import_id: s for g in desired.groups for s in g.scaling_groups}
    in_asg = set().union(*(set(g.instance_ids) for g in cloud_asgs.values()))
    grouped = {m for g in out.groups.groups for m in g.members} if out.groups else set()
    # every grouped standalone instance is adopted with its id, image, subnet and type
    for rid, r in inventory.items():
        if rid in in_asg or rid not in grouped:
            continue
        spec = declared[rid]
        assert spec.ami == r.image_id and spec.subnet_id == r.subnet_id
        assert spec.current_instance_type == r.instance_type
    # the autoscaling groups are adopted with the cloud's counts and launch template
    assert set(asgs) == set(cloud_asgs)
    for name, spec in asgs.items():
        assert spec.launch_template_id == cloud_asgs[name].launch_template_id
        assert spec.subnet_ids == cloud_asgs[name].subnet_ids
    # nothing changes that no command asked for
    commanded = {c.target for c in out.plan.commands} if out.plan else set()
    for rid, spec in declared.items():
        if rid not in commanded:
            assert spec.instance_type == inventory[rid].instance_type, rid
    for name, spec in asgs.items():
        if name not in commanded:
            assert spec.desired == cloud_asgs[name].desired, name
    # every allocated group carries its grant as its bandwidth tier
    assert out.allocation is not None
    specs = {g.id: g for g in desired.groups}
    for gid, gbps in out.allocation.groups.items():
        tier = specs[gid].bandwidth_tier
        assert tier is not None, gid
        assert tier.guaranteed_mbps == pytest.approx(gbps * 1000, abs=1e-3)
        assert tier.ceiling_mbps >= tier.guaranteed_mbps


def test_scale_lands_in_the_cloud_and_a_manual_change_is_drift(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Cycle 1 scales each ASG to the policy's minimum of 3 through the stack; the next cycle
    reads 3 back. An operator then sets one ASG to 5 by hand: the next cycle reports the drift
    and, as the policy says ``restore``, puts it back to 3 through the same path."""
    before = _asgs(fleet)
    actuator = MotoActuator(fleet.endpoint)
    loop = _loop(fleet, tmp_path, _policy(tmp_path, min_count=3, on_drift="restore"), actuator)
    report, out = loop.cycle()
    scaled = {
        c.target: c.after["desired"]
        for c, o in zip(out.plan.commands, out.applied.outcomes, strict=True)  # type: ignore[union-attr]
        if c.kind == "scale" and o.status == "applied"
    }
    assert scaled and all(v >= 3 for v in scaled.values()), (report.step("plan"), before)
    after = _asgs(fleet)
    for name, count in scaled.items():
        assert after[name] == count  # the change reached the cloud
    declared = {
        s.import_id: s.desired for g in actuator.applied[-1].groups for s in g.scaling_groups
    }
    assert {n: declared[n] for n in scaled} == scaled
    # the tenant's pre-allocation is held as capacity reservations in the applied state
    assert out.groups is not None
    tenant = next(g for g in out.groups.groups if g.kind == "tenant")
    pre = [
        (c, o)
        for c, o in zip(out.plan.commands, out.applied.outcomes, strict=True)  # type: ignore[union-attr]
        if c.kind == "preallocate" and c.target == tenant.id
    ]
    assert pre and pre[0][1].status == "applied", pre
    wanted = pre[0][0].after["reservations"]
    assert wanted and all(r["instance_type"] == "m5.large" for r in wanted)
    spec = next(g for g in actuator.applied[-1].groups if g.capacity_reservations)
    assert sum(r.count for r in spec.capacity_reservations) == sum(r["count"] for r in wanted)

    name = sorted(scaled)[0]
    factory = AwsSessionFactory(endpoint_url=fleet.endpoint)
    factory.client("autoscaling", "us-east-1").set_desired_capacity(
        AutoScalingGroupName=name, DesiredCapacity=5
    )
    report, out = loop.cycle(after=timedelta(minutes=30))
    drift = report.step("plan").summary.get("drift", [])
    assert any(name in d and "applied {'desired': " in d for d in drift), drift
    assert out.plan is not None and any(
        d.target == name and d.observed == {"desired": 5} for d in out.plan.drift
    )
    restored = [
        (c, o)
        for c, o in zip(out.plan.commands, out.applied.outcomes, strict=True)  # type: ignore[union-attr]
        if c.kind == "scale" and c.target == name
    ]
    assert restored and restored[0][0].before == {"desired": 5}
    assert restored[0][1].status == "applied"
    assert _asgs(fleet)[name] == restored[0][0].after["desired"] < 5
