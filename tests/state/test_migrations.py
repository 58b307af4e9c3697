from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from reconciler.state import (
    current_revision,
    head_revision,
    make_engine,
    normalise_url,
    resolve_database_url,
    upgrade_to_head,
)
from reconciler.state.migrate import alembic_config
from reconciler.state.models import Base


def test_upgrade_from_empty_to_head_creates_every_table(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    assert upgrade_to_head(engine) == head_revision()
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    # upgrading again is a no-op
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_models_match_the_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    config = alembic_config(engine)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_upgrade_by_url_string(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_resolve_database_url_prefers_argument_then_env_then_sqlite(tmp_path: Path) -> None:
    env = {"HEADROOM_DATABASE_URL": "postgresql://u:p@db:5432/headroom"}
    assert resolve_database_url("sqlite:///x.db", environ=env) == "sqlite:///x.db"
    assert resolve_database_url(environ=env) == "postgresql+psycopg://u:p@db:5432/headroom"
    state = tmp_path / "state"
    url = resolve_database_url(state_dir=state, environ={})
    assert url == f"sqlite:///{(state / 'headroom.db').resolve()}"
    assert state.is_dir()
    env_dir = tmp_path / "from-env"
    assert str(env_dir) in resolve_database_url(environ={"HEADROOM_STATE_DIR": str(env_dir)})


def test_normalise_url_rejects_unsupported_and_malformed() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        normalise_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="not a database URL"):
        normalise_url("::::")
    assert normalise_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
