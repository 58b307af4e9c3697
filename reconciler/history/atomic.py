"""Write a history file so it appears whole under its final name or not at all.

What each kind of filesystem guarantees, and so what we do:

``rename`` (a local disk)
    The file is written to a hidden temporary name in the *same directory*, flushed and
    fsynced, then ``os.replace``d onto the final name. POSIX ``rename(2)`` within one
    filesystem is atomic: a reader sees the old file or the new one, never a mix, and a crash
    leaves at most a ``.<name>.<random>.tmp`` file, which no reader globs (``*.parquet``).
``put`` (S3, GCS, Azure Blob, fsspec's in-memory store)
    The whole payload is sent in one ``pipe_file`` call. An S3 ``PutObject`` makes the object
    visible only once it has been received completely (a multipart upload only at
    ``CompleteMultipartUpload``), and overwrites are atomic, so readers see the old object or
    the new one. GCS and Azure uploads commit the same way. S3 has no rename (a "move" is a
    copy then a delete), so a temporary key would only add a request. We never *stream* to a
    final key: fsspec's buffered files commit what they hold on ``close()``, even when the
    ``with`` block is leaving on an exception, which would publish a partial object.
``move`` (any other fsspec filesystem: SFTP, HDFS, SMB, ...)
    Written whole to a temporary name beside the target, then ``fs.mv``. Whether that move is
    atomic is the backend's promise (an SFTP rename on a POSIX server and an HDFS rename are);
    the payload is at least never written under the final name piece by piece.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from typing import Literal

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["Strategy", "strategy", "temporary_name", "write_atomic", "write_local"]

Strategy = Literal["rename", "put", "move"]

#: Protocols whose single-request upload is all-or-nothing (see the module docstring).
WHOLE_OBJECT_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})


def strategy(fs: fsspec.AbstractFileSystem) -> Strategy:
    """How ``fs`` gets an atomic write (see the module docstring)."""
    if isinstance(fs, LocalFileSystem):
        return "rename"
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return "put" if WHOLE_OBJECT_PUT & set(protocols) else "move"


def temporary_name(path: str) -> str:
    """A hidden, unique name in the same directory as ``path`` that no ``*.parquet`` or
    ``*.json`` glob matches."""
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{secrets.token_hex(6)}.tmp"


def write_local(path: str, write: Callable[[str], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, fsync it, then rename it over."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(
    fs: fsspec.AbstractFileSystem, path: str, payload: bytes, *, how: Strategy | None = None
) -> None:
    """Store ``payload`` at ``path`` on ``fs`` so it is seen whole or not at all."""
    how = how or strategy(fs)
    if how == "rename":

        def dump(target: str) -> None:
            with open(target, "wb") as fh:
                fh.write(payload)

        write_local(path, dump)
        return
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    if how == "put":
        fs.pipe_file(path, payload)
        return
    tmp = temporary_name(path)
    try:
        fs.pipe_file(tmp, payload)
        fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.rm(tmp)
        raise
