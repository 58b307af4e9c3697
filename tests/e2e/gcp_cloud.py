"""A small GCP project served in the public REST APIs' shapes through ``responses``.

Compute answers list calls from a fixed fleet; Cloud Monitoring and Cloud Logging answer from
callbacks that read the request (filter, interval, alignment) and compute the answer for it, so
a cycle may ask for any window: network bytes follow a daily wave per app, and each hour every
web VM talks to every db VM (one SRC and one DEST report per pair per 5 minutes).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import responses
from requests import PreparedRequest

from providers.gcp.flowlogs import LOGGING_URL
from providers.gcp.metrics import MONITORING_URL

PROJECT = "e2e-proj"
COMPUTE = f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}"
API = "https://www.googleapis.com/compute/v1"


@dataclass(frozen=True)
class Vm:
    name: str
    zone: str
    app: str
    ip: str
    numeric: str
    machine: str = "n2-standard-4"

    @property
    def region(self) -> str:
        return self.zone.rpartition("-")[0]

    def as_json(self) -> dict[str, object]:
        here = f"{API}/projects/{PROJECT}"
        return {
            "id": self.numeric,
            "name": self.name,
            "zone": f"{API}/projects/{PROJECT}/zones/{self.zone}",
            "machineType": f"{here}/zones/{self.zone}/machineTypes/{self.machine}",
            "status": "RUNNING",
            "creationTimestamp": "2025-01-01T00:00:00.000-08:00",
            "labels": {"app": self.app},
            "tags": {"items": [self.app]},
            "networkInterfaces": [
                {
                    "name": "nic0",
                    "networkIP": self.ip,
                    "network": f"{API}/projects/{PROJECT}/global/networks/prod",
                    "subnetwork": f"{here}/regions/{self.region}/subnetworks/prod",
                }
            ],
        }


FLEET = (
    Vm("web-1", "us-central1-a", "web", "10.128.0.11", "101"),
    Vm("web-2", "us-central1-b", "web", "10.128.0.12", "102"),
    Vm("web-3", "us-central1-c", "web", "10.128.0.13", "103"),
    Vm("db-1", "europe-west1-b", "db", "10.132.0.21", "201", "n2-highmem-8"),
    Vm("db-2", "europe-west1-c", "db", "10.132.0.22", "202", "n2-highmem-8"),
)
BY_NUMERIC = {vm.numeric: vm for vm in FLEET}
MACHINE_TYPES = [
    {"name": f"n2-{kind}-{n}", "guestCpus": n, "memoryMb": n * mem * 1024}
    for kind, mem in (("standard", 4), ("highmem", 8))
    for n in (2, 4, 8, 16, 32)
]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _wave(vm: Vm, at: datetime) -> float:
    """Bytes a VM moves in a 5-minute period: a daily wave, larger for web."""
    base = 6e9 if vm.app == "web" else 3e9
    hour = at.hour + at.minute / 60
    return base * (1.2 + math.sin(2 * math.pi * (hour - 6) / 24))


def _time_series(request: PreparedRequest) -> tuple[int, dict[str, str], str]:
    q = parse_qs(urlparse(str(request.url)).query)
    text = q["filter"][0]
    ids = re.findall(r'"(\d+)"', text.split("one_of(", 1)[1])
    metric = re.search(r'metric.type = "([^"]+)"', text)
    assert metric is not None
    start, end = _ts(q["interval.startTime"][0]), _ts(q["interval.endTime"][0])
    period = timedelta(seconds=int(q["aggregation.alignmentPeriod"][0].rstrip("s")))
    series = []
    for nid in ids:
        vm = BY_NUMERIC[nid]
        points = []
        at = start
        while at < end:
            if metric.group(1).endswith("cpu/utilization"):
                value: dict[str, object] = {"doubleValue": 0.3 + 0.1 * math.sin(at.hour / 4)}
            elif "bytes_count" in metric.group(1) or "packets_count" in metric.group(1):
                value = {"int64Value": str(int(_wave(vm, at)))}
            else:
                at += period
                continue
            stamp = (at + period).strftime("%Y-%m-%dT%H:%M:%SZ")
            points.append({"interval": {"startTime": stamp, "endTime": stamp}, "value": value})
            at += period
        if points:
            series.append(
                {
                    "metric": {"type": metric.group(1)},
                    "resource": {"type": "gce_instance", "labels": {"instance_id": nid}},
                    "points": list(reversed(points)),  # newest first, as the API returns them
                }
            )
    return 200, {}, json.dumps({"timeSeries": series})


def _entry(src: Vm, dst: Vm, reporter: str, at: datetime, size: float) -> dict[str, object]:
    def vm(v: Vm) -> dict[str, str]:
        return {"project_id": PROJECT, "vm_name": v.name, "zone": v.zone, "region": v.region}

    return {
        "logName": f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows",
        "resource": {"type": "gce_subnetwork", "labels": {"subnetwork_name": "prod"}},
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "jsonPayload": {
            "connection": {
                "src_ip": src.ip,
                "src_port": 443,
                "dest_ip": dst.ip,
                "dest_port": 5432,
                "protocol": 6,
            },
            "bytes_sent": str(int(size)),
            "packets_sent": str(int(size / 1400)),
            "start_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": (at + timedelta(seconds=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reporter": reporter,
            "src_instance": vm(src),
            "dest_instance": vm(dst),
        },
    }


def _entries(request: PreparedRequest) -> tuple[int, dict[str, str], str]:
    raw = request.body
    body = json.loads(raw if isinstance(raw, str | bytes) else b"{}")
    start_text, end_text = re.findall(r'timestamp[<>]=?"([^"]+)"', body["filter"])
    start, end = _ts(start_text), _ts(end_text)
    out = []
    at = start.replace(second=0, microsecond=0)
    at -= timedelta(minutes=at.minute % 5)
    at = at if at >= start else at + timedelta(minutes=5)
    webs = [v for v in FLEET if v.app == "web"]
    dbs = [v for v in FLEET if v.app == "db"]
    while at < end:
        for w in webs:
            for d in dbs:
                size = _wave(w, at) / 20
                out += [_entry(w, d, "SRC", at, size), _entry(w, d, "DEST", at, size)]
        at += timedelta(minutes=5)
    return 200, {}, json.dumps({"entries": out})


def serve(rsps: responses.RequestsMock) -> None:
    """Register every endpoint the cycle calls (any number of times)."""
    fleet: dict[str, dict[str, list[dict[str, object]]]] = {
        f"zones/{vm.zone}": {"instances": []} for vm in FLEET
    }
    for vm in FLEET:
        fleet[f"zones/{vm.zone}"]["instances"].append(vm.as_json())
    rsps.get(f"{COMPUTE}/aggregated/instances", json={"items": fleet})
    rsps.get(f"{COMPUTE}/aggregated/instanceGroupManagers", json={"items": {}})
    rsps.get(f"{COMPUTE}/aggregated/autoscalers", json={"items": {}})
    rsps.get(
        f"{COMPUTE}/aggregated/machineTypes",
        json={"items": {"zones/us-central1-a": {"machineTypes": MACHINE_TYPES}}},
    )
    rsps.add_callback(
        responses.GET, f"{MONITORING_URL}/projects/{PROJECT}/timeSeries", _time_series
    )
    rsps.add_callback(responses.POST, LOGGING_URL, _entries)
