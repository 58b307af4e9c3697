"""Forecast accuracy and speed: ours vs seasonal naive, statsforecast AutoETS/AutoARIMA and
mlforecast's LightGBM, in one process on the same series and the same chronological split.

    python -m bench.forecast [--data DIR] [--quick] [--out] [--only split|gift]

``--only split`` runs the one-hour split alone (its tables and headline), ``--only gift`` the
GIFT-Eval block alone (with its own 1,000-series timing); by default both run.

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
from bench.gift import timing_frame
from bench.gift_report import run_gift_block
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
PER_SERIES = ("mase", "spl_p90", "spl_p99")


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
    """Aggregates, plus ``per_series`` (MASE and scaled pinball per series) for the ratios."""
    joined = fc.join(full.select(SERIES, TS, Y, "observed"), on=[SERIES, TS], how="inner")
    joined = joined.filter(pl.col("observed"))
    ev = evaluate(joined, train, season_length=SEASON, quantiles=QUANTILES)
    return {**ev.aggregate, "per_series": ev.per_series.select(SERIES, *PER_SERIES)}


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
    data = timing_frame(full, setup.timing_series, days=14)
    ids = sorted(data[SERIES].unique().to_list())
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
    parser.add_argument(
        "--only", choices=("split", "gift"), default=None, help="run one part alone"
    )
    args = parser.parse_args(argv)
    root = require_data(args.data, "bitbrains_rnd", "nab")
    setup = QUICK if args.quick else FULL
    t_start = time.perf_counter()
    full, everything, notes = prepare(root, setup)
    _log(f"prepared {full.height} rows", t_start)
    if args.only == "gift":
        gift_payload, gift_headline = _gift(root, args.quick, setup, everything)
        _log("gift done", t_start)
        if args.out:
            print(f"wrote {write_results('forecast_gift', {'gift': gift_payload})}")
        print(gift_headline)
        return
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
    ratios = per_series_ratios(rows)
    print_table(
        "ours / peer, per series (judge on all three: gmean, median, mean; share = series "
        "where ours is better)",
        ["peer", "metric", "gmean", "median", "mean", "share"],
        [[r["peer"], r["metric"], r["gmean"], r["median"], r["mean"], r["share"]] for r in ratios],
    )
    ours, snaive = rows[0], rows[1]
    best = min(rows[2:], key=lambda r: r["mase_gmean"])
    vs_best = next(r for r in ratios if r["peer"] == best["model"] and r["metric"] == "mase")
    gift_payload, gift_headline = (
        _gift(root, args.quick, setup, everything) if args.only is None else ({}, "")
    )
    if args.only is None:
        _log("gift done", t_start)
    payload = {
        "setup": setup.__dict__,
        "series": n_series,
        "rows": [{k: v for k, v in r.items() if k != "per_series"} for r in rows],
        "per_series_ratios": ratios,
        "timing": timing,
        "gift": gift_payload,
        "notes": notes,
        "seconds_total": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.out:
        print(
            f"wrote {write_results('forecast' if args.only is None else 'forecast_split', payload)}"
        )
    print(
        f"forecast_mase_ratio_vs_best_peer: {ours['mase_gmean'] / best['mase_gmean']:.3f} "
        f"(per-series ratio gmean {vs_best['gmean']:.3f} median {vs_best['median']:.3f} mean "
        f"{vs_best['mean']:.3f}; ours {ours['mase_gmean']:.3f}, best peer {best['model']} "
        f"{best['mase_gmean']:.3f}, snaive {snaive['mase_gmean']:.3f}, {n_series} series)"
    )
    if gift_headline:
        print(gift_headline)


def _gift(
    root: Any, quick: bool, setup: Setup, everything: pl.DataFrame
) -> tuple[dict[str, Any], str]:
    return run_gift_block(
        root,
        quick=quick,
        settings=setup.model,
        timing_base=everything,
        timing_series=setup.timing_series,
    )


def per_series_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours over each peer, series by series, for MASE and scaled pinball at p90 and p99:
    geometric mean, median and arithmetic mean of the ratios, and the share of series where
    ours is better (ratio < 1). Series where either value is 0 or undefined are left out."""
    ours = rows[0]["per_series"]
    out = []
    for peer in rows[1:]:
        joined = ours.join(peer["per_series"], on=SERIES, suffix="_peer")
        for metric in PER_SERIES:
            r = (joined[metric] / joined[f"{metric}_peer"]).to_numpy()
            r = r[np.isfinite(r) & (r > 0)]
            out.append(
                {
                    "peer": peer["model"],
                    "metric": metric,
                    "gmean": float(np.exp(np.log(r).mean())) if len(r) else float("nan"),
                    "median": float(np.median(r)) if len(r) else float("nan"),
                    "mean": float(r.mean()) if len(r) else float("nan"),
                    "share": float((r < 1).mean()) if len(r) else float("nan"),
                }
            )
    return out


if __name__ == "__main__":
    main()
