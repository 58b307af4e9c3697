"""The GCP custom role: generated from the code's Google API calls, committed in
docs/gcp-roles.json, and enough for every request a collection makes (recorded Compute,
Monitoring and Logging exchanges, and a sink export read by the real ``gcsfs`` from a local
Cloud Storage JSON API)."""

from __future__ import annotations

import json
import re
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import responses
from gcsfs.core import GCSFileSystem
from google.auth.credentials import AnonymousCredentials

from providers.gcp import GcpProvider, GcpSessionFactory
from providers.gcp.flowlogs import LOGGING_URL
from providers.gcp.metrics import MONITORING_URL
from providers.models import MetricName, MetricQuery, TimeWindow
from reconciler.gcp_roles import GcpCall, generate_role, permission, render_role, scan_calls
from tests.providers.gcp.conftest import COMPUTE, PROJECT, fixture, serve_instances

ROOT = Path(__file__).resolve().parents[2]
WINDOW = TimeWindow(
    start=datetime(2025, 3, 3, 12, tzinfo=UTC), end=datetime(2025, 3, 3, 13, tzinfo=UTC)
)
EXPORT = "compute.googleapis.com/vpc_flows/2025/03/03/12:00:00_12:59:59_S0.json"


def test_committed_role_matches_the_code() -> None:
    committed = ROOT / "docs" / "gcp-roles.json"
    assert committed.exists(), "run: python -m reconciler.gcp_roles --write"
    assert committed.read_text(encoding="utf-8") == render_role(ROOT), (
        "docs/gcp-roles.json is stale: run python -m reconciler.gcp_roles --write"
    )
    assert json.loads(committed.read_text(encoding="utf-8"))["stage"] == "GA"


def test_scan_reads_literals_fstrings_and_local_names(tmp_path: Path) -> None:
    (tmp_path / "reader.py").write_text(
        textwrap.dedent(
            """
            def read(client, project, zone):
                with gcp_errors("credentials"):  # not an API call
                    pass
                op = f"instances.aggregatedList {project}"
                with gcp_errors(op):
                    client.aggregated_list()
                with gcp_errors(f"regionInstanceGroupManagers.listManagedInstances {zone}", zone):
                    client.list_managed_instances()
                with other(f"objects.get {zone}"):  # not guarded: not counted
                    pass
            """
        ),
        encoding="utf-8",
    )
    assert scan_calls([tmp_path], tmp_path) == [
        GcpCall("instances.aggregatedList", "reader.py:6"),
        GcpCall("regionInstanceGroupManagers.listManagedInstances", "reader.py:8"),
    ]
    role = generate_role(scan_calls([tmp_path]))
    assert role["includedPermissions"] == [
        "compute.instanceGroupManagers.get",
        "compute.instances.list",
    ]


def test_a_method_without_a_rule_is_refused() -> None:
    assert permission("entries.list") == "logging.logEntries.list"
    with pytest.raises(ValueError, match="'urlMaps.list'.*gcp_roles.py"):
        permission("urlMaps.list")
    with pytest.raises(ValueError, match="'instances.setMachineType'"):
        permission("instances.setMachineType")


# -- every request of a collection is allowed by the role ---------------------------------------


class _Gcs(BaseHTTPRequestHandler):
    """The Cloud Storage JSON API calls ``gcsfs`` makes to list and read objects."""

    objects: dict[str, bytes] = {}
    seen: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _meta(self, bucket: str, name: str) -> dict[str, str]:
        size = str(len(self.objects[f"{bucket}/{name}"]))
        return {"kind": "storage#object", "bucket": bucket, "name": name, "size": size}

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.seen.append(url.path)
        query = parse_qs(url.query)
        if m := re.fullmatch(r"/download/storage/v1/b/([^/]+)/o/(.+)", url.path):
            self._send(self.objects[f"{m[1]}/{unquote(m[2])}"], "application/octet-stream")
        elif m := re.fullmatch(r"/storage/v1/b/([^/]+)/o/(.+)", url.path):
            self._send(json.dumps(self._meta(m[1], unquote(m[2]))).encode())
        elif m := re.fullmatch(r"/storage/v1/b/([^/]+)/o", url.path):
            prefix = query.get("prefix", [""])[0]
            delimiter = query.get("delimiter", [""])[0]
            items, prefixes = [], set()
            for key in sorted(self.objects):
                bucket, _, name = key.partition("/")
                if bucket != m[1] or not name.startswith(prefix):
                    continue
                rest = name[len(prefix) :]
                if delimiter and delimiter in rest:
                    prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
                else:
                    items.append(self._meta(bucket, name))
            body = {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)}
            self._send(json.dumps(body).encode())
        else:
            self.send_error(404, f"not served: {url.path}")


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Gcs]]:
    entries = fixture("entries_page1.json")["entries"]
    assert isinstance(entries, list)
    lines = [json.dumps(e) for e in entries]
    _Gcs.objects = {f"flows-bucket/exports/{EXPORT}": "\n".join(lines).encode()}
    _Gcs.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gcs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield _Gcs
    finally:
        server.shutdown()
        server.server_close()


