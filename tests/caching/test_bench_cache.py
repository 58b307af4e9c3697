"""bench.cache --quick runs end to end and prints its headline last."""

from __future__ import annotations

import re

import pytest

from bench import cache


@pytest.mark.slow
def test_quick_run_prints_the_headline(capsys: pytest.CaptureFixture[str]) -> None:
    cache.main(["--quick", "--sweep", "0.8"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("public request-level trace: none available")
    assert any(line.startswith("best peer = cheapest non-oracle peer") for line in lines)
    assert re.match(
        r"cache_cost_ratio_vs_best_peer: (\d+\.\d\d|n/a) \(ours hit \d+\.\d\d%, cost \d+\.\d\d",
        lines[-1],
    ), lines[-1]


def test_trace_is_deterministic_and_shifts() -> None:
    a, b = cache.Trace(cache.QUICK), cache.Trace(cache.QUICK)
    first = a.epoch(0)["us-east-1"][0]
    assert (first == b.epoch(0)["us-east-1"][0]).all() and len(first) > 1000
    for e in range(1, a.shift_epoch + 1):
        a.epoch(e)
    launched = a.prefix[a.ranks["us-east-1"][:10]]
    assert (launched == cache.LAUNCH).all()  # the top ranks went to launched content
    assert a.names(a.ranks["us-east-1"][:1])[0].startswith("/launch/o")


def test_lru_evicts_least_recent_bytes() -> None:
    lru = cache.Lru()
    lru.resize(30)
    assert lru.run([1, 2, 1, 3, 2], [10, 10, 10, 15, 10]) == 1  # 3 evicts 2 (least recent)
    assert list(lru.items) == [3, 2] and lru.used == 25
