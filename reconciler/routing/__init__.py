"""Latency-aware routing: the LP that splits client regions' traffic over serving regions.

``solve_routing`` (``lp``) finds the least request-weighted latency within each serving
region's usable capacity; ``latency_matrix`` (``matrix``) says which pairs are allowed and what
each costs. The planner (``reconciler.planning.routing``) turns a solution into weights.
"""

from reconciler.routing.lp import RoutingError, RoutingSolution, predicted_latency, solve_routing
from reconciler.routing.matrix import SAME_REGION_MS, latency_matrix

__all__ = [
    "SAME_REGION_MS",
    "RoutingError",
    "RoutingSolution",
    "latency_matrix",
    "predicted_latency",
    "solve_routing",
]
