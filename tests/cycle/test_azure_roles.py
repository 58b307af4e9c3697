"""The Azure custom role: generated from the code's Azure calls, committed in
docs/azure-roles.json, and enough for every request a collection makes (recorded ARM and Azure
Monitor exchanges, flow-log blobs read through the real ``azure-storage-blob`` client from
recorded Blob service answers) and for every resource the Pulumi program declares."""

from __future__ import annotations

import base64
import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses

from providers.azure.flowblobs import VNET_CONTAINER, FlowLogContainer
from providers.azure.provider import AzureProvider
from providers.azure.session import AzureSession
from providers.models import MetricName, MetricQuery, TimeWindow
from reconciler.azure_roles import (
    SCOPE_PLACEHOLDER,
    AzureCall,
    generate_role,
    operations,
    render_role,
    scan_calls,
)
from tests.infra.harness import run_program
from tests.providers.azure.flowlog_data import FLOW_LOG, blocks, vnet_record
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, served

ROOT = Path(__file__).resolve().parents[2]
HOUR = datetime(2026, 3, 4, 11, tzinfo=UTC)
WINDOW = TimeWindow(start=HOUR, end=HOUR + timedelta(hours=1))
ACCOUNT = "https://flowlogs.blob.core.windows.net"
BLOB = f"flowLogResourceID={FLOW_LOG}/y=2026/m=03/d=04/h=11/m=00/macAddress=000D3A000001/PT1H.json"
RG = f"/subscriptions/{SUB}/resourcegroups/shop-rg/providers"


