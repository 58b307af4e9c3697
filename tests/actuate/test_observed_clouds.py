"""GCP and Azure fleets laid out in the desired state (``observed_state``), commands folded in
(``desired_state_from``), and the result declared by the Pulumi program under mocks."""

from __future__ import annotations

from datetime import UTC, datetime

from providers.models import (
    InstanceType,
    NetworkInterface,
    ProviderName,
    Resource,
    ScalingGroup,
)
from reconciler.actuate.from_commands import desired_state_from
from reconciler.actuate.observed import ObservedGroup, observed_state
from reconciler.planning.models import Command, CommandKind
from tests.infra.harness import run_program

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
GP = "projects/shop"
AZ = "/subscriptions/0001/resourcegroups/shop-rg/providers/microsoft.compute"


def _gce(name: str, zone: str, machine: str) -> Resource:
    rid = f"{GP}/zones/{zone}/instances/{name}"
    return Resource(
        id=rid,
        provider=ProviderName.GCP,
        account="shop",
        region=zone.rsplit("-", 1)[0],
        zone=zone,
        instance_type=machine,
        tags={"Name": name, "app": "web", "gcp:network-tags": "web"},
        interfaces=(
            NetworkInterface(
                id=f"{rid}/nic0",
                private_ips=("10.0.0.2",),
                subnet_id=f"{GP}/regions/us-central1/subnetworks/prod",
            ),
        ),
    )


def _vm(name: str, size: str, scale_set: str | None = None) -> Resource:
    tags = {"Name": name, "env": "prod"}
    if scale_set:
        tags["headroom:scaleSet"] = scale_set
    return Resource(
        id=f"{AZ}/virtualmachines/{name}",
        provider=ProviderName.AZURE,
        account="0001",
        region="westeurope",
        instance_type=size,
        tags=tags,
    )


MIG = f"{GP}/zones/us-central1-a/instanceGroupManagers/web-mig"
VMSS = f"{AZ}/virtualmachinescalesets/api-ss"
INVENTORY = [
    _gce("web-1", "us-central1-a", "n2-standard-4"),
    _gce("web-2", "us-central1-a", "n2-standard-4"),
    _gce("web-3", "us-central1-b", "n2-standard-4"),
    _vm("shop-1", "Standard_D4s_v5"),
    _vm("api-1", "Standard_D2s_v5", VMSS),
]
SCALING = [
    ScalingGroup(
        name=MIG,
        provider=ProviderName.GCP,
        account="shop",
        region="us-central1",
        desired=2,
        min_size=1,
        max_size=5,
        launch_template_id=f"{GP}/global/instanceTemplates/web-v1",
        instance_ids=(INVENTORY[1].id, INVENTORY[2].id),
        tags={"gcp:autoscaler": f"{GP}/zones/us-central1-a/autoscalers/web-as"},
    ),
    ScalingGroup(
        name=VMSS,
        provider=ProviderName.AZURE,
        account="0001",
        region="westeurope",
        desired=1,
        min_size=1,
        max_size=4,
        instance_ids=(INVENTORY[4].id,),
        tags={"Name": "api-ss"},
    ),
]
GROUPS = [
    ObservedGroup("web", tuple(r.id for r in INVENTORY[:3])),
    ObservedGroup("shop", tuple(r.id for r in INVENTORY[3:])),
]


def _observed():
    return observed_state(INVENTORY, SCALING, GROUPS, previous=None, generated_at=NOW)


def test_gcp_and_azure_compute_is_laid_out_by_import_id() -> None:
    observed = _observed()
    assert observed.notes == ()
    web, shop = observed.state.groups
    (gce,) = web.instances
    assert (gce.provider, gce.import_id, gce.instance_type) == (
        "gcp",
        INVENTORY[0].id,
        "n2-standard-4",
    )
    assert gce.tags == {"app": "web"} and gce.ami is None
    (mig,) = web.scaling_groups
    assert (mig.provider, mig.import_id, mig.desired, mig.min_size, mig.max_size) == (
        "gcp",
        MIG,
        2,
        1,
        5,
    )
    assert mig.autoscaler_id == f"{GP}/zones/us-central1-a/autoscalers/web-as"
    (vm,) = shop.instances
    assert (vm.provider, vm.import_id, vm.tags) == ("azure", INVENTORY[3].id, {"env": "prod"})
    (ss,) = shop.scaling_groups
    assert (ss.provider, ss.import_id, ss.current_instance_type) == (
        "azure",
        VMSS,
        "Standard_D2s_v5",
    )


def _command(kind: CommandKind, target: str, after: dict[str, object]) -> Command:
    return Command(kind=kind, target=target, before={}, after=after, reason="test", issued_at=NOW)


def test_resize_and_scale_fold_into_gcp_and_azure_specs_and_are_declared() -> None:
    commands = [
        _command(CommandKind.RESIZE, INVENTORY[0].id, {"instance_type": "n2-standard-8"}),
        _command(CommandKind.RESIZE, INVENTORY[3].id, {"instance_type": "Standard_D8s_v5"}),
        _command(CommandKind.SCALE, MIG, {"desired": 4}),
        _command(CommandKind.SCALE, VMSS, {"desired": 6}),
        # refused one by one, the rest still folds
        _command(CommandKind.RESIZE, MIG, {"instance_type": "n2-standard-8"}),
        _command(CommandKind.RESIZE, INVENTORY[0].id, {"instance_type": "m5.large"}),
    ]
    fold = desired_state_from(_observed().state, commands, generated_at=NOW)
    assert len(fold.applied) == 4
    reasons = [why for _, why in fold.not_applied]
    assert "instance template's" in reasons[0] and "instance type of gcp" in reasons[1]
    run = run_program(fold.state.model_dump(mode="json"))
    gce = [d for d in run.declared if d.import_id == INVENTORY[0].id]
    assert gce[0].inputs["machineType"] == "n2-standard-8"
    assert gce[0].inputs["allowStoppingForUpdate"] is True
    vm = [d for d in run.declared if d.import_id == INVENTORY[3].id]
    assert vm[0].inputs["hardwareProfile"] == {"vmSize": "Standard_D8s_v5"}
    mig = [d for d in run.declared if d.import_id == MIG]
    assert mig[0].inputs["targetSize"] == 4
    ss = [d for d in run.declared if d.import_id == VMSS]
    assert ss[0].inputs["sku"]["capacity"] == 6
    assert run.outputs["scalingCounts"][ss[0].name] == {"desired": 6, "min": 1, "max": 6}
    assert all(d.retain_on_delete for d in run.declared if d.import_id)


def test_families_and_sizes_of_gcp_and_azure_types() -> None:
    def split(name: str, provider: ProviderName) -> tuple[str, str]:
        t = InstanceType(
            name=name, provider=provider, vcpu=2, memory_gib=8, baseline_gbps=1, peak_gbps=1
        )
        return t.family, t.size

    assert split("n2-standard-4", ProviderName.GCP) == ("n2-standard", "4")
    assert split("Standard_D4s_v5", ProviderName.AZURE) == ("Dsv5", "4")
    assert split("Standard_D16_v5", ProviderName.AZURE) == ("Dv5", "16")
    assert split("Standard_E4-2s_v5", ProviderName.AZURE) == ("Esv5", "4-2")
    assert split("Standard_B2ms", ProviderName.AZURE) == ("Bms", "2")
    assert split("m6i.large", ProviderName.AWS) == ("m6i", "large")
