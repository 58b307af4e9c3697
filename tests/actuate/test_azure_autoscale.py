"""An Azure scale set's autoscale bounds: read from the setting's default profile (recorded
ARM answers), carried in the desired state, moved by a scale command as an ASG's min/max are,
and set on the adopted setting by the Pulumi program (under mocks) so the autoscaler keeps the
capacity Headroom sets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from infra.desired_state import (
    AzureAutoscaleSpec,
    DesiredState,
    GroupSpec,
    ScalingGroupSpec,
)
from providers.azure.provider import AzureProvider
from providers.azure.scaling import AUTOSCALE_TAG
from providers.azure.session import AzureSession
from reconciler.actuate.from_commands import desired_state_from
from reconciler.planning.models import Command, CommandKind
from tests.infra.harness import run_program
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, served

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
RG = f"/subscriptions/{SUB}/resourcegroups/shop-rg/providers"
VMSS = f"{RG}/microsoft.compute/virtualmachinescalesets/api-ss"
SETTING = f"{RG}/microsoft.insights/autoscalesettings/api-autoscale"


def _recorded_scale_set():  # type: ignore[no-untyped-def]
    session = AzureSession(
        credential=FakeCredential(), subscriptions=[SUB], transport=RecordingTransport()
    )
    with served("fleet.json"):
        (group,) = AzureProvider(session=session, regions=["westeurope"]).scaling_groups()
    return group


def test_the_default_profile_bounds_the_scale_set_and_says_where_it_is() -> None:
    group = _recorded_scale_set()
    assert (group.name, group.desired, group.min_size, group.max_size) == (VMSS, 2, 2, 6)
    spec = AzureAutoscaleSpec.model_validate_json(group.tags[AUTOSCALE_TAG])
    # the weekend profile (a recurrence) comes first: the default one is the second
    assert spec == AzureAutoscaleSpec(
        setting_id=SETTING, profile="default", profile_index=1, profiles=2, default=2
    )


def _state(autoscale: AzureAutoscaleSpec | None) -> DesiredState:
    ss = ScalingGroupSpec(
        provider="azure",
        name="api-ss",
        region="westeurope",
        import_id=VMSS,
        desired=2,
        min_size=2,
        max_size=6,
        instance_type="Standard_D2s_v5",
        current_instance_type="Standard_D2s_v5",
        autoscale=autoscale,
    )
    group = GroupSpec(id="api", scaling_groups=(ss,))
    return DesiredState(schema_version=1, generated_at=NOW, groups=(group,))


def _scale(desired: int) -> Command:
    return Command(
        kind=CommandKind.SCALE,
        target=VMSS,
        before={"desired": 2},
        after={"desired": desired},
        reason="test",
        issued_at=NOW,
    )


def test_a_scale_past_the_autoscale_max_moves_the_profile_bounds_with_it() -> None:
    setting = AzureAutoscaleSpec.model_validate_json(_recorded_scale_set().tags[AUTOSCALE_TAG])
    fold = desired_state_from(_state(setting), [_scale(8)], generated_at=NOW)
    assert len(fold.applied) == 1, fold.not_applied
    (ss,) = fold.state.groups[0].scaling_groups
    assert (ss.desired, ss.min_size, ss.max_size, ss.autoscale) == (8, 2, 8, setting)

    run = run_program(fold.state.model_dump(mode="json"))
    (vmss,) = [d for d in run.declared if d.import_id == VMSS]
    assert vmss.inputs["sku"]["capacity"] == 8
    (auto,) = [d for d in run.declared if d.import_id == SETTING]
    assert auto.type == "azure-native:monitor:AutoscaleSetting"
    assert (auto.inputs["resourceGroupName"], auto.inputs["autoscaleSettingName"]) == (
        "shop-rg",
        "api-autoscale",
    )
    default = auto.inputs["profiles"][1]
    assert default["name"] == "default"
    assert default["capacity"] == {"minimum": "2", "maximum": "8", "default": "2"}
    # the weekend profile, the rules and the operator's parts keep the cloud's values
    assert {"profiles[0]", "profiles[1].rules", "profiles[1].recurrence"} <= set(
        auto.ignore_changes
    )
    assert {"notifications", "targetResourceUri", "location"} <= set(auto.ignore_changes)
    assert "profiles[1].capacity" not in auto.ignore_changes
    assert auto.retain_on_delete


def test_a_scale_in_below_the_minimum_lowers_it_and_keeps_the_default_inside() -> None:
    setting = AzureAutoscaleSpec(
        setting_id=SETTING, profile="default", profile_index=0, profiles=1, default=3
    )
    fold = desired_state_from(_state(setting), [_scale(1)], generated_at=NOW)
    run = run_program(fold.state.model_dump(mode="json"))
    (auto,) = [d for d in run.declared if d.import_id == SETTING]
    (profile,) = auto.inputs["profiles"]
    assert profile["capacity"] == {"minimum": "1", "maximum": "6", "default": "3"}
    assert not any(c.startswith("profiles[0]") and c.count(".") == 0 for c in auto.ignore_changes)


def test_a_scale_set_without_a_setting_declares_none() -> None:
    run = run_program(_state(None).model_dump(mode="json"))
    assert [d.type for d in run.declared if d.type.endswith("AutoscaleSetting")] == []


def test_autoscale_is_refused_off_azure_and_outside_its_profiles() -> None:
    with pytest.raises(ValidationError, match="not below profiles 1"):
        AzureAutoscaleSpec(
            setting_id=SETTING, profile="default", profile_index=1, profiles=1, default=2
        )
    with pytest.raises(ValidationError, match="setting_id"):
        AzureAutoscaleSpec(
            setting_id=VMSS, profile="default", profile_index=0, profiles=1, default=2
        )
    with pytest.raises(ValidationError, match="autoscale is an Azure autoscale setting"):
        ScalingGroupSpec(
            name="web-asg",
            region="us-east-1",
            desired=2,
            min_size=1,
            max_size=4,
            launch_template_id="lt-1",
            subnet_ids=("subnet-1",),
            autoscale=AzureAutoscaleSpec(
                setting_id=SETTING, profile="default", profile_index=0, profiles=1, default=2
            ),
        )
