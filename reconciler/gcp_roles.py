"""The Google Cloud permissions Headroom needs, generated from the calls the GCP code makes.

Every Google API call in ``providers/gcp`` runs inside ``gcp_errors("<collection>.<method> ...")``
(its errors name the call), and that label is the REST method as Google documents it
(``instances.aggregatedList``, ``timeSeries.list``, ``objects.get``). A static scan reads those
labels (a literal, an f-string's leading text, or a local ``op = ...`` naming one), and each
method maps to the IAM permission Google requires for it (``aggregatedList`` and ``list``
need ``<service>.<resource>.list``; ``listManagedInstances`` needs
``compute.instanceGroupManagers.get``).
The result is a custom role definition in the layout ``gcloud iam roles create --file`` reads;
``docs/gcp-roles.json`` is generated from it (``python -m reconciler.gcp_roles --write``) and a
test checks it is current and that every request the provider makes is allowed by it.

Impersonation (``--gcp-impersonate``) needs ``iam.serviceAccounts.getAccessToken`` for the
caller on the impersonated account (``roles/iam.serviceAccountTokenCreator``), not in this role.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SCAN",
    "GcpCall",
    "generate_role",
    "permission",
    "render_role",
    "scan_calls",
]

#: The GCP code that runs against a real project.
DEFAULT_SCAN: tuple[str, ...] = ("providers/gcp",)

#: REST collection -> ``<service>.<resource>`` of its IAM permissions (regional collections
#: share their zonal twin's permissions).
_RESOURCE = {
    "instances": "compute.instances",
    "machineTypes": "compute.machineTypes",
    "autoscalers": "compute.autoscalers",
    "regionAutoscalers": "compute.autoscalers",
    "instanceGroupManagers": "compute.instanceGroupManagers",
    "regionInstanceGroupManagers": "compute.instanceGroupManagers",
    "timeSeries": "monitoring.timeSeries",
    "entries": "logging.logEntries",
    "objects": "storage.objects",
}
#: REST method -> the permission's verb.
_VERB = {"list": "list", "aggregatedList": "list", "get": "get", "listManagedInstances": "get"}
_LABEL = re.compile(r"([a-z][A-Za-z]*)\.([a-z][A-Za-z]*)")
_GUARD = "gcp_errors"


@dataclass(frozen=True, order=True)
class GcpCall:
    """One Google REST method the code calls (``instances.aggregatedList``), and where."""

    method: str
    where: str = ""


def permission(method: str) -> str:
    """The IAM permission ``method`` (``collection.method``) needs; ValueError for a method
    this module has no rule for (add it to ``_RESOURCE`` / ``_VERB``)."""
    m = _LABEL.fullmatch(method)
    if m is None or m.group(1) not in _RESOURCE or m.group(2) not in _VERB:
        raise ValueError(
            f"no IAM permission known for Google API method {method!r}: add it to "
            "reconciler/gcp_roles.py"
        )
    return f"{_RESOURCE[m.group(1)]}.{_VERB[m.group(2)]}"


def _leading_text(node: ast.expr) -> str | None:
    """A string literal, or an f-string's text before its first placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _labels(func: ast.AST) -> list[tuple[str, int]]:
    """(label, line) of every ``gcp_errors(...)`` call in ``func``, a name resolved through the
    assignments to it in the same function."""
    assigned: dict[str, list[str]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            text = _leading_text(node.value)
            if isinstance(target, ast.Name) and text is not None:
                assigned.setdefault(target.id, []).append(text)
    out: list[tuple[str, int]] = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name != _GUARD:
            continue
        arg = node.args[0]
        texts = assigned.get(arg.id, []) if isinstance(arg, ast.Name) else [_leading_text(arg)]
        out += [(t, node.lineno) for t in texts if t is not None]
    return out


def scan_calls(paths: Iterable[Path], root: Path | None = None) -> list[GcpCall]:
    """Every Google REST method named by a ``gcp_errors`` label under ``paths`` (sorted).
    Labels without ``collection.method`` (``credentials``, ``client ...``) are not API calls."""
    files: list[Path] = []
    for p in paths:
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.suffix == ".py" else []
    calls: set[GcpCall] = set()
    for f in files:
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        except SyntaxError as exc:
            raise ValueError(f"cannot scan {f} for Google API calls: {exc}") from exc
        where = str(f.relative_to(root)) if root is not None and f.is_relative_to(root) else str(f)
        funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for func in funcs:
            for text, line in _labels(func):
                head = text.split(" ", 1)[0]
                if _LABEL.fullmatch(head):
                    calls.add(GcpCall(head, f"{where}:{line}"))
    return sorted(calls)


def generate_role(calls: Iterable[GcpCall]) -> dict[str, Any]:
    """A custom role allowing exactly the permissions the calls need."""
    return {
        "title": "Headroom reader",
        "description": "What Headroom reads of a project: instances, MIGs, machine types, "
        "Cloud Monitoring series, VPC flow logs (Cloud Logging or a sink export in Cloud "
        "Storage). Generated by python -m reconciler.gcp_roles --write.",
        "stage": "GA",
        "includedPermissions": sorted({permission(c.method) for c in calls}),
    }


def render_role(root: Path, scan: Iterable[str] = DEFAULT_SCAN) -> str:
    """The role JSON text for the code under ``root`` (what ``docs/gcp-roles.json`` holds)."""
    calls = scan_calls([root / p for p in scan], root)
    return json.dumps(generate_role(calls), indent=2) + "\n"


def main() -> None:  # pragma: no cover - thin wrapper: python -m reconciler.gcp_roles [--write]
    import sys

    root = Path(__file__).resolve().parent.parent
    text = render_role(root)
    if "--write" in sys.argv:
        (root / "docs" / "gcp-roles.json").write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":  # pragma: no cover
    main()
