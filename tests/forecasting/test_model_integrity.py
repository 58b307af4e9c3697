"""Model files carry checksums; nothing unverified reaches LightGBM's native loader; fits are
kept in the store and reused while fresh (issue 13, finding 14)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from forecasting.baseline import SeasonalNaive
from forecasting.booster_text import check_booster_text
from forecasting.cache import ModelCache
from forecasting.lgbm import LightGBMForecaster
from forecasting.manifest import MANIFEST_FILE, read_verified
from forecasting.persist import ModelLoadError
from forecasting.shelf import ModelShelf
from forecasting.store import ModelStore

NOW = datetime(2024, 1, 6, tzinfo=UTC)
KEY = "lightgbm@300s/near-term"
EVERY = timedelta(hours=6)


def test_save_writes_a_manifest_of_every_file_and_no_temporaries(tmp_path: Path, fitted) -> None:
    fitted.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != MANIFEST_FILE)
    assert sorted(manifest["files"]) == names  # no .tmp left behind
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())
    assert set(read_verified(tmp_path)) == set(names)


def test_lightgbm_parses_verified_text_never_a_path(
    tmp_path: Path, fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightgbm

    seen: list[dict[str, Any]] = []
    real = lightgbm.Booster

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(**kwargs)

    fitted.save(tmp_path)
    monkeypatch.setattr(lightgbm, "Booster", spy)
    loaded = LightGBMForecaster.load(tmp_path)
    assert seen and all(set(k) == {"model_str"} for k in seen)
    assert loaded.predict(3).equals(fitted.predict(3))


def test_every_truncation_inside_the_trees_is_refused_before_lightgbm(fitted) -> None:
    text = fitted._state().boosters[0].model_to_string()
    features = fitted.feature_names
    check_booster_text(text, features)
    end = text.index("end of trees")
    for cut in range(0, end, max(1, end // 300)):
        with pytest.raises(ModelLoadError):
            check_booster_text(text[:cut], features)


def _shelf(tmp_path: Path) -> ModelShelf:
    return ModelShelf(ModelStore(str(tmp_path / "models")))


def test_shelf_hands_back_a_fresh_fit_and_refuses_a_stale_or_foreign_one(
    tmp_path: Path, fitted
) -> None:
    shelf = _shelf(tmp_path)
    ids = {"s00", "s01"}
    assert shelf.fetch(KEY, NOW, ids, EVERY, (1, 6)) is None  # nothing stored yet
    assert shelf.keep(KEY, fitted, NOW, ids | {"s02"}, (1, 12)) == 1
    later = NOW + timedelta(hours=1)
    found = shelf.fetch(KEY, later, ids, EVERY, (1, 6), like=lambda: fitted)
    assert found is not None and found.version == 1 and found.fitted_at == NOW
    assert found.model.predict(3).equals(fitted.predict(3))
    assert shelf.fetch(KEY, NOW + EVERY, ids, EVERY, (1, 6)) is None  # retrain interval
    assert shelf.fetch(KEY, later, {"s99"}, EVERY, (1, 6)) is None  # a series it never saw
    assert shelf.fetch(KEY, later, ids, EVERY, (1, 24)) is None  # steps it does not cover
    other = LightGBMForecaster(n_estimators=7)
    assert shelf.fetch(KEY, later, ids, EVERY, (1, 6), like=lambda: other) is None
    assert shelf.keep(KEY, SeasonalNaive(), NOW, ids, (1, 6)) is None  # cheap: not stored


def test_a_damaged_stored_fit_is_quarantined_logged_once_and_refitted(
    tmp_path: Path, fitted
) -> None:
    shelf = _shelf(tmp_path)
    shelf.keep(KEY, fitted, NOW, {"s00"}, (1, 12))
    version = tmp_path / "models" / "lightgbm-300s-near-term" / "v0001"
    (version / "booster_1.txt").write_bytes(b"tree\nversion=v4\n")
    with capture_logs() as logs:
        assert shelf.fetch(KEY, NOW, {"s00"}, EVERY, (1, 12)) is None
    (line,) = [e for e in logs if e["log_level"] == "warning"]
    assert line["event"] == "stored_model_rejected" and "booster_1.txt" in line["reason"]
    assert not version.exists() and len(list(version.parent.glob("quarantine/v0001-*"))) == 1


def test_a_store_that_refuses_writes_never_fails_the_fit(tmp_path: Path, fitted) -> None:
    (tmp_path / "file").write_text("not a folder")
    shelf = ModelShelf(ModelStore(str(tmp_path / "file" / "models")))
    with capture_logs() as logs:
        assert shelf.keep(KEY, fitted, NOW, {"s00"}, (1, 12)) is None
    assert [e["event"] for e in logs] == ["model_store_save_failed"]


def test_cache_takes_a_miss_from_the_store_and_says_where_each_model_came_from(
    tmp_path: Path, fitted
) -> None:
    first = ModelCache(shelf=_shelf(tmp_path), track_feedback=False)
    assert first.get(KEY, NOW, {"s00"}, EVERY, (1, 12)) is None
    first.put(KEY, fitted, NOW, {"s00"}, (1, 12))
    assert first.sources[KEY] == {"source": "fit", "fitted_at": NOW.isoformat(), "version": 1}
    second = ModelCache(shelf=_shelf(tmp_path))  # the next process
    later = NOW + timedelta(minutes=15)
    assert second.get(KEY, later, {"s00"}, EVERY, (1, 12)) is not None
    assert (second.fits, second.loads) == (0, 1)
    assert second.sources[KEY]["source"] == "store"
    assert second.get(KEY, later, {"s00"}, EVERY, (1, 12)) is not None
    assert second.sources[KEY]["source"] == "memory" and second.loads == 1
