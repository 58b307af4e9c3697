"""Parse ALB access logs and CloudFront standard (legacy) logs into ``REQUEST_SCHEMA``.

Both formats are read as AWS documents them, vectorised with Polars: every line is tokenised
with one expression, fields are picked by position (ALB) or by the ``#Fields:`` header
(CloudFront), checked with expressions, and only the lines that fail become
``RejectedRecord(source, line, raw, reason)`` (1-based line numbers in the decompressed text;
the reason's text before its first colon is its category). Nothing raises on bad data: an
object that cannot be inflated is one rejected record. The client address is never copied
into a record; only the policy's tenant field is (``tenant_raw``), and the users package hashes
it before anything is written.

Paths are percent-decoded (the same object has one path in both logs); query strings are kept
as logged. Latencies are milliseconds.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import cast
from urllib.parse import unquote

import polars as pl
from isal import isal_zlib

from providers.models import REQUEST_SCHEMA, RejectedRecord, RequestChunk, RequestLogKind

__all__ = [
    "ALB_FIELDS",
    "CLOUDFRONT_FIELDS",
    "PRIVATE_FIELDS",
    "check_tenant_field",
    "edge_region_table",
    "parse_alb_log",
    "parse_alb_logs",
    "parse_cloudfront_log",
]

log = logging.getLogger(__name__)

#: ALB access-log fields in the order AWS writes them (later ones are absent in older files;
#: fields AWS adds after these are tolerated and ignored).
ALB_FIELDS: tuple[str, ...] = (
    "type", "time", "elb", "client:port", "target:port", "request_processing_time",
    "target_processing_time", "response_processing_time", "elb_status_code",
    "target_status_code", "received_bytes", "sent_bytes", "request", "user_agent",
    "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
    "chosen_cert_arn", "matched_rule_priority", "request_creation_time", "actions_executed",
    "redirect_url", "error_reason", "target:port_list", "target_status_code_list",
    "classification", "classification_reason", "conn_trace_id",
)  # fmt: skip
_ALB_QUOTED = frozenset(
    {
        "request", "user_agent", "trace_id", "domain_name", "chosen_cert_arn",
        "actions_executed", "redirect_url", "error_reason", "target:port_list",
        "target_status_code_list", "classification", "classification_reason",
    }
)  # fmt: skip
#: A line needs every field up to and including ``request``.
_ALB_MIN = ALB_FIELDS.index("request") + 1

#: CloudFront standard-log fields in their documented order (used when a file has no header).
CLOUDFRONT_FIELDS: tuple[str, ...] = (
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)",
    "cs-uri-stem", "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)",
    "x-edge-result-type", "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes",
    "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
    "x-edge-response-result-type", "cs-protocol-version", "fle-status",
    "fle-encrypted-fields", "c-port", "time-to-first-byte", "x-edge-detailed-result-type",
    "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end",
)  # fmt: skip
#: A header-less CloudFront line needs the fields up to ``time-taken``.
_CF_MIN = CLOUDFRONT_FIELDS.index("time-taken") + 1

#: Fields that carry the client's address: never a tenant key, never copied.
PRIVATE_FIELDS = frozenset({"client:port", "c-ip", "c-port", "x-forwarded-for"})

#: One ALB field: a double-quoted string (with backslash escapes) or a run of non-spaces.
_ALB_TOKEN = r'"(?:[^"\\]|\\.)*"|[^ ]+'
#: The ALB request field: ``METHOD scheme://host:port/path?query PROTOCOL``.
_REQUEST = (
    r"^(?<method>[^ ]+) [A-Za-z][A-Za-z0-9+.-]*://(?<host>\[[^\]]*\]|[^/:?# ]*)(?::\d*)?"
    r"(?<path>[^? ]*)(?:\?(?<query>[^ ]*))? (?<protocol>[^ ]+)$"
)
_ALB_TIME = "%Y-%m-%dT%H:%M:%S%.fZ"
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = "\ufeff"
#: Inflating past this ratio (and 1 MiB) is a gzip bomb: quarantined, never expanded.
MAX_RATIO = 500
_BOMB_FLOOR = 1 << 20
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, cast(type[Exception], isal_zlib.error))
_RAW_KEEP = 2000


def check_tenant_field(name: str | None) -> None:
    """Refuse a tenant field that would key users by their address (ValueError)."""
    if name is not None and name.strip().lower() in PRIVATE_FIELDS:
        raise ValueError(
            f"tenant field {name!r} carries the client address; Headroom never keeps it "
            "(choose a header, cookie, host or path field)"
        )


@cache
def _edge_table() -> dict[str, str]:
    text = resources.files("providers.aws").joinpath("edge_locations.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def edge_region_table(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Edge location code (first three letters, upper case) -> region: the packaged table
    (``edge_locations.json``, nearest default-enabled region) with the policy's overrides."""
    table = dict(_edge_table())
    table.update({k.strip().upper(): v for k, v in (overrides or {}).items()})
    return table


