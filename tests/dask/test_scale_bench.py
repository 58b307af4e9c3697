"""``python -m bench.scale`` runs end to end on a small day and its comparison can say no."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from bench import scale

HEADLINE = re.compile(
    r"^scale_records_per_core_s: (\d+) \(local (\d+), dask (\d+), identical (yes|no);"
)


def test_a_small_day_through_both_engines_is_identical(capsys: pytest.CaptureFixture[str]):
    assert scale.main(["--records", "4800"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    match = HEADLINE.match(lines[-1])
    assert match, lines[-1]
    n, local, dask, same = match.groups()
    assert n == dask and int(local) > 0 and int(dask) > 0
    assert same == "yes"
    assert "4800 records" in lines[-1]


def test_compare_says_no_when_a_row_differs(tmp_path: Path) -> None:
    frame = pl.DataFrame({"src": ["a", "b"], "bytes": [1, 2]})
    for side in ("local", "dask"):
        (tmp_path / side).mkdir()
        for name in scale.QUERIES:
            frame.write_parquet(tmp_path / side / f"{name}.parquet")
    assert scale.compare(tmp_path / "local", tmp_path / "dask") == dict.fromkeys(
        scale.QUERIES, True
    )
    frame.with_columns(pl.col("bytes") + 1).write_parquet(tmp_path / "dask" / "pairs.parquet")
    assert scale.compare(tmp_path / "local", tmp_path / "dask") == {"records": True, "pairs": False}
