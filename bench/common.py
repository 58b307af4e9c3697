"""Helpers shared by every benchmark: data path, peak RSS, result table, JSON output.

Each benchmark runs as ``python -m bench.<name> [--data DIR] [--quick] [--out]`` and follows
``BENCHMARKS.md``: peers in the same run, a short table, a last headline line, ``--out`` JSON.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "DATA_ENV",
    "DEFAULT_DATA",
    "Measured",
    "peak_rss_mb",
    "print_table",
    "require_data",
    "resolve_data",
    "run_measured",
    "write_results",
]

DATA_ENV = "HEADROOM_DATA"
DEFAULT_DATA = "../shared/data"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def resolve_data(cli_value: str | None = None) -> Path:
    """The data root: ``--data`` if given, else ``$HEADROOM_DATA``, else ``../shared/data``."""
    raw = cli_value or os.environ.get(DATA_ENV) or DEFAULT_DATA
    return Path(raw).expanduser()


def require_data(cli_value: str | None, *subpaths: str) -> Path:
    """Resolve the data root and exit 2 with a clear message if it (or a subpath) is missing."""
    root = resolve_data(cli_value)
    missing = [p for p in (root, *(root / s for s in subpaths)) if not p.exists()]
    if missing:
        print(
            f"benchmark data missing: {missing[0]} does not exist "
            f"(pass --data DIR or set {DATA_ENV}; default {DEFAULT_DATA})",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return root


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB.

    Linux: ``VmHWM`` from /proc (reset by exec, so a spawned child reports only its own peak;
    ``ru_maxrss`` is preserved across exec and would include the parent's). Elsewhere:
    ``ru_maxrss``, and psutil's current RSS as a last resort.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    try:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            kib //= 1024
        return kib / 1024.0
    except (AttributeError, ValueError):  # pragma: no cover - non-POSIX
        return float(psutil.Process().memory_info().rss) / 2**20


@dataclass(frozen=True)
class Measured:
    """What a function returned, how long it took and its process's peak RSS."""

    value: Any
    seconds: float
    peak_rss_mb: float


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    try:
        t0 = time.perf_counter()
        value = fn(*args)
        seconds = time.perf_counter() - t0
        queue.put(("ok", value, seconds, peak_rss_mb()))
    except BaseException as exc:  # report any failure to the parent, which re-raises
        queue.put(("error", f"{type(exc).__name__}: {exc}", 0.0, peak_rss_mb()))


def run_measured(fn: Callable[..., Any], *args: Any, isolate: bool = True) -> Measured:
    """Run ``fn(*args)`` and measure it; in a fresh process when ``isolate`` so RSS is its own.

    ``fn`` must be importable (module-level) and its result picklable.
    """
    if not isolate:
        t0 = time.perf_counter()
        value = fn(*args)
        return Measured(value, time.perf_counter() - t0, peak_rss_mb())
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    status, value, seconds, rss = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} failed in subprocess: {value}")
    return Measured(value, seconds, rss)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a short rich table (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col == columns[0] else "right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    Console(width=120).print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (only called when the user passed ``--out``)."""
    target_dir = out_dir or RESULTS_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
