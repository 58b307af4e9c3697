from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policies.schema import Pools, RegionPool
from reconciler.allocation import GroupDemand, allocate
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.state import (
    AccuracyRecord,
    ForecastRecord,
    GroupEventRecord,
    GroupRecord,
    StateStore,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def seed(store: StateStore) -> None:
    """Three groups in two regions, two runs of allocations, forecasts, accuracy and events."""
    groups = [
        GroupRecord("web", "web", "discovered", T0, ("i-1", "i-2"), confidence=0.9),
        GroupRecord("batch", "batch", "discovered", T0, ("i-3",)),
        GroupRecord("api", "api", "shared-services", T0, ("i-4",)),
    ]
    store.save_composition(T0, groups, [GroupEventRecord("web", "formed", "community", T0)])
    pools = Pools(
        global_gbps=20.0,
        regions={
            "us-east-1": RegionPool(capacity_gbps=12.0, guaranteed_gbps=8.0),
            "eu-west-1": RegionPool(capacity_gbps=10.0, guaranteed_gbps=6.0),
        },
    )
    demands = [
        GroupDemand(
            group_id="web",
            region="us-east-1",
            demand_gbps=6.0,
            guarantee_gbps=2.0,
            priority=0,
            ceiling_gbps=10.0,
        ),
        GroupDemand(group_id="batch", region="us-east-1", demand_gbps=9.0, priority=2),
        GroupDemand(group_id="api", region="eu-west-1", demand_gbps=4.0, priority=1),
    ]
    for i in range(2):
        run = f"r{i}"
        store.record_run_start(run, T0 + i * H)
        store.save_allocation_result(
            run,
            T0 + i * H,
            allocate(pools, demands),
            used_gbps={"web": 3.0 + i},
            pool_used_gbps={"global": 9.0},
        )
        store.record_run_finish(run, T0 + i * H, status="succeeded", step_timings={"plan": 0.1})
    store.save_forecasts(
        "r1",
        T0 + H,
        [
            ForecastRecord(
                "web", "network_gbps", T0 + 2 * H, {"0.1": 2.0, "0.5": 4.0, "0.9": 6.0}, "lgbm", "1"
            ),
        ],
    )
    store.record_accuracy(
        [
            AccuracyRecord(
                "web", "network_gbps", T0, {"0.1": 2.0, "0.5": 3.0, "0.9": 5.0}, 4.0, "lgbm"
            ),
            AccuracyRecord(
                "web", "network_gbps", T0 + H, {"0.1": 2.0, "0.5": 3.0, "0.9": 5.0}, 6.0, "lgbm"
            ),
        ]
    )


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded SQLite file, built once; each test works on a copy."""
    path = tmp_path_factory.mktemp("api-template") / "api.db"
    s = StateStore.open(f"sqlite:///{path}")
    seed(s)
    s.close()
    return path


@pytest.fixture
def store(seeded_template: Path, tmp_path: Path) -> Iterator[StateStore]:
    copy = tmp_path / "api.db"
    shutil.copyfile(seeded_template, copy)
    s = StateStore.open(f"sqlite:///{copy}", migrate=False)
    yield s
    s.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0 + 2 * H)


@pytest.fixture
def client(store: StateStore, clock: SimulatedClock) -> Iterator[TestClient]:
    with TestClient(create_app(store, clock=clock)) as c:
        yield c


@pytest.fixture
def read_h(store: StateStore) -> dict[str, str]:
    _, token = issue_token(store, name="reader", scope="read", at=T0)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def write_h(store: StateStore) -> dict[str, str]:
    _, token = issue_token(store, name="writer", scope="write", at=T0)
    return {"Authorization": f"Bearer {token}"}
