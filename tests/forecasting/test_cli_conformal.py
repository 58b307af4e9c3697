from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.conformal import apply_conformal, fit_conformal
from forecasting.datasets import load_folder

from .conftest import make_series


def _write_folder(root: Path) -> None:
    """A tiny data folder in the public traces' formats (Bitbrains ';\\t' CSV and NAB CSV)."""
    df = make_series(n_series=2, days=4, seed=3)
    vm_dir = root / "bitbrains_rnd" / "2013-7"
    vm_dir.mkdir(parents=True)
    header = (
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\t"
        "CPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t"
        "Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t"
        "Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]"
    )
    one = df.filter(pl.col("series_id") == "s00")
    lines = [header]
    for k, (ts, y) in enumerate(zip(one["ts"], one["y"], strict=True)):
        epoch = int(ts.timestamp()) + (7 if k % 3 == 0 else 0)  # irregular sampling
        vals = [2, 5000, y, 1.0, 8e6, 1000 + y, y / 2, y / 3, y / 4, y / 5]
        lines.append(";\t".join([str(epoch), *(str(v) for v in vals)]))
    lines.append("notatime;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1")
    (vm_dir / "7.csv").write_text("\n".join(lines) + "\n")
    nab = root / "nab" / "realAWSCloudwatch"
    nab.mkdir(parents=True)
    two = df.filter(pl.col("series_id") == "s01")
    rows = ["timestamp,value"] + [
        f"{ts:%Y-%m-%d %H:%M:%S},{y}" for ts, y in zip(two["ts"], two["y"], strict=True)
    ]
    (nab / "ec2_cpu_utilization_x.csv").write_text("\n".join(rows) + "\n")


def test_datasets_reader_counts_bad_rows(tmp_path: Path):
    _write_folder(tmp_path)
    loaded = load_folder(tmp_path)
    assert loaded.frame["series_id"].n_unique() == 7
    assert loaded.rejected["rows"].sum() == 1
    assert set(loaded.static["metric"]) >= {"cpu_usage", "net_tx", "ec2_cpu_utilization"}


def test_backtest_command_prints_tables(tmp_path: Path):
    _write_folder(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "--data",
            str(tmp_path),
            "--test-days",
            "1",
            "--train-days",
            "3",
            "--trees",
            "20",
            "--max-train-rows",
            "20000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lightgbm" in result.output and "snaive" in result.output
    assert "mase_gmean" in result.output


def test_backtest_command_missing_data(tmp_path: Path):
    result = CliRunner().invoke(app, ["--data", str(tmp_path / "nope")])
    assert result.exit_code == 2


def test_conformal_scales_spread_to_reach_coverage():
    rng = np.random.default_rng(0)
    n = 4000
    h = np.tile(np.arange(1, 3), n // 2)
    actual = rng.normal(0.0, 2.0, size=n)
    raw = np.column_stack([np.zeros(n), np.full(n, 1.0), np.full(n, 1.0)])  # p90 too narrow
    qs = (0.5, 0.9, 0.99)
    params = fit_conformal(qs, raw, actual, h, 2)
    out = apply_conformal(qs, raw, h, params)
    assert abs((actual <= out[:, 1]).mean() - 0.9) < 0.01
    assert abs((actual <= out[:, 2]).mean() - 0.99) < 0.005
    assert params[1, 0] > 2.0  # widened by the factor it needed
