"""``headroom backtest``: a rolling-origin backtest on a data folder, printed as rich tables."""

from __future__ import annotations

import os
from pathlib import Path

import typer

__all__ = ["app"]

app = typer.Typer(help="Forecasting: backtests of the LightGBM forecaster against baselines.")

DATA_ENV = "HEADROOM_DATA"


@app.command()
def backtest(
    data: Path = typer.Option(
        None,
        "--data",
        help=f"Data folder (bitbrains_rnd/, nab/); default ${DATA_ENV} or ../shared/data.",
    ),
    horizon: int = typer.Option(12, help="Steps ahead (12 x 5 min = one hour)."),
    test_days: float = typer.Option(2.0, help="Days held out at the end of each series."),
    train_days: float = typer.Option(7.0, help="Days of history before the hold-out."),
    max_vms: int | None = typer.Option(None, help="Cap Bitbrains VMs per month (faster runs)."),
    freq: str = typer.Option("5m", help="Resampling frequency."),
    season_length: int = typer.Option(288, help="Steps per season (288 = a day of 5 min)."),
    worst: int = typer.Option(10, help="How many worst series to list."),
    trees: int = typer.Option(150, help="LightGBM boosting rounds per quantile."),
    max_train_rows: int = typer.Option(150_000, help="Training pairs sampled for LightGBM."),
) -> None:
    """Backtest LightGBM and seasonal naive on every series in a data folder."""
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    from forecasting.backtest import backtest as run_backtest
    from forecasting.baseline import SeasonalNaive
    from forecasting.datasets import load_folder
    from forecasting.frames import SERIES, freq_to_timedelta
    from forecasting.lgbm import LightGBMForecaster
    from forecasting.resample import resample

    root = data or Path(os.environ.get(DATA_ENV) or "../shared/data")
    if not root.exists():
        typer.echo(f"data folder {root} does not exist (pass --data or set {DATA_ENV})", err=True)
        raise typer.Exit(2)
    console = Console(width=120)
    loaded = load_folder(root, max_vms=max_vms)
    if loaded.frame.height == 0:
        typer.echo(f"no bitbrains_rnd/ or nab/ series found under {root}", err=True)
        raise typer.Exit(2)
    res = resample(loaded.frame, freq)
    per_day = int(86400 / freq_to_timedelta(freq).total_seconds())
    test_steps = int(test_days * per_day)
    keep = int((train_days + test_days) * per_day)
    frame = res.frame.filter(pl.int_range(pl.len()).reverse().over(SERIES) < keep)
    sizes = frame.group_by(SERIES).len()
    short = sizes.filter(pl.col("len") <= test_steps + season_length)[SERIES].to_list()
    frame = frame.filter(~pl.col(SERIES).is_in(short))
    console.print(
        f"{frame[SERIES].n_unique()} series from {root}; resampling: {res.summary()}; "
        f"skipped {len(short)} series too short for the split"
    )
    results = [
        run_backtest(
            model,
            frame,
            horizon=horizon,
            test_steps=test_steps,
            season_length=season_length,
            name=name,
        )
        for name, model in (
            (
                "lightgbm",
                LightGBMForecaster(
                    freq=freq,
                    season_length=season_length,
                    horizon=horizon,
                    n_estimators=trees,
                    max_train_rows=max_train_rows,
                ),
            ),
            ("snaive", SeasonalNaive(season_length, freq=freq)),
        )
    ]
    table = Table(title=f"backtest: {horizon}-step horizon, last {test_days:g} days held out")
    cols = ["mase_gmean", "mase_median", "spl_p90_gmean", "spl_p99_gmean", "cov_p90", "cov_p99"]
    for col in ["model", *cols, "series", "fit s", "predict s"]:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in results:
        agg = r.evaluation.aggregate
        table.add_row(
            r.name,
            *(f"{agg[c]:.3f}" for c in cols),
            str(agg["series"]),
            f"{r.fit_seconds:.1f}",
            f"{r.predict_seconds:.1f}",
        )
    console.print(table)
    per = results[0].evaluation.per_series.sort("mase", descending=True, nulls_last=True)
    worst_table = Table(title=f"{worst} series with the highest LightGBM MASE")
    for col in ("series_id", "mase", "spl_p90", "cov_p90", "points"):
        worst_table.add_column(col, justify="left" if col == "series_id" else "right")
    for row in per.head(worst).iter_rows(named=True):
        worst_table.add_row(
            row["series_id"],
            f"{row['mase']:.3f}",
            f"{row['spl_p90']:.3f}",
            f"{row['cov_p90']:.2f}",
            str(row["n"]),
        )
    console.print(worst_table)
    excluded = results[0].evaluation.excluded
    if excluded:
        console.print(f"{len(excluded)} series not scored (zero in-sample seasonal scale)")
