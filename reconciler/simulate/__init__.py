"""Replay simulator: real traces through Headroom's own cycle (``run_once`` on a replayed
provider, clock and actuator) and through the strategies it is compared with."""

from reconciler.simulate.actuator import ReplayActuator
from reconciler.simulate.engine import (
    Decision,
    SimConfig,
    SimResult,
    Strategy,
    demand_units,
    replay,
)
from reconciler.simulate.headroom import HeadroomStrategy
from reconciler.simulate.peers import PredictiveScaling, StaticPeak, TargetTracking, VpaStyle
from reconciler.simulate.run import (
    BASE_TYPE,
    Headline,
    Scenario,
    default_config,
    default_strategies,
    headline,
    replay_policy,
    run_strategies,
    simulate,
)
from reconciler.simulate.trace import AppTrace, load_trace

__all__ = [
    "BASE_TYPE",
    "AppTrace",
    "Decision",
    "Headline",
    "HeadroomStrategy",
    "PredictiveScaling",
    "ReplayActuator",
    "Scenario",
    "SimConfig",
    "SimResult",
    "StaticPeak",
    "Strategy",
    "TargetTracking",
    "VpaStyle",
    "default_config",
    "default_strategies",
    "demand_units",
    "headline",
    "load_trace",
    "replay",
    "replay_policy",
    "run_strategies",
    "simulate",
]
