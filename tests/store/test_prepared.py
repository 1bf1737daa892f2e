"""``Prepared`` statements bind and read like ``Connection.execute`` on both databases."""

from __future__ import annotations

from datetime import date
from typing import cast

import pytest
from sqlalchemy import Integer, String, Table, bindparam, insert, literal_column, select
from sqlalchemy.exc import IntegrityError

from dispatch_engine.store.db import _CURSOR, Prepared, _numbered_placeholders
from dispatch_engine.store.models import SequenceRow


def test_a_repeated_name_and_a_percent_sign_survive(engine):
    """One parameter used twice and a literal ``%`` (escaped ``%%`` for psycopg)."""
    statement = select(
        (bindparam("a", type_=Integer) + bindparam("a", type_=Integer)).label("twice"),
        literal_column("'50%'").label("share"),
        bindparam("b", type_=String).label("b"),
    )
    prepared = Prepared(statement, engine.dialect)
    with engine.begin() as connection:
        row = prepared.run(connection, {"a": 21, "b": "x"}).first()
        expected = connection.execute(statement, {"a": 21, "b": "x"}).one()
    assert (row.twice, row.share, row.b) == tuple(expected) == (42, "50%", "x")


def test_placeholders_are_numbered_in_order_of_first_use():
    sql, names = _numbered_placeholders("%(x)s + %(y)s * %(x)s LIKE 'a%%'")
    assert (sql, names) == ("$1 + $2 * $1 LIKE 'a%'", ["x", "y"])


def test_a_kept_cursor_survives_a_failed_statement_and_a_lost_connection(engine):
    """On PostgreSQL one cursor serves a connection's statements: a statement that fails
    (a duplicate key) leaves it usable for the next transaction, and a connection replaced
    after it was invalidated gets a cursor of its own."""
    table = cast(Table, SequenceRow.__table__)
    add = Prepared(
        insert(table).values(name=bindparam("name"), day=date(2025, 9, 30), last_value=1),
        engine.dialect,
    )
    names = Prepared(select(table.c.name).order_by(table.c.name), engine.dialect)
    with engine.connect() as connection:
        for name, added in (("a", True), ("a", False), ("b", True), ("b", False), ("c", True)):
            with connection.begin():
                if added:
                    add.run(connection, {"name": name})
                else:
                    with pytest.raises(IntegrityError):
                        add.run(connection, {"name": name})
        kept = connection.connection.info.get(_CURSOR)
        assert (kept is None) is (engine.dialect.name != "postgresql")
        connection.invalidate()
        with connection.begin():
            assert [row.name for row in names.run(connection, {}).rows] == ["a", "b", "c"]
        if kept is not None:
            renewed = connection.connection.info[_CURSOR]
            assert renewed is not kept and renewed.connection is not kept.connection
