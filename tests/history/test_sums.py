"""Traffic totals never wrap around to negative (issue 13, finding 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from reconciler.history.pairs import INT64_MAX, pair_frame, total


def test_total_saturates_instead_of_overflowing() -> None:
    frame = pl.DataFrame({"b": [2**62, 2**62, 2**62]})
    assert frame.select(total(pl.col("b"))).item() == INT64_MAX
    assert pl.DataFrame({"b": [1, 2, None]}).select(total(pl.col("b"))).item() == 3


def test_pair_totals_of_huge_records_are_not_negative() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    records = pl.DataFrame(
        {
            "start": [t] * 3,
            "interface_id": ["eni-1"] * 3,
            "srcaddr": ["10.0.0.1"] * 3,
            "dstaddr": ["10.0.0.2"] * 3,
            "bytes": [2**62] * 3,
            "packets": [2**62] * 3,
            "action": ["ACCEPT"] * 3,
            "log_status": ["OK"] * 3,
        }
    )
    row = pair_frame(records).row(0, named=True)
    assert row["bytes"] == INT64_MAX and row["packets"] == INT64_MAX and row["flows"] == 3


def test_pair_totals_in_plain_int64_match_the_128_bit_sums() -> None:
    """Small values take the plain Int64 sum; the answer is the one ``total`` gives."""
    t = datetime(2026, 3, 1, tzinfo=UTC)
    values = [2**40, 3, None, 2**47]
    records = pl.DataFrame(
        {
            "start": [t] * 4,
            "interface_id": ["eni-1"] * 4,
            "srcaddr": ["10.0.0.1"] * 4,
            "dstaddr": ["10.0.0.2"] * 4,
            "bytes": values,
            "packets": values,
            "action": ["ACCEPT"] * 4,
            "log_status": ["OK"] * 4,
        }
    )
    row = pair_frame(records).row(0, named=True)
    expected = pl.DataFrame({"b": values}).select(total(pl.col("b"))).item()
    assert row["bytes"] == row["packets"] == expected == 2**40 + 3 + 2**47
    assert row["flows"] == 4