def _method(url: str) -> str:
    """The REST method a recorded request calls (``instances.aggregatedList``)."""
    path = urlparse(url).path
    if url.startswith(LOGGING_URL):
        return "entries.list"
    if url.startswith(MONITORING_URL) and path.endswith("/timeSeries"):
        return "timeSeries.list"
    if m := re.search(r"/projects/[^/]+/aggregated/(\w+)$", path):
        return f"{m[1]}.aggregatedList"
    if m := re.search(r"/projects/[^/]+/(zones|regions)/[^/]+/(\w+)/[^/]+/(\w+)$", path):
        regional = "region" + m[2][0].upper() + m[2][1:] if m[1] == "regions" else m[2]
        return f"{regional}.{m[3]}"
    if m := re.search(r"/projects/[^/]+/zones/[^/]+/(\w+)$", path):
        return f"{m[1]}.list"
    raise AssertionError(f"a request this test cannot name: {url}")


def _gcs_method(path: str) -> str:
    if re.fullmatch(r"/storage/v1/b/[^/]+/o", path):
        return "objects.list"
    if re.fullmatch(r"(/download)?/storage/v1/b/[^/]+/o/.+", path):
        return "objects.get"
    raise AssertionError(f"a Cloud Storage request this test cannot name: {path}")


def test_every_request_of_a_collection_is_allowed_by_the_role(gcs: type[_Gcs]) -> None:
    role = set(json.loads((ROOT / "docs" / "gcp-roles.json").read_text())["includedPermissions"])
    factory = GcpSessionFactory(
        project=PROJECT, credentials=AnonymousCredentials(), retry_timeout_s=0.5
    )
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        serve_instances(rsps)
        rsps.get(f"{COMPUTE}/aggregated/autoscalers", json=fixture("autoscalers_aggregated.json"))
        rsps.get(f"{COMPUTE}/aggregated/instanceGroupManagers", json=fixture("igm_aggregated.json"))
        zonal = f"{COMPUTE}/zones/us-central1-f/instanceGroupManagers/api-mig"
        regional = f"{COMPUTE}/regions/europe-west1/instanceGroupManagers/batch"
        rsps.post(f"{zonal}/listManagedInstances", json=fixture("managed_instances_api.json"))
        rsps.post(f"{regional}/listManagedInstances", json=fixture("managed_instances_batch.json"))
        rsps.get(f"{COMPUTE}/aggregated/machineTypes", json={"items": {}})
        rsps.get(f"{COMPUTE}/zones/us-central1-a/machineTypes", json={"items": []})
        rsps.get(f"{MONITORING_URL}/projects/{PROJECT}/timeSeries", json={"timeSeries": []})
        rsps.post(LOGGING_URL, json={"entries": []})

        provider = GcpProvider(factory=factory)
        resources = provider.inventory()
        assert provider.scaling_groups()
        provider.instance_catalog()
        GcpProvider(factory=factory, catalog_zone="us-central1-a").instance_catalog()
        query = MetricQuery(resource_id=resources[0].id, metric=MetricName.NETWORK_IN, stat="Sum")
        provider.metrics([query], WINDOW)
        assert list(provider.flow_records(WINDOW))
        # the sink export through the production path: gcsfs.GCSFileSystem with the credentials
        exported = GcpProvider(factory=factory, export_root="gs://flows-bucket/exports")
        (chunk,) = list(exported.flow_records(WINDOW))
        assert chunk.records.height == 1 and chunk.source.startswith("gs://flows-bucket/exports/")
        # the JSON API only: gcsfs's default class would first call the Storage Control API
        assert type(exported.export_fs) is GCSFileSystem
        calls = [_method(str(c.request.url)) for c in rsps.calls]
    calls += [_gcs_method(p) for p in gcs.seen]

    needed = {permission(m) for m in calls}
    assert needed <= role, needed - role
    assert needed == role  # and every permission of the role is exercised here
