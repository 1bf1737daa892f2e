"""Run the Alembic migrations from code: ``upgrade(database)`` brings a database to the
newest schema (creating it when empty); it is safe to call at every start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from dispatch_engine.store.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database: str | Path | URL | Engine, *, revision: str = "head") -> None:
    """Migrate a database to ``revision`` (default: the newest).

    Parameters
    ----------
    database
        A SQLite file path, a ``postgresql://`` DSN, a URL, or an engine to reuse.
    revision
        Alembic revision id, ``"head"`` by default.
    """
    engine = database if isinstance(database, Engine) else make_engine(database)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not database:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None when never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
