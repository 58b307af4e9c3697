"""Parse VPC flow-log objects (gzip text, Parquet, CloudWatch Logs events) into
``FLOW_SCHEMA_FULL``.

Vectorised, in two tiers. A clean object (the usual case) is read once with its final types
and validated with expressions (``_fast_parse``); any sign of trouble (an empty field, a
ragged line, a value that does not parse or fails a check) sends the whole object to the
careful path, which reads every line as text, casts and validates with expressions, and looks
at only the lines that fail one by one (``flowformat.check_record``) to say why.
Nothing is dropped: every unusable line becomes a ``RejectedRecord`` (source, line, raw, reason).
Line numbers are 1-based and count the header line when there is one.

No object can stop a collect: one that cannot be read at all (a field named twice, a Parquet
list column, anything a reader raises on) is quarantined whole, every line or row with the
reason, so ``stored + quarantined = read`` still holds.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from isal import isal_zlib

from providers.aws.flowformat import (
    ACTIONS,
    FIELD_NAME,
    INT_FIELDS,
    IP_FIELDS,
    IP_PATTERN,
    LOG_STATUSES,
    PLAUSIBLE,
    HeaderError,
    TimeBounds,
    UnknownFieldError,
    check_record,
    field_from_aws,
    int_ranges,
    is_known,
    parse_format,
    polars_dtype,
    unique_fields,
)
from providers.models import FLOW_SCHEMA_FULL, FlowChunk, RejectedRecord

__all__ = ["parse_events", "parse_parquet", "parse_text", "reject_object", "sniff_header"]

_GZIP_MAGIC = b"\x1f\x8b"
_EXTRA = "__extra"
#: Lines looked at to find the header (garbage may come before it).
_HEADER_SCAN = 16
Ranges = dict[str, tuple[int, int]]


#: Deflate tops out near 1032:1 and flow-log text compresses 10-40:1 (identical records ~300:1).
#: A member inflating past this ratio (and past 1 MiB) is almost all one repeated byte: a bomb,
#: quarantined as one record instead of millions of empty lines. Memory stays bounded by it too.
MAX_RATIO = 500
_BOMB_FLOOR = 1 << 20
_UTF8_BOM = b"\xef\xbb\xbf"


#: ISA-L inflates the same streams as zlib, 2-3x faster (decompression was a third of parsing).
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, cast(type[Exception], isal_zlib.error))


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Decompress what can be; the second item says why the stream ended early, if it did."""
    decomp = isal_zlib.decompressobj(zlib.MAX_WBITS | 16)
    limit = max(_BOMB_FLOOR, MAX_RATIO * len(data))
    try:
        out = decomp.decompress(data, limit + 1)
    except _INFLATE_ERRORS as exc:
        return b"", f"corrupt gzip: {exc}"
    if len(out) > limit:
        return b"", f"gzip bomb: {len(data)} bytes inflate past {limit} (over {MAX_RATIO}:1)"
    if not decomp.eof:
        return out, "truncated gzip: stream ends before its end marker"
    if decomp.unused_data:  # concatenated members (allowed by gzip): decode the rest too
        more, problem = _gunzip(decomp.unused_data)
        return out + more, problem
    return out, None


def sniff_header(line: str) -> list[str] | None:
    """Fields named by a header line, or None if the line is not one (a record, garbage).

    A header is field names only, at least one of them a field AWS documents; a name
    given twice (``log-status`` and ``log_status``) raises HeaderError.
    """
    tokens = line.split()
    if not tokens or not all(len(t) <= 64 and FIELD_NAME.fullmatch(t) for t in tokens):
        return None
    names = [field_from_aws(t) for t in tokens]
    if not any(is_known(n) for n in names):
        return None
    unique_fields(names, tokens)
    return names


def _find_header(head: bytes, expected: int) -> tuple[list[str] | None, int]:
    """(header fields, its 1-based line) from the first lines of an object, or (None, 0).

    The first line that is a header or has the record's field count decides; blank and
    garbage lines before it are skipped (and rejected by the caller or the body parse).
    """
    lines = head.split(b"\n", _HEADER_SCAN)[:_HEADER_SCAN]
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        header = sniff_header(line)
        if header is not None:
            return header, number
        if len(line.split()) == expected:
            return None, 0
    return None, 0


