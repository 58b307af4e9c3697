"""Headroom in the replay: the real cycle, ``reconciler.loop.run_once``, on a replayed cloud.

Only the provider, the clock and the actuator are swapped:

- ``providers.replay.ReplayProvider`` serves each app as an autoscaling group of the base type
  whose members share the app's recorded demand, as CloudWatch-shaped metrics up to the clock;
- ``reconciler.clock.SimulatedClock`` moves one replay step at a time, and a cycle runs at each
  fire time of the policy's cron schedule;
- ``reconciler.simulate.actuator.ReplayActuator`` takes the desired state the apply step built
  and sets each scaling group's count on the provider, a scale-out in service after the
  engine's scale-out delay.

Everything else is production: ``build_context`` (``PackageSteps``, a SQLite state store and a
history store in a temporary folder), a ``ModelCache`` in ``ctx.models`` so forecasters are
refitted on their schedule (``ForecastSettings.retrain_every``), not every cycle. Each app is a
manual group of the policy (``match_tags: {app: <name>}``): the recordings have no flows to find
groups in. The capacity the engine scores each step is what the provider has in service.

The first cycle runs at the first replayed step; its scale-outs are in service at once (the
fleet as it stood when the replay starts), later ones after the delay.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from policies.schema import ManualGroup, Policy
from providers.replay import ReplayApp, ReplayProvider
from reconciler.clock import SimulatedClock
from reconciler.simulate.actuator import ReplayActuator
from reconciler.simulate.engine import Decision, SimConfig
from reconciler.simulate.trace import AppTrace

__all__ = ["FORECASTERS", "HeadroomStrategy", "app_groups", "cycle_steps"]

#: ``--forecaster`` choices: the production model choice, or the seasonal naive baseline for
#: every series (LightGBM needs more days of history than ever replayed: a fast smoke run).
FORECASTERS = ("lightgbm", "seasonal-naive")


def cycle_steps(policy: Policy, start: Any, step_s: int) -> int:
    """Replay steps between two runs of the policy's cron schedule (at least one)."""
    from policies.cron import crontab_trigger

    trigger = crontab_trigger(policy.schedule.cron, timezone=policy.schedule.timezone)
    first = trigger.get_next_fire_time(None, start)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    if first is None or second is None:
        raise ValueError(f"schedule {policy.schedule.cron!r} never fires after {start}")
    return max(1, round((second - first).total_seconds() / step_s))


def app_groups(policy: Policy, apps: list[str]) -> Policy:
    """``policy`` with a manual group per replayed app (its members by their ``app`` tag),
    unless the policy already names groups by hand."""
    sel = policy.group_selection
    if sel.manual_groups:
        return policy
    groups = [ManualGroup(name=a, match_tags={"app": a}) for a in apps]
    return policy.model_copy(
        update={"group_selection": sel.model_copy(update={"manual_groups": groups})}
    )


@dataclass
class CycleLog:
    """What the replay keeps of each ``run_once``: enough to show it ran the real steps."""

    at: Any
    status: str
    steps: tuple[str, ...]
    seconds: float
    step_seconds: dict[str, float]
    applied: str | None
    error: str | None = None


