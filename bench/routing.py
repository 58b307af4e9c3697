"""Benchmark: latency-aware routing against three peers on real traffic matrices.

``python -m bench.routing [--data DIR] [--quick] [--out] [--forecaster F]``

For every ``*_tm_long.csv.gz`` under ``DIR`` (SNDlib Abilene: 12 PoPs, 5-minute intervals; read
by ``reconciler.simulate.flows``, its longest stretch without a measurement gap):

- regions are the PoPs: each PoP is a client region (its demand per interval is the traffic
  originating there, Gbps) and a serving region;
- latency (ms) between two PoPs is a fibre round trip: ``SAME_REGION_MS`` plus twice the
  great-circle distance at 2/3 of the speed of light. PoP coordinates are SNDlib's
  (``ABILENE_COORDS``), or a sibling ``<name>_nodes.csv`` (``node,longitude,latitude``); a
  matrix with neither is skipped, saying so;
- capacity per PoP: its 95th-percentile originating demand over the training days x
  ``CAPACITY_FACTOR`` (the table shows total capacity above the replay's total peak while the
  nearest-region rule overloads some PoPs). Training days strictly precede the replay.

Strategies, scored on the actual demand of every replayed interval:

- ``headroom``: each hour, the production forecast step (``reconciler.steps.forecast``) gives
  each PoP's p90 and p99 peak over the next hour; the production routing LP
  (``reconciler.routing.solve_routing``) routes the p90 peaks at ``max_utilization`` 0.9 (the
  policy default) with each serving PoP keeping room for the largest single client surprise
  (p99 - p90 peak; ``surprise_gbps``); the split holds for the hour. Swept over
  ``max_utilization`` 0.8, 0.9, 1.0 (the knob's frontier); the default knob (``*``) is the
  lowest-latency one without overload on the last ``CHECK_HOURS`` of training (replayed the
  same way, before any replayed interval is seen). Also at 0.9 without the surprise room
  (``no surprise``: what ``plan_routing`` does while user signals carry no p99);
- peers: ``equal`` weights (every client spread evenly), ``nearest`` region (every client served
  at home), ``capacity-proportional`` weights (every client spread by capacity);
- limit ``perfect-foresight``: the LP on each interval's actual demand, at full capacity.

Metrics: request-weighted latency (ms) over the replay, and per-interval latency mean, median
and p95; overload intervals (some PoP's served load above its capacity); unmet demand (GB above
capacity); peak utilisation.

Headline: Headroom's latency over the best peer's, the best peer being the lowest-latency one
among those with no overload interval (else the one with fewest, said so); with several
matrices, the worst ratio. Goal: < 1 with zero overload intervals.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import peak_rss_mb, print_table, require_data, write_results

__all__ = ["main"]

#: Abilene PoP coordinates (longitude, latitude) from SNDlib's ``abilene`` network, NODES
#: section (S. Orlowski, R. Wessaely, M. Pioro, A. Tomaszewski, "SNDlib 1.0 - Survivable
#: Network Design Library", Networks 55(3), 2010; http://sndlib.zib.de).
ABILENE_COORDS: dict[str, tuple[float, float]] = {
    "ATLAM5": (-84.3833, 33.75),
    "ATLAng": (-85.50, 34.50),
    "CHINng": (-87.6167, 41.8333),
    "DNVRng": (-105.00, 40.75),
    "HSTNng": (-95.517364, 29.770031),
    "IPLSng": (-86.159535, 39.780622),
    "KSCYng": (-96.596704, 38.961694),
    "LOSAng": (-118.25, 34.05),
    "NYCMng": (-73.9667, 40.7833),
    "SNVAng": (-122.02553, 37.38575),
    "STTLng": (-122.30, 47.60),
    "WASHng": (-77.026842, 38.897303),
}
EARTH_KM = 6371.0
#: One-way distance light covers in fibre per ms (2/3 c).
FIBRE_KM_PER_MS = 299_792.458 * 2 / 3 / 1000
TRAIN_DAYS, QUICK_TRAIN_DAYS, QUICK_HOURS = 10, 4, 6
CAPACITY_QUANTILE, CAPACITY_FACTOR = 0.95, 1.2
DEFAULT_UTILIZATION, UTILIZATIONS = 0.9, (0.8, 0.9, 1.0)
#: Training hours (the last ones before the replay) Headroom's default knob is chosen on.
CHECK_HOURS, QUICK_CHECK_HOURS = 48, 6
QUANTILES = ("p90", "p99")
PEERS = ("equal", "nearest", "capacity-proportional")
LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class Score:
    """One strategy's outcome on one matrix's replay."""

    trace: str
    strategy: str
    knob: str
    latency_ms: float  # request-weighted over every replayed interval
    mean_ms: float  # per-interval latency: mean, median, p95
    median_ms: float
    p95_ms: float
    overload_intervals: int
    unmet_gb: float
    peak_utilization: float

    COLUMNS = (
        "trace", "strategy", "knob", "latency ms", "mean", "median", "p95",
        "overload intervals", "unmet GB", "peak util",
    )  # fmt: skip

    def row(self) -> list[Any]:
        return list(asdict(self).values())


@dataclass(frozen=True)
class Regions:
    """Demand originating at each PoP, ``(n_regions, n_steps)`` Gbps, and their latencies."""

    name: str
    regions: list[str]
    gbps: np.ndarray
    latency: np.ndarray  # (client, serving) ms
    long: Any  # the FlowTrace of regions (forecast input)


def rtt_ms(coords: dict[str, tuple[float, float]], regions: list[str]) -> np.ndarray:
    """Fibre round trip between every pair: base + 2 x great-circle km / (2/3 c)."""
    from reconciler.routing import SAME_REGION_MS

    lon, lat = (np.radians([coords[r][i] for r in regions]) for i in (0, 1))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    km = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    return SAME_REGION_MS + 2 * km / FIBRE_KM_PER_MS


def coordinates(path: Path, regions: list[str]) -> dict[str, tuple[float, float]] | None:
    """PoP coordinates: a sibling ``<name>_nodes.csv``, else the embedded Abilene ones."""
    nodes = path.with_name(path.name.removesuffix("_tm_long.csv.gz") + "_nodes.csv")
    known = dict(ABILENE_COORDS)
    if nodes.exists():
        frame = pl.read_csv(nodes)
        known |= {n: (float(x), float(y)) for n, x, y in frame.select(pl.all()).iter_rows()}
    return known if all(r in known for r in regions) else None


def load_regions(path: Path) -> Regions | str:
    """The matrix as per-PoP originating demand with latencies (a reason string if skipped)."""
    from reconciler.simulate.flows import FlowTrace, load_matrix, longest_run

    flow = longest_run(load_matrix(path))
    regions = sorted(set(flow.regions))
    coords = coordinates(path, regions)
    if coords is None:
        missing = [r for r in regions if r not in ABILENE_COORDS]
        return f"{path.name}: no coordinates for {missing[:5]}: skipped"
    member = np.array([[r == x for x in flow.regions] for r in regions], dtype=float)
    gbps = member @ flow.gbps
    long = FlowTrace(flow.name, flow.ts, regions, regions, gbps, flow.step_s)
    return Regions(flow.name, regions, gbps, rtt_ms(coords, regions), long)


def forecast_peaks(
    data: Regions, train: int, end: int, every: int, forecaster: str
) -> dict[str, np.ndarray]:
    """The forecast step's peak of each quantile (``p90``, ``p99``) over each decision's hour,
    ``(n_regions, n_decisions)``."""
    from reconciler.steps.forecast import ForecastSettings, ModelCache, run_forecast

    lgbm_days = math.inf if forecaster == "seasonal-naive" else ForecastSettings().min_lgbm_days
    step = timedelta(seconds=data.long.step_s)
    settings = ForecastSettings(step=step, horizon=every * step, min_lgbm_days=lgbm_days)
    grid = settings.resolve(None, every * step)
    cache = ModelCache()
    lookback = round(LOOKBACK / step)
    starts = list(range(train, end, every))
    out = {q: np.zeros((len(data.regions), len(starts))) for q in QUANTILES}
    for k, t in enumerate(starts):
        now = data.long.at(t)
        fs = run_forecast(data.long.long_frame(max(0, t - lookback), t), now, grid, cache=cache)
        near = fs.near_term().filter(pl.col("ts") < now + every * step)
        for q, got in out.items():
            peak = dict(near.group_by("group_id").agg(pl.col(q).max()).iter_rows())
            for i, r in enumerate(data.regions):  # no forecast: the last measured value
                got[i, k] = max(0.0, float(peak.get(r, data.gbps[i, t - 1])))
    return out


def lp_split(
    demand: np.ndarray,
    data: Regions,
    cap: np.ndarray,
    util: float,
    surprise: np.ndarray | None = None,
) -> np.ndarray:
    """The production LP's split for ``demand``, as a ``(client, serving)`` matrix."""
    from reconciler.routing import solve_routing

    r = data.regions
    lat = {(c, s): float(data.latency[i, j]) for i, c in enumerate(r) for j, s in enumerate(r)}
    sol = solve_routing(
        dict(zip(r, demand.tolist(), strict=True)),
        lat,
        dict(zip(r, cap.tolist(), strict=True)),
        max_utilization=util,
        surprise_gbps=None if surprise is None else dict(zip(r, surprise.tolist(), strict=True)),
    )
    return np.array([[sol.split[c].get(s, 0.0) for s in r] for c in r])


