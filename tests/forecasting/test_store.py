from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from forecasting.baseline import SeasonalNaive
from forecasting.lgbm import LightGBMForecaster
from forecasting.manifest import write_manifest
from forecasting.persist import ModelLoadError
from forecasting.store import ModelStore
from reconciler.clock import SimulatedClock

NOW = datetime(2024, 1, 6, tzinfo=UTC)


def test_save_load_roundtrip_versions_and_metadata(tmp_path: Path, fitted, series):
    store = ModelStore(str(tmp_path / "models"), clock=SimulatedClock(NOW))
    first = store.save("bandwidth", fitted, metrics={"mase": 0.8})
    second = store.save("bandwidth", fitted)
    assert (first.version, second.version) == (1, 2)
    assert store.versions("bandwidth") == [1, 2]
    meta = store.metadata("bandwidth", 1)
    assert meta["metrics"] == {"mase": 0.8}
    assert meta["created_at"] == NOW.isoformat()
    assert meta["training_window"]["end"] and "lag_0" in meta["features"]
    assert "lightgbm" in meta["libraries"]
    loaded = store.load("bandwidth")
    assert isinstance(loaded, LightGBMForecaster)
    assert loaded.predict(6).equals(fitted.predict(6))


def test_fsspec_memory_url(series):
    store = ModelStore("memory://headroom-test-store")
    baseline = SeasonalNaive().fit(series)
    info = store.save("snaive", baseline)
    assert info.url.startswith("memory://")
    again = store.load("snaive")
    assert isinstance(again, SeasonalNaive)
    assert again.predict(3).equals(baseline.predict(3))


def test_corrupt_artifact_raises_clear_error_and_falls_back(tmp_path: Path, fitted, series):
    store = ModelStore(str(tmp_path))
    info = store.save("cpu", fitted)
    booster = tmp_path / "cpu" / f"v{info.version:04d}" / "booster_0.txt"
    booster.write_text("garbage")
    with pytest.raises(ModelLoadError, match="booster_0.txt"):
        store.load("cpu")
    outcome = store.load_or_baseline("cpu", series)
    assert outcome.source == "baseline" and "booster_0.txt" in outcome.reason
    assert outcome.model.predict(2).height == 2 * series["series_id"].n_unique()


def test_incompatible_format_and_missing_model(tmp_path: Path, fitted, series):
    store = ModelStore(str(tmp_path))
    info = store.save("mem", fitted)
    meta = tmp_path / "mem" / f"v{info.version:04d}" / "model.json"
    meta.write_text(meta.read_text().replace('"format_version": 1', '"format_version": 99'))
    write_manifest(meta.parent)  # written so by another version, checksums and all
    with pytest.raises(ModelLoadError, match="format_version 99"):
        store.load("mem")
    outcome = store.load_or_baseline("nothing-here", series)
    assert outcome.source == "baseline" and "no saved versions" in outcome.reason
    ok = ModelStore(str(tmp_path / "ok"))
    ok.save("mem", fitted)
    good = ok.load_or_baseline("mem", series)
    assert good.source == "stored" and good.version == 1


def test_uncommitted_version_is_ignored(tmp_path: Path, fitted):
    store = ModelStore(str(tmp_path))
    store.save("x", fitted)
    (tmp_path / "x" / "v0002").mkdir()  # a crashed upload without store.json
    assert store.versions("x") == [1]
    assert store.save("x", fitted).version == 3
    with pytest.raises(ValueError, match="model name"):
        store.versions("../escape")


def test_seasonal_naive_and_lightgbm_update_after_load(tmp_path: Path, fitted, series):
    fitted.save(tmp_path / "m")
    loaded = LightGBMForecaster.load(tmp_path / "m")
    assert loaded.info["n_series"] == fitted.info["n_series"]
    latest = series.filter(pl.col("ts") > fitted.predict(1)["ts"].min())
    loaded.update(latest.head(5))


def test_a_model_saved_without_its_trained_quantiles_is_refused_by_name(
    tmp_path: Path, fitted, series
):
    """Before tail quantiles had boosters of their own, a (0.5, 0.9, 0.99) model had two: such a
    model is refused with the reason (and refitted by the cycle), not read with a booster short."""
    import json

    store = ModelStore(str(tmp_path))
    info = store.save("tail", fitted)
    meta_path = tmp_path / "tail" / f"v{info.version:04d}" / "model.json"
    meta = json.loads(meta_path.read_text())
    assert meta["trained_quantiles"] == [0.5, 0.9, 0.99]
    del meta["trained_quantiles"]
    meta_path.write_text(json.dumps(meta))
    write_manifest(meta_path.parent)
    with pytest.raises(ModelLoadError, match=r"model.json: no trained_quantiles .*refit"):
        store.load("tail")
    outcome = store.load_or_baseline("tail", series)
    assert outcome.source == "baseline" and "trained_quantiles" in outcome.reason
