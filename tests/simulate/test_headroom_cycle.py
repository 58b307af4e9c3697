"""Headroom in the replay is the production cycle: ``run_once`` on a replayed cloud."""

from __future__ import annotations

import numpy as np

from reconciler.loop import STEP_NAMES
from reconciler.simulate import (
    HeadroomStrategy,
    default_config,
    demand_units,
    load_trace,
    replay,
    replay_policy,
)


def _replayed(data_root, tmp_path, cron="0 */2 * * *"):
    trace = load_trace(data_root, n_apps=2)
    trace = trace.window(0, 2 * 288 + 96)  # 8 hours replayed after 2 days of history
    cfg = default_config(trace, train_steps=2 * 288)
    strategy = HeadroomStrategy(
        replay_policy(cron=cron), forecaster="seasonal-naive", workdir=tmp_path / "replay"
    )
    return trace, cfg, strategy, replay(trace, strategy, cfg)


def test_every_cycle_is_run_once_through_the_apply_step(data_root, tmp_path):
    trace, _cfg, strategy, result = _replayed(data_root, tmp_path)
    # one cycle at the start, then one at every fire time of the cron (every 24 steps)
    assert strategy.cycle == 24
    assert len(strategy.cycles) == 4  # steps 0, 24, 48, 72 of the 96 replayed
    for c in strategy.cycles:
        assert c.status == "ok", c.error
        assert c.steps == STEP_NAMES  # every production step ran, in order
    assert strategy.cycles[0].applied == "applied"
    # the actuator got the desired states the apply step built: one scaling group per app
    assert strategy.actuator is not None and strategy.provider is not None
    assert len(strategy.actuator.applied) >= 1
    last = strategy.actuator.applied[-1]
    declared = {sg.physical_name: sg.desired for g in last.groups for sg in g.scaling_groups}
    assert set(declared) == {f"asg-{a}" for a in trace.apps}
    # ... and the provider's capacity is what was applied
    assert declared == {a: strategy.provider.desired(a) for a in declared}
    # the state store recorded each cycle's plan: commands planned by the real planner
    state = strategy._ctx_args["state"]
    assert state.list_commands(("applied",), limit=100)
    assert result.steps == 96 and result.cost_usd > 0 and result.changes >= 1


def test_capacity_scored_is_what_the_provider_has_in_service(data_root, tmp_path):
    """The engine holds, each step, the provider's in-service units: a scale-out applied by a
    cycle serves one step (the scale-out delay) after it."""
    from reconciler.simulate.engine import Decision

    trace, cfg, _strategy, _ = _replayed(data_root, tmp_path, cron="0 * * * *")
    seen: list[tuple[int, int]] = []
    units = demand_units(trace, cfg.base)

    class Spy(HeadroomStrategy):
        def decide(self, t, u, capacity):
            out = super().decide(t, u, capacity)
            assert self.provider is not None
            held = out.get(0, Decision(capacity[0])).units
            seen.append((held, self.provider.units("asg-app-00", cfg.base)))
            return out

    spy = Spy(replay_policy(cron="0 * * * *"), forecaster="seasonal-naive")
    replay(trace, spy, cfg)
    assert seen and all(held == live for held, live in seen)
    assert np.isfinite(units).all()


def _ramp_trace():
    """Two apps, 2 days of history and 2 hours replayed: 1 unit of CPU each, 20 units from
    00:30 to 03:00 every day, so the first replayed cycle (00:00 of day 3) sees the ramp in its
    window."""
    from reconciler.simulate.trace import AppTrace

    n = 3 * 288 + 24
    minute = np.arange(n) * 5 % 1440
    cpu = np.where((minute >= 30) & (minute < 180), 40.0, 2.0)
    cpu = np.vstack([cpu, cpu])
    return AppTrace(
        ts=(np.arange(n) * 5).astype("datetime64[m]").astype("datetime64[us]"),
        apps=["app-00", "app-01"],
        regions=["eu-west-1", "eu-west-1"],
        demand={"cpu_vcpu": cpu, "memory_gib": cpu, "network_gbps": np.zeros_like(cpu)},
        vms={"app-00": [], "app-01": []},
    )


def test_scale_outs_reach_the_need_in_one_cycle_outside_the_budget(tmp_path):
    """Through ``run_once``: with ``budget_scale_outs: false`` (the replay policy's) both apps
    grow to the ramp at the first cycle; budgeted, the fleet (2 instances each, from the last
    hour's 1 unit at 90 %) may grow by its size, 4, a cycle (``max_fraction_changed: 1.0``):
    the larger need gets the 4, the other is held back."""
    trace = _ramp_trace()
    cfg = default_config(trace, train_steps=3 * 288, pool_factor=10.0)
    grown = {}
    for budgeted in (False, True):
        base = replay_policy(cron="0 * * * *")
        policy = base.model_copy(
            update={"safety": base.safety.model_copy(update={"budget_scale_outs": budgeted})}
        )
        strategy = HeadroomStrategy(
            policy, forecaster="seasonal-naive", workdir=tmp_path / f"b{budgeted}"
        )
        strategy.start(trace, demand_units(trace, cfg.base), cfg)
        assert strategy.cycles[0].status == "ok", strategy.cycles[0].error
        assert strategy.provider is not None
        grown[budgeted] = [strategy.provider.desired(f"asg-{a}") for a in trace.apps]
    assert all(n >= 20 for n in grown[False]), grown  # 40 vCPU at 90 % of 2 vCPU: 23
    assert sorted(grown[True]) == [2, 6], grown
