"""The program (infra/__main__.py) under Pulumi mocks for Azure compute: VM sizes, scale set
capacity, adoption by lower-cased ARM ids, and the guard rails."""

from __future__ import annotations

from typing import Any

import pytest

from infra.desired_state import DesiredStateError, parse_desired_state
from tests.infra.harness import ProgramRun, run_program

VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
RG = "/subscriptions/0001/resourcegroups/shop-rg/providers/microsoft.compute"


def azure_state() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "groups": [
            {
                "id": "shop",
                "min_count": 7,
                "instances": [
                    {
                        "provider": "azure",
                        "name": "web-1",
                        "region": "westeurope",
                        "import_id": f"{RG}/virtualmachines/web-1",
                        "instance_type": "Standard_D8s_v5",
                        "current_instance_type": "Standard_D4s_v5",
                        "tags": {"env": "prod"},
                    },
                    {
                        "provider": "azure",
                        "name": "db-1",
                        "region": "westeurope",
                        "import_id": f"{RG}/virtualmachines/db-1",
                        "instance_type": "Standard_E16s_v5",
                        "current_instance_type": "Standard_E8s_v5",
                        "protected": True,
                    },
                ],
                "scaling_groups": [
                    {
                        "provider": "azure",
                        "name": "api-ss",
                        "region": "westeurope",
                        "import_id": f"{RG}/virtualmachinescalesets/api-ss",
                        "desired": 3,
                        "min_size": 2,
                        "max_size": 6,
                        "instance_type": "Standard_D2s_v5",
                        "current_instance_type": "Standard_D2s_v5",
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program(azure_state())


def test_vm_size_change_on_the_adopted_vm(run: ProgramRun) -> None:
    vm = run.named("web-1")
    assert vm.type == VM and vm.import_id == f"{RG}/virtualmachines/web-1"
    assert vm.inputs["hardwareProfile"] == {"vmSize": "Standard_D8s_v5"}
    assert (vm.inputs["resourceGroupName"], vm.inputs["vmName"]) == ("shop-rg", "web-1")
    assert vm.inputs["location"] == "westeurope"
    assert vm.inputs["tags"] == {"env": "prod", "headroom:group": "shop"}
    assert vm.retain_on_delete


def test_protected_vm_keeps_its_size(run: ProgramRun) -> None:
    assert run.named("db-1").inputs["hardwareProfile"] == {"vmSize": "Standard_E8s_v5"}
    assert run.outputs["protected"] == ["db-1"]


def test_scale_set_capacity_raised_to_the_policy_minimum(run: ProgramRun) -> None:
    """min_count 7: 2 VMs + min 2 leaves 3 short; the scale set's min goes to 5."""
    ss = run.named("api-ss")
    assert ss.type == VMSS and ss.import_id == f"{RG}/virtualmachinescalesets/api-ss"
    assert ss.inputs["sku"] == {"name": "Standard_D2s_v5", "capacity": 5}
    assert ss.inputs["vmScaleSetName"] == "api-ss" and ss.retain_on_delete
    assert run.outputs["scalingCounts"]["api-ss"] == {"desired": 5, "min": 5, "max": 6}
    rails = [g for g in run.outputs["guardRails"] if g["resource"] == "api-ss"]
    assert rails[0]["rule"] == "policy minimum: group shop runs at least 7"


def test_no_aws_resource_for_an_azure_group(run: ProgramRun) -> None:
    assert not [d for d in run.declared if d.type.startswith("aws:")]


@pytest.mark.parametrize(
    ("field", "bad", "said"),
    [
        ("instance_type", "n2-standard-4", "is not an instance type of azure"),
        ("region", "us-east-1", "is not a region of azure"),
        ("import_id", f"{RG.upper()}/VIRTUALMACHINES/WEB-1", "does not match"),
        ("import_id", None, "adopted, never created"),
    ],
)
def test_an_azure_spec_is_checked_against_azure_names(field: str, bad: Any, said: str) -> None:
    doc = azure_state()
    doc["groups"][0]["instances"][0][field] = bad
    with pytest.raises(DesiredStateError, match=said):
        parse_desired_state(doc, source="azure.json")
