"""The strategies Headroom is compared with, each as documented by its authors.

- ``StaticPeak``: provision each app for the peak seen in the training window (or a percentile
  of it, plus a margin), never change.
- ``TargetTracking``: AWS target tracking: keep utilisation at 70 %; scale out when the last
  3 datapoints are above target, scale in when the last 15 are below it, new capacity
  ``ceil(current * metric / target)``, cooldowns after each action.
- ``VpaStyle``: the Kubernetes VPA recommender: P90 of a usage histogram whose samples decay
  with a 24 h half-life, plus a 15 % margin; applied hourly by resizing to a discrete size.
- ``PredictiveScaling``: AWS predictive scaling in forecast-and-scale mode: once a day, an hourly
  load forecast for the next day from the past 14 days sets a capacity floor at the target
  utilisation; it only ever scales out, and dynamic target tracking does the rest.

``PerfectForesight`` is not a peer but a limit: it sees the future and holds exactly the whole
units the next steps need, so its slack is what integer instance sizes alone cost at zero
congestion. No causal strategy can have less slack without congesting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reconciler.simulate.engine import Decision, SimConfig, ceil_units
from reconciler.simulate.trace import AppTrace

__all__ = [
    "LIMITS",
    "PerfectForesight",
    "PredictiveScaling",
    "StaticPeak",
    "TargetTracking",
    "VpaStyle",
    "weighted_quantile",
]

_HOUR = 12  # 5-minute steps per hour
_DAY = 24 * _HOUR

#: Names of strategies that are limits (they see the future), never peers.
LIMITS = ("perfect-foresight",)


@dataclass
class StaticPeak:
    """Provision the ``quantile`` of the training window (1.0: its peak) plus ``margin``."""

    quantile: float = 1.0
    margin: float = 0.0
    name: str = "static-peak"

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        level = np.quantile(units[:, : cfg.train_steps], self.quantile, axis=1)
        return [ceil_units(v * (1 + self.margin)) for v in level]

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        return {}


@dataclass
class TargetTracking:
    """AWS target tracking on the binding resource's utilisation."""

    target: float = 0.7
    out_points: int = 3
    in_points: int = 15
    out_cooldown: int = 1  # steps (300 s)
    in_cooldown: int = 1
    name: str = "target-tracking"
    _last_action: dict[int, int] = field(default_factory=dict)

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        recent = units[:, cfg.train_steps - self.out_points : cfg.train_steps].mean(axis=1)
        return [max(1, ceil_units(v / self.target)) for v in recent]

    def desired(self, a: int, t: int, units: np.ndarray, current: int) -> int | None:
        """Target tracking's wish for app ``a`` at step ``t`` (None: leave it)."""
        if current <= 0:
            return max(1, ceil_units(units[a, t - 1] / self.target))
        since = t - self._last_action.get(a, -(10**9))
        out = units[a, t - self.out_points : t] / current
        if (out > self.target).all() and since > self.out_cooldown:
            return ceil_units(current * out.mean() / self.target)
        low = units[a, t - self.in_points : t] / current
        if (low < self.target).all() and since > self.in_cooldown:
            want = max(1, ceil_units(current * low.mean() / self.target))
            return want if want < current else None
        return None

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        out: dict[int, Decision] = {}
        for a, current in enumerate(capacity):
            want = self.desired(a, t, units, current)
            if want is not None and want != current:
                out[a] = Decision(want)
                self._last_action[a] = t
        return out


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights`` (as VPA's decaying histogram)."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    idx = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(idx, len(values) - 1)])


@dataclass
class VpaStyle:
    """P90 of a decaying usage histogram + 15 %, applied by resizing to a discrete size."""

    sizes_units: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32, 48, 64)
    quantile: float = 0.9
    margin: float = 0.15
    half_life_steps: int = _DAY
    every: int = _HOUR
    name: str = "vpa-style"

    def _recommend(self, series: np.ndarray, t: int) -> int:
        ages = np.arange(series.shape[0])[::-1]
        weights = np.power(0.5, ages / self.half_life_steps)
        target = weighted_quantile(series, weights, self.quantile) * (1 + self.margin)
        fitting = [s for s in self.sizes_units if s >= target]
        if fitting:
            return fitting[0]
        big = self.sizes_units[-1]
        return big * ceil_units(target / big)

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        return [
            self._recommend(units[a, : cfg.train_steps], cfg.train_steps)
            for a in range(units.shape[0])
        ]

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        if t % self.every:
            return {}
        out: dict[int, Decision] = {}
        for a, current in enumerate(capacity):
            want = self._recommend(units[a, max(0, t - 14 * _DAY) : t], t)
            if want != current:
                out[a] = Decision(want, kind="resize")
        return out


@dataclass
class PredictiveScaling:
    """Day-ahead hourly forecast (mean load of that hour over the past 14 days), raised by
    ``margin``, as a floor."""

    target: float = 0.7
    margin: float = 0.0
    history_days: int = 14
    name: str = "predictive"
    tracking: TargetTracking = field(default_factory=TargetTracking)
    _floor: np.ndarray | None = None  # (n_apps, 24) capacity floor for the current day
    _day_start: int = -1

    def _forecast(self, units: np.ndarray, t: int) -> np.ndarray:
        days = min(self.history_days, t // _DAY)
        past = units[:, t - days * _DAY : t].reshape(units.shape[0], days, 24, _HOUR)
        hourly_load = past.mean(axis=3).mean(axis=1)  # (apps, 24): average load per hour
        return np.ceil(hourly_load * (1 + self.margin) / self.target - 1e-9)

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        self.tracking = TargetTracking(target=self.target)
        return self.tracking.start(trace, units, cfg)

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        if self._floor is None or t - self._day_start >= _DAY:
            self._floor = self._forecast(units, t)
            self._day_start = t
        hour = ((t - self._day_start) // _HOUR) % 24
        out: dict[int, Decision] = {}
        for a, current in enumerate(capacity):
            floor = int(self._floor[a, hour])
            want = self.tracking.desired(a, t, units, current)
            new = max(floor, want if want is not None else current)
            if new != current:
                out[a] = Decision(new)
                self.tracking._last_action[a] = t
        return out


@dataclass
class PerfectForesight:
    """The limit: knows every future step and plans around the provisioning delays.

    At step ``t`` it holds ``ceil`` of the highest demand over ``[t, t + delay]``: a scale-out
    asked now serves from ``t + delay`` on, a scale-in takes effect at once, so no interval is
    congested and nothing more than the rounding to whole units is held.
    """

    name: str = "perfect-foresight"
    _units: np.ndarray | None = None
    _delay: int = 1

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        self._units, self._delay = units, max(cfg.scale_out_delay, 0)
        return self._need(cfg.train_steps)

    def _need(self, t: int) -> list[int]:
        assert self._units is not None
        window = self._units[:, t : t + self._delay + 1]
        return [ceil_units(v) for v in window.max(axis=1)]

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        return {
            a: Decision(want)
            for a, (want, current) in enumerate(zip(self._need(t), capacity, strict=True))
            if want != current
        }
