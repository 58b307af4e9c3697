"""Finding 3: ``headroom demo --out`` never deletes a user's files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.demo import DEMO_MARKER, prepare_out

runner = CliRunner()


def test_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "not made by `headroom demo`" in result.output
    assert mine.read_text() == "keep me"
    assert not (tmp_path / DEMO_MARKER).exists()


def test_refuses_the_working_tree(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--out", "."])
    assert result.exit_code == 2, result.output
    assert (tmp_path / "pyproject.toml").exists()


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = runner.invoke(app, ["demo", "--out", str(target)])
    assert result.exit_code == 2, result.output
    assert target.read_text() == "x"


def test_reuses_its_own_folder_deleting_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    prepare_out(out)
    assert (out / DEMO_MARKER).is_file()
    (out / "headroom.db").write_text("old")
    (out / "report.html").write_text("old")
    (out / "desired-state.json").write_text("{}")
    (out / "history" / "flows").mkdir(parents=True)
    (out / "pulumi-state").mkdir()
    (out / "my-notes.md").write_text("keep me")
    prepare_out(out)
    assert sorted(p.name for p in out.iterdir()) == [DEMO_MARKER, "my-notes.md"]
    assert (out / "my-notes.md").read_text() == "keep me"


def test_empty_folder_and_old_demo_folder_are_taken(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_out(empty)
    assert (empty / DEMO_MARKER).is_file()
    old = tmp_path / "old-demo"  # what the demo wrote before it had a marker
    (old / "history").mkdir(parents=True)
    (old / "state.db").write_text("x")
    (old / "report.html").write_text("x")
    prepare_out(old)
    assert sorted(p.name for p in old.iterdir()) == [DEMO_MARKER]