def reject_object(data: bytes, source: str, reason: str) -> FlowChunk:
    """Quarantine a whole text object: every line (or one entry if none) with ``reason``."""
    text = _gunzip(data)[0] if data[:2] == _GZIP_MAGIC else data
    chunk = _reject_all(text, source, reason, [])
    if not chunk.rejected:
        chunk.rejected.append(RejectedRecord(source, None, "", reason))
    return chunk


def parse_text(
    data: bytes,
    source: str,
    fields: Sequence[str] | None = None,
    *,
    log_format: str | None = None,
    bounds: TimeBounds = PLAUSIBLE,
) -> FlowChunk:
    """Parse one text flow-log object (gzip or plain). The header, if any, wins over ``fields``.

    ``bounds`` are the timestamps its records may have (``TimeBounds.around`` its delivery).
    Anything the readers raise on quarantines the object whole instead of escaping.
    """
    try:
        return _parse_text(data, source, fields, log_format, bounds)
    except Exception as exc:  # one unreadable object must not stop a collect
        return reject_object(data, source, f"unreadable object: {type(exc).__name__}: {exc}"[:500])


def _parse_text(
    data: bytes,
    source: str,
    fields: Sequence[str] | None,
    log_format: str | None,
    bounds: TimeBounds,
) -> FlowChunk:
    """Polars decompresses and reads a sound gzip itself; a damaged one is decompressed here
    as far as it goes and the partial last line is rejected as truncated."""
    gz = data[:2] == _GZIP_MAGIC
    try:
        head = isal_zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data, 65536) if gz else data
    except _INFLATE_ERRORS as exc:
        reason = f"corrupt gzip: {exc}"
        return FlowChunk(source, _empty(), [RejectedRecord(source, 1, "", reason)])
    if head.startswith(_UTF8_BOM):  # a byte-order mark is not part of the first line
        head = head[len(_UTF8_BOM) :]
        data = data if gz else data[len(_UTF8_BOM) :]
    default = list(fields) if fields is not None else parse_format(log_format)
    try:
        header, header_line = _find_header(head[:65536], len(default))
    except (UnknownFieldError, HeaderError) as exc:
        return reject_object(data, source, f"bad header: {exc}")
    ranges = int_ranges(bounds)
    rejected: list[RejectedRecord] = []
    if header is not None:
        columns, offset = header, header_line
        if header_line > 1:  # lines before the header are not records of it
            before = head.split(b"\n", header_line - 1)[: header_line - 1]
            for number, raw in enumerate(before, start=1):
                line = raw.decode("utf-8", "replace").rstrip("\r")
                rejected.append(
                    RejectedRecord(source, number, line[:2000], "garbage before header")
                )
    else:
        columns, offset = default, 0
    unknown = tuple(c for c in columns if not is_known(c))
    if gz:
        text, problem = _gunzip(data)
        text = text.removeprefix(_UTF8_BOM)
        if problem and problem.startswith("gzip bomb"):
            return FlowChunk(source, _empty(), [*rejected, RejectedRecord(source, 1, "", problem)])
        if problem:
            cut = text.rfind(b"\n") + 1
            line_no = text.count(b"\n", 0, cut) + 1
            tail = text[cut:].decode("utf-8", "replace")[:2000]
            rejected.append(RejectedRecord(source, line_no, tail, problem))
            text = text[:cut]
        elif not rejected:
            fast = _fast_parse(text, source, columns, offset, ranges)
            if fast is not None:
                return _with_unknown(fast, unknown)
        chunk = _parse_body(text, source, columns, offset, rejected, lambda: text, bounds)
        return _with_unknown(chunk, unknown)
    if not rejected:
        fast = _fast_parse(data, source, columns, offset, ranges)
        if fast is not None:
            return _with_unknown(fast, unknown)
    return _with_unknown(
        _parse_body(data, source, columns, offset, rejected, lambda: data, bounds), unknown
    )


def _with_unknown(chunk: FlowChunk, unknown: tuple[str, ...]) -> FlowChunk:
    if not unknown:
        return chunk
    return FlowChunk(chunk.source, chunk.records, chunk.rejected, unknown)


