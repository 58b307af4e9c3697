"""The program harness works after another test in the same worker ran ``asyncio.run``.

``asyncio.run`` leaves the main thread without an event loop; pulumi's runtime needs one. Under
pytest-xdist any test may run before the program tests, so this order is pinned here.
"""

import asyncio
import json
from pathlib import Path

from tests.infra.harness import run_program

EXAMPLE = Path(__file__).resolve().parents[2] / "infra/examples/desired-state.example.json"


def test_1_asyncio_run_leaves_the_thread_without_a_loop() -> None:
    asyncio.run(asyncio.sleep(0))


def test_2_program_still_runs() -> None:
    run = run_program(json.loads(EXAMPLE.read_text()))
    assert run.declared, "the example desired state declares resources"
    assert any(d.type.startswith("aws:") for d in run.declared)