def peer_split(name: str, data: Regions, cap: np.ndarray) -> np.ndarray:
    """A peer's fixed split: equal, nearest (home), or by capacity."""
    n = len(data.regions)
    if name == "equal":
        return np.full((n, n), 1.0 / n)
    if name == "nearest":
        return np.eye(n)[np.argmin(data.latency, axis=1)]
    return np.tile(cap / cap.sum(), (n, 1))


def score(
    trace: str, strategy: str, knob: str, splits: np.ndarray, actual: np.ndarray, data: Regions,
    cap: np.ndarray,
) -> Score:  # fmt: skip
    """Score per-interval splits ``(n_steps, client, serving)`` on ``actual`` ``(R, n_steps)``."""
    load = np.einsum("ct,tcs->ts", actual, splits)
    per_client = np.einsum("tcs,cs->tc", splits, data.latency)
    weighted = (actual.T * per_client).sum(axis=1)
    total = actual.sum(axis=0)
    per_step = np.where(total > 0, weighted / np.where(total > 0, total, 1), np.nan)
    over = np.clip(load - cap[None, :], 0, None)
    return Score(
        trace=trace,
        strategy=strategy,
        knob=knob,
        latency_ms=float(weighted.sum() / total.sum()),
        mean_ms=float(np.nanmean(per_step)),
        median_ms=float(np.nanmedian(per_step)),
        p95_ms=float(np.nanpercentile(per_step, 95)),
        overload_intervals=int((over > 1e-9).any(axis=1).sum()),
        unmet_gb=float(over.sum() * data.long.step_s / 8),
        peak_utilization=float((load / cap[None, :]).max()),
    )


