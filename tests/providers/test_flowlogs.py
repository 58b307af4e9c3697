import gzip
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.aws.flowformat import UnknownFieldError, format_string, parse_format
from providers.aws.flowlogs import parse_events, parse_parquet, parse_text
from providers.aws.flowwrite import FLOW_FIELDS_V5, render_parquet, render_text
from providers.models import FLOW_FIELDS_V2, FLOW_SCHEMA, FLOW_SCHEMA_FULL

T = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
HEADER = " ".join(f.replace("_", "-") for f in FLOW_FIELDS_V2)
GOOD = f"2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 5555 6 10 1000 {T} {T + 60} ACCEPT OK"


def text(*lines: str, header: bool = True) -> bytes:
    body = "\n".join(([HEADER] if header else []) + list(lines)) + "\n"
    return gzip.compress(body.encode())


def test_v2_header_file_parses_into_flow_schema() -> None:
    chunk = parse_text(text(GOOD), "s3://b/k")
    assert chunk.records.schema == pl.Schema(FLOW_SCHEMA_FULL)
    row = chunk.records.row(0, named=True)
    assert (row["srcaddr"], row["bytes"], row["action"]) == ("10.0.0.1", 1000, "ACCEPT")
    assert row["start"] == datetime.fromtimestamp(T, UTC)
    assert row["vpc_id"] is None and chunk.rejected == []


def test_nodata_skipdata_kept_with_status_and_dashes_become_null() -> None:
    nodata = f"2 123456789012 eni-1 - - - - - - - {T} {T + 60} - NODATA"
    skip = f"2 123456789012 eni-1 - - - - - - - {T} {T + 60} - SKIPDATA"
    chunk = parse_text(text(nodata, skip), "k")
    assert chunk.records.get_column("log_status").to_list() == ["NODATA", "SKIPDATA"]
    assert chunk.records.get_column("bytes").null_count() == 2
    assert chunk.rejected == []


def test_ipv6_and_plain_uncompressed_text() -> None:
    line = f"2 123456789012 eni-1 2600:1f18::1 2600:1f18::2 443 5555 6 1 60 {T} {T + 1} REJECT OK"
    chunk = parse_text((HEADER + "\n" + line + "\n").encode(), "k")
    assert chunk.records.get_column("srcaddr").to_list() == ["2600:1f18::1"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2 123456789012 eni-1", "wrong field count: expected 14, got 3"),
        (GOOD + " extra", "wrong field count: expected 14, got 15"),
        (GOOD.replace(" 1000 ", " lots "), "non-numeric: field 'bytes' = 'lots'"),
        (GOOD.replace(f" {T} ", " 99 "), "impossible timestamp: start=99"),
        (GOOD.replace(f"{T} {T + 60}", f"{T + 60} {T}"), "impossible timestamp: end"),
        ("1" + GOOD[1:], "unknown version: 1"),
        (GOOD.replace("10.0.0.1", "10.0.0.x"), "not an IP address: field 'srcaddr'"),
        (GOOD.replace("ACCEPT", "MAYBE"), "unknown action: 'MAYBE'"),
        ("", "empty line"),
    ],
)
def test_malformed_lines_are_rejected_with_line_and_reason(line: str, reason: str) -> None:
    chunk = parse_text(text(GOOD, line, GOOD), "s3://b/bad")
    assert chunk.records.height == 2
    [rej] = chunk.rejected
    assert (rej.source, rej.line, rej.raw) == ("s3://b/bad", 3, line)
    assert rej.reason.startswith(reason)


