"""The seeded API state on each backend: SQLite always, PostgreSQL when
``HEADROOM_TEST_POSTGRES_URL`` is set (``tests.state.helpers``). A module imports
``any_store_fixture`` to get an ``any_store`` fixture parametrized over both."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.state import StateStore
from tests.api.conftest import seed
from tests.state.helpers import BACKENDS, database_url

__all__ = ["any_store_fixture"]


@pytest.fixture(params=BACKENDS, name="any_store")
def any_store_fixture(
    request: pytest.FixtureRequest, seeded_template: Path, tmp_path: Path
) -> Iterator[StateStore]:
    if request.param == "sqlite":
        copy = tmp_path / "api.db"
        shutil.copyfile(seeded_template, copy)
        store = StateStore.open(f"sqlite:///{copy}", migrate=False)
        yield store
        store.close()
        return
    with database_url(request.param, tmp_path) as url:
        store = StateStore.open(url)
        seed(store)
        yield store
        store.close()
