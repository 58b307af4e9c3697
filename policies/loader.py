"""Load policy files with ruamel.yaml so that every error names its field path and file line.

Untrusted text is bounded before it is built into objects: its size, its nesting depth and
the number of nodes it expands to through aliases (a billion-laughs file is refused from its
events, before anything is copied). Numbers must be finite and of a sane size; nothing a
policy file holds can make the loader raise anything but ``PolicyError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.reader import ReaderError

from policies.actions import ACTION_TYPES
from policies.schema import REFERENCE_ERROR, Loc, Policy, format_loc

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_POLICY_BYTES",
    "MAX_TEXT_CHARS",
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


#: A policy file larger than this is not a policy (the examples are under 3 KB; the YAML
#: parser reads some 60 KB a second, so this also bounds how long a file can take).
MAX_POLICY_BYTES = 256 << 10
#: Deepest nesting of mappings and lists (the schema needs about 6).
MAX_DEPTH = 32
#: Most nodes the document may expand to, counting every alias as a copy of its anchor
#: (the examples have about 200; parsing runs near 12,000 nodes a second).
MAX_NODES = 10_000
#: Longest text a single value may hold (a name, a description, a cron line).
MAX_TEXT_CHARS = 10_000
#: Longest scalar that may look like a number (a 5,000-digit integer is not a setting).
MAX_NUMBER_CHARS = 40
#: Largest integer magnitude accepted (what the state store and JSON can hold).
MAX_INT = 2**63 - 1
_NUMBER = re.compile(r"[-+]?(?:\.?[0-9]|\.(?:inf|nan))", re.IGNORECASE)


def _bounded(text: str, source: str) -> None:
    """Refuse, from the parser's events alone, a document too deep or too big when expanded."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    nodes = 0
    for event in _events(text, source):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, AliasEvent):
            size = sizes.get(str(event.anchor), 1)
        elif isinstance(event, ScalarEvent):
            size = 1
            value = event.value or ""
            if not event.style and len(value) > MAX_NUMBER_CHARS and _NUMBER.match(value):
                msg = f"number of {len(value)} characters (at most {MAX_NUMBER_CHARS})"
                raise PolicyError([PolicyIssue(source, line, "", msg)])
            if len(value) > MAX_TEXT_CHARS:
                msg = f"text of {len(value)} characters (at most {MAX_TEXT_CHARS})"
                raise PolicyError([PolicyIssue(source, line, "", msg)])
            if event.anchor is not None:
                sizes[str(event.anchor)] = 1
        elif isinstance(event, CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                msg = f"nested deeper than {MAX_DEPTH} levels"
                raise PolicyError([PolicyIssue(source, line, "", msg)])
            stack.append([event.anchor, 1])
            continue
        elif isinstance(event, CollectionEndEvent) and len(stack) > 1:
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[str(anchor)] = size
        else:
            continue
        stack[-1][1] += size
        nodes += size
        if nodes > MAX_NODES:
            msg = f"expands to more than {MAX_NODES} nodes (aliases count as copies)"
            raise PolicyError([PolicyIssue(source, line, "", msg)])


def _events(text: str, source: str) -> Iterator[NodeEvent | CollectionEndEvent]:
    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, NodeEvent | CollectionEndEvent):
                yield event
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError([PolicyIssue(source, line, "", f"YAML syntax: {exc.problem}")]) from exc
    except YAMLError as exc:
        raise PolicyError([_yaml_issue(exc, text, source)]) from exc


def _yaml_issue(exc: YAMLError, text: str, source: str) -> PolicyIssue:
    """One line for a reader error (a NUL or other control character), at its line."""
    if isinstance(exc, ReaderError) and isinstance(exc.position, int):
        line = text.count("\n", 0, exc.position) + 1
        return PolicyIssue(source, line, "", f"YAML: {str(exc).splitlines()[0]}")
    return PolicyIssue(source, None, "", "YAML: " + " ".join(str(exc).split()))


def _number_issues(tree: Any, source: str) -> list[PolicyIssue]:
    """Every infinite, NaN or out-of-range number in the tree, at its field and line."""
    issues: list[PolicyIssue] = []
    todo: list[tuple[Any, Loc]] = [(tree, ())]
    while todo:
        node, loc = todo.pop()
        if isinstance(node, dict):
            todo.extend((v, (*loc, k if isinstance(k, str) else str(k))) for k, v in node.items())
        elif isinstance(node, list):
            todo.extend((v, (*loc, i)) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            msg = f"must be a finite number, got {node}"
            issues.append(PolicyIssue(source, _line_of(tree, loc), format_loc(loc), msg))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            msg = f"number out of range (at most {MAX_INT} in magnitude)"
            issues.append(PolicyIssue(source, _line_of(tree, loc), format_loc(loc), msg))
    return sorted(issues, key=lambda i: (i.line or 0, i.path))


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
            nested = isinstance(node[part], CommentedMap | CommentedSeq)
            pos = None if nested else node.lc.value(part)
            pos = pos or node.lc.key(part)  # a key merged in by ``<<`` has neither
            line = pos[0] + 1 if pos is not None else line
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        # parts that are not keys (a union tag such as "resize", "function-after[...]") are skipped
    return line


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse YAML text into a ``Policy``; raise ``PolicyError`` listing every problem."""
    if len(text) > MAX_POLICY_BYTES:
        msg = f"file is {len(text)} characters, more than a policy needs ({MAX_POLICY_BYTES})"
        raise PolicyError([PolicyIssue(source, None, "", msg)])
    _bounded(text, source)
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except (ValueError, OverflowError, RecursionError) as exc:  # constructors on odd scalars
        raise PolicyError([PolicyIssue(source, None, "", f"YAML value: {exc}"[:300])]) from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError([PolicyIssue(source, line, "", f"YAML syntax: {exc.problem}")]) from exc
    except YAMLError as exc:
        raise PolicyError([_yaml_issue(exc, text, source)]) from exc
    if not isinstance(tree, dict):
        kind = type(tree).__name__ if tree is not None else "nothing"
        raise PolicyError([PolicyIssue(source, 1, "", f"a policy must be a mapping, got {kind}")])
    numbers = _number_issues(tree, source)
    if numbers:
        raise PolicyError(numbers)
    try:
        return Policy.model_validate(_plain(tree))
    except (OverflowError, RecursionError) as exc:
        raise PolicyError([PolicyIssue(source, None, "", f"value: {exc}"[:300])]) from exc
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
        size = p.stat().st_size
        if size > MAX_POLICY_BYTES:  # never read a huge file into memory
            msg = f"file is {size} bytes, more than a policy needs ({MAX_POLICY_BYTES})"
            raise PolicyError([PolicyIssue(str(p), None, "", msg)])
        data = p.read_bytes()
    except OSError as exc:
        raise PolicyError([PolicyIssue(str(p), None, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        msg = f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise PolicyError([PolicyIssue(str(p), line, "", msg)]) from exc
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
        _bounded(text, "<text>")
        tree = YAML(typ="rt").load(text)
    except (YAMLError, PolicyError, ValueError, OverflowError, RecursionError):
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
