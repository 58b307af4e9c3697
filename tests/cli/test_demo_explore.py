"""The demo ends with one command per step of exploring its state (issue 12, done means)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from reconciler.demo import _explore
from reconciler.state.engine import DEMO_STATE_DIR


def test_the_demo_prints_every_step_to_explore_its_state() -> None:
    con = Console(record=True, width=200)
    _explore(DEMO_STATE_DIR, DEMO_STATE_DIR / "report.html", con)
    text = con.export_text()
    for line in (
        "headroom commands list --demo",
        "headroom token create --scope read --demo",
        "headroom token create --scope write --demo",
        "headroom serve --demo",
        "http://127.0.0.1:8080/docs",
        "docs/grafana/headroom.json",
        "docs/prometheus/alerts.yml",
        f"headroom plan --desired {DEMO_STATE_DIR / 'desired-state.json'}",
        f"--inventory {DEMO_STATE_DIR / 'inventory.json'}",
        "report: ",
    ):
        assert line in text, (line, text)
    for name in ("docs/grafana/headroom.json", "docs/prometheus/alerts.yml"):
        assert (Path(__file__).resolve().parents[2] / name).is_file()
