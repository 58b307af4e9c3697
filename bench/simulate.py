"""Benchmark: provisioning frontiers of Headroom and four peers on compute and bandwidth traces.

``python -m bench.simulate [--data DIR] [--quick] [--out] [--forecaster F] [--replay-days D]
[--cron CRON]``

Traces, each with training days strictly before the replayed ones:

- ``bitbrains-cpu``: Bitbrains VMs (every month under ``DIR/bitbrains_rnd/``) assigned to
  applications and regions deterministically; demand is CPU, memory and network in whole
  m6i.large units with prices, provisioning delays and regional pools. Headroom is the
  production ``run_once`` (``reconciler.simulate.headroom``: only provider, clock and actuator
  swapped), hourly (``--cron``; ``--cron policy``: the replay policy's own 5-minute schedule, the
  peers' cadence, about 12 times the cycles); each of its knob points is a whole replay.
- ``bitbrains-net``: the same applications' network demand as bandwidth groups.
- every ``*_tm_long.csv.gz`` under ``DIR`` (Abilene: groups = origin-destination flows, regions
  = origin PoPs), its longest stretch without a measurement gap.

Bandwidth traces replay continuous Gbps under hierarchical pools (global -> region -> group,
the production allocator); Headroom there is the cycle's own forecast and allocate steps
(``reconciler.simulate.bwheadroom``), on the same schedule.

Every strategy is swept over its usual knob (``reconciler.simulate.sweep``); the table prints
each point: congested (group, interval) share, unmet demand (GB; compute: base-unit hours),
cost (Gbps-hours; compute: USD), slack, and the capacity held above the perfect-foresight floor
("excess slack": held minus the floor's, as % of the floor's). ``perfect-foresight`` is a limit.

Headline: for each peer at its default knob, Headroom's fewest congested intervals among its
points that cost no more (``reconciler.simulate.frontier.EqualCost``), as counts with +1
smoothing, ``(ours + 1) / (peer + 1)`` (inf when no Headroom point is that cheap); the worst
over peers and traces. Goal: <= 0.5 for every peer. Headroom's default knob (p90, +0 %) is the
replay policy's, set before any replayed day was seen; the headline does not depend on it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, print_table, require_data, write_results

__all__ = ["main"]

#: Abilene and other traffic matrices: days of history before the replay.
MATRIX_TRAIN_DAYS = 10
#: ``--quick``: hours replayed on every trace (Headroom's compute points: one cycle an hour)
QUICK_HOURS = 2
RATIO_DEFINITION = "(ours congested + 1) / (peer default's + 1), ours at cost <= peer's"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__)
    parser.add_argument("--data", default=None, help="data root (default ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="few points and hours (< 1 minute)")
    parser.add_argument("--out", action="store_true", help="write bench/results/simulate.json")
    parser.add_argument("--forecaster", default="lightgbm", choices=["lightgbm", "seasonal-naive"])
    parser.add_argument(
        "--replay-days", type=float, default=2.0, help="Bitbrains days replayed after 14 of history"
    )
    parser.add_argument(
        "--cron",
        default=None,
        help="Headroom's schedule (default hourly, '0 * * * *'; 'policy': the replay policy's own)",
    )
    parser.add_argument(
        "--headroom-default-only",
        action="store_true",
        help="Headroom at its default knob only (one compute replay; with --cron policy a "
        "replayed day is 288 real cycles)",
    )
    parser.add_argument(
        "--headroom-knobs",
        default=None,
        type=parse_knobs,
        help="Headroom's knob points instead of the sweep's, e.g. '0.9,0.95,0.9+0.15' "
        "(quantile[+relative margin]; each compute point is a whole replay)",
    )
    args = parser.parse_args(argv)
    root = require_data(args.data, "bitbrains_rnd")

    from reconciler.logs import configure_logging
    from reconciler.simulate.frontier import EqualCost, Point, SlackGoal, pareto

    configure_logging("WARNING")  # thousands of cycles: their step logs only when wrong
    t0 = time.perf_counter()
    points, timing = run_all(
        root,
        args.quick,
        args.forecaster,
        args.replay_days,
        args.cron,
        default_only=args.headroom_default_only,
        headroom_knobs=args.headroom_knobs,
    )
    seconds = time.perf_counter() - t0
    print_table(
        "congestion-cost frontiers (* = default knob)",
        list(Point.COLUMNS),
        [p.row() for p in points],
    )
    curves: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        curves.setdefault((p.trace, p.strategy), []).append(p)
    for (trace, strategy), curve in curves.items():
        if len(curve) < 2:  # a limit or a strategy without a knob: no curve to thin
            continue
        kept = ", ".join(p.knob for p in pareto(curve))
        print(f"frontier {trace}/{strategy} (not beaten on cost and congestion): {kept}")
    for line in timing["lines"]:
        print(line)
    head = EqualCost(points)
    print_table(
        "each peer's default against Headroom at no more cost", list(head.COLUMNS), head.rows()
    )
    slack = SlackGoal(points)
    print_table(
        "excess slack over the floor at no more congestion", list(slack.COLUMNS), slack.rows()
    )
    print(slack.line())
    print(head.goal_line())
    if args.out:
        path = write_results(
            "simulate",
            {
                "quick": args.quick,
                "forecaster": args.forecaster,
                "cron": timing["cron"],
                "headroom_default_only": args.headroom_default_only,
                "headroom_knobs": [k.label() for k in args.headroom_knobs or ()],
                "points": [vars(p) for p in points],
                "equal_cost": head.rows(),
                "slack": slack.rows(),
                "ratio_definition": RATIO_DEFINITION,
                "timing": timing,
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
            },
        )
        print(f"wrote {path}")
    print(f"total {seconds:.1f} s, peak RSS {peak_rss_mb():.0f} MiB")
    print(head.line())


def parse_knobs(text: str) -> list[Any]:
    """``'0.9,0.95,0.9+0.15'`` -> Headroom knobs (quantile and relative margin)."""
    from reconciler.simulate.bwheadroom import Knob

    out = []
    for item in text.split(","):
        q, _, m = item.strip().partition("+")
        try:
            knob = Knob(float(q), float(m or 0))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r}: a knob is quantile[+margin], e.g. 0.95 or 0.9+0.15"
            ) from None
        if not 0 < knob.quantile < 1 or knob.relative < 0:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r}: the quantile must be in (0, 1) and the margin >= 0"
            )
        out.append(knob)
    return out


def run_all(
    root: Path,
    quick: bool,
    forecaster: str,
    replay_days: float,
    cron: str | None = None,
    *,
    default_only: bool = False,
    headroom_knobs: Sequence[Any] | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Sweep every trace; the points and what each part cost in time. ``cron`` is Headroom's
    schedule (None: hourly; ``policy``: the replay policy's own)."""
    from reconciler.simulate.flows import find_matrices, from_apps, load_matrix, longest_run
    from reconciler.simulate.run import REPLAY_CRON, Scenario, default_config, replay_policy
    from reconciler.simulate.sweep import Knobs, bandwidth_points, compute_points
    from reconciler.simulate.trace import load_trace

    knobs = Knobs.quick() if quick else Knobs()
    if default_only:
        knobs = replace(knobs, headroom=knobs.headroom[:1], bandwidth_headroom=knobs.headroom[:1])
    if headroom_knobs:
        knobs = replace(
            knobs, headroom=tuple(headroom_knobs), bandwidth_headroom=tuple(headroom_knobs)
        )
    policy = replay_policy(cron=None if cron == "policy" else cron or REPLAY_CRON)
    scenario = (
        Scenario(n_apps=4, max_vms=48, train_days=7, days=7 + QUICK_HOURS / 24)
        if quick
        else Scenario(days=14 + replay_days)
    )
    lines: list[str] = []
    timing: dict[str, Any] = {"lines": lines, "cron": policy.schedule.cron}
    t0 = time.perf_counter()
    trace = load_trace(root, n_apps=scenario.n_apps, max_vms=scenario.max_vms, days=scenario.days)
    assert scenario.days is not None
    trace = trace.window(0, min(trace.n_steps, round(scenario.days * 288)))
    train = scenario.train_days * 288
    cfg = default_config(trace, train)
    points, runs = compute_points(trace, cfg, policy, knobs, forecaster)
    cycles = sum(len(r.cycles) for r in runs)
    failed = sum(len(r.failed) for r in runs)
    per = sum(r.cycle_seconds for r in runs) / max(1, len(runs))
    lines.append(
        f"bitbrains-cpu: {len(trace.apps)} apps, {trace.n_steps - train} replayed steps after "
        f"{train}; headroom {len(runs)} knob points x run_once on {policy.schedule.cron!r}: "
        f"{cycles} cycles "
        f"({failed} failed), {per:.2f} s per warm cycle; {time.perf_counter() - t0:.1f} s"
    )
    timing["bitbrains-cpu"] = time.perf_counter() - t0
    flows = [(from_apps(trace), train)]
    for path in find_matrices(root):
        matrix = longest_run(load_matrix(path))
        m_train = (4 if quick else MATRIX_TRAIN_DAYS) * 288
        if quick:
            matrix = matrix.head(m_train + QUICK_HOURS * 12, groups=24)
        flows.append((matrix, m_train))
    for flow, f_train in flows:
        t1 = time.perf_counter()
        got, run, ours = bandwidth_points(flow, f_train, policy, knobs, forecaster)
        points.extend(got)
        spent = time.perf_counter() - t1
        timing[flow.name] = spent
        lines.append(
            f"{flow.name}: {len(flow.groups)} groups in {len(run.pools.regions)} regions, "
            f"{flow.n_steps - f_train} replayed steps after {f_train}; headroom {ours.cycles} "
            f"forecast+allocate cycles (forecast {ours.seconds['forecast']:.1f} s, "
            f"allocate {ours.seconds['allocate']:.1f} s for {len(ours.knobs)} knobs); "
            f"{run.allocator_calls} peer steps divided by the allocator; {spent:.1f} s"
        )
    return points, timing


if __name__ == "__main__":
    main()
