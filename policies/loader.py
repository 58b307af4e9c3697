"""Load policy files with ruamel.yaml so that every error names its field path and file line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from policies.actions import ACTION_TYPES
from policies.schema import REFERENCE_ERROR, Loc, Policy, format_loc

__all__ = [
    "PolicyError",
    "PolicyIssue",
    "load_policy",
    "locate_issues",
    "parse_policy",
    "validate_file",
]


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy: where (file, line, field path) and what."""

    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class PolicyError(ValueError):
    """A policy file could not be loaded; ``issues`` lists every problem found."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def _plain(node: Any) -> Any:
    """ruamel's commented containers -> plain dicts and lists (pydantic sees ordinary data)."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(root: Any, loc: Iterable[int | str]) -> int | None:
    """1-based line of the deepest node of ``loc`` that exists in the YAML tree."""
    node = root
    line: int | None = None
    if isinstance(node, CommentedMap | CommentedSeq):
        line = node.lc.line + 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            pos = (
                node.lc.value(part)
                if not isinstance(node[part], CommentedMap | CommentedSeq)
                else None
            )
            key_line = node.lc.key(part)[0] + 1
            line = pos[0] + 1 if pos is not None else key_line
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        # parts that are not keys (a union tag such as "resize", "function-after[...]") are skipped
    return line


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse YAML text into a ``Policy``; raise ``PolicyError`` listing every problem."""
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError([PolicyIssue(source, line, "", f"YAML syntax: {exc.problem}")]) from exc
    except YAMLError as exc:
        raise PolicyError([PolicyIssue(source, None, "", f"YAML: {exc}")]) from exc
    if not isinstance(tree, dict):
        kind = type(tree).__name__ if tree is not None else "nothing"
        raise PolicyError([PolicyIssue(source, 1, "", f"a policy must be a mapping, got {kind}")])
    try:
        return Policy.model_validate(_plain(tree))
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            if err["type"] == REFERENCE_ERROR:  # one issue per dangling name, at its own field
                problems: list[tuple[Loc, str]] = err.get("ctx", {}).get("problems", [])
                for ref_loc, msg in problems:
                    line = _line_of(tree, ref_loc)
                    issues.append(PolicyIssue(source, line, format_loc(ref_loc), msg))
                continue
            loc = tuple(p for p in err["loc"] if _is_field(p))
            msg = err["msg"].removeprefix("Value error, ")
            issues.append(PolicyIssue(source, _line_of(tree, err["loc"]), format_loc(loc), msg))
        raise PolicyError(issues) from exc


def _is_field(part: int | str) -> bool:
    """Drop pydantic's internal location parts (union tags, validator names)."""
    return isinstance(part, int) or not ("[" in part or part in ACTION_TYPES)


def load_policy(path: str | Path) -> Policy:
    """Read and validate one policy file; raise ``PolicyError`` naming file, line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([PolicyIssue(str(p), None, "", f"cannot read: {exc.strerror}")]) from exc
    return parse_policy(text, source=str(p))


def validate_file(path: str | Path) -> list[PolicyIssue]:
    """Every structural problem in one file (empty when it is valid)."""
    try:
        load_policy(path)
    except PolicyError as exc:
        return exc.issues
    return []


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def locate_issues(text: str, issues: list[PolicyIssue]) -> list[PolicyIssue]:
    """Fill in the file line of issues that only know their field path (meaning checks)."""
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError:
        return issues
    out = []
    for issue in issues:
        if issue.line is not None or not issue.path:
            out.append(issue)
            continue
        loc: list[int | str] = [
            int(index) if index else name for name, index in _PATH_PART.findall(issue.path)
        ]
        out.append(replace(issue, line=_line_of(tree, loc)))
    return out
