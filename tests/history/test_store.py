import gzip
from datetime import UTC, datetime, timedelta

import fsspec
import polars as pl
import pytest

from providers.aws.flowlogs import parse_text
from providers.models import MetricName, MetricSeries, NetworkInterface, Resource, TimeWindow
from reconciler.history import EDGE_SCHEMA, SERIES_SCHEMA, HistoryStore, ingest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TS = int(T0.timestamp())
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status pkt-dst-aws-service"
)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=2))


def res(rid: str, ip: str, eni: str) -> Resource:
    iface = NetworkInterface(id=eni, private_ips=(ip,))
    return Resource(
        id=rid, provider="aws", account="123456789012", region="us-east-1", interfaces=(iface,)
    )


def flow(eni: str, src: str, dst: str, nbytes: int, at: int = TS, service: str = "-") -> str:
    tail = f"{at} {at + 60} ACCEPT OK {service}"
    return f"5 123456789012 {eni} {src} {dst} 1000 443 6 10 {nbytes} {tail}"


def chunk(source: str, *lines: str):
    return parse_text(gzip.compress("\n".join([HEADER, *lines]).encode()), source)


@pytest.fixture
def store(tmp_path) -> HistoryStore:
    s = HistoryStore(str(tmp_path / "history"))
    s.write_inventory([res("i-a", "10.0.0.1", "eni-a"), res("i-b", "10.0.0.2", "eni-b")], T0)
    return s


def test_both_enis_log_an_internal_flow_and_it_counts_once(store: HistoryStore) -> None:
    c = chunk(
        "s3://b/k1",
        flow("eni-a", "10.0.0.1", "10.0.0.2", 1000),  # source-side copy
        flow("eni-b", "10.0.0.1", "10.0.0.2", 1000),  # destination-side copy
        flow("eni-b", "10.0.0.2", "10.0.0.1", 300),  # reply, logged only by its source side
    )
    ingest([c], store)
    e = store.edges(WINDOW)
    assert e.schema == pl.Schema(EDGE_SCHEMA)
    got = {(r["src"], r["dst"]): (r["bytes"], r["flows"]) for r in e.iter_rows(named=True)}
    assert got == {("i-a", "i-b"): (1000, 1), ("i-b", "i-a"): (300, 1)}


def test_unknown_addresses_become_external_nodes(store: HistoryStore) -> None:
    c = chunk(
        "k",
        flow("eni-a", "10.0.0.1", "8.8.8.8", 10),
        flow("eni-a", "10.0.0.1", "52.216.1.1", 20, service="S3"),
        flow("eni-b", "10.9.9.9", "10.0.0.2", 30),
        flow("eni-b", "fd00::9", "10.0.0.2", 40),
    )
    ingest([c], store)
    got = {(r["src"], r["dst"]): r["bytes"] for r in store.edges(WINDOW).iter_rows(named=True)}
    assert got == {
        ("i-a", "external:internet"): 10,
        ("i-a", "external:service:s3"): 20,
        ("external:region", "i-b"): 70,
    }


def test_reingesting_the_same_object_never_double_counts(store: HistoryStore) -> None:
    c = chunk("s3://b/k#etag1", flow("eni-a", "10.0.0.1", "10.0.0.2", 1000), "junk line")
    first = ingest([c], store)
    again = ingest([c, c], store)
    assert (first.accepted, first.rejected, first.skipped_duplicates) == (1, 1, 0)
    assert (again.accepted, again.skipped_duplicates) == (0, 2)
    assert again.skipped_sources == ["s3://b/k#etag1"] * 2
    assert store.edges(WINDOW).get_column("bytes").sum() == 1000
    q = store.quarantine()
    assert q.height == 1 and q.row(0, named=True)["line"] == 3
    assert store.quarantine_counts() == {"wrong field count": 1}


