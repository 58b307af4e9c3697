"""Remediation: congestion and missed forecasts -> corrective actions (borrow, recompose, scale)."""

from reconciler.remediation.breaker import CircuitBreaker
from reconciler.remediation.detect import counter_increase, detect, detect_all
from reconciler.remediation.respond import borrow, remediate
from reconciler.remediation.types import (
    Action,
    ActionKind,
    Congestion,
    GroupObservation,
    RemediationConfig,
    RemediationResult,
    Signal,
)

__all__ = [
    "Action",
    "ActionKind",
    "CircuitBreaker",
    "Congestion",
    "GroupObservation",
    "RemediationConfig",
    "RemediationResult",
    "Signal",
    "borrow",
    "counter_increase",
    "detect",
    "detect_all",
    "remediate",
]
