"""The real ``run_once`` on an Azure-only fleet: ``AzureProvider`` over recorded ARM answers
(tests/providers/azure/fixtures/fleet.json) and an Azure Monitor answering any time span with a
daily cycle in the documented ``Metrics - List`` shape. Flow logs: none configured."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import responses

from policies import load_policy
from providers.azure.provider import AzureProvider
from providers.azure.session import AzureSession
from reconciler.clock import SimulatedClock
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport, load, register

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
_METRICS = re.compile(r"https://management\.azure\.com/.*/providers/Microsoft\.Insights/metrics")
_Answer = tuple[int, dict[str, str], str]


def monitor(busy: Mapping[str, float] | None = None) -> Callable[[object], _Answer]:
    """A ``Metrics - List`` answer for any time span: a daily cycle around a base per metric;
    a resource whose ARM path contains a key of ``busy`` runs at that base CPU percentage."""

    def answer(request: object) -> _Answer:
        url = str(getattr(request, "url", ""))
        path = urlsplit(url).path
        query = dict(parse_qsl(urlsplit(url).query))
        start, end = (
            datetime.fromisoformat(t.replace("Z", "+00:00")) for t in query["timespan"].split("/")
        )
        agg = query["aggregation"].lower()
        cpu = next((v for k, v in (busy or {}).items() if k in path.lower()), 40.0)
        base_of = {"Percentage CPU": cpu, "Available Memory Bytes": 8.0 * 1024**3}
        step = timedelta(minutes=5)
        values = []
        for name in query["metricnames"].split(","):
            points, t = [], start
            while t < end:
                day = math.sin(2 * math.pi * (t.hour * 60 + t.minute) / 1440)
                value = base_of.get(name, 3e9) * (1 + 0.5 * day)
                if name == "Percentage CPU":
                    value = min(value, 100.0)
                points.append({"timeStamp": t.isoformat().replace("+00:00", "Z"), agg: value})
                t += step
            values.append(
                {
                    "id": f"{path}/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "unit": "Bytes",
                    "errorCode": "Success",
                    "timeseries": [{"metadatavalues": [], "data": points}],
                }
            )
        body = {"cost": 0, "timespan": query["timespan"], "interval": "PT5M", "value": values}
        return 200, {"content-type": "application/json"}, json.dumps(body)

    return answer


_monitor = monitor()


def _policy():
    policy = load_policy(ROOT / "policies" / "examples" / "default.yaml")
    pools = policy.pools.model_copy(
        update={"regions": {"westeurope": policy.pools.regions["us-east-1"]}}
    )
    sel = policy.group_selection
    traffic = sel.traffic.model_copy(update={"form_cycles": 1})
    return policy.model_copy(
        update={
            "pools": pools,
            "actions": [a for a in policy.actions if a.type in ("scale", "bandwidth_tier")],
            "forecast": policy.forecast.model_copy(update={"lookback": timedelta(days=2)}),
            "group_selection": sel.model_copy(update={"traffic": traffic}),
        }
    )


def _cycle(tmp_path: Path):
    session = AzureSession(
        credential=FakeCredential(), subscriptions=[SUB], transport=RecordingTransport()
    )
    provider = AzureProvider(session=session, regions=["westeurope"])
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        dry_run=True,
        check_policy=False,
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        register(mock, load("fleet.json"))
        mock.add_callback(responses.GET, _METRICS, callback=_monitor)
        ctx = build_context(
            settings, clock=SimulatedClock(NOW), provider=provider, policy=_policy()
        )
        return run_once(ctx)


def test_run_once_on_an_azure_only_fleet_collects_groups_forecasts_allocates_plans(
    tmp_path: Path,
) -> None:
    report = _cycle(tmp_path)
    for name in ("collect", "analyze", "compose", "forecast", "allocate", "plan"):
        assert report.step(name).status == "ok", (name, report.step(name).error)
    assert report.step("collect").summary["resources"] == 5
    assert report.step("collect").summary["metric_points"] > 0
    assert report.step("forecast").summary["series"] > 0
    assert report.step("allocate").summary["total_gbps"] > 0
    assert report.step("plan").summary["commands"] >= 1


def test_run_once_on_an_azure_only_fleet_applies(tmp_path: Path) -> None:
    report = _cycle(tmp_path)
    assert report.ok, report.error
