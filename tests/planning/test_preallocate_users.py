from __future__ import annotations

from infra.desired_state import DesiredState
from policies.schema import Headroom
from reconciler.actuate.from_commands import desired_state_from
from reconciler.planning import (
    CommandKind,
    Member,
    MetricForecast,
    PlanGroup,
    PlanInput,
    PlanMetric,
    adjust_resources,
    plan,
)
from reconciler.users.models import UserLoad, UserSignals
from tests.planning.conftest import NOW, make_policy

UG = "ug-3fa1c2"
CPU, MEM, NET, IO = (
    PlanMetric.CPU_VCPU,
    PlanMetric.MEMORY_GIB,
    PlanMetric.NETWORK_GBPS,
    PlanMetric.IO_MBPS,
)
NEED = {"cpu_vcpu": 3.0, "memory_gib": 6.0, "network_gbps": 0.5, "io_mbps": 10.0}
#: NEED with the 10 % headroom of ``policy()``
SIZED = {"cpu_vcpu": 3.3, "memory_gib": 6.6, "network_gbps": 0.55, "io_mbps": 11.0}


def policy():
    p = make_policy()
    return p.model_copy(update={"headroom": Headroom(relative=0.1)})


def group(gid, itype, zones, region="us-east-1", tenant=None):
    members = [
        Member(resource_id=f"i-{gid}{i}", instance_type=itype, region=region, zone=z)
        for i, z in enumerate(zones)
    ]
    return PlanGroup(group_id=gid, region=region, members=members, tenant=tenant)


API = group("api", "m6i.large", ["us-east-1a", "us-east-1a", "us-east-1b"])
WEB = group("web", "c6i.xlarge", ["us-east-1c"])


def signals(need=NEED, measured=None, serving=None):
    rate = 100.0
    return UserSignals(
        at=NOW,
        needs={UG: dict(need)},
        serving={UG: serving or {"api": 0.7, "web": 0.3}},
        load={
            UG: UserLoad(
                requests_per_s=rate,
                measured_per_s=measured,
                per_request={m: v / rate for m, v in need.items()},
                r2={"api": {"cpu_vcpu": 0.93, "memory_gib": 0.71}, "web": {"cpu_vcpu": 0.88}},
            )
        },
    )


def inp(catalog, users, records=None, groups=(API, WEB), forecasts=None):
    return PlanInput(
        policy=policy(),
        groups=list(groups),
        forecasts=forecasts or {},
        catalog=catalog,
        now=NOW,
        preallocations=records or {},
        users=users,
    )


def test_provision_when_absent_with_reservations_on_the_largest_serving_group(catalog):
    (cmd,) = adjust_resources(inp(catalog, signals()))
    assert cmd.kind == CommandKind.PREALLOCATE and cmd.target == UG and cmd.group_id == UG
    assert cmd.before == {"reservations": []}
    # 3.3 vCPU on m6i.large (2 vCPU, 8 GiB, 0.78 Gbps): 2 instances, over api's zones 2:1
    assert cmd.after == {
        **SIZED,
        "reservations": [
            {"zone": "us-east-1a", "instance_type": "m6i.large", "count": 1},
            {"zone": "us-east-1b", "instance_type": "m6i.large", "count": 1},
        ],
    }
    assert cmd.increase and cmd.region == "us-east-1" and cmd.resources_changed == 0
    assert cmd.reason.startswith(f"user group {UG}: served by api 70%, web 30%; forecast 100.0")
    assert "per req/s 0.03 vCPU, 0.06 GiB, 0.005 Gbps, 0.1 MB/s" in cmd.reason
    assert "usage" not in cmd.reason
    assert cmd.evidence.policy_rule == "preallocation per user group"
    assert cmd.evidence.forecast == {"requests_per_s": 100.0}
    assert cmd.evidence.ledger == [
        "load model api cpu_vcpu: held-out R^2 0.93",
        "load model api memory_gib: held-out R^2 0.71",
        "load model web cpu_vcpu: held-out R^2 0.88",
    ]
    # folds into the desired state like a tenant's pre-allocation: a group of its own
    folded = desired_state_from(DesiredState(schema_version=1), [cmd], generated_at=NOW)
    assert folded.not_applied == []
    (spec,) = folded.state.groups
    assert spec.id == UG and spec.instances == () and spec.scaling_groups == ()
    assert [
        (r.availability_zone, r.instance_type, r.count) for r in spec.capacity_reservations
    ] == [
        ("us-east-1a", "m6i.large", 1),
        ("us-east-1b", "m6i.large", 1),
    ]


