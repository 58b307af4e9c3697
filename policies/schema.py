"""The policy schema: what an operator may write in a Headroom policy file, checked for structure.

Every model forbids unknown keys so a typo is an error, not a silently ignored setting. Checks
that need the provider (instance families exist, budgets fit) live in ``policies.check``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from policies.actions import Action, ActionBase
from policies.durations import Duration, format_duration
from policies.numbers import Count, Number
from policies.users import UsersPolicy

__all__ = [
    "MAX_FREQUENCY",
    "REFERENCE_ERROR",
    "ActionKind",
    "Engine",
    "ForecastSettings",
    "GroupClass",
    "GroupSelection",
    "Headroom",
    "Loc",
    "ManualGroup",
    "Policy",
    "Pools",
    "RegionPool",
    "Safety",
    "Schedule",
    "TagKeys",
    "TrafficGrouping",
    "format_loc",
]

_A = TypeVar("_A", bound=ActionBase)

#: A field location inside a policy, as pydantic writes it: ("actions", 2, "type").
Loc = tuple[int | str, ...]
#: pydantic error type of the cross-reference check; its ``ctx["problems"]`` lists
#: ``(Loc, message)`` pairs so the loader can report each at its own field and line.
REFERENCE_ERROR = "policy_references"
#: The coarsest forecast grid: a day of hourly steps is the least the LightGBM forecaster trains on.
MAX_FREQUENCY = timedelta(hours=1)


def format_loc(loc: Loc) -> str:
    """``("actions", 2, "type")`` -> ``actions[2].type``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


