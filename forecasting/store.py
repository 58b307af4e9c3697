"""Versioned model artifacts in a local folder or any fsspec URL, with metadata beside them.

Layout: ``<root>/<name>/v000N/`` holds the forecaster's own files plus ``store.json`` (name,
version, kind, creation time, training window, features, metrics, library versions). A version
counts only once ``store.json`` is written, so a half-written upload is never loaded.
``load_or_baseline`` is what the reconciler calls: a missing, corrupt or incompatible artifact
gives a seasonal naive fitted on the supplied history and the reason, never an exception.

Every file is checked against the artifact's checksum manifest (``forecasting.manifest``)
before a loader parses it; files are fetched only when they are regular files within the size
bound (no symlink to ``/dev/zero``, no folder). A version that fails to load is moved aside,
whole, to ``<root>/<name>/quarantine/`` with a ``reason.txt`` (never deleted), so the next
cycle does not trip on it again.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from forecasting.base import Forecaster
from forecasting.baseline import SeasonalNaive
from forecasting.lgbm import LightGBMForecaster
from forecasting.manifest import MANIFEST_FILE, MAX_FILE_BYTES, read_verified, write_manifest
from forecasting.persist import ModelLoadError, library_versions
from reconciler.clock import Clock

__all__ = ["ArtifactInfo", "LoadOutcome", "ModelStore"]

log = structlog.get_logger(__name__)

STORE_FILE = "store.json"
QUARANTINE = "quarantine"
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
        version = max(self._taken(name), default=0) + 1
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
            write_manifest(Path(tmp))  # a forecaster that writes none (the baseline) gets one
            self.fs.makedirs(target, exist_ok=True)
            for file in sorted(Path(tmp).iterdir(), key=lambda f: f.name == MANIFEST_FILE):
                self.fs.put_file(str(file), f"{target}/{file.name}")
        staged = f"{target}/.{STORE_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        self.fs.pipe_file(staged, json.dumps(meta, indent=2, default=str).encode())
        self.fs.mv(staged, f"{target}/{STORE_FILE}")  # the version counts from here
        return ArtifactInfo(name, version, f"{self.root}/{name}/v{version:04d}", meta)

    def _taken(self, name: str) -> list[int]:
        """Every version number used, committed or not, quarantined too (never reused)."""
        out = []
        for folder in (f"{self._base}/{name}", f"{self._base}/{name}/{QUARANTINE}"):
            entries = self.fs.ls(folder, detail=False) if self.fs.exists(folder) else []
            for entry in entries:
                base = str(entry).rstrip("/").rsplit("/", 1)[-1]
                if match := _VERSION.match(base.split("-", 1)[0]):
                    out.append(int(match.group(1)))
        return out

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        version = self._resolve(name, version)
        path = f"{self._dir(name, version)}/{STORE_FILE}"
        try:
            meta = json.loads(self._fetch(path, limit=1024 * 1024))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
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

    def _fetch(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The bytes of ``path``: a regular file (not a symlink or folder) of at most ``limit``
        bytes, else ModelLoadError naming it."""
        try:
            info = self.fs.info(path)
            if info.get("islink") or info.get("type") != "file":
                raise ModelLoadError(f"{path}: not a regular file ({info.get('type')})")
            if int(info.get("size") or 0) > limit:
                raise ModelLoadError(f"{path}: {info.get('size')} bytes is over the limit")
            with self.fs.open(path, "rb") as fh:
                data: bytes = fh.read(limit + 1)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}: unreadable ({exc})") from exc
        if len(data) > limit:
            raise ModelLoadError(f"{path}: over the {limit}-byte limit")
        return data

    def load(self, name: str, version: int | None = None) -> LightGBMForecaster | SeasonalNaive:
        """Load a version (latest by default); ModelLoadError says what is wrong and where.
        Its files are checked against the checksum manifest before any is parsed."""
        version = self._resolve(name, version)
        kind = self.metadata(name, version).get("kind")
        source = self._dir(name, version)
        url = f"{self.root}/{name}/v{version:04d}"
        with tempfile.TemporaryDirectory() as tmp:
            try:
                for entry in self.fs.ls(source, detail=False):
                    file = str(entry).rstrip("/").rsplit("/", 1)[-1]
                    if not file.startswith("."):
                        (Path(tmp) / file).write_bytes(self._fetch(str(entry)))
                read_verified(Path(tmp))
                if kind == "lightgbm":
                    return LightGBMForecaster.load(tmp)
                if kind == "seasonal_naive":
                    return SeasonalNaive.load(tmp)
            except ModelLoadError as exc:  # name the stored file, not the temporary copy
                message = str(exc).replace(tmp, url).replace(source, url)
                raise ModelLoadError(message if url in message else f"{url}: {message}") from exc
        raise ModelLoadError(f"{url}: unknown artifact kind {kind!r}")

    def quarantine(self, name: str, version: int, reason: str) -> str:
        """Move ``version`` of ``name`` aside, whole and with ``reason.txt``, to
        ``<name>/quarantine/`` (never deleted); return where it went."""
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S") if self.clock else "unstamped"
        target = f"{self._base}/{name}/{QUARANTINE}/v{version:04d}-{stamp}-{uuid.uuid4().hex[:6]}"
        self.fs.makedirs(f"{self._base}/{name}/{QUARANTINE}", exist_ok=True)
        self.fs.mv(self._dir(name, version), target, recursive=True)
        self.fs.pipe_file(f"{target}/reason.txt", reason.encode())
        return target

    def load_checked(self, name: str, version: int) -> LightGBMForecaster | SeasonalNaive:
        """``load``; a version that fails is quarantined and the error raised again, its
        message naming the file, the reason and where the version went (callers log it)."""
        try:
            return self.load(name, version)
        except ModelLoadError as exc:
            try:
                where = self.quarantine(name, version, str(exc))
            except OSError as move:  # a read-only store: the reason is still reported
                where = f"not moved ({move})"
            raise ModelLoadError(f"{exc} (quarantined: {where})") from exc

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
            resolved = self._resolve(name, version)
            model = self.load_checked(name, resolved)
            if tuple(model.quantiles) != tuple(sorted(quantiles)) or model.freq != freq:
                raise ModelLoadError(
                    f"{self.root}/{name}: stored model gives {model.quantiles} at {model.freq}, "
                    f"wanted {tuple(sorted(quantiles))} at {freq}"
                )
            return LoadOutcome(model, "stored", resolved, "loaded")
        except ModelLoadError as exc:
            log.warning("model_fell_back_to_baseline", model=name, reason=str(exc))
            baseline = SeasonalNaive(season_length, quantiles, freq).fit(history)
            return LoadOutcome(baseline, "baseline", None, f"fell back to seasonal naive: {exc}")