def _inflate(data: bytes) -> tuple[bytes, str | None]:
    """The object's text (gunzipped when it is gzip) and why it ended early, if it did."""
    if data[:2] != _GZIP_MAGIC:
        return data, None
    out: list[bytes] = []
    rest = data
    while rest[:2] == _GZIP_MAGIC:  # concatenated members are allowed by gzip
        decomp = isal_zlib.decompressobj(zlib.MAX_WBITS | 16)
        limit = max(_BOMB_FLOOR, MAX_RATIO * len(rest))
        try:
            chunk = decomp.decompress(rest, limit + 1)
        except _INFLATE_ERRORS as exc:
            return b"".join(out), f"corrupt gzip: {exc}"
        if len(chunk) > limit:
            return b"", f"gzip bomb: {len(rest)} bytes inflate past {limit} (over {MAX_RATIO}:1)"
        out.append(chunk)
        if not decomp.eof:
            return b"".join(out), "truncated gzip: stream ends before its end marker"
        rest = decomp.unused_data
    return b"".join(out), None


def _lines(data: bytes, source: str) -> tuple[pl.DataFrame, list[RejectedRecord]]:
    """Non-blank lines as (``_obj`` 0, line, raw); a damaged gzip's partial last line is
    rejected."""
    frame, rejected = _lines_of([(data, source)])
    return frame, rejected[0]


def _lines_of(
    objects: Sequence[tuple[bytes, str]],
) -> tuple[pl.DataFrame, list[list[RejectedRecord]]]:
    """The non-blank lines of every (body, source) as (``_obj``: its index, line, raw), and
    each object's rejects (a damaged gzip's partial last line)."""
    raws: list[str] = []
    lines: list[int] = []
    objs: list[int] = []
    rejected: list[list[RejectedRecord]] = []
    for i, (data, source) in enumerate(objects):
        text, problem = _inflate(data)
        rejects: list[RejectedRecord] = []
        decoded = text.decode("utf-8", "replace").removeprefix(_UTF8_BOM)
        parts = decoded.split("\n")
        if problem is not None:
            tail = parts.pop() if text else ""
            where = len(parts) + 1 if text else None
            rejects.append(RejectedRecord(source, where, tail[:_RAW_KEEP], problem))
        rejected.append(rejects)
        raws.extend(parts)
        lines.extend(range(1, len(parts) + 1))
        objs.extend([i] * len(parts))
    frame = (
        pl.DataFrame(
            {"_obj": objs, "line": lines, "raw": raws},
            schema={"_obj": pl.Int64(), "line": pl.Int64(), "raw": pl.String()},
        )
        .with_columns(pl.col("raw").str.strip_chars_end("\r"))
        .filter(pl.col("raw").str.strip_chars() != "")
    )
    return frame, rejected


def _decode_paths(frame: pl.DataFrame) -> pl.DataFrame:
    """Percent-decode ``path`` (each distinct encoded value once)."""
    paths = frame.get_column("path")
    if not paths.str.contains("%", literal=True).any():
        return frame
    encoded = paths.drop_nulls().unique()
    encoded = encoded.filter(encoded.str.contains("%", literal=True))
    decoded = {v: unquote(v, errors="replace") for v in encoded.to_list()}
    return frame.with_columns(pl.col("path").replace(decoded))


