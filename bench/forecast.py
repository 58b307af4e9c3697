"""Forecast accuracy and speed: ours vs seasonal naive, statsforecast AutoETS/AutoARIMA and
mlforecast's LightGBM, in one process on the same series and the same chronological split.

    python -m bench.forecast [--data DIR] [--quick] [--out]

Data: every month folder under DIR/bitbrains_rnd (six series per VM) and every CSV under
DIR/nab/*/, resampled to 5 minutes (forecasting.resample rules). Gaps are then interpolated for
every model alike (statsforecast needs complete series), and filled points are never scored.
Each series keeps its last ``train_days`` before a ``test_days`` hold-out; every model is fitted
once on the training part and forecasts one hour (12 steps) ahead from an origin every hour of
the hold-out, seeing only data before each origin.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from bench.common import peak_rss_mb, print_table, require_data, write_results
from forecasting.backtest import backtest, split_last
from forecasting.baseline import SeasonalNaive
from forecasting.datasets import load_folder
from forecasting.frames import SERIES, TS, Y
from forecasting.lgbm import LightGBMForecaster
from forecasting.metrics import evaluate
from forecasting.resample import resample

H = 12
SEASON = 288
STEPS_PER_DAY = 288
QUANTILES = (0.5, 0.9, 0.99)


@dataclass
class Setup:
    max_vms: int | None
    train_days: int
    test_days: float
    model: dict[str, Any]
    timing_series: int
    arima_timing_series: int


FULL = Setup(
    max_vms=None,
    train_days=7,
    test_days=2,
    timing_series=1000,
    arima_timing_series=100,
    model={},
)
# --quick is a smoke test: 2 VMs + NAB, 12 h held out, a smaller LightGBM, tiny timing run
QUICK = Setup(
    max_vms=2,
    train_days=2,
    test_days=0.5,
    timing_series=20,
    arima_timing_series=2,
    model={"n_estimators": 60, "max_train_rows": 40_000},
)


def prepare(data_root: Any, setup: Setup) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Load, resample to 5 minutes, fill gaps identically for all models, keep the window."""
    loaded = load_folder(data_root, max_vms=setup.max_vms)
    res = resample(loaded.frame, "5m")
    need = int((setup.train_days + setup.test_days) * STEPS_PER_DAY)
    frame = res.frame.with_columns(pl.col(Y).is_not_null().alias("observed")).with_columns(
        pl.col(Y).interpolate().forward_fill().backward_fill().over(SERIES)
    )
    sizes = frame.group_by(SERIES).len()
    short = sizes.filter(pl.col("len") < setup.test_days * STEPS_PER_DAY + 3 * STEPS_PER_DAY)
    everything = frame.filter(~pl.col(SERIES).is_in(short[SERIES].to_list())).sort(SERIES, TS)
    frame = everything.filter(pl.int_range(pl.len()).reverse().over(SERIES) < need)
    notes = {
        "resample": res.summary(),
        "excluded_short_series": short[SERIES].to_list(),
        "loader_rejected_rows": int(loaded.rejected["rows"].sum() or 0),
    }
    return frame, everything, notes


def to_pandas(df: pl.DataFrame) -> Any:
    out = df.select(
        pl.col(SERIES).alias("unique_id"),
        pl.col(TS).dt.replace_time_zone(None).alias("ds"),
        pl.col(Y).alias("y"),
    ).to_pandas()
    return out


def from_peer(cv: Any, model: str) -> pl.DataFrame:
    """Peer cross-validation output -> our forecast frame (series_id, origin, ts, p50/p90/p99)."""
    frame = pl.from_pandas(
        cv[["unique_id", "ds", "cutoff", model, f"{model}-hi-80", f"{model}-hi-98"]]
    )
    vals = np.sort(frame.select(model, f"{model}-hi-80", f"{model}-hi-98").to_numpy(), axis=1)
    return pl.DataFrame(
        {
            SERIES: frame["unique_id"],
            "origin": frame["cutoff"].dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
            TS: frame["ds"].dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
            "p50": vals[:, 0],
            "p90": vals[:, 1],
            "p99": vals[:, 2],
        }
    )


