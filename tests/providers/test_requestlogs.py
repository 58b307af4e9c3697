import gzip
import logging
import time
from datetime import UTC, datetime

import polars as pl
import pytest

from providers.aws.requestlogs import (
    CLOUDFRONT_FIELDS,
    edge_region_table,
    parse_alb_log,
    parse_cloudfront_log,
)
from providers.models import REQUEST_SCHEMA, RequestLogKind

TG = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
CERT = "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012"
# The entries of the AWS documentation's "Example log entries" (ALB access logs).
HTTP = (
    "http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "
    f'"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - {TG} '
    '"Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z '
    '"forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90'
)
HTTPS = (
    "https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "
    '"GET https://www.example.com:443/acme/docs/a%20b.pdf?x=1&y=2 HTTP/1.1" "curl/7.46.0" '
    f'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG} "Root=1-58337281-1d84f3d73c47ec4e58577259" '
    f'"www.example.com" "{CERT}" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" '
    '"-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90'
)
H2 = (
    "h2 2015-05-13T23:39:43.945958Z app/my-loadbalancer/50dc6c495c0c9188 10.0.1.252:48160 "
    '10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/ HTTP/2.0" '
    f'"curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG} '
    '"Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 2015-05-13T23:39:43.945958Z '
    '"redirect" "https://example.com:80/" "-" "10.0.0.66:9000" "200" "-" "-" TID_x'
)
LAMBDA_FAILED = (
    "http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 "
    "192.168.131.39:2817 - -1 -1 -1 502 - 34 366 "
    f'"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - {TG} '
    '"Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z '
    '"forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-" TID_y'
)
MALFORMED = (
    "http 2018-11-30T22:23:00.186641Z app/lb/1 192.168.131.39:2817 - -1 -1 -1 400 - 0 0 "
    '"- - - " "-" - - - "-" "-" "-" - 2018-11-30T22:22:48.364000Z "-" "-" "-" "-" "-" "-" "-" -'
)


def gz(*lines: str) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_alb_documented_entries_parse_into_request_schema() -> None:
    chunk = parse_alb_log(gz(HTTP, HTTPS, H2, LAMBDA_FAILED), "s3://b/k#e", "us-east-2", None)
    assert chunk.kind == RequestLogKind.ALB and chunk.rejected == []
    assert chunk.records.schema == pl.Schema(REQUEST_SCHEMA)
    rows = chunk.records.to_dicts()
    assert [r["ts"] for r in rows[:2]] == [datetime(2018, 7, 2, 22, 22, 48, 364000, tzinfo=UTC)] * 2
    https = rows[1]
    assert (https["method"], https["host"], https["path"], https["query"]) == (
        "GET",
        "www.example.com",
        "/acme/docs/a b.pdf",
        "x=1&y=2",
    )
    assert https["latency_ms"] == pytest.approx(171.0)
    assert https["origin_ms"] == pytest.approx(48.0)
    assert (https["bytes_in"], https["bytes_out"], https["status"]) == (0, 57, 200)
    assert (https["target_ip"], https["serving_region"], https["client_region"]) == (
        "10.0.0.1",
        "us-east-2",
        "us-east-2",
    )
    assert rows[2]["host"] == "10.0.2.105" and rows[2]["path"] == "/"
    failed = rows[3]
    assert (failed["status"], failed["latency_ms"], failed["origin_ms"], failed["target_ip"]) == (
        502,
        None,
        None,
        None,
    )


def test_alb_never_keeps_the_client_address() -> None:
    chunk = parse_alb_log(gz(HTTP, HTTPS, H2), "s", "us-east-2", "domain_name")
    values = {str(v) for row in chunk.records.rows() for v in row}
    assert not any("192.168.131.39" in v or "10.0.1.252" in v for v in values)
    assert chunk.records.get_column("tenant_raw").to_list() == [None, "www.example.com", None]
    with pytest.raises(ValueError, match="client address"):
        parse_alb_log(gz(HTTP), "s", "us-east-2", "client:port")


def test_alb_malformed_request_is_kept_without_method_and_path() -> None:
    chunk = parse_alb_log(gz(MALFORMED), "s", "eu-west-1", None)
    row = chunk.records.row(0, named=True)
    assert (row["method"], row["path"], row["status"], row["bytes_out"]) == (None, None, 400, 0)


