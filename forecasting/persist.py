"""Reading and writing forecaster artifacts as plain files (JSON, LightGBM text, Parquet).

No pickle: an artifact is a directory that any version of this code can inspect, and a corrupt
or incompatible one fails with ``ModelLoadError`` saying which file and why. Each file is
written to a temporary name and renamed, then ``manifest.json`` with every file's SHA-256
(``forecasting.manifest``). Loading reads the files once, checks them against the manifest and
the booster text's structure (``forecasting.booster_text``), and parses those verified bytes:
LightGBM's native loader, which aborts the process on a truncated file, never sees a path.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from forecasting.booster_text import check_booster_text
from forecasting.features import FeatureSpec
from forecasting.manifest import (
    MANIFEST_FILE,
    ModelLoadError,
    atomic_write,
    read_verified,
    write_manifest,
)

if TYPE_CHECKING:
    from forecasting.lgbm import LightGBMForecaster, _Fitted

__all__ = [
    "FORMAT_VERSION",
    "ModelLoadError",
    "library_versions",
    "load_lightgbm",
    "parse_meta",
    "read_meta",
    "save_lightgbm",
]

FORMAT_VERSION = 1
META_FILE = "model.json"


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
        raw = meta_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{meta_path}: no model metadata (not a saved model?)") from exc
    except OSError as exc:
        raise ModelLoadError(f"{meta_path}: unreadable metadata ({exc})") from exc
    return parse_meta(raw, meta_path)


def parse_meta(raw: bytes, meta_path: Path) -> dict[str, Any]:
    """``model.json``'s bytes as a dict of a supported format version, or ModelLoadError."""
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
    from forecasting.lgbm import trained_quantiles

    path.mkdir(parents=True, exist_ok=True)
    (path / MANIFEST_FILE).unlink(missing_ok=True)  # the artifact is unfinished until rewritten
    for j, booster in enumerate(state.boosters):
        atomic_write(path / f"booster_{j}.txt", booster.model_to_string().encode())
    atomic_write(path / "history.parquet", _parquet(state.history))
    if state.static is not None:
        atomic_write(path / "static.parquet", _parquet(state.static))
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "lightgbm",
        "config": asdict(model.config),
        "spec": asdict(state.spec),
        "offsets": state.offsets.tolist(),
        "trained_quantiles": list(trained_quantiles(model.quantiles)),
        "nonnegative": state.nonnegative,
        "vocab": state.vocab,
        "info": state.info,
        "libraries": library_versions(),
    }
    atomic_write(path / META_FILE, json.dumps(meta, indent=2, default=str).encode())
    write_manifest(path)


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def load_lightgbm(cls: type[LightGBMForecaster], path: Path) -> LightGBMForecaster:
    """The forecaster saved in ``path``, from bytes checked against its manifest and, for each
    booster, its text structure before LightGBM parses it; ModelLoadError names the file."""
    import lightgbm as lgb

    from forecasting.lgbm import _Fitted, _set_fitted, trained_quantiles

    files = read_verified(path, required=(META_FILE, "history.parquet"))
    meta = parse_meta(files[META_FILE], path / META_FILE)
    if meta.get("kind") != "lightgbm":
        raise ModelLoadError(f"{path}: artifact kind {meta.get('kind')!r} is not 'lightgbm'")
    model, spec, offsets = _from_meta(cls, meta, path / META_FILE)
    trained = list(trained_quantiles(model.quantiles))
    saved = meta.get("trained_quantiles")
    if saved != trained:
        what = (
            "no trained_quantiles (saved before tail quantiles had boosters of their own)"
            if saved is None
            else f"boosters for quantiles {saved}"
        )
        raise ModelLoadError(f"{path / META_FILE}: {what}; this code trains {trained}: refit")
    boosters = []
    for j in range(len(trained)):
        file = path / f"booster_{j}.txt"
        if file.name not in files:
            raise ModelLoadError(f"{file}: not listed in the checksum manifest")
        try:
            text = files[file.name].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelLoadError(f"{file}: not UTF-8 text ({exc.reason})") from exc
        check_booster_text(text, spec.names(), str(file))
        try:
            booster = lgb.Booster(model_str=text)
        except Exception as exc:  # LightGBM raises its own error type or ValueError
            raise ModelLoadError(f"{file}: cannot load LightGBM booster ({exc})") from exc
        if booster.feature_name() != spec.names():
            raise ModelLoadError(f"{file}: feature names do not match the metadata")
        boosters.append(booster)
    if offsets.shape != (len(model.quantiles), model.config.horizon):
        raise ModelLoadError(f"{path / META_FILE}: offsets shape {offsets.shape} is wrong")
    try:
        history = pl.read_parquet(io.BytesIO(files["history.parquet"]))
        static_raw = files.get("static.parquet")
        static = pl.read_parquet(io.BytesIO(static_raw)) if static_raw is not None else None
        fitted = _Fitted(
            spec=spec,
            boosters=boosters,
            offsets=offsets,
            nonnegative=bool(meta["nonnegative"]),
            vocab={k: list(v) for k, v in meta["vocab"].items()},
            history=history,
            static=static,
            info=dict(meta.get("info", {})),
        )
    except Exception as exc:  # polars raises several error types for bad files
        raise ModelLoadError(f"{path}: cannot read stored history ({exc})") from exc
    _set_fitted(model, fitted)
    return model


def _from_meta(
    cls: type[LightGBMForecaster], meta: dict[str, Any], where: Path
) -> tuple[LightGBMForecaster, FeatureSpec, np.ndarray]:
    """The unfitted forecaster, feature spec and conformal offsets ``model.json`` describes."""
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
        raise ModelLoadError(f"{where}: incompatible metadata ({exc!r})") from exc
    return model, spec, offsets
