"""Group recovery on real Nezha traces + synthetic applications and hubs, scale and stability.

    python -m bench.groups [--data DIR] [--quick] [--out]

1. Mixed fleet through the real path: every ``nezha/<app>/`` is converted to AWS flow-log files
   (``bench.nezha``), synthetic applications and shared-service hubs (DNS, NAT, monitoring, a
   shared database, all also used by the real pods) are written the same way, everything is
   parsed by ``providers.aws.flowlogs`` and ingested into a ``HistoryStore``, and the edges it
   returns are grouped. ARI and NMI over application resources, hubs kept out of application
   groups; ours with and without tags; peers on the same edges: connected components and plain
   Leiden without hub handling.
2. Scale: a synthetic fleet of 100,000 resources / ~1,000,000 edges (``--quick``: 10,000 / 100,000),
   grouped in a fresh process: time and peak RSS.
3. Stability: 20 cycles of the same behaviour (ids must not churn), then one application grows
   (only its group may change).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import igraph as ig
import polars as pl

from bench.common import print_table, require_data, run_measured, write_results
from bench.nezha import NezhaApp, attach_interfaces, load_nezha_app, write_flow_logs
from providers.models import TimeWindow
from reconciler.analysis import AnalysisConfig, analyze
from reconciler.analysis.cluster import symmetrise
from reconciler.analysis.synthetic import HUB_IDS, synthetic_fleet
from reconciler.groups import ComposerConfig, EventKind, compose_from_analysis

NAME = "groups"


def _labels(nodes: list[str], membership: dict[str, Any]) -> list[str]:
    """Predicted label per node; nodes without a community are each their own singleton."""
    return [f"c{membership[n]}" if n in membership else f"solo:{n}" for n in nodes]


def _scores(truth: dict[str, str], membership: dict[str, Any]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    nodes = sorted(truth)
    t = [truth[n] for n in nodes]
    p = _labels(nodes, membership)
    return float(adjusted_rand_score(t, p)), float(normalized_mutual_info_score(t, p))


def _isolated(hubs: list[str], membership: dict[str, Any], truth: dict[str, str]) -> int:
    """Hubs not sharing a community with any application resource."""
    app_comms = {membership[n] for n in truth if n in membership}
    return sum(1 for h in hubs if h not in membership or membership[h] not in app_comms)


def _components(edges: pl.DataFrame) -> dict[str, int]:
    und = symmetrise(edges.rename({"bytes": "weight"}).select("src", "dst", "weight"))
    nodes = sorted(set(und["a"].to_list()) | set(und["b"].to_list()))
    index = {n: i for i, n in enumerate(nodes)}
    g = ig.Graph(
        n=len(nodes), edges=[(index[a], index[b]) for a, b in und.select("a", "b").iter_rows()]
    )
    memb = g.connected_components().membership
    return {n: memb[i] for n, i in index.items()}


# --- 1. mixed fleet through the real ingest path -------------------------------------------


def _hub_edges_for(app: NezhaApp, windows: list[datetime]) -> pl.DataFrame:
    """The real pods use the same hubs as the synthetic apps: DNS, monitoring, NAT, shared DB."""
    rows = []
    pods = app.pods
    for ts in windows:
        for i, pod in enumerate(pods):
            rows.append((ts, pod, HUB_IDS["dns"], 8_000))
            rows.append((ts, pod, HUB_IDS["monitoring"], 60_000))
            if i == 0:
                rows.append((ts, pod, HUB_IDS["nat"], 400_000))
            if i < 2:
                rows.append((ts, pod, HUB_IDS["shared_db"], 700_000))
    return pl.DataFrame(
        rows, schema=["window_start", "src", "dst", "bytes"], orient="row"
    ).with_columns(
        pl.col("window_start").dt.cast_time_unit("us"),
        (pl.col("bytes") // 1200).alias("packets"),
        pl.lit(1, dtype=pl.Int64).alias("flows"),
    )


def mixed_fleet(data: Path, quick: bool, work: Path) -> dict[str, Any]:
    apps_dir = data / "nezha"
    app_dirs = sorted(d for d in apps_dir.iterdir() if (d / "trace").is_dir())
    if not app_dirs:
        print(
            f"benchmark data missing: no nezha/<app>/trace folders under {apps_dir}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    t0 = time.perf_counter()
    real = [load_nezha_app(d, max_files=6 if quick else None) for d in app_dirs]
    stamps = pl.concat([a.edges.select("window_start") for a in real])["window_start"]
    if stamps.is_empty():
        print("benchmark data unusable: no cross-pod calls in the Nezha traces", file=sys.stderr)
        raise SystemExit(2)
    start: datetime = stamps.min()  # type: ignore[assignment]
    end: datetime = stamps.max() + timedelta(minutes=1)  # type: ignore[assignment,operator]
    start = start.replace(minute=start.minute - start.minute % 5, second=0, microsecond=0)
    n_windows = int((end - start) / timedelta(minutes=5)) + 1
    synth = synthetic_fleet(
        apps=60 if quick else 200,
        windows=min(n_windows, 12 if quick else 48),
        start=end - timedelta(minutes=5 * min(n_windows, 12 if quick else 48)),
        seed=11,
    )
    windows = sorted(set(synth.edges["window_start"].to_list()))
    truth = dict(synth.truth)
    inventory = list(synth.inventory)
    for app in real:
        truth.update({p: app.name for p in app.pods})
        inventory += app.inventory
    inventory = attach_interfaces(inventory)
    flow_dir = work / "flowlogs"
    files = []
    for app in real:
        files += write_flow_logs(app.edges, inventory, flow_dir, prefix=f"nezha-{app.name}")
        files += write_flow_logs(
            _hub_edges_for(app, windows),
            inventory,
            flow_dir,
            prefix=f"hubs-{app.name}",
            window_seconds=300,
        )
    files += write_flow_logs(
        synth.edges, inventory, flow_dir, prefix="synthetic", window_seconds=300
    )
    convert_s = time.perf_counter() - t0

    from providers.aws.flowlogs import parse_text
    from reconciler.history import HistoryStore
    from reconciler.history.ingest import ingest

    t1 = time.perf_counter()
    store = HistoryStore(str(work / "store"))
    store.write_inventory(inventory, start - timedelta(hours=1))
    report = ingest((parse_text(p.read_bytes(), str(p)) for p in files), store)
    window = TimeWindow(start=start, end=end + timedelta(minutes=5))
    edges = store.edges(window, bucket=timedelta(minutes=5))
    ingest_s = time.perf_counter() - t1
    hubs = list(synth.hubs)
    config = AnalysisConfig(lookback=window.end - window.start, half_life=timedelta(hours=1))
    rows: list[dict[str, Any]] = []

    def run(method: str, tags: bool, fn: Any) -> None:
        t = time.perf_counter()
        membership = fn()
        secs = time.perf_counter() - t
        ari, nmi = _scores(truth, membership)
        rows.append(
            {
                "method": method,
                "tags": tags,
                "ari": ari,
                "nmi": nmi,
                "hubs_isolated": _isolated(hubs, membership, truth),
                "seconds": secs,
            }
        )

    now = window.end
    tagged = config.model_copy(update={"hard_tag_keys": ("app",)})

    def ours(cfg: AnalysisConfig, *, hubs: bool = True) -> dict[str, int]:
        return analyze(edges, inventory, now=now, config=cfg, handle_hubs=hubs).membership

    run("headroom", False, lambda: ours(config))
    run("headroom", True, lambda: ours(tagged))
    # ablation: our hub handling without the weak-link split (modularity's resolution limit left)
    unsplit = config.model_copy(update={"split_max_link_share": 0.0})
    run("headroom, no weak-link split", False, lambda: ours(unsplit))
    # the peer is plain Leiden: no hub handling, no weak-link split
    plain = unsplit
    plain_tagged = tagged.model_copy(update={"split_max_link_share": 0.0})
    run("leiden (no hub handling)", False, lambda: ours(plain, hubs=False))
    run("leiden (no hub handling)", True, lambda: ours(plain_tagged, hubs=False))
    run("connected components", False, lambda: _components(edges))
    return {
        "resources": len(inventory),
        "application_resources": len(truth),
        "real_apps": {
            a.name: {
                "pods": len(a.pods),
                "spans": a.spans,
                "calls": a.calls,
                "bad_input": dict(+a.bad),
            }
            for a in real
        },
        "synthetic_apps": len(set(synth.truth.values())),
        "hubs": hubs,
        "flowlog_files": len(files),
        "ingest": report.as_dict(),
        "edges": edges.height,
        "convert_seconds": convert_s,
        "ingest_seconds": ingest_s,
        "rows": rows,
    }


# --- 2. scale -------------------------------------------------------------------------------


def scale_run(apps: int, degree: float, split: bool = True) -> dict[str, Any]:
    """Generate and group a large synthetic fleet (run in a fresh process for its RSS).

    ``split=False`` is the ablation without the weak-link split (modularity's resolution limit).
    """
    fleet = synthetic_fleet(apps=apps, app_size=(10, 30), internal_degree=degree, seed=5)
    now = fleet.edges["window_start"].max() + timedelta(minutes=5)  # type: ignore[operator]
    assert isinstance(now, datetime)
    config = AnalysisConfig() if split else AnalysisConfig(split_max_link_share=0.0)
    t = time.perf_counter()
    result = analyze(fleet.edges, fleet.inventory, now=now, config=config)
    secs = time.perf_counter() - t
    ari, _ = _scores(fleet.truth, result.membership)
    return {
        "resources": fleet.resources,
        "edges": result.edge_count,
        "seconds": secs,
        "communities": len(result.communities),
        "hubs": len(result.hubs),
        "hubs_isolated": _isolated(fleet.hubs, result.membership, fleet.truth),
        "hubs_total": len(fleet.hubs),
        "ari": ari,
    }


# --- 3. stability ---------------------------------------------------------------------------


def stability(cycles: int) -> dict[str, Any]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=5)
    base = synthetic_fleet(apps=30, windows=2 * cycles, start=start, seed=21)
    grower = "app00003"
    members = [n for n, a in base.truth.items() if a == grower]
    extra_rows = []
    for t in range(cycles, 2 * cycles):  # the second half: app 3 gains three resources
        for k in range(3):
            for m in members[:3]:
                extra_rows.append((start + t * step, f"i-{grower}-new{k}", m, 2_000_000))
    extra = pl.DataFrame(
        extra_rows, schema=["window_start", "src", "dst", "bytes"], orient="row"
    ).with_columns(
        pl.col("window_start").dt.cast_time_unit("us"),
        (pl.col("bytes") // 1200).alias("packets"),
        pl.lit(1, dtype=pl.Int64).alias("flows"),
    )
    edges = pl.concat([base.edges, extra])
    config = AnalysisConfig(lookback=timedelta(minutes=15), half_life=timedelta(minutes=5))
    cc = ComposerConfig()
    state = None
    ids_by_phase: list[dict[str, str]] = []
    events_by_cycle = []
    for t in range(2 * cycles):
        now = start + (t + 1) * step
        result = analyze(edges, base.inventory, now=now, config=config)
        state, events = compose_from_analysis(state, result, at=now, config=cc)
        events_by_cycle.append(events)
        ids_by_phase.append(state.membership())
    formed_at = cc.form_cycles - 1
    steady = [e for evs in events_by_cycle[formed_at + 1 : cycles] for e in evs]
    churn = sum(
        1 for n in base.truth if ids_by_phase[formed_at].get(n) != ids_by_phase[cycles - 1].get(n)
    )
    changed = [e for evs in events_by_cycle[cycles:] for e in evs]
    grower_id = ids_by_phase[cycles - 1].get(members[0])
    others = [e for e in changed if e.group_id != grower_id]
    other_moves = sum(
        1
        for n, a in base.truth.items()
        if a != grower and ids_by_phase[cycles - 1].get(n) != ids_by_phase[-1].get(n)
    )
    return {
        "cycles_same_behaviour": cycles,
        "events_after_forming": len(steady),
        "id_churn_resources": churn,
        "change_events": [f"{e.kind.value} {e.group_id}: {e.reason}" for e in changed],
        "grower_grew": any(e.kind == EventKind.GREW and e.group_id == grower_id for e in changed),
        "events_on_other_groups": len(others),
        "other_resources_moved": other_moves,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.groups", description=__doc__)
    parser.add_argument("--data", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", action="store_true")
    args = parser.parse_args(argv)
    data = require_data(args.data, "nezha")
    with tempfile.TemporaryDirectory(prefix="bench-groups-") as tmp:
        mixed = mixed_fleet(data, args.quick, Path(tmp))
    print_table(
        f"group recovery: {mixed['resources']} resources "
        f"({', '.join(mixed['real_apps'])} real + {mixed['synthetic_apps']} synthetic apps, "
        f"{len(mixed['hubs'])} hubs), {mixed['edges']} edges via flow logs + history store",
        ["method", "tags", "ARI", "NMI", "hubs isolated", "seconds"],
        [
            [
                r["method"],
                "yes" if r["tags"] else "no",
                r["ari"],
                r["nmi"],
                f"{r['hubs_isolated']}/{len(mixed['hubs'])}",
                r["seconds"],
            ]
            for r in mixed["rows"]
        ],
    )
    bad = Counter[str]()
    for info in mixed["real_apps"].values():
        bad.update(info["bad_input"])
    print(f"nezha bad input: {dict(bad) or 'none'}; ingest: {mixed['ingest']}")
    apps, degree = (500, 8.0) if args.quick else (5_000, 8.0)
    measured = run_measured(scale_run, apps, degree)
    scale = dict(measured.value) | {
        "total_seconds": measured.seconds,
        "peak_rss_mb": measured.peak_rss_mb,
    }
    unsplit = run_measured(scale_run, apps, degree, False)
    scale["no_split"] = dict(unsplit.value) | {"peak_rss_mb": unsplit.peak_rss_mb}
    print_table(
        "scale" + (" (--quick: reduced size)" if args.quick else ""),
        [
            "variant",
            "resources",
            "edges",
            "group seconds",
            "gen+group seconds",
            "peak RSS MB",
            "hubs isolated",
            "ARI",
        ],
        [
            [
                name,
                row["resources"],
                row["edges"],
                row["seconds"],
                seconds,
                row["peak_rss_mb"],
                f"{row['hubs_isolated']}/{row['hubs_total']}",
                row["ari"],
            ]
            for name, row, seconds in (
                ("headroom", scale, scale["total_seconds"]),
                ("no weak-link split", scale["no_split"], unsplit.seconds),
            )
        ],
    )
    stab = stability(8 if args.quick else 20)
    print_table(
        "stability",
        [
            "cycles same behaviour",
            "events after forming",
            "id churn",
            "grower grew",
            "events on other groups",
            "other resources moved",
        ],
        [
            [
                stab["cycles_same_behaviour"],
                stab["events_after_forming"],
                stab["id_churn_resources"],
                stab["grower_grew"],
                stab["events_on_other_groups"],
                stab["other_resources_moved"],
            ]
        ],
    )
    ours = next(r for r in mixed["rows"] if r["method"] == "headroom" and not r["tags"])
    peer = next(r for r in mixed["rows"] if r["method"].startswith("leiden") and not r["tags"])
    if args.out:
        path = write_results(
            NAME, {"quick": args.quick, "mixed": mixed, "scale": scale, "stability": stab}
        )
        print(f"results written to {path}")
    print(
        f"groups_ari: {ours['ari']:.3f} (hubs isolated {ours['hubs_isolated']}/"
        f"{len(mixed['hubs'])}, peer leiden {peer['ari']:.3f}, {mixed['resources']} resources)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