def test_ip_moving_between_resources_resolves_by_time(store: HistoryStore) -> None:
    later = T0 + timedelta(hours=1)
    # At ``later`` 10.0.0.2 moved from i-b to the new i-c.
    store.write_inventory([res("i-a", "10.0.0.1", "eni-a"), res("i-c", "10.0.0.2", "eni-c")], later)
    late = TS + 3600 + 120
    c = chunk(
        "k",
        flow("eni-a", "10.0.0.1", "10.0.0.2", 5),
        flow("eni-a", "10.0.0.1", "10.0.0.2", 7, at=late),
    )
    ingest([c], store)
    got = {
        (r["window_start"], r["dst"]): r["bytes"] for r in store.edges(WINDOW).iter_rows(named=True)
    }
    assert got == {(T0, "i-b"): 5, (T0 + timedelta(hours=1), "i-c"): 7}
    assert [r.id for r in store.inventory_at(later - timedelta(seconds=1))] == ["i-a", "i-b"]
    assert [r.id for r in store.inventory_at(later)] == ["i-a", "i-c"]
    assert store.inventory_at(T0 - timedelta(seconds=1)) == []


def test_buckets_and_resource_series(store: HistoryStore) -> None:
    c = chunk(
        "k",
        flow("eni-a", "10.0.0.1", "10.0.0.2", 100),
        flow("eni-a", "10.0.0.1", "10.0.0.2", 50, at=TS + 400),
    )
    ingest([c], store)
    e = store.edges(WINDOW, bucket=timedelta(minutes=5))
    assert e.get_column("window_start").to_list() == [T0, T0 + timedelta(minutes=5)]
    assert store.edges(WINDOW, bucket=timedelta(hours=1)).get_column("bytes").to_list() == [150]
    s = store.resource_series(WINDOW, timedelta(hours=1))
    assert s.schema == pl.Schema(SERIES_SCHEMA)
    rows = {r["resource"]: (r["bytes_in"], r["bytes_out"]) for r in s.iter_rows(named=True)}
    assert rows == {"i-a": (0, 150), "i-b": (150, 0)}
    outside = TimeWindow(start=T0 + timedelta(days=3), end=T0 + timedelta(days=4))
    assert store.edges(outside).height == 0


def test_metrics_round_trip_and_duplicates(store: HistoryStore) -> None:
    series = MetricSeries(
        resource_id="i-a",
        metric=MetricName.NETWORK_IN,
        timestamps=[T0, T0 + timedelta(minutes=5)],
        values=[1.0, 2.0],
    )
    assert store.write_metrics([series]) == 2
    store.write_metrics([series])
    pts = store.metric_points(WINDOW)
    assert pts.select("resource_id", "metric", "value").rows() == [
        ("i-a", "NetworkIn", 1.0),
        ("i-a", "NetworkIn", 2.0),
    ]
    assert store.metric_points(WINDOW, metrics=["CPUUtilization"]).height == 0


def test_store_on_an_fsspec_url() -> None:
    fs = fsspec.filesystem("memory")
    s = HistoryStore("/headroom-test", fs=fs)
    s.write_inventory([res("i-a", "10.0.0.1", "eni-a")], T0)
    ingest([chunk("k", flow("eni-a", "10.0.0.1", "1.1.1.1", 9))], s)
    assert s.edges(WINDOW).select("src", "dst", "bytes").rows() == [("i-a", "external:internet", 9)]
    assert s.is_ingested("k")
    fs.rm("/headroom-test", recursive=True)


def test_empty_store_gives_empty_frames(tmp_path) -> None:
    s = HistoryStore(str(tmp_path))
    assert s.edges(WINDOW).schema == pl.Schema(EDGE_SCHEMA)
    assert s.resource_series(WINDOW).height == 0
    assert s.metric_points(WINDOW).height == 0
    assert s.quarantine().height == 0
    with pytest.raises(ValueError, match="bucket must be at least one second"):
        ingest([chunk("k", flow("eni-a", "10.0.0.1", "1.1.1.1", 9))], s)
        s.edges(WINDOW, bucket=timedelta(0))


def test_parse_ahead_keeps_order_and_bounds_work() -> None:
    from reconciler.history import parse_ahead

    started: list[int] = []

    def loader(i: int):
        def load():
            started.append(i)
            return chunk(f"k{i}", flow("eni-a", "10.0.0.1", "1.1.1.1", i + 1))

        return load

    for workers in (1, 3):
        started.clear()
        got = [c.source for c in parse_ahead((loader(i) for i in range(7)), workers=workers)]
        assert got == [f"k{i}" for i in range(7)] and sorted(started) == list(range(7))


