"""Long-frame conventions shared by every forecaster: columns, frequencies, quantile names.

A long frame has one row per observation: ``series_id`` (String), ``ts`` (Datetime("us", "UTC"))
and ``y`` (Float64). Static features live in a separate frame keyed by ``series_id``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

import polars as pl

__all__ = [
    "SERIES",
    "TS",
    "TS_DTYPE",
    "FrameError",
    "Y",
    "freq_to_timedelta",
    "quantile_column",
    "quantile_columns",
    "validate_long",
    "validate_quantiles",
]

SERIES = "series_id"
TS = "ts"
Y = "y"
TS_DTYPE = pl.Datetime("us", "UTC")

_FREQ = re.compile(r"^(\d+)\s*(s|m|min|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class FrameError(ValueError):
    """A frame handed to the forecasting package is missing columns or has bad values."""


def freq_to_timedelta(freq: str) -> timedelta:
    """Parse ``"5m"``, ``"1h"``, ``"30s"``, ``"1d"`` into a timedelta (clear error otherwise)."""
    match = _FREQ.match(freq.strip().lower())
    if not match:
        raise FrameError(f"frequency {freq!r} not understood: use e.g. '30s', '5m', '1h', '1d'")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise FrameError(f"frequency {freq!r} must be positive")
    return timedelta(seconds=seconds)


def quantile_column(q: float) -> str:
    """The column name for quantile ``q``: 0.5 -> ``p50``, 0.9 -> ``p90``, 0.995 -> ``p99.5``."""
    return f"p{q * 100:g}"


def quantile_columns(quantiles: Sequence[float]) -> list[str]:
    return [quantile_column(q) for q in quantiles]


def validate_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """Sorted, de-duplicated quantiles strictly between 0 and 1 (ValueError naming the bad one)."""
    out = sorted({float(q) for q in quantiles})
    if not out:
        raise ValueError("at least one quantile is needed")
    for q in out:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile {q} is outside (0, 1)")
    return tuple(out)


def validate_long(
    df: pl.DataFrame, *, name: str = "frame", allow_null_y: bool = True
) -> pl.DataFrame:
    """Check and normalise a long frame: column types cast, sorted by (series_id, ts), no dups.

    Raises FrameError naming the frame and the problem. Timestamps without a zone are taken as UTC.
    """
    missing = [c for c in (SERIES, TS, Y) if c not in df.columns]
    if missing:
        raise FrameError(f"{name}: missing column(s) {missing}; have {df.columns}")
    ts_dtype = df.schema[TS]
    if not isinstance(ts_dtype, pl.Datetime):
        raise FrameError(f"{name}: column 'ts' must be a Datetime, got {ts_dtype}")
    ts_expr = pl.col(TS)
    ts_expr = (
        ts_expr.dt.replace_time_zone("UTC")
        if ts_dtype.time_zone is None
        else ts_expr.dt.convert_time_zone("UTC")
    )
    try:
        out = df.with_columns(
            pl.col(SERIES).cast(pl.String),
            ts_expr.dt.cast_time_unit("us"),
            pl.col(Y).cast(pl.Float64),
        )
    except pl.exceptions.InvalidOperationError as exc:
        raise FrameError(f"{name}: column 'y' is not numeric ({exc})") from exc
    if out[SERIES].null_count():
        raise FrameError(f"{name}: {out[SERIES].null_count()} row(s) have a null series_id")
    if out[TS].null_count():
        raise FrameError(f"{name}: {out[TS].null_count()} row(s) have a null ts")
    if not allow_null_y and out[Y].null_count():
        raise FrameError(f"{name}: {out[Y].null_count()} row(s) have a null y")
    if out.height and not out[Y].is_finite().fill_null(True).all():
        bad = out.filter(~pl.col(Y).is_finite().fill_null(True)).row(0, named=True)
        raise FrameError(f"{name}: non-finite y at series {bad[SERIES]!r} ts {bad[TS]}")
    out = out.sort(SERIES, TS)
    dups = out.select(pl.struct(SERIES, TS).is_duplicated().sum()).item()
    if dups:
        raise FrameError(f"{name}: {dups} duplicated (series_id, ts) rows; resample first")
    return out