def test_truncated_gzip_keeps_complete_lines_and_rejects_the_tail() -> None:
    blob = text(*(GOOD.replace(" 1000 ", f" {i * 7919 % 100003} ") for i in range(200)))
    chunk = parse_text(blob[: len(blob) // 2], "k")
    assert 0 < chunk.records.height < 200
    assert chunk.rejected[0].reason.startswith("truncated gzip")
    assert chunk.rejected[0].line == chunk.records.height + 2


def test_unknown_header_field_passes_through() -> None:
    body = gzip.compress(b"version future-field\n2 x\n2 y\n")
    chunk = parse_text(body, "k")
    assert chunk.records.get_column("extra_fields").to_list() == [
        '{"future_field":"x"}',
        '{"future_field":"y"}',
    ]
    assert chunk.unknown_fields == ("future_field",) and chunk.rejected == []


def test_log_format_round_trip_and_errors() -> None:
    fmt = format_string(FLOW_FIELDS_V5)
    assert fmt.startswith("${version} ${account-id}")
    assert parse_format(fmt) == list(FLOW_FIELDS_V5)
    assert parse_format("${version} ${ecs-nope}") == ["version", "ecs_nope"]  # pass-through
    with pytest.raises(UnknownFieldError, match="names a field twice"):
        parse_format("${version} ${version}")
    with pytest.raises(UnknownFieldError, match="not of the form"):
        parse_format("version srcaddr")


def test_cloudwatch_events_use_the_log_format() -> None:
    fields = parse_format("${srcaddr} ${dstaddr} ${bytes} ${start} ${end} ${log-status}")
    chunk = parse_events([f"10.0.0.1 10.0.0.2 5 {T} {T + 1} OK", "junk"], "cwl:g/s", fields)
    assert chunk.records.get_column("bytes").to_list() == [5]
    assert [(r.line, r.reason.split(":")[0]) for r in chunk.rejected] == [(2, "wrong field count")]


def test_parquet_flow_log_and_bad_rows() -> None:
    good = parse_text(text(GOOD, GOOD), "k").records
    chunk = parse_parquet(render_parquet(good), "k.parquet")
    assert chunk.records.equals(good)
    bad = parse_parquet(
        render_parquet(good.with_columns(pl.Series("version", [2, 1], pl.Int8))), "p"
    )
    assert bad.records.height == 1 and bad.rejected[0].reason.startswith("unknown version: 1")
    assert bad.rejected[0].line == 2 and '"version": 1' in bad.rejected[0].raw
    broken = parse_parquet(b"PAR1 not really", "x")
    assert broken.rejected[0].reason.startswith("unreadable Parquet")


# --- property tests ------------------------------------------------------------------------

ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.ip_addresses(v=6).map(str)
record = st.fixed_dictionaries(
    {
        "version": st.just(5),
        "account_id": st.from_regex(r"\A[0-9]{12}\Z"),
        "interface_id": st.from_regex(r"\Aeni-[0-9a-f]{8}\Z"),
        "srcaddr": st.one_of(ipv4, ipv6),
        "dstaddr": st.one_of(ipv4, ipv6),
        "srcport": st.integers(0, 65535),
        "dstport": st.integers(0, 65535),
        "protocol": st.integers(0, 255),
        "packets": st.integers(0, 10**9),
        "bytes": st.integers(0, 10**12),
        "start": st.integers(T - 10**6, T),
        "end": st.integers(T, T + 10**6),
        "action": st.sampled_from(["ACCEPT", "REJECT"]),
        "log_status": st.just("OK"),
        "vpc_id": st.one_of(st.none(), st.from_regex(r"\Avpc-[0-9a-f]{8}\Z")),
        "tcp_flags": st.one_of(st.none(), st.integers(0, 255)),
        "pkt_src_aws_service": st.one_of(st.none(), st.sampled_from(["S3", "AMAZON"])),
        "flow_direction": st.sampled_from(["ingress", "egress"]),
        "traffic_path": st.one_of(st.none(), st.integers(1, 8)),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=20))
def test_round_trip_of_generated_records(rows: list[dict[str, object]]) -> None:
    fields = list(rows[0])
    frame = pl.DataFrame(
        rows, schema={f: FLOW_SCHEMA[f] if f not in {"start", "end"} else pl.Int64 for f in fields}
    )
    blob = render_text(frame, fields)
    chunk = parse_text(blob, "gen")
    assert chunk.rejected == []
    back = chunk.records.select(fields).with_columns(
        pl.col("start").dt.epoch("s"), pl.col("end").dt.epoch("s")
    )
    assert back.to_dicts() == frame.cast({"start": pl.Int64, "end": pl.Int64}).to_dicts()


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
        max_size=120,
    )
)
def test_any_garbage_line_is_rejected_with_a_reason_never_raised(garbage: str) -> None:
    chunk = parse_text(text(GOOD, garbage), "g")
    total = chunk.records.height + len(chunk.rejected)
    assert total == 2
    for rej in chunk.rejected:
        assert rej.line == 3 and rej.reason and rej.reason != "failed validation"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (GOOD.replace(" 443 ", "  "), "empty field: 'srcport'"),  # empty number, right count
        (" " + GOOD[:-3] + " OK", "wrong field count"),
        (GOOD.replace(" 10 1000 ", " 10 "), "wrong field count: expected 14, got 13"),
    ],
)
def test_the_typed_fast_path_never_hides_a_bad_line(line: str, reason: str) -> None:
    """A line the one-pass typed read could misread sends the object to the careful path."""
    chunk = parse_text(text(GOOD, line, GOOD), "k")
    assert chunk.records.height == 2
    [rej] = chunk.rejected
    assert rej.line == 3 and rej.reason.startswith(reason)


def test_fast_and_careful_paths_agree_on_a_clean_object() -> None:
    from providers.aws.flowlogs import _parse_body

    nodata = f"2 123456789012 eni-1 - - - - - - - {T} {T + 60} - NODATA"
    body = gzip.decompress(text(GOOD, nodata, GOOD.replace("10.0.0.2", "2600:1f18::1")))
    fast = parse_text(body, "k")
    careful = _parse_body(body, "k", list(FLOW_FIELDS_V2), 1, [], lambda: body)
    assert fast.records.height == 3 and not fast.rejected
    assert fast.records.equals(careful.records) and fast.records.schema == careful.records.schema