def _role() -> dict[str, Any]:
    loaded = json.loads((ROOT / "docs" / "azure-roles.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_committed_role_matches_the_code() -> None:
    committed = ROOT / "docs" / "azure-roles.json"
    assert committed.exists(), "run: python -m reconciler.azure_roles --write"
    assert committed.read_text(encoding="utf-8") == render_role(ROOT), (
        "docs/azure-roles.json is stale: run python -m reconciler.azure_roles --write"
    )
    role = _role()
    assert list(role) == [
        "Name",
        "IsCustom",
        "Description",
        "Actions",
        "NotActions",
        "DataActions",
        "NotDataActions",
        "AssignableScopes",
    ]
    assert role["IsCustom"] is True and role["AssignableScopes"] == [SCOPE_PLACEHOLDER]
    assert role["DataActions"] == [
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
    ]


def test_scan_reads_labels_forwarded_labels_and_pulumi_resources(tmp_path: Path) -> None:
    (tmp_path / "reader.py").write_text(
        textwrap.dedent(
            """
            def read(client, sub, region):
                with azure_errors("CreateCredential"):  # builds a credential: not a call
                    pass
                op = f"ListVirtualMachines {sub}"
                with azure_errors(op):
                    client.virtual_machines.list_all()
                with azure_errors(f"ListVirtualMachineSizes", region):
                    client.virtual_machine_sizes.list(region)
                yield from _pages(client, "/x", f"ListAutoscaleSettings {sub}")
                with other(f"ListBlobs {sub}"):  # not guarded: not counted
                    pass

            def _pages(client, url, operation):
                with azure_errors(operation):
                    return client.send_request(url)
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "program.py").write_text(
        textwrap.dedent(
            """
            import pulumi_azure_native as azure
            from pulumi_azure_native import monitor as mon

            def declare(spec):
                azure.compute.VirtualMachine(
                    "vm", hardware_profile=azure.compute.HardwareProfileArgs(vm_size="x")
                )
                mon.AutoscaleSetting("as", profiles=[mon.AutoscaleProfileArgs(name="p")])
            """
        ),
        encoding="utf-8",
    )
    assert scan_calls([tmp_path], tmp_path) == [
        AzureCall("ListAutoscaleSettings", "reader.py:10"),
        AzureCall("ListVirtualMachineSizes", "reader.py:8"),
        AzureCall("ListVirtualMachines", "reader.py:6"),
        AzureCall("azure-native:compute:VirtualMachine", "program.py:6"),
        AzureCall("azure-native:monitor:AutoscaleSetting", "program.py:9"),
    ]
    role = generate_role(scan_calls([tmp_path]))
    assert role["Actions"] == [
        "Microsoft.Compute/locations/operations/read",
        "Microsoft.Compute/locations/vmSizes/read",
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Insights/autoscalesettings/read",
        "Microsoft.Insights/autoscalesettings/write",
    ]
    assert role["DataActions"] == []


def test_a_call_without_a_rule_is_refused() -> None:
    assert operations("QueryMetrics").actions == ("Microsoft.Insights/metrics/read",)
    with pytest.raises(ValueError, match="'ListApplicationGateways'.*azure_roles.py"):
        operations("ListApplicationGateways")
    with pytest.raises(ValueError, match="'azure-native:cache:Redis'.*azure_roles.py"):
        operations("azure-native:cache:Redis")
    # a new label in the scanned code is kept, so generating the role refuses it
    with pytest.raises(ValueError, match="'DeallocateVirtualMachine'"):
        generate_role([AzureCall("DeallocateVirtualMachine", "providers/azure/x.py:1")])


# -- every request of a collection and every declared resource is allowed by the role -----------


def _block_id(n: int) -> str:
    return base64.b64encode(f"{n:08d}".encode()).decode()


def _serve_flow_blob(mock: responses.RequestsMock) -> None:
    """The Blob service's List Blobs, Get Block List and ranged Get Blob answers (documented
    XML and headers) for one ``PT1H.json`` blob of two committed blocks."""
    ts = int((HOUR + timedelta(minutes=3)).timestamp() * 1000)
    flow = f"{ts},10.0.1.4,10.0.2.9,50000,5432,6,O,B,NX,0,0,0,0"
    parts = blocks([vnet_record(ts, "000D3A000001", [flow])], close=False)
    data = b"".join(parts)
    container = f"{ACCOUNT}/{VNET_CONTAINER}"
    modified = format_datetime(HOUR, usegmt=True)

    def answer(request: Any) -> tuple[int, dict[str, str], bytes]:
        query = parse_qs(urlsplit(request.url).query)
        path = unquote(urlsplit(request.url).path)
        if query.get("comp") == ["list"]:
            body = (
                '<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
                f'ServiceEndpoint="{ACCOUNT}/" ContainerName="{VNET_CONTAINER}"><Blobs><Blob>'
                f"<Name>{BLOB}</Name><Properties><Last-Modified>{modified}</Last-Modified>"
                f"<Content-Length>{len(data)}</Content-Length><BlobType>BlockBlob</BlobType>"
                "</Properties></Blob></Blobs><NextMarker /></EnumerationResults>"
            )
            return 200, {"Content-Type": "application/xml"}, body.encode()
        assert path == f"/{VNET_CONTAINER}/{BLOB}", path
        if query.get("comp") == ["blocklist"]:
            listed = "".join(
                f"<Block><Name>{_block_id(i)}</Name><Size>{len(p)}</Size></Block>"
                for i, p in enumerate(parts)
            )
            body = (
                '<?xml version="1.0" encoding="utf-8"?><BlockList><CommittedBlocks>'
                f"{listed}</CommittedBlocks></BlockList>"
            )
            return 200, {"Content-Type": "application/xml"}, body.encode()
        asked = request.headers.get("x-ms-range") or request.headers.get("Range", "")
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", asked)
        assert m, f"a blob read without a byte range: {asked!r}"
        start, end = int(m[1]), min(int(m[2]), len(data) - 1)
        headers = {
            "Content-Range": f"bytes {start}-{end}/{len(data)}",
            "Content-Type": "application/octet-stream",
            "x-ms-blob-type": "BlockBlob",
            "Last-Modified": modified,
            "ETag": '"0x8DC0000000000001"',
        }
        return 206, headers, data[start : end + 1]

    mock.add_callback(responses.GET, re.compile(re.escape(container) + r"(/.*)?(\?.*)?$"), answer)


def _operation(url: str) -> str:
    """The collection label of a recorded request (what ``azure_errors`` names it)."""
    parts = urlsplit(url)
    path = parts.path
    if url.startswith(ACCOUNT):
        comp = parse_qs(parts.query).get("comp", [""])[0]
        return {"list": "ListBlobs", "blocklist": "GetBlockList"}.get(comp, "DownloadBlob")
    if path.lower().endswith("/providers/microsoft.insights/metrics"):
        return "QueryMetrics"
    if path.endswith("/providers/Microsoft.Insights/autoscalesettings"):
        return "ListAutoscaleSettings"
    if re.search(r"/locations/[^/]+/vmSizes$", path):
        return "ListVirtualMachineSizes"
    if m := re.search(r"/virtualMachineScaleSets/[^/]+/(virtualMachines|networkInterfaces)$", path):
        return {"virtualMachines": "ListScaleSetVMs"}.get(m[1], "ListScaleSetNetworkInterfaces")
    if m := re.search(r"/subscriptions/[^/]+/providers/Microsoft\.\w+/(\w+)$", path):
        return "List" + m[1][0].upper() + m[1][1:]
    raise AssertionError(f"a request this test cannot name: {url}")


def _program_state() -> dict[str, Any]:
    """A desired state with an Azure VM resized and a scale set with an autoscale setting."""
    compute = f"{RG}/microsoft.compute"
    return {
        "schema_version": 1,
        "groups": [
            {
                "id": "shop",
                "min_count": 2,
                "instances": [
                    {
                        "provider": "azure",
                        "name": "web-1",
                        "region": "westeurope",
                        "import_id": f"{compute}/virtualmachines/web-1",
                        "instance_type": "Standard_D8s_v5",
                        "current_instance_type": "Standard_D4s_v5",
                    }
                ],
                "scaling_groups": [
                    {
                        "provider": "azure",
                        "name": "api-ss",
                        "region": "westeurope",
                        "import_id": f"{compute}/virtualmachinescalesets/api-ss",
                        "desired": 3,
                        "min_size": 2,
                        "max_size": 6,
                        "instance_type": "Standard_D2s_v5",
                        "current_instance_type": "Standard_D2s_v5",
                        "autoscale": {
                            "setting_id": f"{RG}/microsoft.insights/autoscalesettings/api-as",
                            "profile": "default",
                            "profile_index": 0,
                            "profiles": 1,
                            "default": 2,
                        },
                    }
                ],
            }
        ],
    }


def test_every_request_and_declared_resource_is_allowed_by_the_role() -> None:
    role = _role()
    session = AzureSession(
        credential=FakeCredential(),
        subscriptions=[SUB],
        transport=RecordingTransport(),
        retry_total=0,
    )
    logs = FlowLogContainer(account_url=ACCOUNT, region="westeurope")
    provider = AzureProvider(session=session, regions=["westeurope"], flow_logs=[logs])
    with served("fleet.json", "metrics.json") as mock:
        _serve_flow_blob(mock)
        resources = provider.inventory()
        assert provider.scaling_groups()
        provider.instance_catalog()
        vm = next(r for r in resources if r.id.endswith("/virtualmachines/web-1"))
        provider.metrics(
            [MetricQuery(resource_id=vm.id, metric=MetricName.NETWORK_IN, stat="Sum")], WINDOW
        )
        (chunk,) = list(provider.flow_records(WINDOW))
        assert chunk.source.startswith(f"{ACCOUNT}/{VNET_CONTAINER}/") and not chunk.rejected
        labels = {_operation(str(c.request.url)) for c in mock.calls}
    assert {"ListBlobs", "GetBlockList", "DownloadBlob", "QueryMetrics"} <= labels

    declared = {d.type for d in run_program(_program_state()).declared}
    resources_used = {t for t in declared if t.startswith("azure-native:")}
    assert resources_used == {
        "azure-native:compute:VirtualMachine",
        "azure-native:compute:VirtualMachineScaleSet",
        "azure-native:monitor:AutoscaleSetting",
    }

    needed = [operations(name) for name in labels | resources_used]
    actions = {a for ops in needed for a in ops.actions}
    data_actions = {a for ops in needed for a in ops.data_actions}
    assert actions <= set(role["Actions"]), actions - set(role["Actions"])
    assert data_actions <= set(role["DataActions"]), data_actions - set(role["DataActions"])
    # and every operation of the role is exercised here
    assert (actions, data_actions) == (set(role["Actions"]), set(role["DataActions"]))
