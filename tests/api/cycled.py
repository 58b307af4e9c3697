"""A state database written by real cycles (``reconciler.loop.run_once``), built once per worker.

Two cycles over a synthetic two-region fleet: the second scores the first's forecasts (accuracy
records), remediation sees congestion at any use and borrows (``remediate.*`` commands), and the
plan records commands. Tests open a copy (``cycled_store``), so they may write to it; a test
module imports both fixture functions to use them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cycle import FleetSpec, synthetic_fleet
from reconciler.clock import SimulatedClock
from reconciler.loop import run_once
from reconciler.remediation import RemediationConfig
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.cycle.test_full_cycle import fast_policy

__all__ = ["CYCLED_AT", "cycled_db_fixture", "cycled_store_fixture"]

ROOT = Path(__file__).resolve().parents[2]
CYCLED_AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
CYCLES = 2
STEP = timedelta(minutes=15)


@pytest.fixture(scope="session", name="cycled_db")
def cycled_db_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cycled")
    provider = synthetic_fleet(
        FleetSpec(resources=24, groups=4, regions=("us-east-1", "eu-west-1"), metric_days=3.2),
        CYCLED_AT + timedelta(hours=1),
    )
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(root / "history"),
        state_dir=root / "state",
        database_url=f"sqlite:///{root / 'state.db'}",
        steps=StepSettings(
            remediation=RemediationConfig(utilisation_threshold=0.05, points=1, borrow_margin=1.5)
        ),
    )
    clock = SimulatedClock(CYCLED_AT)
    state = StateStore.open(settings.database_url or "")
    policy = fast_policy()
    for _ in range(CYCLES):
        ctx = build_context(settings, clock=clock, provider=provider, policy=policy, state=state)
        report = run_once(ctx)
        assert report.ok, report.error
        clock.advance(STEP)
    state.close()
    return root / "state.db"


@pytest.fixture(name="cycled_store")
def cycled_store_fixture(cycled_db: Path, tmp_path: Path) -> Iterator[StateStore]:
    copy = tmp_path / "cycled.db"
    shutil.copyfile(cycled_db, copy)
    store = StateStore.open(f"sqlite:///{copy}", migrate=False)
    yield store
    store.close()
