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
store, and no store's change is kept without the others'. Both it and
:func:`deferring_transaction` hold a transaction's writes whose results nobody needs back
(:class:`DeferredWrites`) and send them in one pipelined round trip just before the commit.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

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


# A deferred statement with its parameters, built when it is sent.
Statement = tuple["Prepared", Mapping[str, Any]]


@dataclass
class _Write:
    statement: Callable[[], Statement]
    # Told the statement's row count after the batch ran (before the commit); may raise.
    check: Callable[[int], None] | None


class DeferredWrites:
    """Writes of one PostgreSQL transaction whose results nobody needs before its commit,
    sent together in one psycopg pipeline (one round trip) just before it.

    Why: on the 2-core target each round trip avoided saves about 0.04 ms of PostgreSQL
    backend CPU and 0.02 ms of client CPU (and a pair of context switches); a report files
    an audit entry, a waiver decision, a notice and an idempotency key's result this way.

    Statements are sent in the order they were queued; rows queued under one key (the
    audit log's) go as one statement, at the place of the first. Whoever reads a table
    written here inside the transaction must :meth:`flush` first. A failing statement
    raises a SQLAlchemy ``DBAPIError`` subclass (as :meth:`Prepared.run` does) inside the
    transaction, which then rolls back.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._writes: list[_Write] = []
        self._batches: dict[object, list[Any]] = {}

    def add(
        self,
        statement: Prepared,
        parameters: Mapping[str, Any],
        *,
        check: Callable[[int], None] | None = None,
    ) -> None:
        """Queue ``statement``; ``check`` gets its row count when the batch has run."""
        self._writes.append(_Write(lambda: (statement, parameters), check))

    def add_rows(
        self, key: object, rows: Sequence[Any], build: Callable[[list[Any]], Statement]
    ) -> None:
        """Queue ``rows`` to be written with the others of ``key`` by one statement, which
        ``build`` (the first one given for ``key``) makes from all of them, in order."""
        if not rows:
            return
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = []
            self._writes.append(_Write(partial(build, batch), None))
        batch.extend(rows)

    def flush(self) -> None:
        """Send the queued statements now, then run their checks."""
        writes = self._writes
        if not writes:
            return
        self._writes, self._batches = [], {}
        counts = Prepared.run_together(
            self.connection,
            [write.statement() for write in writes],
            [write.check is not None for write in writes],
        )
        for write, count in zip(writes, counts, strict=True):
            if write.check is not None:
                write.check(count)


@contextmanager
def deferring_transaction(engine: Engine) -> Iterator[tuple[Connection, DeferredWrites | None]]:
    """``engine.begin()`` with the :class:`DeferredWrites` of the transaction, written just
    before its commit (PostgreSQL; None on SQLite, where writes are made at once: it has
    no pipeline, and its round trips are function calls)."""
    with engine.begin() as connection:
        if engine.dialect.name != "postgresql":
            yield connection, None
            return
        writes = DeferredWrites(connection)
        yield connection, writes
        writes.flush()


@dataclass
class SharedTransaction:
    """The transaction of a :func:`shared_transaction` block, which the stores join.

    A store that joins neither commits nor rolls back: it queues what must wait for the
    outcome (``after_commit``: observers; ``after_rollback``: forgetting cached state),
    and may defer writes to ``writes``, sent just before the commit.
    """

    engine: Engine
    connection: Connection
    writes: DeferredWrites
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_rollback: list[Callable[[], None]] = field(default_factory=list)


_SHARED: ContextVar[SharedTransaction | None] = ContextVar("shared_transaction", default=None)


def shares_transactions(engine: Engine) -> bool:
    """Whether :func:`shared_transaction` makes one transaction on ``engine`` (see there)."""
    return engine.dialect.name == "postgresql"


@contextmanager
def shared_transaction(engine: Engine) -> Iterator[None]:
    """Run this thread's store calls on ``engine`` inside the block in one transaction,
    committed when the block ends (rows the stores deferred written just before) and
    rolled back when it raises.

    PostgreSQL only: on SQLite a transaction holds the file's one write lock, and work
    between the calls (a dispatch decision) would run under it while every other writer
    waits; there the block runs as it is and each store commits on its own. A nested
    block joins the outer one.
    """
    if not shares_transactions(engine) or _SHARED.get() is not None:
        yield
        return
    with engine.connect() as connection:
        shared = SharedTransaction(engine, connection, DeferredWrites(connection))
        token = _SHARED.set(shared)
        try:
            with connection.begin():
                yield
                shared.writes.flush()
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


def deferred_writes(engine: Engine, connection: Connection) -> DeferredWrites | None:
    """The writes deferred in the shared transaction on ``connection``, if it is one."""
    shared = joined_transaction(engine)
    return shared.writes if shared is not None and shared.connection is connection else None


@dataclass(frozen=True)
class Outcome:
    """What a :class:`Prepared` statement returned: its rows (named tuples: ``row.column``,
    ``row._asdict()``) and how many rows it changed."""

    rows: list[Any]
    rowcount: int

    def first(self) -> Any | None:
        return self.rows[0] if self.rows else None


class Prepared:
    """A per-report statement, compiled once for the engine's dialect.

    On PostgreSQL it runs on the psycopg cursor of the SQLAlchemy connection (so inside
    that connection's transaction), with the parameters and results passed through the
    type processors SQLAlchemy itself would apply (UTC times, yuan as fen, JSON): values
    are stored and read back exactly as ``Connection.execute`` would. Why: on the 2-core
    target, ``Connection.execute`` (statement cache lookup, execution context, result
    object) took about 0.08 ms of CPU per statement against 0.03 ms for psycopg with the
    round trip, and a report runs a dozen statements. On SQLite (not the target) it is
    ``Connection.execute``, which also expands ``IN`` lists.

    Parameters
    ----------
    statement
        A Core statement whose bound parameters are all named (``bindparam("name")``) and,
        on PostgreSQL, not expanding (pass a list as one array parameter instead).
    dialect
        The engine's dialect (its JSON serializer is the one used).
    """

    def __init__(self, statement: Select[Any] | UpdateBase, dialect: Dialect) -> None:
        self._statement = statement
        columns = statement.exported_columns
        self._row: Any = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        self._raw = dialect.name == "postgresql"
        if not self._raw:
            return
        compiled = statement.compile(dialect=dialect)
        # PostgreSQL's own $n placeholders: psycopg's raw cursor sends the text as it is,
        # where its default cursor converts %(name)s placeholders at every execution.
        self._sql, names = _numbered_placeholders(compiled.string)
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self._binds = [(name, processors[name]) for name in names]
        self._defaults = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }
        self._dialect = dialect
        self._driver_error: type[Exception] = dialect.loaded_dbapi.Error
        self._columns = list(columns)
        # Result processors depend on the type the database reports for each column: made
        # from the first result's description (the same every time for one statement).
        self._processors: list[Callable[[Any], Any] | None] | None = None

    def run(self, connection: Connection, parameters: Mapping[str, Any]) -> Outcome:
        """Execute with ``parameters`` (by bind name) in ``connection``'s transaction."""
        if not self._raw:
            result = connection.execute(self._statement, dict(parameters))
            rows = list(map(self._row._make, result)) if result.returns_rows else []
            return Outcome(rows, result.rowcount)
        cursor = _raw_cursor(connection)
        try:
            cursor.execute(self._sql, self._bound(parameters))
            answer = cursor.pgresult
            if answer is None or answer.nfields == 0:  # cheaper than building a description
                return Outcome([], cursor.rowcount)
            rows = cursor.fetchall()
        except self._driver_error as exc:
            raise self._as_sqlalchemy_error(exc, parameters) from exc
        processors = self._processors
        if processors is None:
            processors = self._result_processors(cursor.description or ())
        if not any(processors):
            return Outcome(list(map(self._row._make, rows)), cursor.rowcount)
        return Outcome([self._make(row, processors) for row in rows], cursor.rowcount)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (one round trip on PostgreSQL); no results."""
        if not self._raw:
            connection.execute(self._statement, [dict(row) for row in rows])
            return
        try:
            _raw_cursor(connection).executemany(self._sql, [self._bound(row) for row in rows])
        except self._driver_error as exc:
            raise self._as_sqlalchemy_error(exc, rows) from exc

    @staticmethod
    def run_together(
        connection: Connection, statements: Sequence[Statement], counted: Sequence[bool]
    ) -> list[int]:
        """Execute ``statements`` in order, their results unread; the row counts of those
        ``counted`` says (-1 for the others).

        On PostgreSQL, two or more go in one psycopg pipeline, synchronised once: one round
        trip. They share the connection's kept cursor, which holds only the last result,
        so a counted statement gets a cursor of its own.
        """
        if len(statements) < 2 or not statements[0][0]._raw:
            return [statement.run(connection, values).rowcount for statement, values in statements]
        from psycopg import RawCursor

        driver = connection.connection.driver_connection
        kept = _raw_cursor(connection)
        cursors = [RawCursor(driver) if count else kept for count in counted]  # type: ignore[arg-type]
        first = statements[0][0]
        try:
            with driver.pipeline():  # type: ignore[union-attr]
                for cursor, (statement, values) in zip(cursors, statements, strict=True):
                    cursor.execute(statement._sql, statement._bound(values))
        except first._driver_error as exc:
            raise _as_sqlalchemy_error(
                exc,
                ";\n".join(statement._sql for statement, _ in statements),
                [values for _, values in statements],
                first._dialect,
            ) from exc
        return [
            cursor.rowcount if count else -1 for cursor, count in zip(cursors, counted, strict=True)
        ]

    def _as_sqlalchemy_error(self, exc: Exception, parameters: Any) -> StatementError:
        return _as_sqlalchemy_error(exc, self._sql, parameters, self._dialect)

    def _bound(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = {**self._defaults, **parameters}
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._binds
        ]

    def _result_processors(self, description: Sequence[Any]) -> list[Callable[[Any], Any] | None]:
        self._processors = [
            column.type.dialect_impl(self._dialect).result_processor(self._dialect, found.type_code)
            for column, found in zip(self._columns, description, strict=True)
        ]
        return self._processors

    def _make(self, row: Sequence[Any], processors: list[Callable[[Any], Any] | None]) -> Any:
        return self._row(
            *[
                value if process is None else process(value)
                for process, value in zip(processors, row, strict=True)
            ]
        )


def _as_sqlalchemy_error(
    exc: Exception, sql: str, parameters: Any, dialect: Dialect
) -> StatementError:
    """The driver's error as SQLAlchemy raises it (a ``DBAPIError`` subclass with the
    driver's error as ``orig``): callers tell deadlocks, conflicts and lost connections
    apart the same way whichever way a statement ran."""
    return DBAPIError.instance(sql, parameters, exc, dialect.loaded_dbapi.Error, dialect=dialect)


_CURSOR = "dispatch_engine.raw_cursor"


def _raw_cursor(connection: Connection) -> Any:
    """The psycopg raw cursor kept for the connection's DBAPI connection.

    One cursor per connection rather than one per statement: building a cursor (and its
    adapters' map) and looking each parameter type's dumper up again cost a few percent
    of a report's CPU; a kept cursor keeps its dumpers and loaders. It lives in the pool's
    ``info`` of that DBAPI connection, which SQLAlchemy clears when the connection is
    invalidated, recycled or replaced, so a cursor never outlives its connection. A failed
    statement leaves it usable: the transaction's rollback is the connection's business,
    and the next ``execute`` starts from a clean cursor.
    """
    dbapi = connection.connection
    cursor = dbapi.info.get(_CURSOR)
    if cursor is None:
        from psycopg import RawCursor  # the PostgreSQL driver, needed on PostgreSQL only

        cursor = dbapi.info[_CURSOR] = RawCursor(dbapi.driver_connection)  # type: ignore[arg-type]
    return cursor


_NAMED = re.compile(r"%\((\w+)\)s|%%")


def _numbered_placeholders(sql: str) -> tuple[str, list[str]]:
    """``%(name)s`` placeholders (SQLAlchemy's for psycopg) as PostgreSQL's ``$1, $2 ...``
    (a name used twice keeps its number) and ``%%`` as ``%``; with the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), names
