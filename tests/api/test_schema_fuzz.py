"""Issue 13, "done means": the OpenAPI schema fuzzed with schemathesis (slow suite).

Every operation of the document, over state written by two real cycles, gets ``EXAMPLES``
generated requests that fit the schema and (where it takes any input) ``EXAMPLES`` that break
it, all sent with a valid
write token. No response may be a 5xx, and each must be documented: status code, content type
and body schema. Run with ``pytest -m slow tests/api/test_schema_fuzz.py``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.state import StateStore
from tests.api.cycled import CYCLED_AT, cycled_db_fixture, cycled_store_fixture  # noqa: F401

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], seen: Counter[str]):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        seen[f"{response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.slow
def test_fuzzing_the_schema_finds_no_5xx_and_no_undocumented_response(
    cycled_store: StateStore,
) -> None:
    app = create_app(cycled_store, clock=SimulatedClock(CYCLED_AT))
    _, token = issue_token(cycled_store, name="fuzz", scope="write", at=CYCLED_AT)
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter[str] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        raw = operation.definition.raw
        breakable = bool(raw.get("parameters") or raw.get("requestBody"))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 + breakable]:
            _fuzz(operation, mode, headers, seen)
    print(f"schemathesis: {operations} operations, {sum(seen.values())} requests, {dict(seen)}")
    assert operations == 13
    assert not any(code.startswith("5") for code in seen)
