"""Sandbox seeding, the collect step and the CLI, in-process and through a moto server."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from providers.base import ThrottledError
from providers.fake import FakeProvider
from providers.models import MetricName, ResourceKind, TimeWindow
from reconciler.cli import app
from reconciler.clock import SimulatedClock
from reconciler.collect import SANDBOX_METRICS, collect, collect_from_sandbox
from reconciler.history import HistoryStore
from reconciler.sandbox import AppSpec, SandboxSpec, SurgeSpec, seed_sandbox

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday

SMALL = SandboxSpec(
    days=0.25,
    apps=[
        AppSpec(name="shop", region="us-east-1", tenant="acme", public=True, uses_db=True),
        AppSpec(name="etl", region="eu-west-1", tiers={"worker": 2}),
    ],
    surge=SurgeSpec(app="shop", start_hours=3, duration_hours=1, factor=5),
    bad_lines_per_file=1,
    metric_hours=0.5,
)


def test_sandbox_collect_and_aggregate_in_process(tmp_path) -> None:
    report, info, store = collect_from_sandbox(
        str(tmp_path / "h"), START, SimulatedClock(START + timedelta(days=1)), spec=SMALL
    )
    assert info.regions == ["eu-west-1", "us-east-1"] and info.objects == 12
    assert report.resources_by_kind == {"instance": 12, "nat_gateway": 2, "load_balancer": 1}
    assert report.flows.read == info.records + 6  # one injected bad line per text file
    assert report.flows.rejected_by_reason == {"wrong field count": 6}
    assert report.metric_series > 0 and report.metric_points > 0
    window = TimeWindow(start=info.start, end=info.end)
    edges = store.edges(window)
    shop = set(info.instances["shop"])
    lb_to_shop = edges.filter(edges["src"].str.starts_with("elb:app/shop-lb/"))
    assert set(lb_to_shop.get_column("dst")) <= shop and lb_to_shop.height > 0
    assert "external:service:s3" in set(edges.get_column("dst"))  # the v5-format region
    # The sandbox emits one record per pair and bucket, logged by both ENIs when both are
    # ours: the deduplicated edges hold exactly one flow each.
    assert edges.get_column("flows").max() == 1
    # The surge shows: shop's traffic in its surge hour is well above the hour before.
    shop_out = edges.filter(pl.col("src").is_in(list(shop)))
    hourly = shop_out.group_by(pl.col("window_start").dt.hour()).agg(pl.col("bytes").sum())
    by_hour = dict(hourly.iter_rows())
    assert by_hour[3] > 3 * by_hour[2]
    points = store.metric_points(window, metrics=[MetricName.NETWORK_OUT])
    assert points.height > 0 and set(points.get_column("resource_id")) <= set(
        i for ids in info.instances.values() for i in ids
    )


def test_collect_through_moto_server_on_loopback(moto_server: str, tmp_path) -> None:
    factory = AwsSessionFactory(endpoint_url=moto_server)
    spec = SMALL.model_copy(update={"days": 0.1, "surge": None, "metric_hours": 0.25})
    info = seed_sandbox(spec, START, factory)
    provider = AwsProvider(factory, regions=info.regions)
    store = HistoryStore(str(tmp_path / "h"))
    window = TimeWindow(start=info.start, end=info.end)
    report = collect(
        provider,
        store,
        window,
        SimulatedClock(info.end),
        metrics=SANDBOX_METRICS,
        metrics_window=TimeWindow(start=info.end - timedelta(minutes=15), end=info.end),
        progress=False,
    )
    assert report.resources == 15 and report.flows.accepted == info.records
    again = collect(provider, store, window, SimulatedClock(info.end), metrics=[], progress=False)
    assert again.flows.skipped_duplicates == report.flows.sources and again.flows.accepted == 0
    kinds = {r.kind for r in store.inventory_at(info.end)}
    assert ResourceKind.LOAD_BALANCER in kinds


def test_collect_propagates_provider_errors(tmp_path) -> None:
    provider = FakeProvider()
    provider.fail_next("inventory", ThrottledError("slow down", operation="DescribeInstances"))
    window = TimeWindow(start=START, end=START + timedelta(hours=1))
    with pytest.raises(ThrottledError, match="DescribeInstances: slow down"):
        collect(provider, HistoryStore(str(tmp_path)), window, SimulatedClock(START))


def test_sandbox_spec_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra_forbidden|Extra inputs"):
        SandboxSpec(days=1, colour="blue")  # type: ignore[call-arg]


def test_cli_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["collect", "--help"])
    assert result.exit_code == 0, result.output
    assert "--history" in result.output and "--sandbox" in result.output


@pytest.mark.slow
def test_cli_sandbox_collect(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["collect", "--sandbox", "--hours", "1", "--history", str(tmp_path / "h")]
    )
    assert result.exit_code == 0, result.output
    assert "flow records read" in result.output and "accepted" in result.output


@pytest.mark.slow
def test_sandbox_collect_prints_what_it_found(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["collect", "--sandbox", "--hours", "5", "--history", str(tmp_path / "h")]
    )
    assert result.exit_code == 0, result.output
    for heading in ("Resources by region and kind", "Top edges", "Top talkers", "Quarantined"):
        assert heading in result.output
    assert "shop-web-0 (shop)" in result.output
