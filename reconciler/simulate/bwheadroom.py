"""Headroom in the bandwidth replay: the cycle's own forecast and allocate steps.

At each scheduled cycle (the policy's cron: hourly in the benchmark), the groups' demand over
the policy's lookback goes through ``reconciler.steps.forecast.run_forecast`` (the forecasting
package's models, grid and ``ModelCache``, refitted on its schedule) on the grid the forecast
step builds (``ForecastSettings.resolve`` with the provisioning window), and the forecasts through
``reconciler.steps.allocate.run_allocate`` (the class quantile, the headroom margin,
``demand_for`` and the hierarchical allocator) under the replay's pools. Each knob is a policy
(``knob_policy``: ``forecast.default_quantile`` and ``headroom.relative`` written into it); the
forecast does not depend on the knob, so one forecast per cycle serves every knob. The grants
hold until the next cycle.

What is left out of ``run_once``: collect/analyze/compose (the groups are the trace's flows),
plan/apply (a bandwidth grant is the allocation itself) and the forecast review's demotions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from policies.schema import Policy, Pools
from reconciler.simulate.flows import FlowTrace

__all__ = ["BandwidthHeadroom", "Knob", "knob_policy"]


@dataclass(frozen=True)
class Knob:
    """Headroom's provisioning knob: the forecast quantile sized at and the relative margin."""

    quantile: float
    relative: float

    def label(self) -> str:
        return f"p{self.quantile * 100:g}+{self.relative * 100:g}%"


def knob_policy(policy: Policy, knob: Knob) -> Policy:
    """``policy`` with the knob written into it (validated as a policy file would be)."""
    data = policy.model_dump()
    data["forecast"]["default_quantile"] = knob.quantile
    data["headroom"]["relative"] = knob.relative
    return Policy.model_validate(data)


@dataclass
class BandwidthHeadroom:
    policy: Policy
    knobs: Sequence[Knob]
    forecaster: str = "lightgbm"
    cycles: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"forecast": 0.0, "allocate": 0.0})

    def grants(self, trace: FlowTrace, train: int, pools: Pools) -> dict[Knob, np.ndarray]:
        """Each knob's grants over the replayed steps, ``(n_groups, n_replayed)``."""
        from forecasting.cache import ModelCache
        from forecasting.grid import ForecastSettings
        from reconciler.simulate.headroom import cycle_steps
        from reconciler.steps.allocate import provisioning_window, run_allocate
        from reconciler.steps.forecast import run_forecast
        from reconciler.steps.types import Group, GroupSet

        base = self.policy.model_copy(update={"pools": pools})
        policies = {k: knob_policy(base, k) for k in self.knobs}
        groups = GroupSet(
            groups=tuple(
                Group(id=g, kind="manual", members=(g,), region=r, name=g)
                for g, r in zip(trace.groups, trace.regions, strict=True)
            )
        )
        settings = ForecastSettings()
        if self.forecaster == "seasonal-naive":
            settings = ForecastSettings(min_lgbm_days=math.inf)
        cache = ModelCache()
        lookback = round(base.forecast.lookback / timedelta(seconds=trace.step_s))
        every = cycle_steps(base, trace.at(train), trace.step_s)
        n = trace.n_steps
        out = {k: np.zeros((len(trace.groups), n - train)) for k in self.knobs}
        for t in range(train, n, every):
            now = trace.at(t)
            t0 = time.perf_counter()
            grid = settings.resolve(base.forecast, provisioning_window(base, now))
            history = trace.long_frame(max(0, t - lookback), t)
            forecasts = run_forecast(history, now, grid, cache=cache)
            t1 = time.perf_counter()
            for k, pol in policies.items():
                view = run_allocate(pol, groups, forecasts, now)
                row = np.array([view.groups.get(g, 0.0) for g in trace.groups])
                out[k][:, t - train : t - train + every] = row[:, None]
            self.seconds["forecast"] += t1 - t0
            self.seconds["allocate"] += time.perf_counter() - t1
            self.cycles += 1
        return out
