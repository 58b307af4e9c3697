"""Benchmark: replay Bitbrains applications through Headroom's own cycle and four peers.

``python -m bench.simulate [--data DIR] [--quick] [--out] [--cron CRON]``

Every month folder under ``DIR/bitbrains_rnd/`` is loaded; VMs are assigned to applications
and regions deterministically; demand is CPU, memory and network. The first days are history,
the rest is replayed under the same constraints (provisioning delays, discrete m6i.large units
with prices, regional pools) through: static peak, AWS-style target tracking, a VPA-style
recommender, day-ahead predictive scaling, and Headroom.

Headroom is not re-implemented here: each cycle is the production ``reconciler.loop.run_once``
(``build_context``: collect -> analyze -> compose -> forecast -> allocate -> plan -> apply ->
remediate, a SQLite state store, a ``ModelCache`` refitting on its schedule), with only the
provider (``providers.replay``: each app an autoscaling group whose members share its recorded
demand as CloudWatch metrics), the clock (simulated, one step at a time) and the actuator
(``reconciler.simulate.actuator``: sets the groups' counts, a scale-out in service after the
delay) swapped. A cycle costs 2-6 s (mostly the forecast step), so Headroom runs hourly
(``--cron``, default ``0 * * * *``) where the replay policy says every 5 minutes, and the full
run replays 7 days after 14 of history (``Scenario.full``): the output says which cron ran and
what one cycle cost. The peers act every 5 minutes as before.
``perfect-foresight`` is a limit, not a peer: it sees the future, so its slack is what whole
instance units alone cost at zero congestion.

A second table compares each peer with Headroom at no more slack, and a goal line checks the
issue's goal (fewer congested intervals than every peer, slack <= 20 %, cost <= reactive).

Headline: congested app-intervals of Headroom against the peer with the fewest, as counts with +1
smoothing, ``(ours + 1) / (best + 1)``: a peer with no congested interval still gives a finite
figure (0 vs 0 is 1.00; 4 vs 0 is 5.00); below 1 means fewer congested intervals than every peer.
The line above it prints the raw counts.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import peak_rss_mb, print_table, require_data, write_results

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__)
    parser.add_argument("--data", default=None, help="data root (default ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="few VMs and days (< 1 minute)")
    parser.add_argument("--out", action="store_true", help="write bench/results/simulate.json")
    parser.add_argument("--forecaster", default="lightgbm", choices=["lightgbm", "seasonal-naive"])
    parser.add_argument(
        "--cron",
        default=None,
        help="Headroom's schedule in the replay (default '0 * * * *'; 'policy': the policy's)",
    )
    args = parser.parse_args(argv)
    root = require_data(args.data, "bitbrains_rnd")

    from reconciler.logs import configure_logging
    from reconciler.simulate.run import REPLAY_CRON, Headline, Scenario, Tradeoff, simulate

    configure_logging("WARNING")  # thousands of cycles: their step logs only when wrong
    scenario = Scenario.quick() if args.quick else Scenario.full()
    scenario.forecaster = args.forecaster
    scenario.cron = None if args.cron == "policy" else (args.cron or REPLAY_CRON)
    t0 = time.perf_counter()
    sim = simulate(root, scenario)
    trace, cfg, results = sim.trace, sim.cfg, sim.results
    seconds = time.perf_counter() - t0
    vms = sum(len(v) for v in trace.vms.values())
    replayed = trace.n_steps - cfg.train_steps
    reactive = next(r for r in results if r.name == "target-tracking")
    print_table(
        f"replay: {len(trace.apps)} apps, {vms} VMs, {replayed} five-minute steps "
        f"after {cfg.train_steps} of training",
        [
            "strategy",
            "congested %",
            "unmet %",
            "slack %",
            "cost USD",
            "cost vs reactive",
            "changes",
            "seconds",
        ],
        [[*r.row()[:5], r.cost_usd / reactive.cost_usd, r.changes, r.seconds] for r in results],
    )
    print(sim.cycles_line())
    if scenario.cron is not None:
        print(
            f"note: Headroom ran on cron {scenario.cron!r}, not the replay policy's 5-minute "
            "schedule (one real cycle per 5-minute step would take hours); --cron policy keeps it"
        )
    trade = Tradeoff(results)
    print_table("each peer against Headroom at no more slack", list(trade.COLUMNS), trade.rows())
    head = Headline(results)
    print(goal_line(head, reactive))
    if args.out:
        path = write_results(
            "simulate",
            {
                "scenario": scenario.describe(),
                "apps": trace.apps,
                "regions": trace.regions,
                "vms": vms,
                "train_steps": cfg.train_steps,
                "replayed_steps": replayed,
                "region_units": cfg.region_units,
                "results": [vars(r) for r in results],
                "ratio": head.ratio,
                "ratio_definition": "(ours congested app-intervals + 1) / (best peer's + 1)",
                "congested_counts": {r.name: r.congested_count for r in results},
                "best_peer": head.best.name,
                "headroom_cycles": {
                    "cron": sim.headroom.policy.schedule.cron,
                    "cycles": len(sim.headroom.cycles),
                    "failed": [c.error for c in sim.headroom.failed],
                    "seconds_per_cycle": sim.headroom.cycle_seconds,
                    "step_seconds": _step_means(sim.headroom),
                },
                "tradeoff": [dict(zip(TRADEOFF_KEYS, row, strict=True)) for row in trade.rows()],
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
            },
        )
        print(f"wrote {path}")
    print(f"total {seconds:.1f} s, peak RSS {peak_rss_mb():.0f} MiB")
    print(head.counts())
    print(head.line())


def _step_means(strategy: Any) -> dict[str, float]:
    """Mean seconds of each step over the warm cycles (the first one fits and backfills)."""
    warm = strategy.cycles[1:] or strategy.cycles
    names = warm[0].step_seconds if warm else {}
    return {n: sum(c.step_seconds.get(n, 0.0) for c in warm) / len(warm) for n in names}


TRADEOFF_KEYS = (
    "peer",
    "peer_congested_pct",
    "peer_slack_pct",
    "ours",
    "ours_congested_pct",
    "ours_slack_pct",
    "ours_fewer_congested",
)


def goal_line(head: Any, reactive: Any) -> str:
    """The issue's goal, each part judged on the figures above."""
    o = head.ours
    fewer = o.congested_count < head.best.congested_count
    return (
        f"goal: fewer congested than every peer {'yes' if fewer else 'no'} "
        f"({o.congested_count} vs {head.best.name} {head.best.congested_count}); "
        f"slack <= 20% {'yes' if o.slack_pct <= 20.0 else 'no'} ({o.slack_pct:.1f}%); "
        f"cost <= reactive {'yes' if o.cost_usd <= reactive.cost_usd else 'no'} "
        f"({o.cost_usd / reactive.cost_usd:.3f}x)"
    )


if __name__ == "__main__":
    main()
