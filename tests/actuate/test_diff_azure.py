"""``headroom plan``'s diff on Azure: a scale set's members (the recorded fleet's VMs) are
counted against the desired state's capacity."""

from __future__ import annotations

from infra.desired_state import DesiredState, GroupSpec, ScalingGroupSpec
from providers.azure.provider import AzureProvider
from providers.azure.session import AzureSession
from providers.models import Resource
from reconciler.actuate import ChangeKind, diff_desired_vs_inventory
from tests.actuate.test_azure_autoscale import NOW, VMSS
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, served


def _inventory() -> list[Resource]:
    session = AzureSession(
        credential=FakeCredential(), subscriptions=[SUB], transport=RecordingTransport()
    )
    with served("fleet.json"):
        return AzureProvider(session=session, regions=["westeurope"]).inventory()


def _state(desired: int) -> DesiredState:
    ss = ScalingGroupSpec(
        provider="azure",
        name="api-ss",
        region="westeurope",
        import_id=VMSS,
        desired=desired,
        min_size=1,
        max_size=6,
        instance_type="Standard_D2s_v5",
        current_instance_type="Standard_D2s_v5",
    )
    group = GroupSpec(id="api", scaling_groups=(ss,))
    return DesiredState(schema_version=1, generated_at=NOW, groups=(group,))


def test_a_scale_set_at_its_capacity_shows_no_change() -> None:
    inventory = _inventory()
    assert sum(1 for r in inventory if VMSS in r.id) == 2  # the recorded scale set's two VMs
    assert diff_desired_vs_inventory(_state(2), inventory) == []


def test_a_scale_set_scaled_out_shows_its_member_count() -> None:
    changes = diff_desired_vs_inventory(_state(3), _inventory())
    assert [(c.kind, c.target, c.before, c.after) for c in changes] == [
        (ChangeKind.COUNT, "api-ss", "2", "3")
    ]