ActionKind = Literal["resize", "scale", "bandwidth_tier", "edge_cache", "routing", "preallocate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionPool(_Strict):
    """A regional bandwidth pool: ``capacity_gbps`` is its ceiling, ``guaranteed_gbps`` its rate."""

    capacity_gbps: Number = Field(gt=0)
    guaranteed_gbps: Number = Field(default=0.0, ge=0)
    cost_per_gb_usd: Number = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _rate_below_ceil(self) -> RegionPool:
        if self.guaranteed_gbps > self.capacity_gbps:
            raise ValueError(
                f"guaranteed_gbps {self.guaranteed_gbps} is above capacity_gbps "
                f"{self.capacity_gbps}"
            )
        return self


class Pools(_Strict):
    """Global pool -> regional pools (HTB-style: regions borrow unused global capacity)."""

    global_gbps: Number = Field(gt=0)
    regions: dict[str, RegionPool] = Field(min_length=1)


class TagKeys(_Strict):
    """Tag keys that put resources in a group: ``hard`` always, ``soft`` as a grouping hint."""

    hard: list[str] = Field(default_factory=list)
    soft: list[str] = Field(default_factory=list)


class TrafficGrouping(_Strict):
    """Parameters for finding applications from who talks to whom."""

    lookback: Duration = timedelta(days=7)
    decay_half_life: Duration = timedelta(days=1)
    resolution: Number = Field(default=1.0, gt=0)
    hub_min_degree: Count = Field(default=20, ge=1)
    hub_degree_quantile: Number = Field(default=0.99, gt=0, le=1)
    form_cycles: Count = Field(default=3, ge=1)
    dissolve_cycles: Count = Field(default=6, ge=1)
    min_bytes: Count = Field(default=0, ge=0)


class ManualGroup(_Strict):
    """A group an operator names by hand: listed resource ids and/or tag matches."""

    name: str
    members: list[str] = Field(default_factory=list)
    match_tags: dict[str, str] = Field(default_factory=dict)
    group_class: str = "default"
    region: str | None = None

    @model_validator(mode="after")
    def _selects_something(self) -> ManualGroup:
        if not self.members and not self.match_tags:
            raise ValueError(f"manual group {self.name!r} lists no members and no match_tags")
        return self


class GroupSelection(_Strict):
    tag_keys: TagKeys = Field(default_factory=TagKeys)
    traffic: TrafficGrouping = Field(default_factory=TrafficGrouping)
    manual_groups: list[ManualGroup] = Field(default_factory=list)
    tenant_tag_keys: list[str] = Field(default_factory=list)


class ForecastSettings(_Strict):
    """Which quantile sizes each group class, and how far ahead/back forecasts look.

    - ``frequency``: the forecast grid step. Every demand series is built on it and the daily
      season is ``1 day / frequency`` steps, so it must be a whole number of seconds that divides
      a day (``1m``, ``5m``, ``15m``, ``1h``; not ``7m``).
    - ``lookback``: how much history the forecast step reads and fits its models on.
    - ``horizon``: how far ahead forecasts go (``horizon / frequency`` steps, at least one, at
      most one day: the forecaster's shortest seasonal lag; a longer horizon is cut to a day
      and the forecast step's report says so). What the allocator divides and what scale and
      resize size for *now* is the highest forecast over the provisioning window only: to the
      next scheduled cycle plus the longest ``lead_time`` of the enabled actions
      (``reconciler.steps.allocate.provisioning_window``), forecast by a near-term model at full
      resolution (at least an hour). A horizon beyond that is forecast by a second, look-ahead
      model, stored and shown by the API as hourly peaks, and sets only when a growing resize
      is scheduled ahead of a predicted peak (``reconciler.steps.forecast``).
    """

    horizon: Duration = Field(
        default=timedelta(hours=24),
        description="How far ahead forecasts go (at most one day is forecast).",
    )
    lookback: Duration = Field(
        default=timedelta(days=14),
        description="How much history the forecast step reads and fits on.",
    )
    frequency: Duration = Field(
        default=timedelta(minutes=5),
        description="The forecast grid step; whole seconds that divide one day, at most 1h.",
    )
    default_quantile: Number = Field(default=0.9, gt=0, lt=1)
    quantile_by_class: dict[str, Number] = Field(default_factory=dict)

    @field_validator("frequency")
    @classmethod
    def _divides_a_day(cls, value: timedelta) -> timedelta:
        seconds = value.total_seconds()
        if seconds <= 0 or seconds != int(seconds) or 86400 % int(seconds):
            text = format_duration(value) if seconds == int(seconds) else f"{seconds:g}s"
            raise ValueError(
                f"frequency {text} must be a whole number of seconds that "
                "divides one day (e.g. 1m, 5m, 15m, 1h): the daily season is a whole number "
                "of steps"
            )
        if value > MAX_FREQUENCY:
            raise ValueError(
                f"frequency {format_duration(value)} is above {format_duration(MAX_FREQUENCY)}: "
                "the forecaster needs at least 24 steps a day to train on (use 1h or less)"
            )
        return value

    @field_validator("horizon", "lookback")
    @classmethod
    def _positive(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"{info.field_name} must be longer than 0")
        return value

    @field_validator("quantile_by_class")
    @classmethod
    def _in_range(cls, value: dict[str, Number]) -> dict[str, Number]:
        for name, q in value.items():
            if not 0 < q < 1:
                raise ValueError(f"quantile for class {name!r} must be between 0 and 1, got {q}")
        return value


class Headroom(_Strict):
    """Margin added on top of a forecast: ``demand * (1 + relative) + absolute``."""

    relative: Number = Field(default=0.15, ge=0, le=10)
    absolute_gbps: Number = Field(default=0.0, ge=0)

    def apply(self, value: float, absolute: float | None = None) -> float:
        extra = self.absolute_gbps if absolute is None else absolute
        return value * (1 + self.relative) + extra


class Slo(_Strict):
    """What demand left unserved costs a class: the underage price of its provisioning quantile.

    With the policy's ``prices`` (the overage price of capacity held idle) each forecast metric
    priced here is sized at the newsvendor quantile ``underage / (underage + overage)``
    (``reconciler.allocation.quantile``) instead of ``forecast.default_quantile``.
    """

    unmet_gb_usd: Number = Field(gt=0, description="Penalty per GB of demand above the allocation.")
    unmet_vcpu_hour_usd: Number | None = Field(
        default=None, gt=0, description="Penalty per vCPU-hour of CPU demand not provisioned."
    )


class Prices(_Strict):
    """What capacity costs per hour while it is held, used or not (the newsvendor overage)."""

    gbps_hour_usd: Number = Field(gt=0, description="One Gbps of allocation held for an hour.")
    vcpu_hour_usd: Number = Field(
        default=0.048, gt=0, description="One vCPU for an hour (m6i on-demand: 0.096 / 2)."
    )


class GroupClass(_Strict):
    """Service class: HTB rate (``guarantee_gbps``), ceil (``ceiling_gbps``), priority, weight.

    ``priority`` 0 is served first (as in Linux HTB); ``weight`` shares spare capacity. ``slo``
    prices unserved demand, which sets the class's provisioning quantile (see ``Slo``).
    """

    guarantee_gbps: Number = Field(default=0.0, ge=0)
    ceiling_gbps: Number | None = Field(default=None, gt=0)
    priority: Count = Field(default=1, ge=0, le=7)
    weight: Number = Field(default=1.0, gt=0)
    slo: Slo | None = None

    @model_validator(mode="after")
    def _guarantee_below_ceiling(self) -> GroupClass:
        if self.ceiling_gbps is not None and self.guarantee_gbps > self.ceiling_gbps:
            raise ValueError(
                f"guarantee_gbps {self.guarantee_gbps} is above ceiling_gbps {self.ceiling_gbps}"
            )
        return self


class Safety(_Strict):
    """Limits that stop the planner from flapping or changing too much at once.

    ``max_fraction_changed`` (of the fleet) and ``max_resources_changed`` are the per-cycle
    budget. ``budget_scale_outs`` says whether scale-outs count against it: a scale-out adds
    instances and touches none that serve, so ``false`` lets it past the budget (bounded by each
    scale action's ``max_count``, as a target-tracking autoscaler is) while resizes, scale-ins
    and other changes stay budgeted. With ``true`` (the default) a scale-out is clipped to what
    is left of the budget, so a fleet scaled in overnight can grow by at most the budget per
    cycle however steep the morning ramp.
    """

    forecast_only: bool = False
    max_fraction_changed: Number = Field(default=0.2, gt=0, le=1)
    max_resources_changed: Count = Field(default=10, ge=1)
    budget_scale_outs: bool = True
    min_change_fraction: Number = Field(default=0.1, ge=0, lt=1)
    scale_in_hysteresis: Number = Field(default=0.1, ge=0, lt=1)
    cooldowns: dict[ActionKind, Duration] = Field(default_factory=dict)
    default_cooldown: Duration = timedelta(minutes=30)
    needs_approval: list[ActionKind] = Field(default_factory=list)
    #: A setting changed outside Headroom (a manual ASG resize): ``adopt`` takes the cloud's
    #: value as the one in force; ``restore`` plans a command putting back what was applied.
    on_drift: Literal["adopt", "restore"] = "adopt"

    def cooldown_for(self, kind: str) -> timedelta:
        return self.cooldowns.get(kind, self.default_cooldown)  # type: ignore[call-overload]


class Schedule(_Strict):
    """When the reconciler runs: a five-field cron expression read in an IANA ``timezone``.

    ``timezone`` is declared first so that the cron check sees it: the trigger is built exactly
    as the scheduler builds it (APScheduler, in that zone).
    """

    timezone: str = "UTC"
    cron: str = "*/15 * * * *"

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"timezone {value!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin')"
            ) from exc
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str, info: ValidationInfo) -> str:
        from policies.cron import crontab_trigger

        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have 5 fields (minute hour day month weekday)")
        timezone = info.data.get("timezone", "UTC")  # absent when the timezone itself is bad
        try:
            crontab_trigger(value, timezone=timezone)
        except ValueError as exc:
            raise ValueError(f"cron {value!r} is not valid in {timezone}: {exc}") from exc
        return value