def run_trace(
    data: Regions, quick: bool, forecaster: str
) -> tuple[list[Score], list[list[Any]], str]:
    """Every strategy on one matrix: scores, the capacity table and a timing line."""
    t0 = time.perf_counter()
    train = (QUICK_TRAIN_DAYS if quick else TRAIN_DAYS) * 288
    end = min(data.gbps.shape[1], train + QUICK_HOURS * 12) if quick else data.gbps.shape[1]
    if end <= train:
        raise SystemExit(f"{data.name}: {data.gbps.shape[1]} intervals, need more than {train}")
    history, actual = data.gbps[:, :train], data.gbps[:, train:end]
    cap = np.quantile(history, CAPACITY_QUANTILE, axis=1) * CAPACITY_FACTOR
    every = round(3600 / data.long.step_s)
    check = (QUICK_CHECK_HOURS if quick else CHECK_HOURS) * every
    peaks = forecast_peaks(data, train - check, end, every, forecaster)
    t_fc = time.perf_counter() - t0
    demand, surprise = peaks["p90"], np.clip(peaks["p99"] - peaks["p90"], 0, None)

    def replay(start: int, stop: int, util: float, robust: bool) -> Score:
        hours = range((start - train + check) // every, -(-(stop - train + check) // every))
        per_hour = [
            lp_split(demand[:, k], data, cap, util, surprise[:, k] if robust else None)
            for k in hours
        ]
        splits = np.repeat(np.stack(per_hour), every, axis=0)[: stop - start]
        knob = f"util {util:g}" + ("" if robust else ", no surprise")
        return score(data.name, "headroom", knob, splits, data.gbps[:, start:stop], data, cap)

    # the default knob: the lowest latency without overload on the last training hours
    checked = [replay(train - check, train, u, True) for u in UTILIZATIONS]
    default = f"util {DEFAULT_UTILIZATION:g}"  # ties go to the policy's default
    pick = min(
        checked, key=lambda s: (s.overload_intervals, round(s.latency_ms, 6), s.knob != default)
    ).knob
    n = end - train
    out: list[Score] = []
    for util, robust in [(u, True) for u in UTILIZATIONS] + [(DEFAULT_UTILIZATION, False)]:
        got = replay(train, end, util, robust)
        out.append(replace(got, knob=got.knob + " *") if got.knob == pick else got)
    for name in PEERS:
        fixed = np.broadcast_to(peer_split(name, data, cap), (n, len(cap), len(cap)))
        out.append(score(data.name, name, "-", fixed, actual, data, cap))
    t1 = time.perf_counter()
    best = np.stack([lp_split(actual[:, t], data, cap, 1.0) for t in range(n)])
    out.append(score(data.name, "perfect-foresight", "limit", best, actual, data, cap))
    table = [
        [
            r, float(history[i].mean()), float(cap[i]), float(actual[i].max()),
            int((actual[i] > cap[i]).sum()),
        ]
        for i, r in enumerate(data.regions)
    ]  # fmt: skip
    total = actual.sum(axis=0)
    line = (
        f"{data.name}: {len(data.regions)} PoPs, {n} replayed 5-minute intervals after {train}; "
        f"capacity {cap.sum():.3f} Gbps = p95 x {CAPACITY_FACTOR:g} for a replay peak of "
        f"{total.max():.3f} Gbps in all; {demand.shape[1]} hourly decisions "
        f"({forecaster} forecast {t_fc:.1f} s), limit {n} LPs in {time.perf_counter() - t1:.1f} s; "
        f"default knob {pick} chosen on the last {check // every} training hours ("
        + ", ".join(
            f"{c.knob}: {c.latency_ms:.2f} ms, {c.overload_intervals} over" for c in checked
        )
        + ")"
    )
    return out, table, line


def headline(scores: list[Score]) -> tuple[str, dict[str, Any]]:
    """The goal line: ours (default knob) over the best peer, worst over matrices."""
    worst: tuple[float, str, dict[str, Any]] | None = None
    for trace in sorted({s.trace for s in scores}):
        mine = [s for s in scores if s.trace == trace]
        ours = next(s for s in mine if s.strategy == "headroom" and s.knob.endswith("*"))
        peers = [s for s in mine if s.strategy in PEERS]
        clean = [s for s in peers if s.overload_intervals == 0]
        best = min(clean or peers, key=lambda s: (s.overload_intervals, s.latency_ms))
        ratio = ours.latency_ms / best.latency_ms
        note = "" if clean else "; no peer is free of overload: best is the one with fewest"
        text = (
            f"{ratio:.3f} (ours {ours.latency_ms:.2f} ms, overload intervals "
            f"{ours.overload_intervals}; best peer {best.strategy} {best.latency_ms:.2f} ms, "
            f"overload intervals {best.overload_intervals}; {trace}{note})"
        )
        facts = {"trace": trace, "ratio": ratio, "ours": asdict(ours), "best_peer": asdict(best)}
        if worst is None or ratio > worst[0]:
            worst = (ratio, text, facts)
    if worst is None:
        raise SystemExit("no traffic matrix could be replayed")
    return f"routing_latency_ratio_vs_best_peer: {worst[1]}", worst[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--data", default=None, help="data root (default ../shared/data)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_HOURS} replayed hours")
    parser.add_argument("--out", action="store_true", help="write bench/results/routing.json")
    parser.add_argument(
        "--forecaster",
        choices=["lightgbm", "seasonal-naive"],
        default=None,
        help="forecast step model (default lightgbm; seasonal-naive with --quick)",
    )
    args = parser.parse_args(argv)
    forecaster = args.forecaster or ("seasonal-naive" if args.quick else "lightgbm")
    root = require_data(args.data)

    from reconciler.logs import configure_logging
    from reconciler.simulate.flows import find_matrices

    configure_logging("WARNING")
    t0 = time.perf_counter()
    paths = find_matrices(root)
    if not paths:
        print(f"no *_tm_long.csv.gz under {root}: nothing to replay")
        raise SystemExit(2)
    scores: list[Score] = []
    lines: list[str] = []
    for path in paths:
        data = load_regions(path)
        if isinstance(data, str):
            lines.append(data)
            continue
        got, table, line = run_trace(data, args.quick, forecaster)
        print_table(
            f"{data.name}: capacity per PoP (Gbps; training days only)",
            ["PoP", "train mean", "capacity", "replay peak", "intervals over capacity"],
            table,
        )
        scores.extend(got)
        lines.append(line)
    if not scores:
        print("\n".join(lines))
        raise SystemExit(2)
    print_table("routing strategies (* = Headroom's default knob)", list(Score.COLUMNS), [
        s.row() for s in scores
    ])  # fmt: skip
    for line in lines:
        print(line)
    head, facts = headline(scores)
    seconds = time.perf_counter() - t0
    if args.out:
        path = write_results(
            "routing",
            {
                "quick": args.quick,
                "forecaster": forecaster,
                "capacity": f"p{CAPACITY_QUANTILE * 100:g} of training x {CAPACITY_FACTOR:g}",
                "scores": [asdict(s) for s in scores],
                "headline": facts,
                "lines": lines,
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
            },
        )
        print(f"wrote {path}")
    print(f"total {seconds:.1f} s, peak RSS {peak_rss_mb():.0f} MiB")
    print(head)


if __name__ == "__main__":
    main()
