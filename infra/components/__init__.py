"""Pulumi components of the Headroom program, one per concern, each ``Args`` + a component."""

from infra.components.caches import EdgeCaches, EdgeCachesArgs
from infra.components.compute import GroupCompute, GroupComputeArgs
from infra.components.reservations import CapacityReservations, CapacityReservationsArgs
from infra.components.routing import RegionalRouting, RegionalRoutingArgs
from infra.components.tiers import BandwidthTiers, BandwidthTiersArgs

__all__ = [
    "BandwidthTiers",
    "BandwidthTiersArgs",
    "CapacityReservations",
    "CapacityReservationsArgs",
    "EdgeCaches",
    "EdgeCachesArgs",
    "GroupCompute",
    "GroupComputeArgs",
    "RegionalRouting",
    "RegionalRoutingArgs",
]
