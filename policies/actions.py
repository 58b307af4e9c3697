"""Action types a policy can enable, registered by the name users write (``type: resize``).

Each action is a pydantic model with ``extra="forbid"``; ``Action`` is the discriminated union on
``type`` that the policy schema uses. ``ACTION_TYPES`` maps the YAML name to its class so the
planner (and a validator) can look a kind up by name.

Example::

    actions:
      - type: resize
        families: [m6i, c6i]
        largest_size: 8xlarge
        lead_time: 15m
      - type: scale
        min_count: 2
        max_count: 20
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from policies.durations import Duration
from policies.numbers import Count, Number

__all__ = [
    "ACTION_TYPES",
    "Action",
    "ActionBase",
    "BandwidthTier",
    "BandwidthTierAction",
    "EdgeCacheAction",
    "ResizeAction",
    "RoutingAction",
    "ScaleAction",
    "register_action",
]

#: YAML name -> action class. Filled by ``@register_action``.
ACTION_TYPES: dict[str, type[ActionBase]] = {}

_A = TypeVar("_A", bound="type[ActionBase]")


def register_action(name: str) -> Callable[[_A], _A]:
    """Register an action class under the name a policy writes in ``type:``.

    The class must also be added to ``Action`` below (the policy schema's union), with
    ``type: Literal[name]``; ``tests/policies`` checks both.
    """

    def wrap(cls: _A) -> _A:
        if name in ACTION_TYPES:
            raise ValueError(f"action type {name!r} registered twice")
        ACTION_TYPES[name] = cls
        return cls

    return wrap


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class ActionBase(BaseModel):
    """Fields every action shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@register_action("resize")
class ResizeAction(ActionBase):
    """Change instance types within allowed families; needs a stop/start, so it has a lead time."""

    type: Literal["resize"]
    families: list[Annotated[str, BeforeValidator(_lower)]] = Field(min_length=1)
    largest_size: str | None = None
    lead_time: Duration = timedelta(minutes=15)
    prefer_scale_out: bool = True


@register_action("scale")
class ScaleAction(ActionBase):
    """Scale out/in groups behind an autoscaling group."""

    type: Literal["scale"]
    min_count: Count = Field(default=1, ge=0)
    max_count: Count = Field(default=10, ge=1)
    target_utilization: Number = Field(default=0.8, gt=0, le=1)
    #: how long a new instance takes to serve (launch + warm-up): the provisioning window covers
    #: it, so capacity is added before it is needed
    lead_time: Duration = timedelta(0)

    @model_validator(mode="after")
    def _bounds(self) -> ScaleAction:
        if self.min_count > self.max_count:
            raise ValueError(f"min_count {self.min_count} is above max_count {self.max_count}")
        return self


class BandwidthTier(BaseModel):
    """A purchasable bandwidth level (e.g. a Direct Connect / NAT / ENA Express tier)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    gbps: Number = Field(gt=0)
    hourly_cost_usd: Number = Field(default=0.0, ge=0)


@register_action("bandwidth_tier")
class BandwidthTierAction(ActionBase):
    """Pick the smallest bandwidth tier that covers a group's allocation."""

    type: Literal["bandwidth_tier"]
    tiers: list[BandwidthTier] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> BandwidthTierAction:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names repeat: {names}")
        speeds = [t.gbps for t in self.tiers]
        if speeds != sorted(speeds):
            raise ValueError(f"tiers must be listed from slowest to fastest, got {speeds}")
        return self


@register_action("edge_cache")
class EdgeCacheAction(ActionBase):
    """Add edge cache nodes in a region when its predicted demand crosses a threshold."""

    type: Literal["edge_cache"]
    regions: list[str] = Field(min_length=1)
    node_type: str
    node_gbps: Number = Field(gt=0)
    threshold_gbps: Number = Field(ge=0)
    max_nodes: Count = Field(default=10, ge=1)
    #: with request logs (policy ``users``): size each region's cache from its miss-ratio curve
    #: to reach this hit ratio at least cost (None: the bandwidth threshold rule above)
    target_hit_ratio: Number | None = Field(default=None, gt=0, lt=1)
    #: cache memory per node (GiB) and its price (USD per node-hour), for curve-based sizing
    node_memory_gib: Number = Field(default=13.07, gt=0)
    node_hourly_usd: Number = Field(default=0.206, ge=0)
    #: how many objects predicted hot a command names to pre-warm before a forecast peak
    prewarm_objects: Count = Field(default=20, ge=0, le=1000)


@register_action("routing")
class RoutingAction(ActionBase):
    """Spread traffic across regions by weight (Route 53 records or Global Accelerator dials)."""

    type: Literal["routing"]
    mechanism: Literal["route53", "global_accelerator"] = "route53"
    record: str = "app"
    min_weight: Count = Field(default=0, ge=0, le=255)
    max_weight: Count | None = Field(default=None, ge=1, le=255)
    #: "capacity": weights by allocated capacity and its cover of demand; "latency": the weights
    #: that minimise request-weighted latency within each region's capacity (needs ``users``)
    objective: Literal["capacity", "latency"] = "capacity"
    #: client region -> serving region -> round-trip ms, where request logs have not measured it
    latency_ms: dict[str, dict[str, Number]] = Field(default_factory=dict)
    #: the share of a region's allocated capacity the weights may fill
    max_utilization: Number = Field(default=0.9, gt=0, le=1)

    @property
    def weight_ceiling(self) -> int:
        """Largest weight: 255 for Route 53, 100 (a percentage dial) for Global Accelerator."""
        if self.max_weight is not None:
            return self.max_weight
        return 100 if self.mechanism == "global_accelerator" else 255

    @model_validator(mode="after")
    def _bounds(self) -> RoutingAction:
        if self.mechanism == "global_accelerator" and self.weight_ceiling > 100:
            raise ValueError("global_accelerator traffic dials are percentages: max_weight <= 100")
        if self.min_weight > self.weight_ceiling:
            raise ValueError(
                f"min_weight {self.min_weight} is above max_weight {self.weight_ceiling}"
            )
        return self


#: The discriminated union a policy's ``actions`` list is validated with. Written out (not built
#: from ``ACTION_TYPES``) so mypy knows its members; a test asserts that its members are exactly
#: the registered classes, so a newly registered action that is missing here fails the suite.
Action = Annotated[
    ResizeAction | ScaleAction | BandwidthTierAction | EdgeCacheAction | RoutingAction,
    Field(discriminator="type"),
]
