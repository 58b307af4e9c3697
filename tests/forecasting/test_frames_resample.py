from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from forecasting.frames import FrameError, freq_to_timedelta, quantile_column, validate_long
from forecasting.resample import resample

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_quantile_names_and_freq():
    assert [quantile_column(q) for q in (0.5, 0.9, 0.99, 0.995)] == ["p50", "p90", "p99", "p99.5"]
    assert freq_to_timedelta("5m") == timedelta(minutes=5)
    assert freq_to_timedelta("1h") == timedelta(hours=1)
    with pytest.raises(FrameError, match="not understood"):
        freq_to_timedelta("5 parsecs")


def test_validate_long_names_problems():
    with pytest.raises(FrameError, match="missing column"):
        validate_long(pl.DataFrame({"series_id": ["a"], "y": [1.0]}))
    dup = pl.DataFrame({"series_id": ["a", "a"], "ts": [T0, T0], "y": [1.0, 2.0]})
    with pytest.raises(FrameError, match="duplicated"):
        validate_long(dup)
    naive = pl.DataFrame({"series_id": ["a"], "ts": [datetime(2024, 1, 1)], "y": [1]})
    out = validate_long(naive)
    assert out.schema["ts"] == pl.Datetime("us", "UTC") and out.schema["y"] == pl.Float64


def test_resample_rules_are_reported():
    secs = [0, 64, 300, 900, 1200, 3600, 3700]
    df = pl.DataFrame(
        {
            "series_id": ["a"] * 7,
            "ts": [T0 + timedelta(seconds=s) for s in secs],
            "y": [1.0, 3.0, 4.0, None, 7.0, 10.0, float("nan")],
        }
    )
    res = resample(df, "5m", max_gap=3)
    frame = res.frame
    assert frame.height == 13  # 00:00 .. 01:00 every 5 minutes
    assert frame["y"][0] == pytest.approx(2.0)  # mean of the two points in the first bucket
    assert res.n_merged == 1
    assert res.dropped == {"bad_value": 2}
    assert res.rejected.height == 2 and set(res.rejected["reason"]) == {"bad_value"}
    # 00:10 missing alone -> interpolated between 4 (00:05) and 5? no: 00:15 was null -> gap
    assert res.n_filled == 2  # 00:10 and 00:15 (gap of 2 <= 3)
    assert frame.filter(pl.col("ts") == T0 + timedelta(minutes=10))["y"][0] == pytest.approx(5.0)
    assert res.n_left_missing == 7  # 00:25 .. 00:55 stays null
    assert frame["y"].null_count() == 7
    summary = res.summary()
    assert summary["output_rows"] == 13 and summary["dropped"] == {"bad_value": 2}


def test_resample_rejects_bad_agg():
    df = pl.DataFrame({"series_id": ["a"], "ts": [T0], "y": [1.0]})
    with pytest.raises(FrameError, match="agg"):
        resample(df, "5m", agg="median")  # type: ignore[arg-type]
    assert resample(df, "5m", agg="max").frame["y"].to_list() == [1.0]
