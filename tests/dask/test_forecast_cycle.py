"""The forecast step on ``engine: dask``: the policy's engine picks the model factory
(``reconciler.steps.build.engine_models``), LightGBM trains and predicts on the cluster through
the client the history queries keep, and ``run_once`` serves, stores and reuses its fits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from forecasting.baseline import SeasonalNaive
from forecasting.cache import ModelCache
from forecasting.grid import ForecastGrid
from forecasting.lgbm import LightGBMForecaster
from forecasting.lgbm_dask import DaskLightGBMForecaster
from forecasting.serve import default_model
from forecasting.shelf import store_name
from forecasting.store import ModelStore
from policies.schema import Engine
from reconciler.clock import SimulatedClock
from reconciler.history.engine import close_clients, connect
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context, engine_models
from tests.cycle.test_full_cycle import ROOT, fast_policy
from tests.dask.conftest import NOW
from tests.dask.test_lgbm_dask import _ready


@pytest.fixture(autouse=True)
def _close_kept_clients():
    yield
    close_clients()


def _policy(engine: Engine) -> Any:
    return fast_policy().model_copy(update={"engine": engine})


def test_engine_local_keeps_the_local_models() -> None:
    assert engine_models(_policy(Engine())) is None
    assert engine_models(None) is None


def test_engine_dask_builds_lightgbm_on_the_history_client(cluster: Any) -> None:
    address = cluster.scheduler_address
    build = engine_models(
        _policy(Engine(kind="dask", scheduler=address, timeout=timedelta(minutes=2)))
    )
    assert build is not None
    grid = ForecastGrid()
    model = build("lightgbm", grid)
    assert isinstance(model, DaskLightGBMForecaster)
    assert model.client is connect(address)  # the client the history queries keep
    assert model.timeout == timedelta(minutes=2)
    local = default_model("lightgbm", grid)
    assert model.config == local.config  # the same forecaster, trained elsewhere
    assert isinstance(build("seasonal-naive", grid), SeasonalNaive)


def test_engine_dask_connects_only_for_lightgbm() -> None:
    # nothing listens on port 1: a baseline is built without asking for the cluster
    build = engine_models(_policy(Engine(kind="dask", scheduler="tcp://127.0.0.1:1")))
    assert build is not None
    assert isinstance(build("seasonal-naive", ForecastGrid()), SeasonalNaive)


@pytest.mark.slow  # a whole cycle with its LightGBM fits on the cluster: 1-3 minutes here
def test_run_once_with_engine_dask_trains_stores_and_serves_lightgbm_on_the_cluster(
    tmp_path: Path, cluster: Any, client: Any
) -> None:
    from bench.cycle import FleetSpec, synthetic_fleet

    _ready(client)
    provider = synthetic_fleet(FleetSpec(resources=24, groups=4, metric_days=3.2), NOW)
    engine = Engine(kind="dask", scheduler=cluster.scheduler_address)
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        model_store=str(tmp_path / "models"),
    )
    cache = ModelCache()
    ctx = build_context(
        settings, clock=SimulatedClock(NOW), provider=provider, policy=_policy(engine), models=cache
    )
    report = run_once(ctx)
    assert report.ok, report.error
    summary = report.step("forecast").summary
    assert "fallbacks" not in summary, summary.get("fallbacks")
    assert summary["near_term"]["models"].get("lightgbm", 0) >= 4, summary["near_term"]
    fits = {k: e.model for k, e in cache.entries.items() if k.startswith("lightgbm")}
    assert fits and all(isinstance(m, DaskLightGBMForecaster) for m in fits.values())
    assert all(m.info["dask"]["workers"] >= 1 for m in fits.values())
    assert {s["source"] for k, s in summary["model_sources"].items() if k in fits} == {"fit"}
    # each fit is in the model store, checksummed; loaded back (a plain LightGBMForecaster)
    # it forecasts exactly what the cluster forecasts from the same boosters
    store = ModelStore(str(tmp_path / "models"))
    for key, model in fits.items():
        name = store_name(key)
        version = store.latest(name)
        assert version is not None, name
        loaded = store.load_checked(name, version)
        assert type(loaded) is LightGBMForecaster
        steps = model.config.horizon
        assert_frame_equal(loaded.predict(steps), model.predict(steps), check_exact=True)