class Engine(_Strict):
    """Where the history queries run: ``local`` (embedded, the default) or a Dask cluster.

    YAML: ``engine: local``, ``engine: dask`` (``scheduler`` from ``DASK_SCHEDULER_ADDRESS``)
    or ``engine: {kind: dask, scheduler: "tcp://scheduler:8786", timeout: 10m}``.
    """

    kind: Literal["local", "dask"] = "local"
    scheduler: str | None = Field(default=None, min_length=1)
    #: a query not answered in this long fails its step (e.g. a cluster left with no workers)
    timeout: Duration = timedelta(minutes=10)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: object) -> object:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _scheduler_for_dask(self) -> Engine:
        if self.kind == "local" and self.scheduler is not None:
            raise ValueError("engine.scheduler is only for kind: dask")
        return self


class Policy(_Strict):
    """A whole Headroom policy file."""

    version: Literal[1] = 1
    name: str
    description: str = ""
    pools: Pools
    group_selection: GroupSelection = Field(default_factory=GroupSelection)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    headroom: Headroom = Field(default_factory=Headroom)
    group_classes: dict[str, GroupClass] = Field(default_factory=lambda: {"default": GroupClass()})
    default_class: str = "default"
    actions: list[Action] = Field(default_factory=list)
    safety: Safety = Field(default_factory=Safety)
    schedule: Schedule = Field(default_factory=Schedule)
    prices: Prices | None = None
    engine: Engine = Field(default_factory=Engine)
    #: request-level behaviour (``policies.users``); None: no request logs are read
    users: UsersPolicy | None = None

    @model_validator(mode="after")
    def _references(self) -> Policy:
        problems = self.reference_problems()
        if problems:
            summary = "; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in problems)
            raise PydanticCustomError(
                REFERENCE_ERROR, "{summary}", {"summary": summary, "problems": problems}
            )
        return self

    def reference_problems(self) -> list[tuple[Loc, str]]:
        """Names that point nowhere (classes, regions) and repeated actions, each at its field."""
        classes = set(self.group_classes)
        problems: list[tuple[Loc, str]] = []
        if self.default_class not in classes:
            # an unwritten default_class is fixed in group_classes, so point there
            where = "default_class" if "default_class" in self.model_fields_set else "group_classes"
            problems.append(
                ((where,), f"default_class {self.default_class!r} is not in group_classes")
            )
        for name in self.forecast.quantile_by_class:
            if name not in classes:
                problems.append(
                    (
                        ("forecast", "quantile_by_class", name),
                        f"forecast.quantile_by_class names unknown class {name!r}",
                    )
                )
        if self.prices is None:
            for name, cls in self.group_classes.items():
                if cls.slo is not None:
                    problems.append(
                        (
                            ("group_classes", name, "slo"),
                            f"class {name!r} prices unserved demand (slo) but the policy has no "
                            "prices: add prices.gbps_hour_usd",
                        )
                    )
        for i, group in enumerate(self.group_selection.manual_groups):
            at: Loc = ("group_selection", "manual_groups", i)
            if group.group_class not in classes:
                problems.append(
                    (
                        (*at, "group_class"),
                        f"manual group {group.name!r} uses unknown class {group.group_class!r}",
                    )
                )
            if group.region is not None and group.region not in self.pools.regions:
                problems.append(
                    (
                        (*at, "region"),
                        f"manual group {group.name!r} uses unknown region {group.region!r} "
                        "(not in pools.regions)",
                    )
                )
        first: dict[str, int] = {}
        for i, action in enumerate(self.actions):
            if action.type in first:
                problems.append(
                    (
                        ("actions", i, "type"),
                        f"action type {action.type!r} is listed more than once "
                        f"(first at actions[{first[action.type]}])",
                    )
                )
            else:
                first[action.type] = i
        return problems

    def action(self, cls: type[_A]) -> _A | None:
        """The enabled action of this class (e.g. ``ResizeAction``), or None."""
        for a in self.actions:
            if isinstance(a, cls) and a.enabled:
                return a
        return None

    def group_class(self, name: str | None) -> GroupClass:
        return self.group_classes.get(
            name or self.default_class, self.group_classes[self.default_class]
        )