def score(fc: pl.DataFrame, full: pl.DataFrame, train: pl.DataFrame) -> dict[str, Any]:
    joined = fc.join(full.select(SERIES, TS, Y, "observed"), on=[SERIES, TS], how="inner")
    joined = joined.filter(pl.col("observed"))
    ev = evaluate(joined, train, season_length=SEASON, quantiles=QUANTILES)
    return ev.aggregate


def run_ours(full: pl.DataFrame, test_steps: int, name: str, model: Any) -> dict[str, Any]:
    res = backtest(
        model, full.select(SERIES, TS, Y), horizon=H, test_steps=test_steps, season_length=SEASON
    )
    train, _ = split_last(full, test_steps)
    agg = score(res.forecasts.drop(Y), full, train)
    return {"model": name, **agg, "fit_s": res.fit_seconds, "predict_s": res.predict_seconds}


def run_statsforecast(full: pl.DataFrame, test_steps: int, train: pl.DataFrame) -> list[dict]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS

    pdf = to_pandas(full)
    warm = pdf[pdf.unique_id == pdf.unique_id.iloc[0]].tail(600)
    out = []
    for name, model in (
        ("AutoETS", AutoETS(season_length=1)),
        ("AutoARIMA", AutoARIMA(season_length=1)),
    ):
        sf = StatsForecast(models=[model], freq="5min", n_jobs=2)
        t0 = time.perf_counter()
        sf.forecast(df=warm, h=H, level=[80])  # numba compilation, timed separately
        warmup = time.perf_counter() - t0
        t0 = time.perf_counter()
        cv = sf.cross_validation(
            df=pdf, h=H, n_windows=test_steps // H, step_size=H, refit=False, level=[80, 98]
        )
        seconds = time.perf_counter() - t0
        agg = score(from_peer(cv, name), full, train)
        out.append({"model": name, **agg, "fit_s": seconds, "predict_s": 0.0, "warmup_s": warmup})
    return out


def run_mlforecast(full: pl.DataFrame, test_steps: int, train: pl.DataFrame) -> dict[str, Any]:
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.target_transforms import LocalStandardScaler
    from mlforecast.utils import PredictionIntervals

    pdf = to_pandas(full)
    mlf = MLForecast(
        models={"mlforecast": LGBMRegressor(verbosity=-1, n_jobs=2)},
        freq="5min",
        lags=[1, 2, 3, 6, 12, SEASON],
        date_features=["hour", "dayofweek"],
        target_transforms=[LocalStandardScaler()],
        num_threads=2,
    )
    t0 = time.perf_counter()
    cv = mlf.cross_validation(
        df=pdf,
        n_windows=test_steps // H,
        h=H,
        step_size=H,
        refit=False,
        level=[80, 98],
        prediction_intervals=PredictionIntervals(n_windows=2, h=H),
    )
    seconds = time.perf_counter() - t0
    agg = score(from_peer(cv, "mlforecast"), full, train)
    return {"model": "mlforecast LightGBM", **agg, "fit_s": seconds, "predict_s": 0.0}


