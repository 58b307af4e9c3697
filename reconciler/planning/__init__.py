"""Planning: allocations and forecasts in, ``Command``s out (resize, scale, tier, cache, route)."""

from reconciler.planning.guards import apply_guards, recheck, relative_change
from reconciler.planning.lookahead import raised_allocation, with_lookahead
from reconciler.planning.models import (
    Command,
    CommandKind,
    CommandStatus,
    Evidence,
    Member,
    MetricForecast,
    Plan,
    PlanGroup,
    PlanInput,
    PlanMetric,
    SkippedCommand,
)
from reconciler.planning.planner import plan, propose
from reconciler.planning.preallocate import adjust_resources
from reconciler.planning.sizing import cheapest_type, count_needed

__all__ = [
    "Command",
    "CommandKind",
    "CommandStatus",
    "Evidence",
    "Member",
    "MetricForecast",
    "Plan",
    "PlanGroup",
    "PlanInput",
    "PlanMetric",
    "SkippedCommand",
    "adjust_resources",
    "apply_guards",
    "cheapest_type",
    "count_needed",
    "plan",
    "propose",
    "raised_allocation",
    "recheck",
    "relative_change",
    "with_lookahead",
]