def test_alb_older_files_with_fewer_fields_and_newer_with_more() -> None:
    old = HTTP.split(' "curl/7.46.0"')[0]  # up to the request: the oldest layout we accept
    with_agent = HTTP.split(" - - arn")[0]
    newer = HTTPS + ' "future field" 42'
    chunk = parse_alb_log(gz(old, with_agent, newer), "s", "us-east-2", "user_agent")
    assert chunk.rejected == []
    assert chunk.records.get_column("tenant_raw").to_list() == [None, "curl/7.46.0", "curl/7.46.0"]
    # no request_creation_time in old files: the response time is the timestamp
    assert chunk.records.get_column("ts")[0] == datetime(2018, 7, 2, 22, 23, 0, 186641, tzinfo=UTC)


def test_alb_escaped_quote_and_double_space_take_the_careful_path() -> None:
    agent = HTTPS.replace('"curl/7.46.0"', '"Mozilla \\"x\\"  y"')
    chunk = parse_alb_log(gz(agent), "s", "us-east-2", "user_agent")
    assert chunk.rejected == []
    assert chunk.records.get_column("tenant_raw").to_list() == ['Mozilla "x"  y']


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "too few fields: 1, need 13"),
        (HTTP.replace('"GET http://www.example.com:80/ HTTP/1.1"', '"GET http://x'), "bad quoting"),
        (HTTP.replace("2018-07-02T22:23:00.186641Z", "yesterday"), "bad timestamp: time=yesterday"),
        (HTTP.replace(" 0.001 ", " fast "), "bad number: target_processing_time=fast"),
        (HTTP.replace(" 34 366 ", " 34 -5 "), "bad number: sent_bytes=-5"),
        (HTTP.replace(" 0.000 0.001", " -2 0.001"), "bad number: request_processing_time=-2"),
        (HTTP.replace("GET http://www.example.com:80/", "GET /relative"), "bad request line"),
        (
            HTTP.replace(" 0 2018-07-02T22:22:48", " 0 2018-07-02T25:99:48"),
            "bad timestamp: request",
        ),
    ],
)
def test_alb_bad_lines_are_rejected_with_line_number_and_reason(line: str, reason: str) -> None:
    chunk = parse_alb_log(gz(HTTP, line, HTTPS), "s3://b/bad#1", "us-east-2", None)
    assert chunk.records.height == 2
    [rej] = chunk.rejected
    assert (rej.source, rej.line, rej.raw) == ("s3://b/bad#1", 2, line)
    assert rej.reason.startswith(reason), rej.reason


