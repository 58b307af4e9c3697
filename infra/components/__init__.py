"""Pulumi components of the Headroom program, one per concern, each ``Args`` + a component."""

from infra.components.azure_compute import AzureCompute, AzureComputeArgs
from infra.components.caches import EdgeCaches, EdgeCachesArgs
from infra.components.compute import GroupCompute, GroupComputeArgs
from infra.components.gcp_compute import GcpCompute, GcpComputeArgs
from infra.components.reservations import CapacityReservations, CapacityReservationsArgs
from infra.components.routing import RegionalRouting, RegionalRoutingArgs
from infra.components.tiers import BandwidthTiers, BandwidthTiersArgs

__all__ = [
    "AzureCompute",
    "AzureComputeArgs",
    "BandwidthTiers",
    "BandwidthTiersArgs",
    "CapacityReservations",
    "CapacityReservationsArgs",
    "EdgeCaches",
    "EdgeCachesArgs",
    "GcpCompute",
    "GcpComputeArgs",
    "GroupCompute",
    "GroupComputeArgs",
    "RegionalRouting",
    "RegionalRoutingArgs",
]
