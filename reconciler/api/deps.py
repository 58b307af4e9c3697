"""What the API's routes are given: the store, the clock and the allocation hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.allocation.models import AllocationResult
from reconciler.api.cache import ResponseCache
from reconciler.api.limits import ApiLimits
from reconciler.clock import Clock
from reconciler.state import StateStore

__all__ = ["AllocationProvider", "ApiContext", "OverrideFn"]

#: Returns the allocation in force (None before the first cycle).
AllocationProvider = Callable[[], AllocationResult | None]
#: Applies an override ``(result, group_id, gbps) -> new result``; raises ValueError (with
#: ``.reason``) when it cannot fit. ``reconciler.allocation.apply_override`` by default.
OverrideFn = Callable[[AllocationResult, str, float], AllocationResult]


@dataclass(frozen=True)
class ApiContext:
    store: StateStore
    clock: Clock
    allocation_provider: AllocationProvider
    override: OverrideFn
    cache: ResponseCache | None = None
    limits: ApiLimits = field(default_factory=ApiLimits)
