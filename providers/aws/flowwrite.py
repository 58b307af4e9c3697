"""Write flow records in AWS's own delivery formats (gzip text with header, or Parquet).

The sandbox, the tests and the ingest benchmark use this to produce objects exactly as AWS
delivers them, since moto writes no flow-log records itself.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence

import polars as pl

from providers.aws.flowformat import field_to_aws
from providers.models import FLOW_FIELDS_V2, FLOW_SCHEMA

__all__ = ["FLOW_FIELDS_V5", "render_parquet", "render_text"]

#: A typical v5 custom format: every v2-v5 field.
FLOW_FIELDS_V5: tuple[str, ...] = tuple(FLOW_SCHEMA)


def _as_epoch(frame: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame:
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise ValueError(f"records lack field(s) {missing} needed by the format")
    exprs = []
    for name in fields:
        if name in {"start", "end"} and frame.schema[name] != pl.Int64:
            exprs.append(pl.col(name).dt.epoch("s").alias(name))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def render_text(
    records: pl.DataFrame,
    fields: Sequence[str] = FLOW_FIELDS_V2,
    *,
    header: bool = True,
    compress: bool = True,
    level: int = 6,
) -> bytes:
    """Records as AWS text: space-separated, ``-`` for nulls, a header line, gzip."""
    body = _as_epoch(records, fields).write_csv(
        separator=" ", include_header=False, null_value="-", quote_style="never"
    )
    head = " ".join(field_to_aws(f) for f in fields) + "\n" if header else ""
    text = (head + body).encode()
    return gzip.compress(text, compresslevel=level, mtime=0) if compress else text


def render_parquet(records: pl.DataFrame, fields: Sequence[str] = FLOW_FIELDS_V5) -> bytes:
    """Records as AWS Parquet: underscore column names, epoch-second ``start``/``end``."""
    buf = io.BytesIO()
    _as_epoch(records, fields).write_parquet(buf, compression="snappy")
    return buf.getvalue()
