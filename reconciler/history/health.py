"""Find history files that cannot be read and move them aside, so a query goes on without them.

Files we write appear whole (``atomic``), but a store can still hold a bad one: written in
place by an older version that was interrupted, damaged on disk, or put there by hand. Before a
table is scanned each of its files not yet seen at its current size has its footer and schema
checked (cheap: the footer only). A damaged data page behind a sound footer shows only when the
data is read, so a query that fails asks ``verify`` to read every file through once.

A bad file is *moved*, never deleted, to ``quarantine/files/<its path>`` with a
``.reason.json`` beside it, and logged once by name. A flow or pair file also takes its
source's ``ingested/`` marker aside, so a later collect whose window still covers the source
reads it again (the source's other files are rewritten under the same names: nothing doubles).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from reconciler.history.atomic import write_atomic

__all__ = ["READ_ERRORS", "FileGuard", "schema_problem"]

log = logging.getLogger("reconciler.history")

#: What reading a damaged Parquet file raises (Polars, pyarrow, the filesystem, the codecs).
READ_ERRORS = (pl.exceptions.PolarsError, pa.ArrowException, OSError, ValueError, EOFError)
QUARANTINE = ("quarantine", "files")
_COLUMNS = ("kind", "path", "moved_to", "reason")


def schema_problem(found: pa.Schema, schema: dict[str, pl.DataType], required: str) -> str | None:
    """Why a file with columns ``found`` cannot be read as ``schema`` (None when it can).

    Columns ``schema`` lacks are ignored and columns the file lacks are read as nulls (the
    local writer leaves out all-null columns), but ``required`` must be there.
    """
    try:  # not ``found.empty_table()``: that imports pandas (a second or more, once)
        have = pl.DataFrame(pa.Table.from_batches([], schema=found)).schema
    except READ_ERRORS as exc:
        return f"wrong schema: {type(exc).__name__}"
    if required not in have:
        return f"wrong schema: no column {required!r}"
    for name, dtype in have.items():
        if name in schema and dtype != schema[name]:
            return f"wrong schema: column {name!r} is {dtype}, expected {schema[name]}"
    return None


class FileGuard:
    """Checks the Parquet files under ``root`` and quarantines the bad ones (see module)."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = root
        self._sound: dict[str, tuple[int, bool]] = {}  # path -> (size, read through)

    def files(self, kind: str, schema: dict[str, pl.DataType], required: str) -> list[str]:
        """The readable files of table ``kind``, sorted; the others are quarantined."""
        found: dict[str, dict[str, Any]] = self.fs.glob(
            f"{self.root}/{kind}/*/*/*.parquet", detail=True
        )
        good = []
        for path, info in sorted(found.items()):
            if info.get("type") == "directory":
                self.quarantine(kind, path, "not a file: a directory where a file should be")
                continue
            size = int(info.get("size") or 0)
            known = self._sound.get(path)
            problem = None if known and known[0] == size else self._check(path, schema, required)
            if problem:
                self.quarantine(kind, path, problem)
                continue
            self._sound[path] = known if known and known[0] == size else (size, False)
            good.append(path)
        return good

    def forget(self, path: str) -> None:
        """``path`` was removed by this process (merged into another file)."""
        self._sound.pop(path, None)

    def written(self, path: str, size: int) -> None:
        """Note a file this process has just written whole (``atomic``): sound at ``size``,
        so the next scan need not open its footer again."""
        self._sound[path] = (size, False)

    def verify(self, kind: str, schema: dict[str, pl.DataType], required: str) -> int:
        """Read every file of ``kind`` through once; returns how many were quarantined."""
        moved = 0
        for path in self.files(kind, schema, required):
            size, deep = self._sound[path]
            if deep:
                continue
            problem = self._check(path, schema, required, deep=True)
            if problem:
                self.quarantine(kind, path, problem)
                moved += 1
            else:
                self._sound[path] = (size, True)
        return moved

    def _check(
        self, path: str, schema: dict[str, pl.DataType], required: str, *, deep: bool = False
    ) -> str | None:
        try:
            with self.fs.open(path, "rb") as fh:
                parquet = pq.ParquetFile(fh)
                problem = schema_problem(parquet.schema_arrow, schema, required)
                if deep and not problem:
                    parquet.read()
        except READ_ERRORS as exc:
            return f"unreadable Parquet: {type(exc).__name__}: {str(exc)[:200]}"
        return problem

    def quarantine(self, kind: str, path: str, reason: str) -> None:
        """Move ``path`` (and a flow source's marker) under ``quarantine/files/``."""
        self._sound.pop(path, None)
        relative = path[len(self.root) + 1 :]
        target = self._free("/".join((self.root, *QUARANTINE, relative)))
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self._move(path, target)
        note = {"kind": kind, "path": path, "moved_to": target, "reason": reason}
        write_atomic(self.fs, f"{target}.reason.json", json.dumps(note).encode())
        log.warning("history: quarantined %s: %s (moved to %s)", path, reason, target)
        if kind in ("flows", "pairs", "requests", "accesses"):
            key = relative.rsplit("/", 1)[-1].removesuffix(".parquet")
            marker = f"{self.root}/ingested/{key}.json"
            if self.fs.exists(marker):
                aside = "/".join((self.root, *QUARANTINE, "ingested", f"{key}.json"))
                self.fs.makedirs(aside.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(marker, self._free(aside))

    def _move(self, path: str, target: str) -> None:
        """Move a file, or a folder where a file should be, file by file: an object store has
        no folders to move (``x.parquet/part-0`` is a key under a prefix)."""
        if not self.fs.isdir(path):
            self.fs.mv(path, target)
            return
        for name in self.fs.find(path):
            inner = str(name)[len(path.rstrip("/")) + 1 :]
            self.fs.makedirs(f"{target}/{inner}".rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(name, f"{target}/{inner}")
        if self.fs.exists(path) and not self.fs.find(path):  # an empty local folder is left
            self.fs.rm(path, recursive=True)

    def _free(self, target: str) -> str:
        """``target``, or ``target.1``, ``target.2``... if a file of that name is already aside."""
        n, free = 0, target
        while self.fs.exists(free):
            n += 1
            free = f"{target}.{n}"
        return free

    def quarantined(self) -> pl.DataFrame:
        """Every file moved aside: ``kind``, ``path``, ``moved_to``, ``reason``."""
        rows = []
        base = "/".join((self.root, *QUARANTINE))
        found = self.fs.find(base) if self.fs.exists(base) else []
        for note in sorted(p for p in found if p.endswith(".reason.json")):
            with self.fs.open(note, "rb") as fh:
                row = json.loads(fh.read())
            rows.append({k: str(row.get(k, "")) for k in _COLUMNS})
        return pl.DataFrame(rows, schema=dict.fromkeys(_COLUMNS, pl.String))

    def counts(self) -> dict[str, int]:
        """Quarantined files by reason category (the text before its first colon)."""
        reasons = self.quarantined().get_column("reason").to_list()
        return dict(Counter(r.split(":", 1)[0] for r in reasons))
