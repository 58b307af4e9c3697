"""Capacity reservations are carried from the previous desired state: the cloud's inventory
does not report them, so a cycle without a new ``preallocate`` command must keep them declared
(left out, Pulumi would release them), for tenant groups and for user groups alike."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.desired_state import CapacityReservationSpec, DesiredState, GroupSpec
from providers.models import ProviderName, Resource
from reconciler.actuate.observed import ObservedGroup, observed_state

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _reservation(name: str, count: int) -> CapacityReservationSpec:
    return CapacityReservationSpec(
        name=name,
        region="us-east-1",
        availability_zone="us-east-1a",
        instance_type="m5.large",
        count=count,
    )


def _instance(rid: str) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="123456789012",
        region="us-east-1",
        zone="us-east-1a",
        instance_type="m5.large",
        image_id="ami-12345678",
    )


def test_reservations_survive_a_cycle_without_a_preallocate_command() -> None:
    previous = DesiredState(
        schema_version=1,
        generated_at=NOW,
        groups=(
            GroupSpec(id="tenant-acme", capacity_reservations=(_reservation("acme-a", 2),)),
            GroupSpec(id="ug-3fa1c2", capacity_reservations=(_reservation("ug-3fa1c2-a", 3),)),
        ),
    )
    groups = [ObservedGroup(id="tenant-acme", members=("i-0000000000000001",))]
    observed = observed_state(
        [_instance("i-0000000000000001")], [], groups, previous=previous, generated_at=NOW
    )
    by_id = {g.id: g for g in observed.state.groups}
    assert [r.count for r in by_id["tenant-acme"].capacity_reservations] == [2]
    assert len(by_id["tenant-acme"].instances) == 1
    # a user group holds reservations only: its spec is kept whole
    assert [r.name for r in by_id["ug-3fa1c2"].capacity_reservations] == ["ug-3fa1c2-a"]


def test_no_previous_state_means_no_reservations() -> None:
    groups = [ObservedGroup(id="tenant-acme", members=("i-0000000000000001",))]
    observed = observed_state(
        [_instance("i-0000000000000001")], [], groups, previous=None, generated_at=NOW
    )
    assert all(not g.capacity_reservations for g in observed.state.groups)
