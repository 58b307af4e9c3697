"""Every damaged model artifact in ``tests/corpus/models/cases.json``, loaded through the store.

Each case damages one file of a saved LightGBM forecaster (truncation at several offsets, bit
flips, zeros, random bytes, foreign files, a model of other features, manifest damage, a
symlink, a folder...). Loading must fall back to the seasonal naive baseline with one log line
naming the file and the reason, within a bound, and move the version aside whole (quarantine,
never delete). A case marked ``native_crash`` killed the process before (issue 13, finding
14): it is also run in a child process, whose exit code must be 0.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from structlog.testing import capture_logs

from forecasting.lgbm import LightGBMForecaster
from forecasting.manifest import write_manifest
from forecasting.store import QUARANTINE, ModelStore
from tests.corpus.bounded import within
from tests.forecasting.conftest import make_series

HERE = Path(__file__).parent / "models"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
NAME = "bandwidth"
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from datetime import UTC, datetime
import polars as pl
from forecasting.store import ModelStore
history = pl.DataFrame({"series_id": ["a"] * 3, "y": [1.0, 2.0, 3.0],
    "ts": [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (0, 5, 10)]})
out = ModelStore(sys.argv[1]).load_or_baseline("bandwidth", history)
print("OUTCOME", out.source, out.reason)
"""


def _tiny(**settings: Any) -> LightGBMForecaster:
    series = make_series(n_series=3, days=4)
    return LightGBMForecaster(n_estimators=8, max_train_rows=5000, n_jobs=1, **settings).fit(series)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model-corpus")
    ModelStore(str(root / "store")).save(NAME, _tiny())
    _tiny(n_lags=6).save(root / "other")
    return root


def _flip(data: bytes, at: float) -> bytes:
    i = int(len(data) * at)
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def _booster_edit(
    pattern: str, repl: Callable[[re.Match[str]], str]
) -> Callable[[bytes, dict[str, Any]], bytes]:
    return lambda data, case: re.sub(pattern, repl, data.decode(), count=1, flags=re.M).encode()


def _manifest_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        manifest = json.loads(data)
        edit(manifest["files"])
        return json.dumps(manifest).encode()

    return apply


def _swap(files: dict[str, Any]) -> None:
    files["booster_0.txt"], files["booster_1.txt"] = files["booster_1.txt"], files["booster_0.txt"]


BYTES: dict[str, Callable[[bytes, dict[str, Any]], bytes]] = {
    "truncate": lambda d, c: d[: int(len(d) * c["at"])],
    "cut_last_tree": lambda d, c: d[: d.index(b"end of trees") - 200] + b"\nend of trees\n",
    "bitflip": lambda d, c: _flip(d, c["at"]),
    "zero_length": lambda d, c: b"",
    "zeros": lambda d, c: bytes(len(d)),
    "random": lambda d, c: np.random.default_rng(14).bytes(len(d)),
    "text": lambda d, c: b"{ this is a note, not a model\n",
    "pickle": lambda d, c: pickle.dumps({"model": list(range(100))}),
    "giant_header": _booster_edit(r"^feature_names=", lambda m: m[0] + "f " * 4_000_000),
    "bad_child": _booster_edit(r"^(left_child=)-?\d+", lambda m: m[1] + "99999"),
    "short_leaf_values": _booster_edit(r"^(leaf_value=\S+) ", lambda m: m[1] + "\nx="),
    "format_version": lambda d, c: d.replace(b'"format_version": 1', b'"format_version": 99'),
    "swap_digests": lambda d, c: _manifest_edit(_swap)(d),
    "giant_manifest": lambda d, c: d[:-1] + b', "pad": "' + b"x" * 2_000_000 + b'"}',
    "traversal": lambda d, c: _manifest_edit(
        lambda f: f.update({"../../escape.txt": f["model.json"]})
    )(d),
    "unlist_booster": lambda d, c: _manifest_edit(lambda f: f.pop("booster_1.txt"))(d),
}


def damage(version: Path, case: dict[str, Any], template: Path) -> None:
    """Apply ``case``'s mutation to its file in ``version`` (and recompute the checksums when
    the case says ``rehash``: damage the manifest cannot see)."""
    target, kind = version / case["file"], case["mutation"]
    if kind == "delete":
        target.unlink()
    elif kind == "symlink":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif kind == "directory":
        target.unlink()
        target.mkdir()
    elif kind == "other_model":
        target.write_bytes((template / "other" / "booster_0.txt").read_bytes())
    else:
        target.write_bytes(BYTES[kind](target.read_bytes(), case))
    if case.get("rehash"):
        (version / "manifest.json").unlink()
        write_manifest(version)  # store.json is listed too: the copy checks every file


@pytest.fixture
def damaged(case: dict[str, Any], template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(template / "store", root, symlinks=True)
    damage(root / NAME / "v0001", case, template)
    return root


def _history() -> pl.DataFrame:
    return make_series(n_series=2, days=2)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_damaged_model_falls_back_to_the_baseline(case: dict[str, Any], damaged: Path) -> None:
    store = ModelStore(str(damaged))
    with within(20), capture_logs() as logs:
        outcome = store.load_or_baseline(NAME, _history())
    assert outcome.source == "baseline"
    assert case["reason"] in outcome.reason, outcome.reason
    assert case.get("names", case["file"]) in outcome.reason, outcome.reason
    assert outcome.model.predict(2).height == 4
    lines = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in lines] == ["model_fell_back_to_baseline"]
    assert case.get("names", case["file"]) in lines[0]["reason"]
    # kept aside whole, with its reason, never deleted; the next load does not trip on it
    assert store.versions(NAME) == []
    (kept,) = (damaged / NAME / QUARANTINE).iterdir()
    assert os.path.lexists(kept / case["file"]) or case["mutation"] == "delete"
    assert case["reason"] in (kept / "reason.txt").read_text()
    assert "no saved versions" in store.load_or_baseline(NAME, _history()).reason


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.get("native_crash")],
    ids=[c["id"] for c in CASES if c.get("native_crash")],
)
def test_damage_that_crashed_the_process_now_exits_cleanly(
    case: dict[str, Any], damaged: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(damaged)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    (outcome,) = [line for line in done.stdout.splitlines() if line.startswith("OUTCOME ")]
    assert outcome.startswith("OUTCOME baseline ") and case["reason"] in outcome, outcome
