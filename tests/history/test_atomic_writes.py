"""Finding 11 of issue 13, the writing half: history files appear whole under their final name
or not at all, on a local disk and on fsspec stores (an interrupted write leaves nothing)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fsspec
import polars as pl
import pytest

from providers.aws.flowlogs import parse_text
from providers.models import FlowChunk, MetricName, MetricSeries
from reconciler.history import HistoryStore, ingest
from reconciler.history.atomic import strategy, write_atomic
from tests.history.hourly import HEADER, T0, WINDOW


def _chunk(source: str, hours: int = 1) -> FlowChunk:
    ts = int(T0.timestamp())
    lines = [
        f"2 1 eni-a 10.0.0.1 10.0.0.2 1 443 6 1 {100 + h} {ts + 3600 * h} {ts + 3600 * h + 60} "
        "ACCEPT OK"
        for h in range(hours)
    ]
    return parse_text("\n".join([HEADER, *lines]).encode(), source)


def _half_then_fail(real: Any) -> Any:
    """A ``write_parquet`` that writes half the real bytes to its target and then fails."""

    def write(frame: pl.DataFrame, target: Any, **kw: Any) -> None:
        buf = io.BytesIO()
        real(frame, buf, **kw)
        half = buf.getvalue()[: len(buf.getvalue()) // 2]
        if isinstance(target, str | Path):
            Path(target).write_bytes(half)
        else:
            target.write(half)
        raise OSError("No space left on device")

    return write


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_interrupted_parquet_write_leaves_no_file_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _half_then_fail(pl.DataFrame.write_parquet))
    with pytest.raises(OSError, match="No space left"):
        ingest([_chunk("s3://b/k")], store)
    assert _files(tmp_path / "h") == []  # neither a partial file nor a temporary one
    monkeypatch.undo()
    assert store.scan_flows().collect().height == 0 and not store.is_ingested("s3://b/k")
    report = ingest([_chunk("s3://b/k")], store)  # the next cycle writes it whole
    assert report.accepted == 1 and store.scan_flows().collect().height == 1


def test_interrupted_overwrite_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    series = MetricSeries(
        resource_id="i-a", metric=MetricName.NETWORK_IN, timestamps=[T0], values=[1.0]
    )
    store.write_metrics([series])
    before = {p: (tmp_path / "h" / p).read_bytes() for p in _files(tmp_path / "h")}
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _half_then_fail(pl.DataFrame.write_parquet))
    with pytest.raises(OSError):
        store.write_metrics([series])
    monkeypatch.undo()
    assert {p: (tmp_path / "h" / p).read_bytes() for p in _files(tmp_path / "h")} == before
    assert store.metric_points(WINDOW).height == 1


def test_a_failure_between_hour_files_stores_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source spanning three hours fails on its second hour: the hour already written is
    taken back, the whole object is quarantined, and stored + quarantined = read."""
    store = HistoryStore(str(tmp_path / "h"))
    real = pl.DataFrame.write_parquet
    calls = {"n": 0}

    def flaky(frame: pl.DataFrame, target: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # hour 1's flows and pairs are written; hour 2 fails
            raise pl.exceptions.ComputeError("cannot write this column")
        real(frame, target, **kw)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    report = ingest([_chunk("s3://b/k", hours=3)], store)
    monkeypatch.undo()
    stored, quarantined = store.scan_flows().collect().height, store.quarantine().height
    assert report.read == 3 and stored + quarantined == 3 and stored == 0
    assert not list((tmp_path / "h").rglob("*.parquet"))


def test_no_upload_streams_to_a_final_key_on_an_fsspec_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fsspec's buffered files commit what they hold when closed, even on an exception; the
    store never streams to a final key (a streamed upload cut here would have left half a
    file under its final name)."""
    fs = fsspec.filesystem("memory")
    store = HistoryStore("/atomic-cut", fs=fs)
    real_open = fs.open

    class Cut:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> Cut:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # what AbstractBufferedFile.__exit__ does: commit the buffer

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            raise ConnectionResetError("connection reset by peer")

    def cut_open(path: str, mode: str = "rb", **kw: Any) -> Any:
        fh = real_open(path, mode, **kw)
        return Cut(fh) if "w" in mode else fh

    monkeypatch.setattr(fs, "open", cut_open)
    report = ingest([_chunk("k")], store)  # every file goes up in one whole-object put
    monkeypatch.undo()
    assert report.accepted == 1 and store.scan_flows().collect().height == 1
    fs.rm("/atomic-cut", recursive=True)


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("file", "rename"), ("s3", "put"), ("gcs", "put"), ("memory", "put"), ("sftp", "move")],
)
def test_each_filesystem_gets_the_strategy_its_guarantees_allow(
    protocol: str, expected: str
) -> None:
    class Fs:
        pass

    fake = Fs()
    fake.protocol = protocol  # type: ignore[attr-defined]
    if protocol == "file":
        fake = fsspec.filesystem("file")
    assert strategy(fake) == expected  # type: ignore[arg-type]


def test_move_strategy_writes_a_temporary_name_then_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fsspec.filesystem("memory")
    seen: list[tuple[str, str]] = []
    real_mv = fs.mv

    def mv(src: str, dst: str, **kw: Any) -> None:
        seen.append((src, dst))
        assert fs.cat(src) == b"payload" and not fs.exists(dst)
        real_mv(src, dst, **kw)

    monkeypatch.setattr(fs, "mv", mv)
    write_atomic(fs, "/atomic-mv/a/b.json", b"payload", how="move")
    [(src, dst)] = seen
    assert dst == "/atomic-mv/a/b.json" and src.startswith("/atomic-mv/a/.b.json.")
    assert fs.find("/atomic-mv") == ["/atomic-mv/a/b.json"]
    fs.rm("/atomic-mv", recursive=True)
