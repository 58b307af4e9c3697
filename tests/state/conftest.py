from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.state import StateStore, upgrade_to_head
from tests.state.helpers import BACKENDS, database_url

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests copy it instead of migrating."""
    path = tmp_path_factory.mktemp("template") / "state.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (the migration tests start from nothing)."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str, sqlite_template: Path, tmp_path: Path) -> Iterator[StateStore]:
    if db_url.startswith("sqlite"):
        copy = tmp_path / "migrated.db"
        shutil.copyfile(sqlite_template, copy)
        s = StateStore.open(f"sqlite:///{copy}", migrate=False)
    else:
        s = StateStore.open(db_url)
    yield s
    s.close()
