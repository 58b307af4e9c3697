"""Put irregular, gappy observations on a regular grid, with rules that are written down.

Rules (in order):

1. Rows with a null or non-finite ``y`` are dropped and kept aside with reason ``bad_value``.
2. Timestamps are floored to the frequency; all points in a bucket are combined with ``agg``
   (``mean`` by default, or ``sum``, ``max``, ``last``). Points merged into a bucket are counted
   as ``merged``, not lost.
3. Each series gets every bucket from its first to its last observation.
4. A run of missing buckets no longer than ``max_gap`` steps is linearly interpolated
   (``filled``). Longer runs stay null (``left_missing``): forecasters mask lags that point into
   them and never train on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from forecasting.frames import SERIES, TS, TS_DTYPE, FrameError, Y, freq_to_timedelta

__all__ = ["Agg", "ResampleResult", "resample"]

Agg = Literal["mean", "sum", "max", "last"]

_AGGS: dict[str, pl.Expr] = {
    "mean": pl.col(Y).mean(),
    "sum": pl.col(Y).sum(),
    "max": pl.col(Y).max(),
    "last": pl.col(Y).last(),
}


@dataclass(frozen=True)
class ResampleResult:
    """The regular frame and an account of what resampling did to get it."""

    frame: pl.DataFrame
    freq: str
    n_input: int
    n_merged: int
    n_filled: int
    n_left_missing: int
    rejected: pl.DataFrame = field(repr=False)

    @property
    def dropped(self) -> dict[str, int]:
        """Counts of input rows set aside, by reason."""
        if self.rejected.height == 0:
            return {}
        counts = self.rejected.group_by("reason").len()
        return {str(r): int(n) for r, n in counts.iter_rows()}

    def summary(self) -> dict[str, object]:
        return {
            "freq": self.freq,
            "input_rows": self.n_input,
            "output_rows": self.frame.height,
            "merged_into_buckets": self.n_merged,
            "filled": self.n_filled,
            "left_missing": self.n_left_missing,
            "dropped": self.dropped,
        }


def resample(df: pl.DataFrame, freq: str, *, agg: Agg = "mean", max_gap: int = 3) -> ResampleResult:
    """Resample a long frame (``series_id, ts, y``) to ``freq`` following the module rules."""
    if agg not in _AGGS:
        raise FrameError(f"resample: agg must be one of {sorted(_AGGS)}, got {agg!r}")
    if max_gap < 0:
        raise FrameError(f"resample: max_gap must be >= 0, got {max_gap}")
    step = freq_to_timedelta(freq)
    missing = [c for c in (SERIES, TS, Y) if c not in df.columns]
    if missing:
        raise FrameError(f"resample: missing column(s) {missing}; have {df.columns}")
    base = df.select(
        pl.col(SERIES).cast(pl.String),
        pl.col(TS),
        pl.col(Y).cast(pl.Float64, strict=False),
    )
    if not isinstance(base.schema[TS], pl.Datetime):
        raise FrameError(f"resample: column 'ts' must be a Datetime, got {base.schema[TS]}")
    if base.schema[TS].time_zone is None:  # type: ignore[attr-defined]
        base = base.with_columns(pl.col(TS).dt.replace_time_zone("UTC"))
    base = base.with_columns(pl.col(TS).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    bad = (
        pl.col(Y).is_null()
        | ~pl.col(Y).is_finite().fill_null(False)
        | pl.col(TS).is_null()
        | pl.col(SERIES).is_null()
    )
    rejected = base.filter(bad).with_columns(pl.lit("bad_value").alias("reason"))
    good = base.filter(~bad)
    every = f"{int(step.total_seconds())}s"
    bucketed = (
        good.with_columns(pl.col(TS).dt.truncate(every))
        .group_by(SERIES, TS)
        .agg(_AGGS[agg].alias(Y), pl.len().alias("_n"))
        .sort(SERIES, TS)
    )
    n_merged = int((bucketed["_n"] - 1).sum()) if bucketed.height else 0
    if bucketed.height == 0:
        empty = pl.DataFrame(schema={SERIES: pl.String, TS: TS_DTYPE, Y: pl.Float64})
        return ResampleResult(empty, freq, df.height, 0, 0, 0, rejected)
    grid = (
        bucketed.group_by(SERIES)
        .agg(pl.datetime_ranges(pl.col(TS).min(), pl.col(TS).max(), interval=every).alias(TS))
        .explode(TS)
        .with_columns(pl.col(TS).dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    )
    full = grid.join(bucketed.drop("_n"), on=[SERIES, TS], how="left").sort(SERIES, TS)
    is_null = pl.col(Y).is_null()
    full = full.with_columns(
        (is_null != is_null.shift(1, fill_value=False)).cum_sum().over(SERIES).alias("_run")
    ).with_columns(pl.len().over(SERIES, "_run").alias("_run_len"))
    fill = is_null & (pl.col("_run_len") <= max_gap)
    n_filled = int(full.select(fill.sum()).item())
    n_missing = int(full.select((is_null & ~fill).sum()).item())
    out = full.with_columns(
        pl.when(fill).then(pl.col(Y).interpolate().over(SERIES)).otherwise(pl.col(Y)).alias(Y)
    ).select(SERIES, TS, Y)
    return ResampleResult(out, freq, df.height, n_merged, n_filled, n_missing, rejected)