@dataclass
class HeadroomStrategy:
    policy: Policy
    forecaster: str = "lightgbm"
    name: str = "headroom"
    cycle: int | None = None  # steps between cycles; None: from the policy's cron schedule
    workdir: Path | None = None  # state and history; None: a temporary folder
    cycles: list[CycleLog] = field(default_factory=list)
    provider: ReplayProvider | None = None
    actuator: ReplayActuator | None = None
    _clock: SimulatedClock | None = None
    _ctx_args: dict[str, Any] = field(default_factory=dict)
    _trace: AppTrace | None = None
    _train: int = 0
    _tmp: Any = None

    @property
    def failed(self) -> list[CycleLog]:
        return [c for c in self.cycles if c.status != "ok"]

    @property
    def cycle_seconds(self) -> float:
        """Mean wall time of one cycle (``run_once`` alone), the first (cold) one left out."""
        warm = [c.seconds for c in self.cycles[1:]] or [c.seconds for c in self.cycles]
        return float(np.mean(warm)) if warm else 0.0

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        from forecasting.cache import ModelCache
        from forecasting.grid import ForecastSettings
        from policies.actions import ScaleAction
        from reconciler.history import HistoryStore
        from reconciler.state import StateStore
        from reconciler.steps.build import CycleSettings
        from reconciler.steps.package import StepSettings

        if self.forecaster not in FORECASTERS:
            raise ValueError(f"forecaster must be one of {FORECASTERS}, got {self.forecaster!r}")
        self._trace, self._train = trace, cfg.train_steps
        policy = app_groups(self.policy, trace.apps)
        if self.cycle is None:
            self.cycle = cycle_steps(policy, trace.start(), trace.step_s)
        step = timedelta(seconds=trace.step_s)
        now = trace.start() + step * cfg.train_steps
        self._clock = SimulatedClock(now)
        scale = policy.action(ScaleAction)
        target = scale.target_utilization if scale is not None else 1.0
        recent = units[:, max(0, cfg.train_steps - 12) : cfg.train_steps].max(axis=1)
        self.provider = ReplayProvider(
            [
                ReplayApp(
                    name=app,
                    region=trace.regions[a],
                    cpu_vcpu=trace.demand["cpu_vcpu"][a],
                    memory_gib=trace.demand["memory_gib"][a],
                    network_gbps=trace.demand["network_gbps"][a],
                )
                for a, app in enumerate(trace.apps)
            ],
            start=trace.start(),
            step=step,
            clock=self._clock,
            catalog={cfg.base.name: cfg.base},
            instance_type=cfg.base.name,
            initial={
                app: max(1, math.ceil(recent[a] / target)) for a, app in enumerate(trace.apps)
            },
            scale_out_delay=step * cfg.scale_out_delay,
        )
        self.actuator = ReplayActuator(self.provider, cfg.base, cfg.region_units, immediate=True)
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="headroom-replay-")
            root = Path(self._tmp.name)
        else:
            root = self.workdir
        root.mkdir(parents=True, exist_ok=True)
        forecast = ForecastSettings()
        if self.forecaster == "seasonal-naive":
            forecast = ForecastSettings(min_lgbm_days=math.inf)
        settings = CycleSettings(
            policy_path=Path("replay.yaml"),
            history_root=str(root / "history"),
            state_dir=root,
            database_url=f"sqlite:///{root / 'state.db'}",
            check_policy=False,
            steps=StepSettings(metric_backfill=policy.forecast.lookback, forecast=forecast),
        )
        self._ctx_args = {
            "settings": settings,
            "policy": policy,
            "state": StateStore.open(settings.database_url or ""),
            "models": ModelCache(),
            "history": HistoryStore(settings.history_root),
        }
        self._run_cycle()
        self.actuator.immediate = False
        return self._in_force()

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        assert self._clock is not None and self._trace is not None
        self._clock.current = self._trace.start() + timedelta(seconds=self._trace.step_s * t)
        if t > self._train and (t - self._train) % (self.cycle or 1) == 0:
            self._run_cycle()  # ``start`` ran the cycle at the first replayed step
        return {
            a: Decision(n, kind="in_force")
            for a, n in enumerate(self._in_force())
            if n != capacity[a]
        }

    def _in_force(self) -> list[int]:
        assert self.provider is not None and self._trace is not None
        base = self.actuator.unit if self.actuator is not None else None
        assert base is not None
        return [self.provider.units(f"asg-{app}", base) for app in self._trace.apps]

    def _run_cycle(self) -> None:
        """One real cycle: ``build_context`` then ``run_once``, seen through its observer."""
        from reconciler.loop import run_once
        from reconciler.steps.build import build_context

        assert self._clock is not None and self.provider is not None
        args = self._ctx_args
        ctx = build_context(
            args["settings"],
            clock=self._clock,
            provider=self.provider,
            actuator=self.actuator,
            policy=args["policy"],
            state=args["state"],
            holder="replay",
            models=args["models"],
            history=args["history"],
        )
        seen: list[Any] = []
        ctx.observer = lambda report, out: seen.append((report, out))
        t0 = time.perf_counter()
        report = run_once(ctx)
        seconds = time.perf_counter() - t0
        applied = None
        if seen and seen[0][1].applied is not None:
            applied = str(seen[0][1].applied.outcome)
        self.cycles.append(
            CycleLog(
                at=report.started_at,
                status=str(report.status),
                steps=tuple(s.name for s in report.steps if str(s.status) == "ok"),
                seconds=seconds,
                step_seconds={s.name: s.seconds for s in report.steps},
                applied=applied,
                error=report.error,
            )
        )
