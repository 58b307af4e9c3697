"""Checksums for model artifacts: a ``manifest.json`` of every file's SHA-256 and size.

A forecaster's directory is written file by file, each to a temporary name and renamed, and
the manifest last: an artifact without one is unfinished or foreign. ``read_verified`` reads
the files the manifest lists (regular files only, within a size bound) and returns their bytes
only when every size and digest matches, so a truncated or altered file is refused before any
parser, LightGBM's native one above all, sees it. Loaders parse the returned bytes, never the
path again (no window between check and use).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_FILE",
    "MAX_FILE_BYTES",
    "ModelLoadError",
    "atomic_write",
    "read_bounded",
    "read_verified",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "headroom-model-manifest/1"
#: the largest artifact file read (a booster of 1,000 trees of 63 leaves is ~10 MB)
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
#: no symlink followed, no blocking open of a FIFO left in place of a file
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class ModelLoadError(RuntimeError):
    """An artifact is missing, corrupt or was written by an incompatible version; the message
    starts with the file and says why."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _digest(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def write_manifest(path: Path) -> dict[str, Any]:
    """Checksum every regular file in ``path`` (not the manifest, not hidden temporaries) into
    ``manifest.json``, written atomically; return the manifest."""
    files = {
        f.name: _digest(read_bounded(f))
        for f in sorted(path.iterdir())
        if f.name != MANIFEST_FILE and not f.name.startswith(".") and f.is_file()
    }
    manifest = {"format": MANIFEST_FORMAT, "files": files}
    atomic_write(path / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
    return manifest


def read_bounded(file: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``file``, a regular file (not a symlink, folder or device) of at most
    ``limit`` bytes; ModelLoadError otherwise."""
    try:
        fd = os.open(file, _READ_FLAGS)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{file}: missing") from exc
    except OSError as exc:  # ELOOP: a symlink; EISDIR and the like
        raise ModelLoadError(f"{file}: not a regular file ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelLoadError(f"{file}: not a regular file")
        if info.st_size > limit:
            raise ModelLoadError(f"{file}: {info.st_size} bytes is over the {limit}-byte limit")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ModelLoadError(f"{file}: over the {limit}-byte limit")
    return data


def _manifest(path: Path) -> dict[str, dict[str, Any]]:
    file = path / MANIFEST_FILE
    if not file.exists() and not file.is_symlink():
        raise ModelLoadError(f"{file}: no checksum manifest (unfinished or unverifiable artifact)")
    raw = read_bounded(file, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelLoadError(f"{file}: malformed manifest ({type(exc).__name__})") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelLoadError(f"{file}: not a {MANIFEST_FORMAT} manifest")
    if not isinstance(files, dict):
        raise ModelLoadError(f"{file}: manifest has no file list")
    for name, entry in files.items():
        if name != Path(name).name or name in ("", ".", "..", MANIFEST_FILE):
            raise ModelLoadError(f"{file}: manifest names {name!r}, not a file of the artifact")
        ok = isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
        if not ok or not isinstance(entry.get("bytes"), int):
            raise ModelLoadError(f"{file}: manifest entry for {name!r} is malformed")
    return files


def read_verified(path: Path, required: Collection[str] = ()) -> dict[str, bytes]:
    """File name -> bytes for every file ``path``'s manifest lists, each checked against its
    size and SHA-256; ModelLoadError names the first file that is missing, unlisted (among
    ``required``), of another size or digest, or not a regular file."""
    files = _manifest(path)
    for name in required:
        if name not in files:
            raise ModelLoadError(f"{path / name}: not listed in the checksum manifest")
    out: dict[str, bytes] = {}
    for name, want in sorted(files.items()):
        file = path / name
        if want["bytes"] > MAX_FILE_BYTES:
            raise ModelLoadError(f"{file}: manifest size {want['bytes']} is over the limit")
        data = read_bounded(file)
        got = _digest(data)
        if got["bytes"] != want["bytes"]:
            raise ModelLoadError(
                f"{file}: {got['bytes']} bytes, the manifest says {want['bytes']} (truncated?)"
            )
        if got["sha256"] != want["sha256"]:
            raise ModelLoadError(f"{file}: SHA-256 does not match the manifest (corrupted)")
        out[name] = data
    return out
