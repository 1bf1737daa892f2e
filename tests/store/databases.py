"""Database fixtures shared by the store and claims-service tests: each test gets an empty,
migrated database, on SQLite always and on PostgreSQL when DISPATCH_TEST_PG_URL is set."""

from __future__ import annotations

import os
import shutil

import pytest

from dispatch_engine.store.claims_sql import SqlClaimsStore
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.migrate import upgrade
from dispatch_engine.store.scratch import empty_tables, postgres_schema

PG_ENV = "DISPATCH_TEST_PG_URL"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade(path)
    return path


@pytest.fixture(scope="session")
def postgres_engine():
    """A migrated schema of its own in the test PostgreSQL database, dropped at the end."""
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with postgres_schema(dsn, prefix="test_claims") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, sqlite_template):
    """An empty, migrated database: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "claims.sqlite3"
        shutil.copyfile(sqlite_template, path)
        sqlite_engine = make_engine(path)
        yield sqlite_engine
        sqlite_engine.dispose()
    else:
        pg_engine = request.getfixturevalue("postgres_engine")
        empty_tables(pg_engine)
        yield pg_engine


@pytest.fixture
def store(engine):
    """The SQL claims store on the test database."""
    return SqlClaimsStore(engine)
