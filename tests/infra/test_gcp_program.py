"""The program (infra/__main__.py) under Pulumi mocks for GCP compute: machine types with
``allow_stopping_for_update``, MIG target sizes and autoscaler bounds, adoption and guard rails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.harness import ProgramRun, run_program

INSTANCE = "gcp:compute/instance:Instance"
MIG = "gcp:compute/instanceGroupManager:InstanceGroupManager"
REGION_MIG = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
AUTOSCALER = "gcp:compute/autoscaler:Autoscaler"
REGION_AUTOSCALER = "gcp:compute/regionAutoscaler:RegionAutoscaler"
P = "projects/shop"


def gcp_state() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "groups": [
            {
                "id": "web",
                "min_count": 6,
                "instances": [
                    {
                        "provider": "gcp",
                        "name": "web-1",
                        "region": "us-central1",
                        "import_id": f"{P}/zones/us-central1-a/instances/web-1",
                        "instance_type": "n2-standard-8",
                        "current_instance_type": "n2-standard-4",
                        "subnet_id": f"{P}/regions/us-central1/subnetworks/prod",
                        "tags": {"app": "web", "Name": "web-1"},
                    },
                    {
                        "provider": "gcp",
                        "name": "db-1",
                        "region": "europe-west1",
                        "import_id": f"{P}/zones/europe-west1-b/instances/db-1",
                        "instance_type": "n2-highmem-16",
                        "current_instance_type": "n2-highmem-8",
                        "protected": True,
                    },
                ],
                "scaling_groups": [
                    {
                        "provider": "gcp",
                        "name": "web-mig",
                        "region": "us-central1",
                        "import_id": f"{P}/zones/us-central1-a/instanceGroupManagers/web-mig",
                        "autoscaler_id": f"{P}/zones/us-central1-a/autoscalers/web-as",
                        "desired": 3,
                        "min_size": 2,
                        "max_size": 10,
                        "launch_template_id": f"{P}/global/instanceTemplates/web-v3",
                    },
                    {
                        "provider": "gcp",
                        "name": "api-rmig",
                        "region": "us-central1",
                        "import_id": f"{P}/regions/us-central1/instanceGroupManagers/api",
                        "desired": 4,
                        "min_size": 4,
                        "max_size": 4,
                        "launch_template_id": f"{P}/global/instanceTemplates/api-v1",
                    },
                ],
                "bandwidth_tier": {"tier": "gold", "guaranteed_mbps": 800, "ceiling_mbps": 2000},
            }
        ],
    }


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program(gcp_state())


def test_machine_type_change_stops_the_instance_and_adopts_it(run: ProgramRun) -> None:
    web = run.named("web-1")
    assert web.type == INSTANCE
    assert web.import_id == "projects/shop/zones/us-central1-a/instances/web-1"
    assert web.inputs["machineType"] == "n2-standard-8"
    assert web.inputs["allowStoppingForUpdate"] is True
    assert (web.inputs["name"], web.inputs["zone"], web.inputs["project"]) == (
        "web-1",
        "us-central1-a",
        "shop",
    )
    # labels: the spec's valid label keys and the group; "Name" is no GCP label key
    assert web.inputs["labels"] == {"app": "web", "headroom-group": "web"}
    assert run.outputs["instanceTypes"]["web-1"] == "n2-standard-8"


def test_protected_instance_keeps_its_machine_type(run: ProgramRun) -> None:
    assert run.named("db-1").inputs["machineType"] == "n2-highmem-8"
    assert "db-1" in run.outputs["protected"]
    rails = [g for g in run.outputs["guardRails"] if g["resource"] == "db-1"]
    assert rails[0]["rule"] == "protected: never resized"


def test_zonal_mig_target_size_and_autoscaler_bounds(run: ProgramRun) -> None:
    mig = run.named("web-mig")
    assert mig.type == MIG and mig.import_id.endswith("/instanceGroupManagers/web-mig")
    # policy minimum 6: 2 instances + min 2 + min 4 = 8 already, so nothing raised
    assert mig.inputs["targetSize"] == 3
    assert mig.inputs["versions"] == [
        {"instanceTemplate": "projects/shop/global/instanceTemplates/web-v3"}
    ]
    scaler = run.named("web-mig-autoscaler")
    assert scaler.type == AUTOSCALER
    assert scaler.import_id == "projects/shop/zones/us-central1-a/autoscalers/web-as"
    assert scaler.inputs["autoscalingPolicy"] == {"minReplicas": 2, "maxReplicas": 10}
    assert scaler.inputs["target"] == mig.import_id


def test_regional_mig_without_autoscaler(run: ProgramRun) -> None:
    rmig = run.named("api-rmig")
    assert rmig.type == REGION_MIG and rmig.inputs["region"] == "us-central1"
    assert rmig.inputs["targetSize"] == 4
    assert run.of_type(REGION_AUTOSCALER) == []


def test_policy_minimum_raises_the_first_mig() -> None:
    doc = gcp_state()
    doc["groups"][0]["min_count"] = 12  # 2 instances + 2 + 4 = 8: short by 4
    run = run_program(doc)
    assert run.named("web-mig").inputs["targetSize"] == 6
    assert run.named("web-mig-autoscaler").inputs["autoscalingPolicy"]["minReplicas"] == 6
    assert run.outputs["scalingCounts"]["web-mig"] == {"desired": 6, "min": 6, "max": 10}


def test_nothing_of_aws_is_declared_for_a_gcp_group(run: ProgramRun) -> None:
    """No EC2, no ASG, and no SSM tier parameter in a GCP region."""
    assert not [d for d in run.declared if d.type.startswith("aws:")]
    assert run.outputs["bandwidthTiers"] == {"web": "gold"}


def test_adopted_resources_are_retained_and_keep_disks_and_nics(run: ProgramRun) -> None:
    gcp = [d for d in run.declared if d.type.startswith("gcp:")]
    assert len(gcp) == 5 and all(d.retain_on_delete and d.import_id for d in gcp)
    assert set(run.named("web-1").ignore_changes) == {"bootDisk", "networkInterfaces"}
    assert "autoscalingPolicy.cpuUtilization" in run.named("web-mig-autoscaler").ignore_changes


def test_a_gcp_spec_is_checked_against_gcp_names() -> None:
    from infra.desired_state import DesiredStateError, parse_desired_state

    for field, bad, said in (
        ("instance_type", "m5.large", "is not an instance type of gcp"),
        ("region", "us-east-1", "is not a region of gcp"),
        ("import_id", "i-0abc", "does not match"),
        ("import_id", f"{P}/zones/europe-west1-b/instances/web-1", "not in region us-central1"),
    ):
        doc = gcp_state()
        doc["groups"][0]["instances"][0][field] = bad
        with pytest.raises(DesiredStateError, match=said):
            parse_desired_state(doc, source="gcp.json")
    doc = gcp_state()
    doc["groups"][0]["scaling_groups"][0]["instance_type"] = "n2-standard-8"
    with pytest.raises(DesiredStateError, match="its instance template's"):
        parse_desired_state(doc, source="gcp.json")
