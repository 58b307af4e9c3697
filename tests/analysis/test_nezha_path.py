"""The bench converter on a tiny generated Nezha folder, through the real parser and store."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.nezha import attach_interfaces, load_nezha_app, write_flow_logs
from providers.aws.flowlogs import parse_text
from providers.models import TimeWindow
from reconciler.analysis import AnalysisConfig, analyze
from reconciler.history import HistoryStore
from reconciler.history.ingest import ingest

T = 1661140380  # 2022-08-22 03:53:00 UTC
PODS = ["frontend-1", "cart-1", "catalog-1"]


def _fake_app(root: Path) -> Path:
    app = root / "nezha" / "shop"
    (app / "trace").mkdir(parents=True)
    (app / "metric").mkdir()
    rows = [
        "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"
    ]
    for i in range(20):
        ns = (T + i * 6) * 10**9
        rows.append(f"t{i},r{i},root,frontend-1,op,{ns},{ns + 5},5")
        rows.append(f"t{i},c{i},r{i},cart-1,op,{ns + 1},{ns + 4},3")
        rows.append(f"t{i},k{i},r{i},catalog-1,op,{ns + 1},{ns + 4},3")
        rows.append(f"t{i},s{i},c{i},cart-1,op,{ns + 2},{ns + 3},1")  # same pod: not a flow
    rows.append("tx,bad1,root,frontend-1,op,not-a-number,1,1")
    rows.append(f"ty,bad2,root,frontend-1,op,{(T + 10 * 86400) * 10**9},1,1")
    (app / "trace" / "03_53_trace.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode()))
    for pod in PODS:
        lines = ["Time,TimeStamp,PodName,NetworkTransmitBytes"]
        for m in range(3):
            ts = datetime.fromtimestamp(T + 60 * m, UTC)
            lines.append(
                f"{ts:%Y-%m-%d %H:%M:%S}.1 +0000 UTC m=+1,{T + 60 * m + 2 * 10**8},{pod},1000"
            )
        (app / "metric" / f"{pod}_metric.csv").write_text("\n".join(lines) + "\n")
    return app


def test_nezha_to_flow_logs_to_store_to_groups(tmp_path: Path) -> None:
    app = load_nezha_app(_fake_app(tmp_path))
    assert app.calls == 40
    assert app.bad["span: non-numeric start time"] == 1
    assert app.bad["span: start time more than a day from the trace's median"] == 1
    assert app.bad["metric: TimeStamp disagrees with Time by > 1 day (Time used)"] == 9
    # frontend sends 1000 B/s for a minute, split between its two callees by call count
    first = app.edges.filter(app.edges["src"].str.contains("frontend"))
    assert first["bytes"].sum() <= 1000 * 60 * 3

    inventory = attach_interfaces(app.inventory)
    files = write_flow_logs(app.edges, inventory, tmp_path / "logs", prefix="shop")
    store = HistoryStore(str(tmp_path / "store"))
    start = datetime.fromtimestamp(T, UTC)
    store.write_inventory(inventory, start - timedelta(hours=1))
    report = ingest((parse_text(p.read_bytes(), str(p)) for p in files), store)
    assert report.rejected == 0 and report.accepted == app.edges.height
    edges = store.edges(TimeWindow(start=start, end=start + timedelta(minutes=10)))
    assert edges["bytes"].sum() == app.edges["bytes"].sum()
    result = analyze(edges, inventory, now=start + timedelta(minutes=10), config=AnalysisConfig())
    assert [sorted(c.members) for c in result.communities] == [sorted(app.pods)]
