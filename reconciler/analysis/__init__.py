"""Behavioural analysis: traffic graph, application communities, shared-service hubs, anomalies."""

from reconciler.analysis.anomalies import (
    AnomalyEvent,
    group_traffic,
    membership_anomalies,
    resource_anomalies,
    traffic_anomalies,
)
from reconciler.analysis.config import AnalysisConfig
from reconciler.analysis.explain import Community, CommunityExplanation, EdgeShare
from reconciler.analysis.graph import TrafficGraph, build_traffic_graph, is_external
from reconciler.analysis.hubs import HubFinding
from reconciler.analysis.pipeline import AnalysisResult, analyze, analyze_graph

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "AnomalyEvent",
    "Community",
    "CommunityExplanation",
    "EdgeShare",
    "HubFinding",
    "TrafficGraph",
    "analyze",
    "analyze_graph",
    "build_traffic_graph",
    "group_traffic",
    "is_external",
    "membership_anomalies",
    "resource_anomalies",
    "traffic_anomalies",
]