def parse_events(
    messages: Sequence[str],
    source: str,
    fields: Sequence[str] | None = None,
    *,
    bounds: TimeBounds = PLAUSIBLE,
) -> FlowChunk:
    """Parse CloudWatch Logs event messages (one record each, no header); line = event index+1."""
    cleaned = [m.replace("\n", " ").rstrip("\r") for m in messages]
    body = ("\n".join(cleaned) + "\n").encode() if cleaned else b""
    columns = list(fields) if fields is not None else parse_format(None)
    unknown = tuple(c for c in columns if not is_known(c))
    try:
        chunk = _parse_body(body, source, columns, 0, [], lambda: body, bounds)
    except Exception as exc:  # one unreadable page must not stop a collect
        return reject_object(body, source, f"unreadable object: {type(exc).__name__}: {exc}"[:500])
    return _with_unknown(chunk, unknown)


def _reject_all(text: bytes, source: str, reason: str, rejected: list[RejectedRecord]) -> FlowChunk:
    for i, line in enumerate(text.decode("utf-8", "replace").splitlines(), start=1):
        rejected.append(RejectedRecord(source, i, line[:2000], reason))
    return FlowChunk(source, _empty(), rejected)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FLOW_SCHEMA_FULL)


_BLOCK = 1 << 22


def _separators(text: bytes) -> tuple[int, int] | None:
    """(spaces, newlines) in ``text``, or None if two of them touch anywhere.

    One pass in cache-sized blocks, so a large object needs no large temporaries.
    """
    raw = np.frombuffer(text, dtype=np.uint8)
    spaces = newlines = 0
    for begin in range(0, raw.size, _BLOCK):
        block = raw[begin : begin + _BLOCK + 1]  # one byte of overlap with the next block
        space, newline = block == 32, block == 10
        sep = space | newline
        if (sep[1:] & sep[:-1]).any():
            return None
        spaces += int(np.count_nonzero(space[:_BLOCK]))
        newlines += int(np.count_nonzero(newline[:_BLOCK]))
    return spaces, newlines