def _first_reason(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """The first failing check's message, else null."""
    expr: pl.Expr = pl.lit(None, dtype=pl.String())
    for failed, message in reversed(checks):
        expr = pl.when(failed).then(message).otherwise(expr)
    return expr


def _evaluate(
    frame: pl.DataFrame, checks: list[tuple[pl.Expr, pl.Expr]], outputs: list[pl.Expr]
) -> pl.DataFrame:
    """``line``, ``raw``, the outputs, and ``reason``: the messages are built only for the
    lines that fail a check (building them for every line would cost more than parsing)."""
    flagged = frame.lazy().with_columns(
        pl.any_horizontal([failed.fill_null(False) for failed, _ in checks]).alias("_failed")
    )
    done = flagged.select("_obj", "line", "raw", "_failed", *outputs).collect()
    if not done.get_column("_failed").any():
        return done.drop("_failed").with_columns(pl.lit(None, pl.String()).alias("reason"))
    reasons = (
        flagged.filter("_failed")
        .select("_obj", "line", _first_reason(checks).alias("reason"))
        .collect()
    )
    on = ["_obj", "line"]
    return done.drop("_failed").join(reasons, on=on, how="left", maintain_order="left")


def _split(
    frame: pl.DataFrame, source: str, kind: RequestLogKind, rejected: list[RejectedRecord]
) -> RequestChunk:
    """Rows with a reason become rejects; the rest are cast to ``REQUEST_SCHEMA``."""
    return _split_objects(frame, [source], kind, [rejected])[0]


def _split_objects(
    frame: pl.DataFrame,
    sources: Sequence[str],
    kind: RequestLogKind,
    rejected: list[list[RejectedRecord]],
) -> list[RequestChunk]:
    """``_split`` of each object in ``frame`` (``_obj`` indexes ``sources``), in one pass."""
    if frame.get_column("reason").null_count() < frame.height:
        bad = frame.filter(pl.col("reason").is_not_null())
        for obj, line, raw, reason in bad.select("_obj", "line", "raw", "reason").iter_rows():
            rejected[obj].append(RejectedRecord(sources[obj], line, raw[:_RAW_KEEP], reason))
        frame = frame.filter(pl.col("reason").is_null())
    good = _decode_paths(frame)
    records = good.select(
        "_obj", *[pl.col(name).cast(dtype).alias(name) for name, dtype in REQUEST_SCHEMA.items()]
    )
    parts = records.partition_by("_obj", maintain_order=True, include_key=False, as_dict=True)
    chunks = []
    for obj, source in enumerate(sources):
        rejected[obj].sort(key=lambda r: -1 if r.line is None else r.line)
        part = parts.get((obj,))
        part = part if part is not None else pl.DataFrame(schema=REQUEST_SCHEMA)
        chunks.append(RequestChunk(source, kind, part, rejected[obj]))
    return chunks


def _empty_chunk(source: str, kind: RequestLogKind, rejected: list[RejectedRecord]) -> RequestChunk:
    return RequestChunk(source, kind, pl.DataFrame(schema=REQUEST_SCHEMA), rejected)


def _dash(expr: pl.Expr) -> pl.Expr:
    """Null where AWS wrote ``-`` (no value)."""
    return pl.when(expr == "-").then(None).otherwise(expr)


def _number(
    name: str, raw: pl.Expr, dtype: pl.DataType, *, low: float = 0, unknown: float | None = None
) -> tuple[pl.Expr, tuple[pl.Expr, pl.Expr]]:
    """(value, check): ``-`` is null; ``unknown`` (ALB's -1) is allowed; else >= ``low``."""
    value = _dash(raw).cast(dtype, strict=False)
    ok = value >= low
    if unknown is not None:
        ok = ok | (value == unknown)
    failed = raw.is_not_null() & (raw != "-") & ~ok.fill_null(False)
    return value, (failed, pl.concat_str(pl.lit(f"bad number: {name}="), raw))


def _alb_layout() -> dict[str, tuple[int, int | None]]:
    """Where each field sits once a line is split at its double quotes: (piece, token within
    an unquoted piece split at spaces, or None for a quoted piece). Quoted fields are the odd
    pieces; the unquoted runs between them are the even pieces, starting with a space."""
    layout: dict[str, tuple[int, int | None]] = {}
    piece, sub, in_run = 0, 0, True
    for name in ALB_FIELDS:
        if name in _ALB_QUOTED:
            piece = piece + 1 if in_run else piece + 2
            layout[name], in_run = (piece, None), False
        else:
            if not in_run:
                piece, sub, in_run = piece + 1, 1, True
            layout[name] = (piece, sub)
            sub += 1
    return layout


_LAYOUT = _alb_layout()
_LAST_PIECE = max(p for p, _ in _LAYOUT.values())
#: How many fields each unquoted piece holds (0: a lone space between two quoted fields).
_RUN_FIELDS = {
    p: sum(1 for at, sub in _LAYOUT.values() if at == p and sub is not None)
    for p in range(0, _LAST_PIECE + 1, 2)
}


def _alb_fast(lines: pl.DataFrame, wanted: list[str]) -> pl.DataFrame:
    """Fields of well-formed lines by splitting at quotes (one native pass); ``fast`` False
    marks the lines the regex tokeniser must read (odd quotes, escapes, double spaces...)."""
    runs, selected = _alb_fast_plan(tuple(wanted))
    q = pl.col("raw").str.split('"').alias("q")
    return lines.lazy().with_columns(q).with_columns(runs).select(selected).collect()


@cache
def _alb_fast_plan(wanted: tuple[str, ...]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """``_alb_fast``'s expressions for ``wanted``: the unquoted runs split at spaces, then
    ``line, raw, fast`` and the fields. Built once per field list: building them cost more
    than running them on a small object."""

    def piece(i: int) -> pl.Expr:
        return pl.col("q").list.get(i, null_on_oob=True)

    ok = pl.col("raw").str.contains(_alb_shape())
    runs = sorted({at for name in wanted for at, sub in [_LAYOUT[name]] if sub is not None})
    values = [pl.col("_obj"), pl.col("line"), pl.col("raw"), ok.alias("fast")]
    for name in wanted:
        at, sub = _LAYOUT[name]
        value = piece(at) if sub is None else pl.col(f"_run{at}").list.get(sub, null_on_oob=True)
        values.append(value.alias(name))
    return [piece(at).str.split(" ").alias(f"_run{at}") for at in runs], values


@cache
def _alb_shape() -> str:
    """One regex for a line the quote split reads right: no backslash, at least one quoted
    field, every unquoted run of single-space-separated fields with the layout's count (the
    line may end after any run: older files have fewer fields; the last run may hold fields
    AWS added later, and what follows it is not checked). One pattern, compiled once per
    object, instead of two per run (which cost more than the split itself)."""
    tok = r'[^ "\\]+'
    quoted = r'"[^"\\]*"'
    rest = rf'[^"\\]*(?:{quoted}[^"\\]*)*'  # past the last run: anything, quotes paired
    for p in sorted(_RUN_FIELDS, reverse=True):
        n = _RUN_FIELDS[p]
        if p == 0:
            shape = rf"{tok}(?: {tok}){{{n - 1}}} "
        elif p == _LAST_PIECE:
            shape = rf"(?: {tok})+ ?"
        else:
            shape = rf" (?:{tok} ){{{n}}}"
        more = rf"{shape}{quoted}{rest}"
        rest = more if p == 0 else rf"(?:{more}|(?: {tok})*)"
    return rf"^{rest}$"


def _alb_slow(lines: pl.DataFrame, wanted: list[str]) -> pl.DataFrame:
    """Fields of any line with the regex tokeniser, and a reason when the line's quoting or
    field count is wrong."""
    frame = lines.with_columns(pl.col("raw").str.extract_all(_ALB_TOKEN).alias("tok"))
    n = pl.col("tok").list.len()

    def token(name: str) -> pl.Expr:
        return pl.col("tok").list.get(ALB_FIELDS.index(name), null_on_oob=True)

    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (
            n < _ALB_MIN,
            pl.concat_str(
                pl.lit("too few fields: "), n.cast(pl.String()), pl.lit(f", need {_ALB_MIN}")
            ),
        )
    ]
    for name in ALB_FIELDS:
        if name in _ALB_QUOTED:
            value = token(name)
            quoted = value.str.starts_with('"') & value.str.ends_with('"')
            checks.append(
                (
                    value.is_not_null() & ~(quoted & (value.str.len_chars() > 1)),
                    pl.lit(f"bad quoting: {name}"),
                )
            )
    values = []
    for name in wanted:
        value = token(name)
        if name in _ALB_QUOTED:
            inner = value.str.slice(1, value.str.len_chars() - 2)
            value = inner.str.replace_all('\\"', '"', literal=True)
        values.append(value.alias(name))
    return (
        frame.lazy()
        .select("_obj", "line", "raw", _first_reason(checks).alias("shape"), *values)
        .collect()
    )


def parse_alb_log(
    body: bytes, source: str, region: str, tenant_field: str | None = None
) -> RequestChunk:
    """One ALB access-log object (gzip or plain). ``region`` is the load balancer's region:
    both where it served the request and, for want of more, where the client is.
    ``tenant_field`` is an ALB field name (``domain_name``, ``user_agent``...); another name
    leaves ``tenant_raw`` None."""
    return parse_alb_logs([(body, source)], region, tenant_field)[0]


def parse_alb_logs(
    objects: Sequence[tuple[bytes, str]], region: str, tenant_field: str | None = None
) -> list[RequestChunk]:
    """``parse_alb_log`` of each (body, source) of one load balancer's region, in one pass
    over all their lines (a small object alone costs about as much as many together); each
    chunk is what the object alone gives."""
    kind = RequestLogKind.ALB
    check_tenant_field(tenant_field)
    sources = [source for _, source in objects]
    lines, rejected = _lines_of(objects)
    if lines.height == 0:
        return [_empty_chunk(s, kind, r) for s, r in zip(sources, rejected, strict=True)]
    wanted = [
        "time", "target:port", "request_processing_time", "target_processing_time",
        "response_processing_time", "elb_status_code", "received_bytes", "sent_bytes",
        "request", "request_creation_time",
    ]  # fmt: skip
    if tenant_field in ALB_FIELDS and tenant_field not in wanted:
        wanted.append(tenant_field)
    fast = _alb_fast(lines, wanted)
    good = fast.filter("fast").select(
        "_obj", "line", "raw", pl.lit(None, pl.String()).alias("shape"), *wanted
    )
    if good.height == fast.height:  # the usual case: no line needs the regex tokeniser
        fields = good
    else:
        slow = _alb_slow(lines.filter(~fast.get_column("fast")), wanted)
        fields = pl.concat([good, slow], how="vertical_relaxed").sort("_obj", "line")
    frame = _alb_records(fields, sources, region, tenant_field)
    return _split_objects(frame, sources, kind, rejected)


def _alb_records(
    fields: pl.DataFrame, sources: Sequence[str], region: str, tenant_field: str | None
) -> pl.DataFrame:
    """``REQUEST_SCHEMA`` columns from ALB field values, with each bad line's reason."""
    request, checks, outputs = _alb_plan(tenant_field)
    fields = fields.with_columns(request.str.extract_groups(_REQUEST).alias("_req")).unnest(
        "_req", separator="."
    )
    source = (
        pl.lit(sources[0])
        if len(sources) == 1
        else pl.col("_obj").replace_strict(range(len(sources)), sources, return_dtype=pl.String())
    )
    here = [
        source.alias("source"),
        pl.lit(region).alias("serving_region"),
        pl.lit(region).alias("client_region"),
    ]
    return _evaluate(fields, checks, [*outputs, *here])


@cache
def _alb_plan(
    tenant_field: str | None,
) -> tuple[pl.Expr, list[tuple[pl.Expr, pl.Expr]], list[pl.Expr]]:
    """``_alb_records``' expressions (the request field, the checks, and every output but
    ``source``, ``serving_region`` and ``client_region``), built once per tenant field:
    building them cost more than running them on a small object."""
    col = pl.col
    checks: list[tuple[pl.Expr, pl.Expr]] = [(col("shape").is_not_null(), col("shape"))]
    at = col("time").str.to_datetime(_ALB_TIME, time_zone="UTC", strict=False)
    created_raw = col("request_creation_time")
    created = _dash(created_raw).str.to_datetime(_ALB_TIME, time_zone="UTC", strict=False)
    checks.append((at.is_null(), pl.concat_str(pl.lit("bad timestamp: time="), col("time"))))
    checks.append(
        (
            created.is_null() & created_raw.is_not_null() & (created_raw != "-"),
            pl.concat_str(pl.lit("bad timestamp: request_creation_time="), created_raw),
        )
    )
    times = {}
    for name in ("request_processing_time", "target_processing_time", "response_processing_time"):
        times[name], check = _number(name, col(name), pl.Float64(), unknown=-1)
        checks.append(check)
    status, check = _number("elb_status_code", col("elb_status_code"), pl.Int32(), low=100)
    checks.append(check)
    received, check = _number("received_bytes", col("received_bytes"), pl.Int64())
    checks.append(check)
    sent, check = _number("sent_bytes", col("sent_bytes"), pl.Int64())
    checks.append(check)
    request = col("request").fill_null("-")
    method = col("_req.method")
    no_request = request.str.strip_chars().is_in(["-", "- - -"])
    checks.append(
        (
            method.is_null() & ~no_request,
            pl.concat_str(pl.lit("bad request line: "), request.str.slice(0, 200)),
        )
    )
    known = list(times.values())
    latency = pl.when(pl.all_horizontal([t != -1 for t in known])).then(
        pl.sum_horizontal(known) * 1000.0
    )
    origin = times["target_processing_time"]
    tenant = (
        _dash(col(tenant_field)) if tenant_field in ALB_FIELDS else pl.lit(None, dtype=pl.String())
    )
    outputs = [
        pl.coalesce(created, at).alias("ts"),
        pl.lit(RequestLogKind.ALB.value).alias("log_kind"),
        pl.lit(None, dtype=pl.String()).alias("edge_location"),
        method.alias("method"),
        col("_req.host").str.to_lowercase().alias("host"),
        pl.when(method.is_not_null()).then(_empty_to(col("_req.path"), "/")).alias("path"),
        _empty_to(col("_req.query"), None).alias("query"),
        status.alias("status"),
        received.alias("bytes_in"),
        sent.alias("bytes_out"),
        latency.alias("latency_ms"),
        pl.when(origin != -1).then(origin * 1000.0).alias("origin_ms"),
        _dash(col("target:port")).str.extract(r"^\[?(.*?)\]?:\d+$").alias("target_ip"),
        pl.lit(None, dtype=pl.String()).alias("cache_result"),
        tenant.alias("tenant_raw"),
    ]
    return request, checks, outputs


def _empty_to(expr: pl.Expr, value: str | None) -> pl.Expr:
    return (
        pl.when(expr.is_null() | (expr == ""))
        .then(pl.lit(value, dtype=pl.String()))
        .otherwise(expr)
    )


def parse_cloudfront_log(
    body: bytes,
    source: str,
    serving_region: str | None,
    tenant_field: str | None = None,
    edge_regions: Mapping[str, str] | None = None,
) -> RequestChunk:
    """One CloudFront standard-log object (W3C, tab-separated, gzip or plain), read by its
    ``#Fields:`` header (the documented order when it has none). ``serving_region`` is the
    distribution's origin region; ``edge_regions`` overrides the packaged edge -> region table.
    An edge code with no region keeps its record, with ``client_region`` None (logged)."""
    kind = RequestLogKind.CLOUDFRONT
    check_tenant_field(tenant_field)
    lines, rejected = _lines(body, source)
    if lines.height == 0:
        return _empty_chunk(source, kind, rejected)
    table = edge_region_table(edge_regions)
    directive = pl.col("raw").str.starts_with("#")
    is_fields = pl.col("raw").str.starts_with("#Fields:")
    lines = lines.with_columns(is_fields.cum_sum().alias("segment"))
    headers = {
        seg: raw.removeprefix("#Fields:").split()
        for seg, raw in lines.filter(is_fields).select("segment", "raw").iter_rows()
    }
    frames: list[pl.DataFrame] = []
    for (segment,), part in lines.filter(~directive).group_by(["segment"], maintain_order=True):
        fields = headers.get(int(segment))
        frames.append(
            _cloudfront_segment(part, fields, source, serving_region, tenant_field, table)
        )
    if not frames:
        return _empty_chunk(source, kind, rejected)
    chunk = _split(pl.concat(frames, how="vertical"), source, kind, rejected)
    _warn_unknown_edges(chunk)
    return chunk


def _cloudfront_segment(
    part: pl.DataFrame,
    fields: list[str] | None,
    source: str,
    serving_region: str | None,
    tenant_field: str | None,
    table: Mapping[str, str],
) -> pl.DataFrame:
    """The lines under one ``#Fields:`` header (or none), with a reason where one is bad."""
    part = part.with_columns(pl.col("raw").str.split("\t").alias("tok"))
    tok = pl.col("tok")
    n = tok.list.len()
    names = fields if fields is not None else list(CLOUDFRONT_FIELDS)
    index = {name: i for i, name in enumerate(names)}

    def field(name: str) -> pl.Expr:
        if name not in index:
            return pl.lit(None, dtype=pl.String())
        return tok.list.get(index[name], null_on_oob=True)

    if fields is not None:
        count_bad = n != len(names)
        expected = f"{len(names)} (the #Fields header)"
    else:
        count_bad = (n < _CF_MIN) | (n > len(names))
        expected = f"{_CF_MIN}..{len(names)} (no #Fields header: documented order)"
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (
            count_bad,
            pl.concat_str(
                pl.lit("wrong field count: "), n.cast(pl.String()), pl.lit(f", expected {expected}")
            ),
        )
    ]
    missing = [f for f in ("date", "time") if f not in index]
    if missing:
        checks.insert(0, (pl.lit(True), pl.lit(f"bad header: #Fields has no {', '.join(missing)}")))
    stamp = pl.concat_str(field("date"), pl.lit(" "), field("time"))
    at = stamp.str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC", strict=False)
    checks.append((at.is_null(), pl.concat_str(pl.lit("bad timestamp: "), stamp)))
    status, check = _number("sc-status", field("sc-status"), pl.Int32())
    checks.append(check)
    sc_bytes, check = _number("sc-bytes", field("sc-bytes"), pl.Int64())
    checks.append(check)
    cs_bytes, check = _number("cs-bytes", field("cs-bytes"), pl.Int64())
    checks.append(check)
    taken, check = _number("time-taken", field("time-taken"), pl.Float64())
    checks.append(check)
    edge = _dash(field("x-edge-location"))
    host = pl.coalesce(_dash(field("x-host-header")), _dash(field("cs(Host)")))
    tenant = pl.lit(None, dtype=pl.String())
    if tenant_field is not None and tenant_field in index:
        encoded = _dash(field(tenant_field))
        tenant = encoded.map_batches(_unquote_series, return_dtype=pl.String())
    return _evaluate(
        part,
        checks,
        [
            at.alias("ts"),
            pl.lit(RequestLogKind.CLOUDFRONT.value).alias("log_kind"),
            pl.lit(source).alias("source"),
            pl.lit(serving_region, dtype=pl.String()).alias("serving_region"),
            edge.str.slice(0, 3)
            .str.to_uppercase()
            .replace_strict(table, default=None, return_dtype=pl.String())
            .alias("client_region"),
            edge.alias("edge_location"),
            _dash(field("cs-method")).alias("method"),
            host.str.to_lowercase().alias("host"),
            _dash(field("cs-uri-stem")).alias("path"),
            _empty_to(_dash(field("cs-uri-query")), None).alias("query"),
            status.alias("status"),
            cs_bytes.alias("bytes_in"),
            sc_bytes.alias("bytes_out"),
            (taken * 1000.0).alias("latency_ms"),
            pl.lit(None, dtype=pl.Float64()).alias("origin_ms"),
            pl.lit(None, dtype=pl.String()).alias("target_ip"),
            _dash(field("x-edge-result-type")).alias("cache_result"),
            tenant.alias("tenant_raw"),
        ],
    )


def _unquote_series(values: pl.Series) -> pl.Series:
    """Percent-decode each distinct value once (CloudFront URL-encodes its fields)."""
    distinct = values.drop_nulls().unique()
    distinct = distinct.filter(distinct.str.contains("%", literal=True))
    if distinct.len() == 0:
        return values
    return values.replace({v: unquote(v, errors="replace") for v in distinct.to_list()})


def _warn_unknown_edges(chunk: RequestChunk) -> None:
    """Log the edge codes no table maps (their records keep ``client_region`` None)."""
    unknown = (
        chunk.records.filter(
            pl.col("edge_location").is_not_null() & pl.col("client_region").is_null()
        )
        .group_by(pl.col("edge_location").str.slice(0, 3).str.to_uppercase().alias("code"))
        .len()
        .sort("code")
    )
    if unknown.height:
        counts = ", ".join(f"{code} ({n})" for code, n in unknown.iter_rows())
        log.warning(
            "%s: edge locations with no region, client_region left empty: %s "
            "(map them in the policy's users.edge_regions)",
            chunk.source,
            counts,
        )
