"""Alembic environment: migrations run on the connection ``store.migrate.upgrade`` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dispatch_engine.errors import DataError
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # The alembic command line: sqlalchemy.url from its config file.
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise DataError("set sqlalchemy.url, or migrate with dispatch_engine.store.migrate.upgrade")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