def _fast_parse(
    text: bytes, source: str, columns: list[str], offset: int, ranges: Ranges
) -> FlowChunk | None:
    """Typed one-pass read of a clean object; None when any line needs the careful path.

    Clean means: no empty field or line (checked on the bytes), exactly ``len(columns)``
    fields on every line (a long line makes the typed read fail; then the total count of
    separators proves no line is short), every number parses, and every value passes the
    same checks as ``_parse_body``. Anything else goes to ``_parse_body``, which says why.
    """
    if not text or b"\r" in text or text[:1] in (b" ", b"\n") or text[-1:] == b" ":
        return None
    counts = _separators(text)  # None: an empty field or line, or a space at a line's edge
    if counts is None:
        return None
    spaces, newlines = counts
    lines = newlines + (0 if text.endswith(b"\n") else 1)
    if spaces != lines * (len(columns) - 1):
        return None
    schema = {c: pl.Int64() if c in INT_FIELDS else pl.String() for c in columns}
    try:
        frame = pl.read_csv(
            text,
            separator=" ",
            has_header=False,
            skip_rows=offset,
            schema=schema,
            quote_char=None,
            null_values="-",
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        return None
    if frame.height != lines - offset:
        return None
    bad = pl.lit(False)
    for name in columns:
        col = pl.col(name)
        if name in INT_FIELDS:
            low, high = ranges[name]
            bad = bad | ~col.is_between(low, high).fill_null(True)
        else:
            bad = bad | _string_check(name, col)
    if "start" in columns and "end" in columns:
        bad = bad | (pl.col("start") > pl.col("end")).fill_null(False)
    if frame.select(bad.any()).item():
        return None
    return FlowChunk(source, _normalise(frame), [])


def _parse_body(
    data: bytes,
    source: str,
    columns: list[str],
    offset: int,
    rejected: list[RejectedRecord],
    text_of: Callable[[], bytes],
    bounds: TimeBounds = PLAUSIBLE,
) -> FlowChunk:
    """Read every field as text (so ragged, empty and non-numeric lines show), cast, validate.

    ``data`` may be gzip; ``offset`` lines (the header) are skipped; ``text_of`` gives the
    decompressed text, asked for only when some line must be explained.
    """
    schema = {c: pl.String() for c in columns} | {_EXTRA: pl.String()}
    raw = pl.read_csv(
        data,
        separator=" ",
        has_header=False,
        skip_rows=offset,
        schema=schema,
        quote_char=None,
        missing_columns="insert",
        extra_columns="ignore",  # a long first line must not fail the read: it is rejected
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        null_values=None,
    )
    if raw.height == 0:
        return FlowChunk(source, _empty(), rejected)
    ranges = int_ranges(bounds)
    bad = pl.col(_EXTRA).is_not_null()
    typed: list[pl.Expr] = []
    for name in columns:
        col = pl.col(name)
        value = col.replace("-", None)
        bad = bad | col.is_null()
        if name in INT_FIELDS:
            cast = value.cast(pl.Int64, strict=False)
            low, high = ranges[name]
            in_range = cast.is_between(low, high).fill_null(True)
            bad = bad | (cast.is_null() & (col != "-")) | ~in_range
            typed.append(cast.alias(name))
        else:
            bad = bad | _string_check(name, value)
            typed.append(value.alias(name))
    if "start" in columns and "end" in columns:
        ends_first = pl.col("start") > pl.col("end")
        bad = bad | ends_first.fill_null(False)
    cast_frame = raw.lazy().select(*typed, bad.fill_null(True).alias("__bad")).collect()
    if not cast_frame.get_column("__bad").any():
        return FlowChunk(source, _normalise(cast_frame.drop("__bad")), rejected)
    cast_frame = cast_frame.with_row_index("__line", offset=offset + 1)
    good = cast_frame.filter(~pl.col("__bad")).drop("__bad", "__line")
    failed = cast_frame.filter(pl.col("__bad"))
    rejected.extend(_explain_lines(text_of(), failed, columns, source, bounds))
    return FlowChunk(source, _normalise(good), rejected)


def _string_check(name: str, value: pl.Expr) -> pl.Expr:
    """True where a text field (``-`` already null) holds an impossible value."""
    if name in IP_FIELDS:  # an address, parsed as one (999.999.999.999 and ``cafe`` are not)
        return ~(value.is_null() | value.str.contains(IP_PATTERN))
    if name == "action":
        return ~(value.is_null() | value.is_in(list(ACTIONS)))
    if name == "log_status":
        return ~(value.is_null() | value.is_in(list(LOG_STATUSES)))
    return pl.lit(False)


def _explain_lines(
    text: bytes, failed: pl.DataFrame, columns: list[str], source: str, bounds: TimeBounds
) -> list[RejectedRecord]:
    lines = text.split(b"\n")
    out: list[RejectedRecord] = []
    for line_no in failed.get_column("__line").to_list():
        raw_line = lines[line_no - 1].decode("utf-8", "replace").rstrip("\r")
        reason = _line_reason(raw_line, columns, bounds)
        out.append(RejectedRecord(source, line_no, raw_line[:2000], reason))
    return out


def _line_reason(line: str, columns: list[str], bounds: TimeBounds = PLAUSIBLE) -> str:
    if not line.strip():
        return "empty line"
    parts = line.split(" ")
    if len(parts) != len(columns):
        return f"wrong field count: expected {len(columns)}, got {len(parts)}"
    return check_record(dict(zip(columns, parts, strict=True)), bounds) or "failed validation"


def _normalise(df: pl.DataFrame) -> pl.DataFrame:
    """Add absent fields as nulls, turn epoch seconds into UTC datetimes, order as FLOW_SCHEMA_FULL.

    Fields we do not know become one JSON object in ``extra_fields`` (pass-through text).
    """
    unknown = [c for c in df.columns if not c.startswith("__") and not is_known(c)]
    exprs: list[pl.Expr] = []
    for name, dtype in FLOW_SCHEMA_FULL.items():
        if name == "extra_fields" and unknown:
            cols = [pl.col(c).cast(pl.String) for c in unknown]
            exprs.append(pl.struct(cols).struct.json_encode().alias(name))
        elif name in df.columns:
            if name in {"start", "end"}:
                exprs.append(pl.from_epoch(pl.col(name), time_unit="s").cast(dtype).alias(name))
            else:
                exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(exprs)


def parse_parquet(data: bytes, source: str, *, bounds: TimeBounds = PLAUSIBLE) -> FlowChunk:
    """Parse one Parquet flow-log object (AWS writes columns named like ``log_status``).

    A file no reader can take, a nested column or a field named twice is quarantined whole;
    anything a reader raises on too.
    """
    try:
        return _parse_parquet(data, source, bounds)
    except Exception as exc:  # one unreadable object must not stop a collect
        reason = f"unreadable Parquet: {type(exc).__name__}: {exc}"
        return FlowChunk(source, _empty(), [RejectedRecord(source, None, "", reason[:500])])


def _parse_parquet(data: bytes, source: str, bounds: TimeBounds) -> FlowChunk:
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except Exception:  # Polars is strict about some writers' files: let pyarrow try
        try:
            table = pq.read_table(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for damaged files
            reason = f"unreadable Parquet: {type(exc).__name__}: {exc}"
            return FlowChunk(source, _empty(), [RejectedRecord(source, None, "", reason[:500])])
        converted = pl.from_arrow(table)
        assert isinstance(converted, pl.DataFrame)
        df = converted
    rows = df.with_row_index("__line", offset=1)
    nested = [c for c, t in df.schema.items() if t.is_nested() or t == pl.Object]
    if nested:
        reason = f"unreadable Parquet: column {nested[0]!r} is {df.schema[nested[0]]}, not a value"
        return FlowChunk(source, _empty(), _explain_rows(rows, source, reason))
    try:
        names = [field_from_aws(c) for c in df.columns]
        unique_fields(names, df.columns)
    except (UnknownFieldError, HeaderError) as exc:
        return FlowChunk(source, _empty(), _explain_rows(rows, source, f"bad header: {exc}"))
    if names and not any(is_known(n) for n in names):
        reason = "bad header: no column is a flow-log field"
        return FlowChunk(source, _empty(), _explain_rows(rows, source, reason))
    renamed = dict(zip(df.columns, names, strict=True))
    df = df.rename(renamed)
    ranges = int_ranges(bounds)
    bad = pl.lit(False)
    typed: list[pl.Expr] = []
    for name in renamed.values():
        col = pl.col(name)
        if name in INT_FIELDS:
            if df.schema[name].is_float():  # a fraction or an infinity is not a count
                bad = bad | (col.is_not_null() & ~(col.is_finite() & (col == col.floor())))
            cast = col.cast(pl.Int64, strict=False)
            low, high = ranges[name]
            in_range = cast.is_between(low, high).fill_null(True)
            bad = bad | (cast.is_null() & col.is_not_null()) | ~in_range
            typed.append(cast.cast(polars_dtype(name)).alias(name))
        else:
            value = col.cast(pl.String).replace("-", None)
            bad = bad | _string_check(name, value)
            typed.append(value.alias(name))
    if "start" in df.columns and "end" in df.columns:
        ends_first = pl.col("start").cast(pl.Int64, strict=False) > pl.col("end").cast(
            pl.Int64, strict=False
        )
        bad = bad | ends_first.fill_null(False)
    unknown = tuple(n for n in renamed.values() if not is_known(n))
    flagged = df.with_columns(bad.fill_null(True).alias("__bad"))
    if not flagged.get_column("__bad").any():
        return _with_unknown(FlowChunk(source, _normalise(flagged.select(*typed)), []), unknown)
    flagged = flagged.with_row_index("__line", offset=1)
    good = flagged.filter(~pl.col("__bad")).select(*typed)
    failed = flagged.filter(pl.col("__bad")).drop("__bad")
    rejected = _explain_rows(failed, source, None, bounds) if failed.height else []
    return _with_unknown(FlowChunk(source, _normalise(good), rejected), unknown)


def _explain_rows(
    df: pl.DataFrame, source: str, reason: str | None, bounds: TimeBounds = PLAUSIBLE
) -> list[RejectedRecord]:
    out: list[RejectedRecord] = []
    for row in df.iter_rows(named=True):
        line = row.pop("__line")
        values = {k: ("-" if v is None else str(v)) for k, v in row.items()}
        why = reason or check_record(values, bounds) or "failed validation"
        out.append(RejectedRecord(source, line, json.dumps(row, default=str)[:2000], why))
    return out
