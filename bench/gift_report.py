"""The GIFT-Eval block of ``bench.forecast``: run the terms, time 1,000 series, print the tables
and the headline (``forecast_wql_ratio_vs_snaive_gift``). The protocol is in ``bench.gift``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import print_table
from bench.gift import (
    PUBLISHED_SHORT,
    SNAIVE_NOTE,
    TERMS,
    GiftResult,
    gift_model,
    load_gift,
    run_term,
    timing_frame,
)
from forecasting.frames import SERIES

__all__ = ["run_gift_block"]

OURS, SNAIVE = "ours (LightGBM q)", "seasonal naive (GIFT)"
SHORT_NAMES = {
    OURS: "ours",
    SNAIVE: "snaive GIFT",
    "seasonal naive, point as all q": "snaive point",
    "seasonal naive, residual q": "snaive resid q",
}


def _per_series_ratios(ours: GiftResult, base: GiftResult) -> dict[str, float]:
    j = ours.per_series_mase.join(base.per_series_mase, on=SERIES, suffix="_b")
    r = (j["mase"] / j["mase_b"]).to_numpy()
    r = r[np.isfinite(r) & (r > 0)]
    if not len(r):
        return {"gmean": float("nan"), "median": float("nan"), "mean": float("nan")}
    return {
        "gmean": float(np.exp(np.log(r).mean())),
        "median": float(np.median(r)),
        "mean": float(r.mean()),
    }


def _term_rows(term: str, out: dict[str, Any]) -> list[list[Any]]:
    results: list[GiftResult] = out["results"]
    base = next(r for r in results if r.model == SNAIVE)
    rows = []
    for r in results:
        per = _per_series_ratios(r, base)
        rows.append(
            [
                f"{term} {out['horizon']}x{out['windows']}",
                SHORT_NAMES.get(r.model, r.model),
                r.mase,
                r.mase / base.mase,
                per["median"],
                per["mean"],
                r.wql,
                r.wql / base.wql,
                r.wql_by_metric.get("cpu_usage", np.nan) / base.wql_by_metric["cpu_usage"],
                r.wql_by_metric.get("memory_usage", np.nan) / base.wql_by_metric["memory_usage"],
                r.coverage.get("p10", np.nan),
                r.coverage.get("p90", np.nan),
                r.seconds,
            ]
        )
    return rows


def _timing(frame: pl.DataFrame, n_series: int, settings: dict[str, Any]) -> dict[str, Any]:
    data = timing_frame(frame, n_series, days=14)
    t0 = time.perf_counter()
    gift_model(TERMS["short"], **settings).fit(data).predict(TERMS["short"])
    return {"series": data[SERIES].n_unique(), "days": 14, "seconds": time.perf_counter() - t0}


def run_gift_block(
    root: Path,
    *,
    quick: bool,
    settings: dict[str, Any],
    timing_base: pl.DataFrame,
    timing_series: int,
) -> tuple[dict[str, Any], str]:
    """Run GIFT-Eval's protocol, print its tables; return the JSON payload and the headline."""
    frame = load_gift(root, max_vms=3 if quick else None)
    terms = ("short",) if quick else tuple(TERMS)
    outs = {t: run_term(frame, TERMS[t], settings) for t in terms}
    timing = _timing(timing_base, timing_series, settings)
    n = frame[SERIES].n_unique()
    print(
        f"GIFT-Eval protocol on Bitbrains Rnd ({n} series: CPU MHz and memory KB per VM; the "
        "same source as GIFT-Eval's bitbrains_rnd/5T, not the identical file): last "
        "windows x h points of each series in non-overlapping windows, MASE = gluonts "
        "MASE[0.5], WQL = mean_weighted_sum_quantile_loss over 0.1..0.9, ratios to seasonal "
        "naive; med/mean: median and mean of per-series MASE ratios; cpu/mem: WQL ratio of each "
        "metric's series alone (pooled WQL sums raw units, so memory in KB dominates it); "
        "p10/p90: coverage; s: fit + predict seconds"
    )
    print(SNAIVE_NOTE)
    cols = [
        "term hxw",
        "model",
        "MASE",
        "MASE ratio",
        "med",
        "mean",
        "WQL",
        "WQL ratio",
        "cpu",
        "mem",
        "p10",
        "p90",
        "s",
    ]
    rows = [row for t in terms for row in _term_rows(t, outs[t])]
    print_table("GIFT-Eval protocol (ratios to seasonal naive, GIFT's way)", cols, rows)
    print_table(
        "GIFT-Eval published, bitbrains_rnd/5T/short (their file; ratios to seasonal naive)",
        ["model", "MASE ratio", "WQL ratio"],
        [[m, a, b] for m, a, b in PUBLISHED_SHORT],
    )
    print(
        f"timing: fit + predict(48) with GIFT's 9 quantiles, {timing['series']} series x "
        f"{timing['days']} days, 2 threads: {timing['seconds']:.1f} s"
    )
    short = outs["short"]["results"]
    ours = next(r for r in short if r.model == OURS)
    base = next(r for r in short if r.model == SNAIVE)
    per = _per_series_ratios(ours, base)
    cpu = ours.wql_by_metric["cpu_usage"] / base.wql_by_metric["cpu_usage"]
    mem = ours.wql_by_metric["memory_usage"] / base.wql_by_metric["memory_usage"]
    headline = (
        f"forecast_wql_ratio_vs_snaive_gift: {ours.wql / base.wql:.3f} "
        f"(mase {ours.mase / base.mase:.3f}, per-series mase ratio median {per['median']:.3f} "
        f"mean {per['mean']:.3f}; wql cpu {cpu:.3f} memory {mem:.3f}; short h=48, "
        f"{outs['short']['windows']} windows, {n} series; Toto-2.0 published 0.345 / mase 0.796; "
        f"fit+predict {timing['series']} series {timing['seconds']:.1f} s)"
    )
    payload = {
        "terms": {
            t: {
                "horizon": o["horizon"],
                "windows": o["windows"],
                "results": [
                    {
                        "model": r.model,
                        "mase": r.mase,
                        "wql": r.wql,
                        "wql_by_metric": r.wql_by_metric,
                        "coverage": r.coverage,
                        "seconds": r.seconds,
                    }
                    for r in o["results"]
                ],
            }
            for t, o in outs.items()
        },
        "timing": timing,
        "published_short": PUBLISHED_SHORT,
    }
    return payload, headline
