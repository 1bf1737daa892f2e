"""Throw-away databases for tests and benchmarks: a PostgreSQL schema that is dropped
afterwards, so concurrent runs against one server never see each other's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from dispatch_engine.store.db import database_url, make_engine
from dispatch_engine.store.models import Base


@contextmanager
def postgres_schema(dsn: str, *, prefix: str = "scratch") -> Iterator[URL]:
    """Create a uniquely named schema, yield a URL whose connections use it, drop it.

    Parameters
    ----------
    dsn
        A ``postgresql://`` DSN of a database the user may create schemas in.
    prefix
        Start of the schema name (a random suffix makes it unique).
    """
    url = database_url(dsn)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            yield url.update_query_dict({"options": f"-csearch_path={schema}"})
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row of every table the models define (not Alembic's version table),
    restarting ids on PostgreSQL, so each test starts from an empty, migrated database."""
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
