"""Read Network Watcher's ``PT1H.json`` block blobs incrementally, block by block.

Network Watcher keeps one block blob per flow log, NIC and hour and appends a block to it about
every minute: the first block opens ``{"records":[``, each later one adds a record (led by a
comma) and the last closes ``]}``. Each read lists the *committed* blocks (``Get Block List``),
downloads only the byte range of blocks not read before, and decodes block by block, so an hour's
blob is never read whole again and a damaged block costs only its own records. What has been
read (block count, byte offset and the first block's id, which changes when a blob is
re-created) is kept in a ``BlockCursor``; with a path it survives the process. Each read is one
``FlowChunk`` whose source names the blob and the blocks it covers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from providers.azure.errors import azure_errors
from providers.azure.flowtuples import FlowState, parse_records
from providers.base import NotFoundError
from providers.models import FlowChunk, RejectedRecord, TimeWindow

__all__ = [
    "NSG_CONTAINER",
    "VNET_CONTAINER",
    "BlockCursor",
    "FlowLogContainer",
    "blob_hour",
    "decode_blocks",
]

VNET_CONTAINER = "insights-logs-flowlogflowevent"
NSG_CONTAINER = "insights-logs-networksecuritygroupflowevent"
_HOUR = re.compile(r"/y=(\d{4})/m=(\d{2})/d=(\d{2})/h=(\d{2})/", re.IGNORECASE)
_OPEN = re.compile(rb'^\s*\{\s*"records"\s*:\s*\[')
_CLOSE = re.compile(rb"\]\s*\}\s*$")
log = logging.getLogger(__name__)


def blob_hour(name: str) -> datetime | None:
    """The UTC hour a ``PT1H.json`` blob covers, from its ``y=/m=/d=/h=`` path."""
    m = _HOUR.search("/" + name)
    if not m or not name.endswith("PT1H.json"):
        return None
    y, mo, d, h = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, h, tzinfo=UTC)
    except ValueError:
        return None


def decode_blocks(
    data: bytes, sizes: list[int], first: int
) -> Iterator[tuple[int, Any, str | None]]:
    """``(block number, record or raw text, reason or None)`` for each record in the blocks.

    ``data`` holds consecutive blocks of ``sizes`` bytes, the first being block ``first``.
    """
    offset = 0
    for n, size in enumerate(sizes, start=first):
        block = data[offset : offset + size]
        offset += size
        body = _CLOSE.sub(b"", _OPEN.sub(b"", block)).strip().strip(b",").strip()
        if not body:
            continue
        try:
            text = body.decode("utf-8")
            decoder = json.JSONDecoder()
            at = 0
            while at < len(text):
                record, end = decoder.raw_decode(text, at)
                yield n, record, None
                at = end
                while at < len(text) and text[at] in ", \r\n\t":
                    at += 1
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            yield n, block.decode("utf-8", "replace")[:2000], f"block is not JSON records: {exc}"


@dataclass
class BlockCursor:
    """Blocks already read per blob: ``{blob: [blocks, bytes, first block id]}``.

    In memory, or kept in a JSON file at ``path``. It moves on only when the consumer asks for
    the next chunk (the history store has the last one), so a failed ingest re-reads it."""

    path: Path | None = None
    read: dict[str, list[Any]] = field(default_factory=dict)
    state: FlowState = field(default_factory=FlowState)

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            self.read = dict(saved.get("blobs", {}))
            self.state = FlowState(dict(saved.get("open_flows", {})))

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"blobs": self.read, "open_flows": dict(self.state.last)}),
            encoding="utf-8",
        )
        tmp.replace(self.path)


@dataclass
class FlowLogContainer:
    """One storage container Network Watcher writes flow logs to, in ``region``.

    ``credential`` overrides the session's token for this account (an account key for the
    Azurite emulator)."""

    account_url: str
    region: str
    container: str = VNET_CONTAINER
    credential: Any = None

    def chunks(
        self,
        service: Any,
        window: TimeWindow,
        cursor: BlockCursor,
        *,
        account: str,
        nic_of_mac: Mapping[str, str],
    ) -> Iterator[FlowChunk]:
        """New blocks of every hour blob overlapping ``window``, one chunk per blob read; none
        while the container does not exist (Network Watcher makes it with its first blob)."""
        client = service.get_container_client(self.container)
        try:
            with azure_errors(f"ListBlobs {self.container}", self.region):
                names = [b.name for b in client.list_blobs()]
        except NotFoundError as exc:
            if getattr(exc.__cause__, "error_code", None) != "ContainerNotFound":
                raise
            # Network Watcher creates the container with its first blob: no flows logged yet
            log.info("no flow-log container %s at %s yet", self.container, self.account_url)
            return
        for name in sorted(names):
            hour = blob_hour(name)
            if hour is None or hour + timedelta(hours=1) <= window.start or hour >= window.end:
                continue
            got = self._read(client, name, cursor, account=account, nic_of_mac=nic_of_mac)
            if got is None:
                continue
            chunk, entry, state = got
            yield chunk
            # the consumer asked for the next chunk: this one is stored, move the cursor on
            cursor.read[f"{self.container}/{name}"] = entry
            cursor.state = state
            cursor.save()

    def _read(
        self,
        client: Any,
        name: str,
        cursor: BlockCursor,
        *,
        account: str,
        nic_of_mac: Mapping[str, str],
    ) -> tuple[FlowChunk, list[Any], FlowState] | None:
        """The chunk of blocks not read yet, the cursor entry and flow state after it."""
        blob = client.get_blob_client(name)
        with azure_errors(f"GetBlockList {name}", self.region):
            committed, _ = blob.get_block_list("committed")
        if not committed:
            return None
        key = f"{self.container}/{name}"
        done, offset, first_id = cursor.read.get(key, [0, 0, None])
        if first_id != committed[0].id or done > len(committed):
            done, offset = 0, 0  # a new blob under the same name: read it from the start
        new = committed[done:]
        if not new:
            return None
        sizes = [int(b.size) for b in new]
        with azure_errors(f"DownloadBlob {name}", self.region):
            data = blob.download_blob(offset=offset, length=sum(sizes)).readall()
        source = (
            f"{self.account_url.rstrip('/')}/{key}#blocks={done}-{len(committed)}@{committed[0].id}"
        )
        records: list[tuple[int, Any]] = []
        bad: list[RejectedRecord] = []
        for n, record, reason in decode_blocks(data, sizes, done):
            if reason is None:
                records.append((n, record))
            else:
                bad.append(RejectedRecord(source, n, str(record), reason))
        state = FlowState(dict(cursor.state.last))
        chunk = parse_records(
            records, source, nic_of_mac=nic_of_mac, account=account, region=self.region, state=state
        )
        entry = [len(committed), offset + sum(sizes), committed[0].id]
        return FlowChunk(chunk.source, chunk.records, [*bad, *chunk.rejected]), entry, state
