"""Versioned model artifacts in a local folder or any fsspec URL, with metadata beside them.

Layout: ``<root>/<name>/v000N/`` holds the forecaster's own files plus ``store.json`` (name,
version, kind, creation time, training window, features, metrics, library versions). A version
counts only once ``store.json`` is written, so a half-written upload is never loaded.
``load_or_baseline`` is what the reconciler calls: a missing, corrupt or incompatible artifact
gives a seasonal naive fitted on the supplied history and the reason, never an exception.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from forecasting.base import Forecaster
from forecasting.baseline import SeasonalNaive
from forecasting.lgbm import LightGBMForecaster
from forecasting.persist import ModelLoadError, library_versions
from reconciler.clock import Clock

__all__ = ["ArtifactInfo", "LoadOutcome", "ModelStore"]

STORE_FILE = "store.json"
_VERSION = re.compile(r"^v(\d{4,})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")


@dataclass(frozen=True)
class ArtifactInfo:
    name: str
    version: int
    url: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class LoadOutcome:
    """The forecaster to use, where it came from (``stored`` or ``baseline``) and why."""

    model: Forecaster
    source: str
    version: int | None
    reason: str


class ModelStore:
    """Save and load forecasters as numbered versions under ``root`` (path or fsspec URL)."""

    def __init__(
        self,
        root: str,
        *,
        clock: Clock | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        import fsspec

        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **(storage_options or {}))
        self.clock = clock

    def _dir(self, name: str, version: int) -> str:
        return f"{self._base}/{name}/v{version:04d}"

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"model name {name!r} must match {_NAME.pattern}")

    def versions(self, name: str) -> list[int]:
        """Committed versions of ``name``, oldest first."""
        self._check_name(name)
        base = f"{self._base}/{name}"
        if not self.fs.exists(base):
            return []
        found = []
        for entry in self.fs.ls(base, detail=False):
            match = _VERSION.match(str(entry).rstrip("/").rsplit("/", 1)[-1])
            if match and self.fs.exists(f"{entry}/{STORE_FILE}"):
                found.append(int(match.group(1)))
        return sorted(found)

    def latest(self, name: str) -> int | None:
        vs = self.versions(name)
        return vs[-1] if vs else None

    def save(
        self,
        name: str,
        model: LightGBMForecaster | SeasonalNaive,
        *,
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ArtifactInfo:
        """Write ``model`` as the next version of ``name`` and return where it went."""
        self._check_name(name)
        existing = (
            self.fs.ls(f"{self._base}/{name}", detail=False)
            if self.fs.exists(f"{self._base}/{name}")
            else []
        )
        taken = [
            int(m.group(1))
            for e in existing
            if (m := _VERSION.match(str(e).rstrip("/").rsplit("/", 1)[-1]))
        ]
        version = max(taken, default=0) + 1
        target = self._dir(name, version)
        info = model.info
        meta = {
            "name": name,
            "version": version,
            "kind": "lightgbm" if isinstance(model, LightGBMForecaster) else "seasonal_naive",
            "created_at": self.clock.now().isoformat() if self.clock else None,
            "freq": model.freq,
            "quantiles": list(model.quantiles),
            "training_window": {"start": info.get("train_start"), "end": info.get("train_end")},
            "features": info.get("features", []),
            "n_series": info.get("n_series"),
            "metrics": metrics or {},
            "libraries": library_versions(),
            **(extra or {}),
        }
        with tempfile.TemporaryDirectory() as tmp:
            model.save(tmp)
            self.fs.makedirs(target, exist_ok=True)
            for file in sorted(Path(tmp).iterdir()):
                self.fs.put_file(str(file), f"{target}/{file.name}")
        with self.fs.open(f"{target}/{STORE_FILE}", "w") as fh:
            fh.write(json.dumps(meta, indent=2, default=str))
        return ArtifactInfo(name, version, f"{self.root}/{name}/v{version:04d}", meta)

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        version = self._resolve(name, version)
        path = f"{self._dir(name, version)}/{STORE_FILE}"
        try:
            with self.fs.open(path, "r") as fh:
                meta = json.loads(fh.read())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{path}: unreadable store metadata ({exc})") from exc
        if not isinstance(meta, dict):
            raise ModelLoadError(f"{path}: store metadata is not a JSON object")
        return meta

    def _resolve(self, name: str, version: int | None) -> int:
        if version is not None:
            if version not in self.versions(name):
                raise ModelLoadError(f"{self.root}/{name}: no committed version {version}")
            return version
        latest = self.latest(name)
        if latest is None:
            raise ModelLoadError(f"{self.root}/{name}: no saved versions")
        return latest

    def load(self, name: str, version: int | None = None) -> LightGBMForecaster | SeasonalNaive:
        """Load a version (latest by default); ModelLoadError says what is wrong and where."""
        version = self._resolve(name, version)
        kind = self.metadata(name, version).get("kind")
        source = self._dir(name, version)
        with tempfile.TemporaryDirectory() as tmp:
            for entry in self.fs.ls(source, detail=False):
                file = str(entry).rstrip("/").rsplit("/", 1)[-1]
                self.fs.get_file(str(entry), str(Path(tmp) / file))
            try:
                if kind == "lightgbm":
                    return LightGBMForecaster.load(tmp)
                if kind == "seasonal_naive":
                    return SeasonalNaive.load(tmp)
            except ModelLoadError as exc:
                raise ModelLoadError(f"{self.root}/{name}/v{version:04d}: {exc}") from exc
        raise ModelLoadError(f"{self.root}/{name}/v{version:04d}: unknown artifact kind {kind!r}")

    def load_or_baseline(
        self,
        name: str,
        history: pl.DataFrame,
        *,
        version: int | None = None,
        season_length: int = 288,
        quantiles: tuple[float, ...] = (0.5, 0.9, 0.99),
        freq: str = "5m",
    ) -> LoadOutcome:
        """The stored model, or a SeasonalNaive fitted on ``history`` with the reason why."""
        try:
            model = self.load(name, version)
            resolved = version if version is not None else self.latest(name)
            if tuple(model.quantiles) != tuple(sorted(quantiles)) or model.freq != freq:
                raise ModelLoadError(
                    f"{self.root}/{name}: stored model gives {model.quantiles} at {model.freq}, "
                    f"wanted {tuple(sorted(quantiles))} at {freq}"
                )
            return LoadOutcome(model, "stored", resolved, "loaded")
        except ModelLoadError as exc:
            baseline = SeasonalNaive(season_length, quantiles, freq).fit(history)
            return LoadOutcome(baseline, "baseline", None, f"fell back to seasonal naive: {exc}")
