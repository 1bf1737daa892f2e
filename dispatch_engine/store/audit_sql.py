"""The audit log as both SQL stores write it: a multi-row ``INSERT`` per batch, and, inside a
:func:`store.db.shared_transaction`, one batch for the whole transaction.

A report's dispatch audits the incident (dispatch store) and the claim's move (claims
store) in one shared transaction: queued there and written together just before its
commit, that is one round trip instead of one per store. Outside a shared transaction
(SQLite, or a store's own transaction) entries are written at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert

from dispatch_engine.store.db import Prepared, joined_transaction
from dispatch_engine.store.models import AuditLogRow

_AUDIT = cast(Table, AuditLogRow.__table__)
# The audit log's columns as the stores write them (the id is the database's).
AUDIT_COLUMNS = ("at", "actor", "action", "entity", "entity_ref", "details")


class AuditLog:
    """Writes audit entries (dicts of :data:`AUDIT_COLUMNS`) for the stores on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._inserts: dict[int, Prepared] = {}

    def add(self, connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
        """Write ``entries`` in ``connection``'s transaction: now, or, when that is a shared
        transaction, with the rest of its entries before it commits."""
        shared = joined_transaction(self._engine)
        if shared is not None and shared.connection is connection:
            shared.defer(_AUDIT, entries, self._insert)
        elif entries:
            self._insert(connection, entries)

    def flush(self, connection: Connection) -> None:
        """Write the entries queued in ``connection``'s shared transaction now (before a
        read of the audit log in it)."""
        shared = joined_transaction(self._engine)
        if shared is not None and shared.connection is connection:
            shared.flush(_AUDIT)

    def _insert(self, connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
        """One multi-row ``INSERT`` (compiled once per number of rows: one round trip,
        cheaper than the driver's batch), rows in the order given."""
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
        statement.run(
            connection,
            {
                f"{name}_{i}": entry[name]
                for i, entry in enumerate(entries)
                for name in AUDIT_COLUMNS
            },
        )