def test_concatenated_and_corrupt_gzip() -> None:
    two = gzip.compress(
        f"{HEADER}\n".encode() + flow("e", "10.0.0.1", "1.1.1.1", 1).encode() + b"\n"
    )
    two += gzip.compress(flow("e", "10.0.0.1", "1.1.1.1", 2).encode() + b"\n")
    assert parse_text(two, "k").records.get_column("bytes").to_list() == [1, 2]
    bad = parse_text(b"\x1f\x8b\x08\x00garbage-not-deflate", "k")
    assert bad.records.height == 0 and bad.rejected[0].reason.startswith("corrupt gzip")


def test_edges_by_spans_equal_edges_in_one_go(store: HistoryStore) -> None:
    from reconciler.history.query import edges_from_pairs, pair_totals, spans

    lines = [flow("eni-a", "10.0.0.1", "10.0.0.2", 10 + i, at=TS + 97 * i) for i in range(200)]
    ingest([chunk("k", *lines)], store)
    window = TimeWindow(start=T0 + timedelta(minutes=7), end=T0 + timedelta(hours=5))
    pieces = spans(window, timedelta(minutes=5), span=timedelta(minutes=50))
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    assert all(int(p.start.timestamp()) % 300 == 0 for p in pieces[1:])
    snaps = [(t, store.snapshot(t)) for t in store.snapshot_times()]
    whole = edges_from_pairs(pair_totals(store.scan_flows(), window, timedelta(minutes=5)), snaps)
    pieced = pl.concat(
        [
            edges_from_pairs(pair_totals(store.scan_flows(), p, timedelta(minutes=5)), snaps)
            for p in pieces
        ]
    )
    assert len(pieces) == 7 and pieced.equals(whole) and whole.height > 10
    assert store.edges(window).equals(whole)


def test_edges_from_ingest_aggregates_equal_edges_from_records(store: HistoryStore) -> None:
    """Aligned windows read the 5-minute pairs written at ingest; the answer is the same."""
    import shutil

    from reconciler.history.query import edges_from_pairs, pair_totals

    lines = [
        flow("eni-a" if i % 3 else "eni-b", "10.0.0.1", "10.0.0.2", 10 + i, at=TS + 53 * i)
        for i in range(150)
    ]
    lines += [
        flow("eni-b", "10.0.0.2", "52.94.0.9", 7, at=TS + 61 * i, service="S3") for i in range(40)
    ]
    lines.append(flow("eni-a", "10.0.0.1", "10.0.0.2", 5, at=TS).replace(" OK ", " NODATA "))
    ingest([chunk("k", *lines)], store)
    snaps = [(t, store.snapshot(t)) for t in store.snapshot_times()]
    assert store.pairs_complete()
    for bucket in (timedelta(minutes=5), timedelta(minutes=15)):
        raw = edges_from_pairs(pair_totals(store.scan_flows(), WINDOW, bucket), snaps)
        assert store.edges(WINDOW, bucket).equals(raw) and raw.height > 5
    odd = TimeWindow(start=T0 + timedelta(minutes=7), end=T0 + timedelta(hours=1))
    raw = edges_from_pairs(pair_totals(store.scan_flows(), odd, timedelta(minutes=5)), snaps)
    assert store.edges(odd).equals(raw)  # unaligned: computed from the records
    shutil.rmtree(f"{store.root}/pairs")  # a store written before the aggregates existed
    assert not store.pairs_complete() and store.edges(WINDOW).equals(
        edges_from_pairs(pair_totals(store.scan_flows(), WINDOW, timedelta(minutes=5)), snaps)
    )


def test_columns_a_format_lacks_are_not_stored_but_scan_as_nulls(store: HistoryStore) -> None:
    from providers.models import FLOW_SCHEMA

    ingest([chunk("k", flow("eni-a", "10.0.0.1", "10.0.0.2", 9))], store)
    [path] = list((__import__("pathlib").Path(store.root) / "flows").rglob("*.parquet"))
    assert "vpc_id" not in pl.read_parquet_schema(path)
    scanned = store.scan_flows().collect()
    assert set(FLOW_SCHEMA) <= set(scanned.columns) and scanned.get_column("vpc_id").is_null().all()
