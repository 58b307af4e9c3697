"""Headroom in the replay: forecast -> allocate -> plan, then remediation and a scale-in brake.

Each app is a group behind one autoscaling group of the base type. Every cycle (the policy's cron
schedule; the replay policy runs every 5 minutes, as the reactive peer acts every interval) the
planner gets the forecast quantiles of CPU, memory and network - the highest of each over the
whole provisioning lead time (the next cycle plus the scale-out delay) - the allocator's
bandwidth allocation, and the command history (cooldowns, budgets); its scale commands become the
app's capacity. Scale-out is fast, scale-in slow:

- remediation: when the last observed interval was congested, scale out at once to the observed
  demand at the policy's target utilisation (fallback to reactive on a forecast miss);
- scale-in brake: a scale-in goes through only after the planner has asked for it
  ``scale_in_cycles`` cycles in a row, and never below the highest demand observed over the
  last ``hold_steps`` steps (bursts in these traces recur within hours; ``run.simulate`` picks
  the hold on the training days, ``reconciler.simulate.calibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from policies.schema import Policy
from reconciler.allocation import allocate, demand_for
from reconciler.planning import (
    Command,
    CommandKind,
    Member,
    MetricForecast,
    PlanGroup,
    PlanInput,
    PlanMetric,
    plan,
)
from reconciler.simulate.engine import Decision, SimConfig, ceil_units
from reconciler.simulate.forecasts import ForecastTable, lightgbm_factory, precompute_forecasts
from reconciler.simulate.trace import AppTrace

__all__ = ["HeadroomStrategy", "cycle_steps"]


def cycle_steps(policy: Policy, start: datetime, step_s: int) -> int:
    """Replay steps between two runs of the policy's cron schedule (at least one)."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(policy.schedule.cron, timezone="UTC")
    first = trigger.get_next_fire_time(None, start)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    if first is None or second is None:
        raise ValueError(f"schedule {policy.schedule.cron!r} never fires after {start}")
    return max(1, round((second - first).total_seconds() / step_s))


@dataclass
class HeadroomStrategy:
    policy: Policy
    cycle: int | None = None  # steps between runs; None: from the policy's schedule (cron)
    factory: Any = lightgbm_factory
    refit_every: int | None = 7 * 288
    name: str = "headroom"
    history: list[Command] = field(default_factory=list)
    _trace: AppTrace | None = None
    _cfg: SimConfig | None = None
    forecasts: ForecastTable | None = None  # precomputed (else built in ``start``)
    hold_steps: int = 12  # scale in no lower than the peak demand of the last hour
    scale_in_cycles: int = 3  # consecutive cycles a scale-in must be asked for
    plans: int = 0
    _low: dict[int, int] = field(default_factory=dict)

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        self._trace, self._cfg = trace, cfg
        if self.cycle is None:
            self.cycle = cycle_steps(self.policy, trace.start(), trace.step_s)
        steps = list(range(cfg.train_steps, trace.n_steps, self.cycle))
        horizon = self.cycle + cfg.scale_out_delay
        if self.forecasts is None:
            self.forecasts = precompute_forecasts(
                trace, steps, horizon, self.factory, self.refit_every
            )
        first = self._decide(cfg.train_steps, units, [0] * units.shape[0])
        return [first[a].units if a in first else 0 for a in range(units.shape[0])]

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        cycle = self.cycle or 1
        due = t > self._train and (t - self._train) % cycle == 0  # ``start`` planned the first
        planned = self._decide(t, units, capacity) if due else {}
        assert self._trace is not None
        now = self._trace.start() + timedelta(seconds=self._trace.step_s * t)
        out: dict[int, Decision] = {}
        for a, current in enumerate(capacity):
            want = planned[a].units if a in planned else current
            seen = float(units[a, t - 1])
            if seen > current:
                # remediation: the last interval was congested -> scale out to observed demand now
                fix = ceil_units(seen / self._target_utilization)
                if fix > want:
                    out[a] = Decision(fix)
                    self._low[a] = 0
                    self._record(a, current, fix, f"remediation: demand {seen:.2f} units", now)
                    continue
            if want < current:
                self._low[a] = self._low.get(a, 0) + 1
                if due and self._low[a] <= self.scale_in_cycles:
                    continue  # scale in slowly: not yet asked for long enough
                floor = ceil_units(float(units[a, max(0, t - self.hold_steps) : t].max()))
                want = min(current, max(want, floor))
                if want == current:
                    continue
                self._low[a] = 0
            else:
                self._low[a] = 0
            if want != current:
                out[a] = Decision(want)
        return out

    @property
    def _target_utilization(self) -> float:
        from policies.actions import ScaleAction

        scale = [a for a in self.policy.actions if isinstance(a, ScaleAction)]
        return scale[0].target_utilization if scale else 1.0

    def _record(self, a: int, before: int, after: int, reason: str, now: datetime) -> None:
        """Record an out-of-plan change like a command, so cooldowns see it."""
        assert self._trace is not None
        self.history.append(
            Command(
                kind=CommandKind.SCALE,
                target=f"asg-{self._trace.apps[a]}",
                before={"desired": before},
                after={"desired": after},
                reason=reason,
                issued_at=now,
                increase=after > before,
            )
        )

    @property
    def _train(self) -> int:
        assert self._cfg is not None
        return self._cfg.train_steps

    def _decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        trace, cfg, table = self._trace, self._cfg, self.forecasts
        assert trace is not None and cfg is not None and table is not None
        now = trace.start() + timedelta(seconds=trace.step_s * t)
        metric_names = {
            "cpu_vcpu": PlanMetric.CPU_VCPU,
            "memory_gib": PlanMetric.MEMORY_GIB,
            "network_gbps": PlanMetric.NETWORK_GBPS,
        }
        groups, forecasts, demands = [], {}, []
        for a, app in enumerate(trace.apps):
            asg = f"asg-{app}"
            members = [
                Member(
                    resource_id=f"{app}-{i}",
                    instance_type=cfg.base.name,
                    region=trace.regions[a],
                    asg_name=asg,
                )
                for i in range(max(1, capacity[a]))
            ]
            groups.append(
                PlanGroup(
                    group_id=app,
                    region=trace.regions[a],
                    members=members,
                    asg_desired={asg: capacity[a]},
                )
            )
            per_metric = {}
            for name, metric in metric_names.items():
                q = table.get(t, a, name)
                if q is not None:
                    peak = table.peak_step.get((t, a, name), t)
                    per_metric[metric] = MetricForecast(
                        quantiles=q, peak_at=trace.start() + timedelta(seconds=trace.step_s * peak)
                    )
            forecasts[app] = per_metric
            net = per_metric.get(PlanMetric.NETWORK_GBPS)
            if net is not None:
                demands.append(demand_for(self.policy, app, trace.regions[a], net.quantiles))
        inp = PlanInput(
            policy=self.policy,
            groups=groups,
            forecasts=forecasts,
            allocations=allocate(self.policy.pools, demands),
            catalog={cfg.base.name: cfg.base},
            history=self.history[-200:],
            now=now,
        )
        result = plan(inp)
        self.plans += 1
        self.history.extend(result.commands)
        out: dict[int, Decision] = {}
        index = {f"asg-{app}": a for a, app in enumerate(trace.apps)}
        for cmd in result.of_kind(CommandKind.SCALE):
            out[index[cmd.target]] = Decision(int(cmd.after["desired"]))
        return out
