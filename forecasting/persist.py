"""Reading and writing forecaster artifacts as plain files (JSON, LightGBM text, Parquet).

No pickle: an artifact is a directory that any version of this code can inspect, and a corrupt
or incompatible one fails with ``ModelLoadError`` saying which file and why.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from forecasting.features import FeatureSpec

if TYPE_CHECKING:
    from forecasting.lgbm import LightGBMForecaster, _Fitted

__all__ = [
    "FORMAT_VERSION",
    "ModelLoadError",
    "library_versions",
    "load_lightgbm",
    "read_meta",
    "save_lightgbm",
]

FORMAT_VERSION = 1
META_FILE = "model.json"


class ModelLoadError(RuntimeError):
    """An artifact is missing, corrupt or was written by an incompatible version."""


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for name in ("lightgbm", "numpy", "polars", "headroom"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - depends on the install
            out[name] = "unknown"
    return out


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{meta_path}: no model metadata (not a saved model?)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{meta_path}: unreadable metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{meta_path}: metadata is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{meta_path}: format_version {meta.get('format_version')!r} is not supported "
            f"(this code reads {FORMAT_VERSION})"
        )
    return meta


def save_lightgbm(model: LightGBMForecaster, state: _Fitted, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for j, booster in enumerate(state.boosters):
        booster.save_model(str(path / f"booster_{j}.txt"))
    state.history.write_parquet(path / "history.parquet")
    if state.static is not None:
        state.static.write_parquet(path / "static.parquet")
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "lightgbm",
        "config": asdict(model.config),
        "spec": asdict(state.spec),
        "offsets": state.offsets.tolist(),
        "nonnegative": state.nonnegative,
        "vocab": state.vocab,
        "info": state.info,
        "libraries": library_versions(),
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=2, default=str))


def load_lightgbm(cls: type[LightGBMForecaster], path: Path) -> LightGBMForecaster:
    import lightgbm as lgb

    from forecasting.lgbm import _Fitted, _set_fitted

    meta = read_meta(path)
    if meta.get("kind") != "lightgbm":
        raise ModelLoadError(f"{path}: artifact kind {meta.get('kind')!r} is not 'lightgbm'")
    try:
        config = dict(meta["config"])
        for key in ("quantiles", "windows", "seasonal_multiples"):
            config[key] = tuple(config[key])
        model = cls(
            freq=config.pop("freq"),
            quantiles=config.pop("quantiles"),
            season_length=config.pop("season_length"),
            **config,
        )
        spec_raw = dict(meta["spec"])
        for key in (
            "windows",
            "seasonal_multiples",
            "static_numeric",
            "static_categorical",
            "exog",
        ):
            spec_raw[key] = tuple(spec_raw[key])
        spec = FeatureSpec(**spec_raw)
        offsets = np.asarray(meta["offsets"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path / META_FILE}: incompatible metadata ({exc!r})") from exc
    boosters = []
    from forecasting.lgbm import trained_quantiles

    for j in range(len(trained_quantiles(model.quantiles))):
        file = path / f"booster_{j}.txt"
        try:
            booster = lgb.Booster(model_file=str(file))
        except Exception as exc:  # LightGBM raises its own error type or OSError
            raise ModelLoadError(f"{file}: cannot load LightGBM booster ({exc})") from exc
        if booster.feature_name() != spec.names():
            raise ModelLoadError(f"{file}: feature names do not match the metadata")
        boosters.append(booster)
    if offsets.shape != (len(model.quantiles), model.config.horizon):
        raise ModelLoadError(f"{path / META_FILE}: offsets shape {offsets.shape} is wrong")
    try:
        history = pl.read_parquet(path / "history.parquet")
        static_file = path / "static.parquet"
        static = pl.read_parquet(static_file) if static_file.exists() else None
    except Exception as exc:  # polars raises several error types for bad files
        raise ModelLoadError(f"{path}: cannot read stored history ({exc})") from exc
    _set_fitted(
        model,
        _Fitted(
            spec=spec,
            boosters=boosters,
            offsets=offsets,
            nonnegative=bool(meta["nonnegative"]),
            vocab={k: list(v) for k, v in meta["vocab"].items()},
            history=history,
            static=static,
            info=dict(meta.get("info", {})),
        ),
    )
    return model
