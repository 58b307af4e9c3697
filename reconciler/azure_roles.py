"""The Azure role Headroom needs, generated from the Azure calls the code makes.

Two kinds of call are scanned, as ``reconciler.gcp_roles`` scans the GCP code:

- Collection (``providers/azure``): every Azure request runs inside ``azure_errors("<Label>
  ...")`` (its errors name the call), directly or through a helper that passes its parameter on
  (``_pages(client, url, f"ListAutoscaleSettings {sub}")``). The label's first word names the
  REST operation (``ListVirtualMachines``, ``QueryMetrics``, ``GetBlockList``); labels that
  build a client or a credential make no request (``_LOCAL``).
- Actuation (``infra``): every ``pulumi_azure_native`` resource the Pulumi program declares
  (``azure.compute.VirtualMachine(...)``), named by its Pulumi type token
  (``azure-native:compute:VirtualMachine``). ``*Args`` classes are inputs, not resources.

Each maps to the Azure resource provider operations (RBAC actions) the request needs, as
Microsoft documents them in "Azure permissions for Compute / Networking / Monitor / Storage"
(learn.microsoft.com/azure/role-based-access-control/permissions/compute, networking, monitor,
storage) and, for the blob reads, in the Storage Blob Data Reader role. Blob reads are data-plane
operations: they go in ``DataActions``. The result is a custom role definition in the layout
``az role definition create --role-definition`` reads; ``docs/azure-roles.json`` is generated
from it (``python -m reconciler.azure_roles --write``) and a test checks it is current, that
every request of a collection and every resource the program declares is allowed by it, and
that a call without a rule here is refused.

The Pulumi operations cover what an adopted resource goes through: import and refresh read it
(GET), an update writes it (PUT) and reads it back. Compute's PUT is long-running: the provider
polls the ``Azure-AsyncOperation`` URL, ``/subscriptions/{s}/providers/Microsoft.Compute/
locations/{region}/operations/{id}``, which needs ``Microsoft.Compute/locations/operations/read``
at subscription or resource-group scope ("Track asynchronous Azure operations", Permission for
tracking async status). An autoscale setting's PUT answers at once. The declared inputs
(``infra/components/azure_compute.py``: size, capacity, bounds, location, tags) reference no NIC,
subnet, disk or public IP, so Resource Manager's linked access checks (``.../join/action``)
have nothing to check; a component that declares such a reference needs its join action added
here. ``AssignableScopes`` holds a placeholder the operator replaces with the subscription.
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
    "SCOPE_PLACEHOLDER",
    "AzureCall",
    "Operations",
    "generate_role",
    "operations",
    "render_role",
    "scan_calls",
]

#: The Azure code that runs against a real subscription: collection, and the Pulumi program.
DEFAULT_SCAN: tuple[str, ...] = ("providers/azure", "infra")
#: What ``AssignableScopes`` holds in the committed file (replace it with the subscription id).
SCOPE_PLACEHOLDER = "/subscriptions/00000000-0000-0000-0000-000000000000"

_COMPUTE = "Microsoft.Compute"
_NETWORK = "Microsoft.Network"
_INSIGHTS = "Microsoft.Insights"
_BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
#: Compute's long-running PUTs are followed by polling the regional operation status.
_ASYNC_STATUS = f"{_COMPUTE}/locations/operations/read"


@dataclass(frozen=True)
class Operations:
    """The control-plane (``Actions``) and data-plane (``DataActions``) operations of a call."""

    actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()


#: Collection label (its first word) -> operations. The REST operation each SDK call makes is
#: in its comment; the operation names are from the Azure permissions pages cited above.
_LABELS: dict[str, Operations] = {
    # compute.virtual_machines.list_all: Virtual Machines - List All (statusOnly=true)
    "ListVirtualMachines": Operations((f"{_COMPUTE}/virtualMachines/read",)),
    # compute.virtual_machine_scale_sets.list_all: Virtual Machine Scale Sets - List All
    "ListVirtualMachineScaleSets": Operations((f"{_COMPUTE}/virtualMachineScaleSets/read",)),
    # compute.virtual_machine_scale_set_vms.list: Virtual Machine Scale Set VMs - List
    "ListScaleSetVMs": Operations((f"{_COMPUTE}/virtualMachineScaleSets/virtualMachines/read",)),
    # network.network_interfaces.list_virtual_machine_scale_set_network_interfaces: GET
    # .../Microsoft.Compute/virtualMachineScaleSets/{name}/networkInterfaces
    "ListScaleSetNetworkInterfaces": Operations(
        (f"{_COMPUTE}/virtualMachineScaleSets/networkInterfaces/read",)
    ),
    # compute.virtual_machine_sizes.list: Virtual Machine Sizes - List (locations/{l}/vmSizes)
    "ListVirtualMachineSizes": Operations((f"{_COMPUTE}/locations/vmSizes/read",)),
    # network.*.list_all: Network Interfaces / Public IP Addresses / Virtual Networks /
    # Load Balancers - List All
    "ListNetworkInterfaces": Operations((f"{_NETWORK}/networkInterfaces/read",)),
    "ListPublicIPAddresses": Operations((f"{_NETWORK}/publicIPAddresses/read",)),
    "ListVirtualNetworks": Operations((f"{_NETWORK}/virtualNetworks/read",)),
    "ListLoadBalancers": Operations((f"{_NETWORK}/loadBalancers/read",)),
    # GET /subscriptions/{s}/providers/Microsoft.Insights/autoscalesettings (Autoscale
    # Settings - List By Subscription)
    "ListAutoscaleSettings": Operations((f"{_INSIGHTS}/autoscalesettings/read",)),
    # MetricsQueryClient.query_resource: Metrics - List ({resource}/providers/
    # Microsoft.Insights/metrics)
    "QueryMetrics": Operations((f"{_INSIGHTS}/metrics/read",)),
    # Blob service: List Blobs, Get Block List, Get Blob (a byte range) all need blobs/read
    "ListBlobs": Operations(data_actions=(_BLOB_READ,)),
    "GetBlockList": Operations(data_actions=(_BLOB_READ,)),
    "DownloadBlob": Operations(data_actions=(_BLOB_READ,)),
}
#: Labels of code that makes no request (a credential or an SDK client being built;
#: ``Create`` is the leading text of ``f"Create{cls.__name__}"``).
_LOCAL = frozenset(
    {"Create", "CreateCredential", "CreateMetricsQueryClient", "CreateBlobServiceClient"}
)
#: Pulumi type token -> what adopting and updating the resource needs (see the module text).
_RESOURCES: dict[str, Operations] = {
    "azure-native:compute:VirtualMachine": Operations(
        (f"{_COMPUTE}/virtualMachines/read", f"{_COMPUTE}/virtualMachines/write", _ASYNC_STATUS)
    ),
    "azure-native:compute:VirtualMachineScaleSet": Operations(
        (
            f"{_COMPUTE}/virtualMachineScaleSets/read",
            f"{_COMPUTE}/virtualMachineScaleSets/write",
            _ASYNC_STATUS,
        )
    ),
    "azure-native:monitor:AutoscaleSetting": Operations(
        (f"{_INSIGHTS}/autoscalesettings/read", f"{_INSIGHTS}/autoscalesettings/write")
    ),
}
_LABEL = re.compile(r"[A-Z][A-Za-z]*")
_TOKEN = re.compile(r"azure-native:[a-z0-9]+:[A-Z][A-Za-z0-9]*")
_GUARD = "azure_errors"
_PACKAGE = "pulumi_azure_native"


@dataclass(frozen=True, order=True)
class AzureCall:
    """One Azure call the code makes, and where: a collection label's operation
    (``ListVirtualMachines``) or a Pulumi resource type (``azure-native:compute:VirtualMachine``).
    """

    name: str
    where: str = ""


def operations(name: str) -> Operations:
    """The operations ``name`` (a label's first word or a Pulumi type token) needs;
    ValueError for a call this module has no rule for (add it to ``_LABELS`` / ``_RESOURCES``)."""
    found = _RESOURCES.get(name) if name.startswith("azure-native:") else _LABELS.get(name)
    if found is None:
        raise ValueError(
            f"no Azure operation known for the Azure call {name!r}: add it to "
            "reconciler/azure_roles.py"
        )
    return found


def _leading_text(node: ast.expr) -> str | None:
    """A string literal, or an f-string's text before its first placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def _name(node: ast.expr) -> str:
    return str(getattr(node, "id", getattr(node, "attr", "")))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _forwarders(tree: ast.AST) -> dict[str, int]:
    """Functions that pass one of their parameters on as the ``azure_errors`` label:
    function name -> that parameter's position."""
    out: dict[str, int] = {}
    for func in _functions(tree):
        params = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and node.args and _name(node.func) == _GUARD:
                arg = node.args[0]
                if isinstance(arg, ast.Name) and arg.id in params:
                    out[func.name] = params.index(arg.id)
    return out


def _labels(func: ast.AST, forwarders: dict[str, int]) -> list[tuple[str, int]]:
    """(label, line) of every ``azure_errors(...)`` call in ``func`` and every call of a
    forwarder, a name resolved through the assignments to it in the same function."""
    assigned: dict[str, list[str]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            text = _leading_text(node.value)
            if isinstance(target, ast.Name) and text is not None:
                assigned.setdefault(target.id, []).append(text)
    out: list[tuple[str, int]] = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        at = 0 if name == _GUARD else forwarders.get(name)
        if at is None or len(node.args) <= at:
            continue
        arg = node.args[at]
        texts = assigned.get(arg.id, []) if isinstance(arg, ast.Name) else [_leading_text(arg)]
        out += [(t, node.lineno) for t in texts if t is not None]
    return out


def _aliases(tree: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Names bound to ``pulumi_azure_native`` itself, and names bound to one of its modules
    (name -> module), by this file's imports."""
    package: set[str] = set()
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == _PACKAGE:
                    package.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module == _PACKAGE:
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
    return package, modules


def _resources(tree: ast.AST) -> list[tuple[str, int]]:
    """(Pulumi type token, line) of every ``pulumi_azure_native`` resource constructed."""
    package, modules = _aliases(tree)
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        cls, owner = node.func.attr, node.func.value
        module: str | None = None
        if isinstance(owner, ast.Name) and owner.id in modules:
            module = modules[owner.id]
        elif (
            isinstance(owner, ast.Attribute)
            and isinstance(owner.value, ast.Name)
            and owner.value.id in package
        ):
            module = owner.attr
        if module is not None and cls[:1].isupper() and not cls.endswith("Args"):
            out.append((f"azure-native:{module}:{cls}", node.lineno))
    return out


def scan_calls(paths: Iterable[Path], root: Path | None = None) -> list[AzureCall]:
    """Every Azure call under ``paths`` (sorted): collection labels naming an operation, and
    Pulumi resources. Labels of local work (``_LOCAL``) are not calls; any other label is kept,
    so ``operations`` refuses it until it has a rule."""
    files: list[Path] = []
    for p in paths:
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.suffix == ".py" else []
    calls: set[AzureCall] = set()
    for f in files:
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        except SyntaxError as exc:
            raise ValueError(f"cannot scan {f} for Azure calls: {exc}") from exc
        where = str(f.relative_to(root)) if root is not None and f.is_relative_to(root) else str(f)
        forwarders = _forwarders(tree)
        for func in _functions(tree):
            for text, line in _labels(func, forwarders):
                head = text.split(" ", 1)[0]
                if _LABEL.fullmatch(head) and head not in _LOCAL:
                    calls.add(AzureCall(head, f"{where}:{line}"))
        for token, line in _resources(tree):
            if _TOKEN.fullmatch(token):
                calls.add(AzureCall(token, f"{where}:{line}"))
    return sorted(calls)


def generate_role(calls: Iterable[AzureCall]) -> dict[str, Any]:
    """A custom role definition allowing exactly the operations the calls need."""
    needed = [operations(c.name) for c in calls]
    return {
        "Name": "Headroom",
        "IsCustom": True,
        "Description": "What Headroom reads of a subscription (VMs, scale sets, sizes, NICs, "
        "public IPs, VNets, load balancers, autoscale settings, Azure Monitor metrics, flow-log "
        "blobs) and what its Pulumi program changes (VM sizes, scale-set capacity, autoscale "
        "bounds). Generated by python -m reconciler.azure_roles --write.",
        "Actions": sorted({a for ops in needed for a in ops.actions}),
        "NotActions": [],
        "DataActions": sorted({a for ops in needed for a in ops.data_actions}),
        "NotDataActions": [],
        "AssignableScopes": [SCOPE_PLACEHOLDER],
    }


def render_role(root: Path, scan: Iterable[str] = DEFAULT_SCAN) -> str:
    """The role JSON text for the code under ``root`` (what ``docs/azure-roles.json`` holds)."""
    calls = scan_calls([root / p for p in scan], root)
    return json.dumps(generate_role(calls), indent=2) + "\n"


def main() -> None:  # pragma: no cover - thin wrapper: python -m reconciler.azure_roles [--write]
    import sys

    root = Path(__file__).resolve().parent.parent
    text = render_role(root)
    if "--write" in sys.argv:
        (root / "docs" / "azure-roles.json").write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":  # pragma: no cover
    main()
