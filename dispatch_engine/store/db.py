"""Database engines: a SQLite file by default, PostgreSQL by DSN.

SQLite is set up for several threads writing one file: WAL journal (readers never wait
for the writer), foreign keys on, a busy timeout, and every transaction opened with
``BEGIN IMMEDIATE`` so that it takes the write lock up front — a deferred transaction
that reads and then writes can fail at once with "database is locked" when another
writer got in between, instead of waiting its turn.

PostgreSQL connections are not pinged on every checkout (a round trip per transaction);
they are recycled after :data:`PG_POOL_RECYCLE_S` instead, which retires connections
before idle timeouts of servers and proxies cut them. ``pre_ping=True`` restores the ping
for a database behind something that drops connections sooner.

:func:`shared_transaction` lets the stores on one PostgreSQL engine (claims, dispatch) run
the calls of a block in one transaction on one connection: one commit instead of one per
store, and no store's change is kept without the others'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dispatch_engine.errors import InvalidInputError

SQLITE_BUSY_TIMEOUT_S = 30.0
PG_POOL_RECYCLE_S = 1800.0


def database_url(target: str | Path) -> URL:
    """The SQLAlchemy URL of a database given as a file path or a URL/DSN.

    ``postgresql://`` and ``postgres://`` DSNs get the psycopg 3 driver; a path (or
    anything without ``://``) is a SQLite file, created with its folder on first use.

    Raises
    ------
    InvalidInputError
        ``field="database"`` for a URL SQLAlchemy cannot parse or a backend other than
        SQLite and PostgreSQL.
    """
    text = str(target)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite+pysqlite", database=str(path))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise InvalidInputError(f"not a database URL: {exc}", field="database") from exc
    backend = url.get_backend_name()
    if backend == "postgres":
        url = url.set(drivername="postgresql")
        backend = "postgresql"
    if backend == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"unsupported database {backend!r}: use a SQLite file path or a postgresql:// DSN",
            field="database",
        )
    return url


def make_engine(
    target: str | Path | URL, *, pre_ping: bool = False, **engine_options: Any
) -> Engine:
    """An engine for :func:`database_url` (or a ready URL), configured for concurrent use.

    Parameters
    ----------
    target
        A SQLite file path, a DSN or a URL.
    pre_ping
        Test each pooled connection with a round trip before use (off: the pool recycles
        PostgreSQL connections after :data:`PG_POOL_RECYCLE_S` instead).
    engine_options
        Passed to ``sqlalchemy.create_engine`` (pool size, ...).
    """
    url = target if isinstance(target, URL) else database_url(target)
    if url.get_backend_name() != "sqlite":
        engine_options.setdefault("pool_recycle", PG_POOL_RECYCLE_S)
        return create_engine(url, pool_pre_ping=pre_ping, **engine_options)
    engine = create_engine(
        url,
        pool_pre_ping=pre_ping,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **engine_options,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass
class SharedTransaction:
    """The transaction of a :func:`shared_transaction` block, which the stores join.

    A store that joins neither commits nor rolls back: it queues what must wait for the
    outcome (``after_commit``: observers; ``after_rollback``: forgetting cached state).
    """

    engine: Engine
    connection: Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_rollback: list[Callable[[], None]] = field(default_factory=list)


_SHARED: ContextVar[SharedTransaction | None] = ContextVar("shared_transaction", default=None)


@contextmanager
def shared_transaction(engine: Engine) -> Iterator[None]:
    """Run this thread's store calls on ``engine`` inside the block in one transaction,
    committed when the block ends and rolled back when it raises.

    PostgreSQL only: on SQLite a transaction holds the file's one write lock, and work
    between the calls (a dispatch decision) would run under it while every other writer
    waits; there the block runs as it is and each store commits on its own. A nested
    block joins the outer one.
    """
    if engine.dialect.name != "postgresql" or _SHARED.get() is not None:
        yield
        return
    with engine.connect() as connection:
        shared = SharedTransaction(engine, connection)
        token = _SHARED.set(shared)
        try:
            with connection.begin():
                yield
        except BaseException:
            for forget in shared.after_rollback:
                forget()
            raise
        finally:
            _SHARED.reset(token)
    for announce in shared.after_commit:
        announce()


def joined_transaction(engine: Engine) -> SharedTransaction | None:
    """The :func:`shared_transaction` this thread is in on ``engine``, if any."""
    shared = _SHARED.get()
    return shared if shared is not None and shared.engine is engine else None