def test_reservations_follow_the_group_serving_the_largest_share(catalog):
    (cmd,) = adjust_resources(inp(catalog, signals(serving={"api": 0.2, "web": 0.8})))
    # c6i.xlarge: 4 vCPU, 8 GiB, 1.56 Gbps -> one instance in web's only zone
    assert cmd.after["reservations"] == [
        {"zone": "us-east-1c", "instance_type": "c6i.xlarge", "count": 1}
    ]
    assert "served by web 80%, api 20%" in cmd.reason


def test_scale_up_and_down_on_the_difference(catalog):
    records = {UG: {CPU: 1.0, MEM: 6.6, NET: 0.55, IO: 20.0}}
    (cmd,) = adjust_resources(inp(catalog, signals(), records))
    assert "prediction moved up cpu_vcpu; down io_mbps" in cmd.reason and cmd.increase
    assert cmd.before["cpu_vcpu"] == 1.0 and cmd.after["cpu_vcpu"] == 3.3
    # 1 vCPU held one m6i.large (in us-east-1a, the larger zone)
    assert cmd.before["reservations"] == [
        {"zone": "us-east-1a", "instance_type": "m6i.large", "count": 1}
    ]
    down = {UG: {CPU: 9.0, MEM: 6.6, NET: 0.55, IO: 11.0}}
    (cmd,) = adjust_resources(inp(catalog, signals(), down))
    assert cmd.after["cpu_vcpu"] == 3.3 and not cmd.increase
    assert "down cpu_vcpu" in cmd.reason and "up" not in cmd.reason.split("moved")[1]
    assert sum(r["count"] for r in cmd.before["reservations"]) == 5
    assert sum(r["count"] for r in cmd.after["reservations"]) == 2


def test_no_command_when_equal_and_small_drops_left_to_the_guards(catalog):
    same = {UG: {CPU: 3.3, MEM: 6.6, NET: 0.55, IO: 11.0}}
    assert adjust_resources(inp(catalog, signals(), same)) == []
    # a 3 % drop of the record is below the policy's 10 % minimum change: held back
    slightly = {UG: {CPU: 3.4, MEM: 6.6, NET: 0.55, IO: 11.0}}
    out = plan(inp(catalog, signals(), slightly))
    assert out.of_kind(CommandKind.PREALLOCATE) == []
    assert [s.command.target for s in out.skipped] == [UG]
    assert "below the minimum" in out.skipped[0].reason


def test_measured_rate_above_what_the_record_covers_is_noted(catalog):
    # the record in force (twice today's need) covers 200 req/s at the tightest metric (CPU)
    record = {UG: {CPU: 6.0, MEM: 13.2, NET: 1.1, IO: 22.0}}
    (cmd,) = adjust_resources(inp(catalog, signals(measured=250.0), record))
    assert cmd.reason.endswith(
        "usage: measured 250.0 req/s (last step) is above the 200.0 req/s its record covers "
        "with headroom"
    )
    (quiet,) = adjust_resources(inp(catalog, signals(measured=150.0), record))
    assert "usage" not in quiet.reason


def test_unknown_serving_group_gives_a_record_without_reservations(catalog):
    (cmd,) = adjust_resources(inp(catalog, signals(serving={"gone": 1.0})))
    assert "reservations" not in cmd.after and cmd.after == SIZED and cmd.region is None
    assert "served by gone 100%" in cmd.reason


def test_tenant_groups_unchanged_by_user_groups(catalog):
    tenant = group("shop", "m6i.large", ["us-east-1a"], tenant="acme")
    fc = {"shop": {CPU: MetricForecast(quantiles={"p50": 1, "p90": 2, "p99": 3})}}
    alone = adjust_resources(inp(catalog, None, groups=(API, WEB, tenant), forecasts=fc))
    both = adjust_resources(inp(catalog, signals(), groups=(API, WEB, tenant), forecasts=fc))
    assert [c.target for c in both] == ["shop", UG]
    assert both[0] == alone[0]
    assert alone[0].after == {
        "cpu_vcpu": 2.2,
        "reservations": [{"zone": "us-east-1a", "instance_type": "m6i.large", "count": 2}],
    }
    assert alone[0].reason == "tenant acme: prediction moved up cpu_vcpu"
    assert adjust_resources(inp(catalog, UserSignals(at=NOW))) == []
