"""Every hostile policy file in ``tests/corpus/policies`` (see ``cases.json``): each is refused
with ``PolicyError`` issues shaped ``file:line: field: message``, quickly and without any
other exception (issue 13, finding 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from policies.loader import PolicyError, load_policy
from tests.corpus.bounded import within

HERE = Path(__file__).parent / "policies"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
SHAPE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+:)?( (?P<path>[\w.\[\]-]+):)? (?P<msg>.+)$")


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_hostile_policy_is_refused_with_file_line_field_message(case: dict[str, Any]) -> None:
    path = HERE / case["file"]
    with within(5), pytest.raises(PolicyError) as caught:
        load_policy(path)
    issues = caught.value.issues
    assert issues
    for issue in issues:
        assert issue.source == str(path)
        assert SHAPE.match(str(issue)), str(issue)
    first = issues[0]
    assert case["message"] in first.message, str(caught.value)
    if "line" in case:
        assert first.line == case["line"], str(caught.value)
    if "path" in case:
        assert first.path == case["path"], str(caught.value)
    if "path_suffix" in case:
        assert first.path.endswith(case["path_suffix"]) and first.line, str(caught.value)
