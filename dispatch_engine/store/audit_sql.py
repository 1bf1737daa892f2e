"""The audit log as both SQL stores write it: a multi-row ``INSERT`` per batch, and, in a
transaction that defers its writes (``store.db.DeferredWrites``), one batch for the whole
transaction.

A report's dispatch audits the incident (dispatch store) and the claim's move (claims
store) in one shared transaction: queued there and written
together just before its commit, with the transaction's other deferred writes in one
round trip. A claims transaction defers its entries the same way on PostgreSQL; on SQLite
and in the dispatch store's own transactions entries are written at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert

from dispatch_engine.store.db import DeferredWrites, Prepared, Statement
from dispatch_engine.store.models import AuditLogRow

_AUDIT = cast(Table, AuditLogRow.__table__)
# The audit log's columns as the stores write them (the id is the database's).
AUDIT_COLUMNS = ("at", "actor", "action", "entity", "entity_ref", "details")


class AuditLog:
    """Writes audit entries (dicts of :data:`AUDIT_COLUMNS`) for the stores on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._inserts: dict[int, Prepared] = {}

    def add(
        self,
        connection: Connection,
        entries: Sequence[dict[str, Any]],
        writes: DeferredWrites | None,
    ) -> None:
        """Write ``entries`` in ``connection``'s transaction: now, or, given the ``writes``
        deferred in it, with the rest of its entries before it commits."""
        if writes is not None:
            writes.add_rows(_AUDIT, entries, self._insert)
        elif entries:
            statement, values = self._insert(entries)
            statement.run(connection, values)

    def _insert(self, entries: Sequence[dict[str, Any]]) -> Statement:
        """One multi-row ``INSERT`` of ``entries`` in the order given, with its parameters
        (compiled once per number of rows: one round trip, cheaper than the driver's
        batch)."""
        count = len(entries)
        statement = self._inserts.get(count)
        if statement is None:
            # Typed binds: only the first row's would take the column types by themselves.
            rows: list[dict[str, Any]] = [
                {
                    name: bindparam(f"{name}_{i}", type_=_AUDIT.c[name].type)
                    for name in AUDIT_COLUMNS
                }
                for i in range(count)
            ]
            statement = Prepared(insert(_AUDIT).values(rows).inline(), self._engine.dialect)
            self._inserts[count] = statement
        return statement, {
            f"{name}_{i}": entry[name] for i, entry in enumerate(entries) for name in AUDIT_COLUMNS
        }