def timing_run(full: pl.DataFrame, setup: Setup) -> dict[str, Any]:
    """Fit + predict(12) for N series x 14 days: ours on all, AutoARIMA on a sample (scaled)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA

    days = 14 * STEPS_PER_DAY
    base = full.select(SERIES, TS, Y)
    pieces: list[pl.DataFrame] = []
    k = 0
    while sum(p[SERIES].n_unique() for p in pieces) < setup.timing_series and k < 4:
        chunk = base.filter(
            (pl.int_range(pl.len()).over(SERIES) >= k * days)
            & (pl.int_range(pl.len()).over(SERIES) < (k + 1) * days)
        ).with_columns((pl.col(SERIES) + f"#w{k}").alias(SERIES))
        chunk = chunk.filter(pl.len().over(SERIES) == days)
        pieces.append(chunk)
        k += 1
    data = pl.concat(pieces)
    ids = sorted(data[SERIES].unique().to_list())[: setup.timing_series]
    data = data.filter(pl.col(SERIES).is_in(ids))
    n = len(ids)
    t0 = time.perf_counter()
    LightGBMForecaster(**setup.model).fit(data).predict(H)
    ours = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(ids, size=min(setup.arima_timing_series, n), replace=False))
    pdf = to_pandas(data.filter(pl.col(SERIES).is_in(sample)))
    sf = StatsForecast(models=[AutoARIMA(season_length=1)], freq="5min", n_jobs=2)
    t0 = time.perf_counter()
    sf.forecast(df=pdf, h=H, level=[80, 98])
    arima_sample = time.perf_counter() - t0
    arima_est = arima_sample * n / len(sample)
    return {
        "series": n,
        "points_per_series": days,
        "ours_s": ours,
        "arima_sample_series": len(sample),
        "arima_sample_s": arima_sample,
        "arima_estimated_s": arima_est,
        "ours_over_arima": ours / arima_est,
    }


def _log(msg: str, t0: float) -> None:
    import sys

    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", action="store_true")
    args = parser.parse_args(argv)
    root = require_data(args.data, "bitbrains_rnd", "nab")
    setup = QUICK if args.quick else FULL
    t_start = time.perf_counter()
    full, everything, notes = prepare(root, setup)
    _log(f"prepared {full.height} rows", t_start)
    test_steps = int(setup.test_days * STEPS_PER_DAY)
    train, _ = split_last(full, test_steps)
    n_series = full[SERIES].n_unique()
    ours_model = LightGBMForecaster(**setup.model)
    rows = [run_ours(full, test_steps, "ours (LightGBM q)", ours_model)]
    _log("ours done", t_start)
    rows.append(run_ours(full, test_steps, "seasonal naive", SeasonalNaive(season_length=SEASON)))
    rows += run_statsforecast(full, test_steps, train)
    _log("statsforecast done", t_start)
    rows.append(run_mlforecast(full, test_steps, train))
    _log("mlforecast done", t_start)
    timing = timing_run(everything, setup)
    _log("timing done", t_start)
    cols = [
        "model",
        "mase_gmean",
        "mase_median",
        "mase",
        "spl_p90_gmean",
        "spl_p99_gmean",
        "cov_p90",
        "cov_p99",
        "fit_s",
        "predict_s",
    ]
    print(
        f"{n_series} series, train {setup.train_days:g} d + test {setup.test_days:g} d at 5 min, "
        f"horizon {H}, {test_steps // H} origins per series"
        + (" (--quick: 2 VMs + NAB, fewer days, smaller LightGBM)" if args.quick else "")
    )
    print(
        "MASE and scaled pinball (spl) are geometric means over series (mase: arithmetic mean, "
        "heavy-tailed); coverage is pooled over points; statsforecast/mlforecast fit_s is their "
        "whole cross-validation (fit + all predictions); AutoETS/AutoARIMA are non-seasonal "
        "(ETS allows m <= 24; seasonal ARIMA with m = 288 is impractically slow)"
    )
    print_table("accuracy, 1-hour horizon", cols, [[r[c] for c in cols] for r in rows])
    print_table(
        f"timing: fit + predict, {timing['series']} series x 14 days",
        ["ours s", "AutoARIMA s (est.)", "AutoARIMA sample", "ratio"],
        [
            [
                timing["ours_s"],
                timing["arima_estimated_s"],
                f"{timing['arima_sample_series']} series {timing['arima_sample_s']:.1f} s",
                timing["ours_over_arima"],
            ]
        ],
    )
    ours, snaive = rows[0], rows[1]
    peers = [r for r in rows[2:]]
    best = min(peers, key=lambda r: r["mase_gmean"])
    payload = {
        "setup": setup.__dict__,
        "series": n_series,
        "rows": rows,
        "timing": timing,
        "notes": notes,
        "seconds_total": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.out:
        print(f"wrote {write_results('forecast', payload)}")
    print(
        f"forecast_mase_ratio_vs_best_peer: {ours['mase_gmean'] / best['mase_gmean']:.3f} "
        f"(ours {ours['mase_gmean']:.3f}, best peer {best['model']} {best['mase_gmean']:.3f}, "
        f"snaive {snaive['mase_gmean']:.3f}, {n_series} series)"
    )


if __name__ == "__main__":
    main()
