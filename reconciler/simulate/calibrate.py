"""Choose Headroom's scale-in hold on the days before the replay, never on the replay itself.

How long Headroom keeps capacity after a burst (its scale-in hold) sets where it sits on the
congestion/slack trade-off. An operator's objective picks the point: the fewest congested
intervals at no more cost than reactive target tracking (the issue's goal). The choice is made
the way the running system would make it, chronologically: the last ``days`` of the training
window are replayed with forecasts from a model fitted only on the days before them, every
candidate hold and the reactive peer under the same constraints, and the candidate that meets
the objective there is the one replayed afterwards. Nothing of the replay window is looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from policies.schema import Policy
from reconciler.simulate.engine import SimConfig, SimResult, replay
from reconciler.simulate.headroom import HeadroomStrategy
from reconciler.simulate.peers import TargetTracking
from reconciler.simulate.trace import AppTrace

__all__ = ["CANDIDATE_HOLD_HOURS", "Calibration", "calibrate_hold"]

#: Scale-in holds (hours) Headroom chooses among.
CANDIDATE_HOLD_HOURS = (1, 2, 6, 24)
_STEPS_PER_HOUR = 12


@dataclass(frozen=True)
class Calibration:
    """The hold chosen and what every candidate did on the calibration days."""

    hold_hours: int
    days: float
    reactive: SimResult
    candidates: tuple[tuple[int, SimResult], ...]
    reason: str

    def line(self) -> str:
        base = self.reactive.cost_usd
        tried = ", ".join(
            f"{h} h: congested {r.congested_pct:.2f}% cost {r.cost_usd / base:.2f}x"
            for h, r in self.candidates
        )
        return (
            f"calibrated on the {self.days:g} days before the replay: hold {self.hold_hours} h "
            f"({self.reason}); reactive congested {self.reactive.congested_pct:.2f}%; {tried}"
        )


def calibrate_hold(
    trace: AppTrace,
    cfg: SimConfig,
    policy: Policy,
    *,
    factory: Any,
    days: float = 7.0,
    candidates: Sequence[int] = CANDIDATE_HOLD_HOURS,
    refit_every: int | None = 7 * 288,
) -> Calibration:
    """Replay the last ``days`` of the training window and pick the hold there.

    ``days`` is cut to half the training window, so the model that forecasts the calibration
    days is fitted on at least as many days before them.
    """
    if not candidates:
        raise ValueError("calibrate_hold needs at least one candidate hold")
    cal_steps = min(round(days * 288), cfg.train_steps // 2)
    if cal_steps < _STEPS_PER_HOUR:
        raise ValueError(
            f"{cfg.train_steps} training steps leave no calibration window (need at least "
            f"{2 * _STEPS_PER_HOUR})"
        )
    past = trace.window(0, cfg.train_steps)
    cal_cfg = replace(cfg, train_steps=cfg.train_steps - cal_steps)
    reactive = replay(past, TargetTracking(), cal_cfg)
    tried: list[tuple[int, SimResult]] = []
    forecasts = None
    for hours in candidates:
        strategy = HeadroomStrategy(
            policy,
            factory=factory,
            refit_every=refit_every,
            forecasts=forecasts,
            hold_steps=hours * _STEPS_PER_HOUR,
            name=f"headroom-{hours}h-hold",
        )
        tried.append((hours, replay(past, strategy, cal_cfg)))
        forecasts = strategy.forecasts  # the same forecasts for every candidate
    affordable = [(h, r) for h, r in tried if r.cost_usd <= reactive.cost_usd + 1e-9]
    if affordable:
        hold, _ = min(affordable, key=lambda hr: (hr[1].congested_count, hr[1].cost_usd))
        reason = "fewest congested at no more cost than reactive"
    else:
        hold, _ = min(tried, key=lambda hr: (hr[1].cost_usd, hr[1].congested_count))
        reason = "none as cheap as reactive: the cheapest"
    return Calibration(hold, cal_steps / 288, reactive, tuple(tried), reason)
