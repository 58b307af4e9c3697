"""bench.routing --quick on a small synthetic matrix in Abilene's long format."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bench.routing import main

POPS = ("CHINng", "IPLSng", "LOSAng", "NYCMng")


def _matrix(path: Path, pops: tuple[str, ...], days: float = 4.5) -> None:
    """Daily-shaped demand between every pair; LOSAng's evening peak is three times its mean."""
    rng = np.random.default_rng(7)
    steps = int(days * 288)
    lines = ["time,src,dst,mbit_per_s"]
    for t in range(steps):
        stamp = np.datetime64("2004-03-01T00:00") + np.timedelta64(5 * t, "m")
        day = 1 + 0.5 * np.sin(2 * np.pi * (t % 288) / 288)
        for i, src in enumerate(pops):
            boost = 3.0 if (i == 2 and 200 <= t % 288 < 240) else 1.0
            for dst in pops:
                if src != dst:
                    mbit = 20 * (i + 1) * day * boost * rng.uniform(0.9, 1.1)
                    lines.append(f"{str(stamp).replace('T', ' ')}:00,{src},{dst},{mbit:.3f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.mark.slow  # ~6 s: six forecast cycles and 100 LPs
def test_quick_run_prints_every_strategy_and_the_headline(tmp_path, capsys) -> None:
    _matrix(tmp_path / "toy" / "toy_tm_long.csv.gz", POPS)
    _matrix(tmp_path / "far" / "far_tm_long.csv.gz", ("Xa", "Xb"), days=0.1)  # no coordinates
    main(["--data", str(tmp_path), "--quick"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    head = lines[-1]
    assert head.startswith("routing_latency_ratio_vs_best_peer: ")
    ratio = float(head.split()[1])
    assert 0 < ratio < 10 and "best peer" in head and "(ours " in head and "toy" in head
    for name in ("headroom", "equal", "nearest", "capacity-pr", "perfect-for"):
        assert name in out
    assert "far_tm_long.csv.gz: no coordinates for ['Xa', 'Xb']: skipped" in out
    assert "toy: 4 PoPs, 72 replayed 5-minute intervals after 1152" in out


def test_nodes_file_gives_coordinates_and_missing_data_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as none:
        main(["--data", str(tmp_path / "nowhere"), "--quick"])
    assert none.value.code == 2
    assert "benchmark data missing" in capsys.readouterr().err
    from bench.routing import coordinates

    path = tmp_path / "x_tm_long.csv.gz"
    assert coordinates(path, ["Xa"]) is None
    (tmp_path / "x_nodes.csv").write_text("node,longitude,latitude\nXa,-87.6,41.8\n")
    assert coordinates(path, ["Xa", "NYCMng"]) is not None
