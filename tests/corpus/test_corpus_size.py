"""The bad-input and fault corpus as a whole (issue 13, "Done means": at least 150 entries; 346
since issue 15's request logs) across its areas (flow logs, request logs, policies, API requests,
model files, history files, state faults), each
area's ``cases.json`` run by one test module parametrized over it, so an entry cannot sit in the
corpus without being exercised."""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
MINIMUM = 346


def _areas() -> dict[str, int]:
    return {
        p.parent.name: len(json.loads(p.read_text())) for p in sorted(HERE.glob("*/cases.json"))
    }


def test_the_corpus_holds_at_least_its_minimum_entries() -> None:
    areas = _areas()
    assert sum(areas.values()) >= MINIMUM, areas
    assert all(n > 0 for n in areas.values()), areas


def test_every_area_is_run_by_a_module_parametrized_over_its_cases() -> None:
    sources = {
        p.name: p.read_text() for p in HERE.glob("test_*.py") if p.name != Path(__file__).name
    }
    for area in _areas():
        reads = re.compile(rf"""Path\(__file__\)\.parent\s*/\s*["']{area}["']""")
        runners = [
            name
            for name, text in sources.items()
            if reads.search(text) and "cases.json" in text and "parametrize" in text
        ]
        assert runners, f"no test module runs tests/corpus/{area}/cases.json"