def test_truncated_gzip_keeps_whole_lines_and_rejects_the_tail() -> None:
    blob = gz(*(HTTPS.replace(" 0 57 ", f" 0 {i} ") for i in range(300)))
    chunk = parse_alb_log(blob[: len(blob) // 2], "s", "us-east-2", None)
    assert 0 < chunk.records.height < 300
    assert chunk.rejected[-1].reason.startswith("truncated gzip")
    assert chunk.rejected[-1].line == chunk.records.height + 1
    corrupt = parse_alb_log(b"\x1f\x8b" + b"\x00" * 40, "s", "us-east-2", None)
    assert corrupt.records.height == 0
    assert [r.reason.split(":")[0] for r in corrupt.rejected] == ["corrupt gzip"]


CF_HEADER = "#Version: 1.0\n#Fields: " + " ".join(CLOUDFRONT_FIELDS)
# The AWS documentation's example (standard logging reference), tab-separated.
CF_LINES = [
    "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t"
    "/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\t"
    "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\t"
    "https\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t"
    "0.001\tHit\ttext/html\t78\t-\t-",
    "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t"
    "/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\t"
    "k6WGMNkEzR5BEM_SaF47gjtX9zBDO2m349OY2an0QPEaUum1ZOLrow==\td111111abcdef8.cloudfront.net\t"
    "https\t23\t0.000\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t"
    "0.000\tHit\ttext/html\t78\t-\t-",
    "2019-12-13\t22:36:27\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t"
    "/favicon.ico\t502\thttp://www.example.com/\tMozilla/5.0%20(Windows%20NT%2010.0)\t-\t-\t"
    "Error\t1pkpNfBQ39sYMnjjUQjmH2w1wdJnbHYTbag21o_3OfcQgPzdL2RSSQ==\twww.example.com\thttp\t"
    "675\t0.102\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t25260\t0.102\tOriginDnsError\ttext/html\t507\t"
    "-\t-",
]


def cf(*lines: str, header: str = CF_HEADER) -> bytes:
    return gzip.compress(("\n".join([header, *lines]) + "\n").encode())


def test_cloudfront_documented_entries_parse() -> None:
    chunk = parse_cloudfront_log(cf(*CF_LINES), "s3://b/cf#e", "us-east-1", None)
    assert chunk.kind == RequestLogKind.CLOUDFRONT and chunk.rejected == []
    assert chunk.records.schema == pl.Schema(REQUEST_SCHEMA)
    last = chunk.records.row(2, named=True)
    assert last["ts"] == datetime(2019, 12, 13, 22, 36, 27, tzinfo=UTC)
    assert (last["edge_location"], last["client_region"], last["serving_region"]) == (
        "SEA19-C1",
        "us-west-2",
        "us-east-1",
    )
    assert (last["host"], last["path"], last["status"], last["cache_result"]) == (
        "www.example.com",
        "/favicon.ico",
        502,
        "Error",
    )
    assert (last["bytes_in"], last["bytes_out"], last["latency_ms"]) == (675, 900, 102.0)
    assert chunk.records.get_column("client_region")[0] == "us-west-1"  # LAX
    assert "192.0.2" not in str(chunk.records.rows())


def test_cloudfront_fields_are_read_by_header_not_position() -> None:
    fields = ["time", "date", "cs-uri-stem", "x-edge-location", "cs(Cookie)", "sc-status"]
    header = "#Version: 1.0\n#Fields: " + " ".join(fields)
    line = "10:00:00\t2024-05-01\t/acme/a%20b%2Bc.png\tFRA56-P1\ttenant%3Dacme%20co\t304"
    chunk = parse_cloudfront_log(cf(line, header=header), "s", None, "cs(Cookie)")
    row = chunk.records.row(0, named=True)
    assert row["ts"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert (row["path"], row["tenant_raw"], row["status"]) == (
        "/acme/a b+c.png",
        "tenant=acme co",
        304,
    )
    assert (row["client_region"], row["bytes_out"], row["latency_ms"]) == (
        "eu-central-1",
        None,
        None,
    )


def test_cloudfront_edge_overrides_and_unknown_codes(caplog: pytest.LogCaptureFixture) -> None:
    lines = [CF_LINES[0].replace("LAX1", "ZZZ50-C2"), CF_LINES[0].replace("LAX1", "QQQ1")]
    with caplog.at_level(logging.WARNING):
        chunk = parse_cloudfront_log(cf(*lines), "s3://b/k", None, None, {"zzz": "eu-west-1"})
    assert chunk.records.get_column("client_region").to_list() == ["eu-west-1", None]
    assert chunk.rejected == []  # an unknown edge keeps its record
    assert "QQQ (1)" in caplog.text
    assert edge_region_table()["NRT"] == "ap-northeast-1"
    assert len(edge_region_table()) >= 60


def test_cloudfront_without_header_uses_documented_order_and_rejects_bad_lines() -> None:
    body = "\n".join([CF_LINES[0], CF_LINES[1][:40], CF_LINES[2].replace("\t502\t", "\tfive\t")])
    chunk = parse_cloudfront_log(body.encode(), "s", None, None)
    assert chunk.records.height == 1
    reasons = [(r.line, r.reason.split(":")[0]) for r in chunk.rejected]
    assert reasons == [(2, "wrong field count"), (3, "bad number")]


def test_cloudfront_header_without_date_rejects_its_lines() -> None:
    chunk = parse_cloudfront_log(cf("x\ty", header="#Fields: a b"), "s", None, None)
    assert chunk.records.height == 0
    assert chunk.rejected[0].reason == "bad header: #Fields has no date, time"
    assert chunk.rejected[0].line == 2


def test_cloudfront_refuses_the_client_ip_as_tenant() -> None:
    with pytest.raises(ValueError, match="c-ip"):
        parse_cloudfront_log(cf(*CF_LINES), "s", None, "c-ip")


@pytest.mark.slow
def test_hundred_thousand_lines_parse_in_well_under_a_second_of_cpu() -> None:
    alb = gz(*([HTTPS] * 100_000))
    start = time.process_time()
    assert parse_alb_log(alb, "s", "us-east-2", None).records.height == 100_000
    assert time.process_time() - start < 1.5
    front = cf(*([CF_LINES[2]] * 100_000))
    start = time.process_time()
    assert parse_cloudfront_log(front, "s", None, None).records.height == 100_000
    assert time.process_time() - start < 1.5
