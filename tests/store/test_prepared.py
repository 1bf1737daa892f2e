"""``Prepared`` statements bind and read like ``Connection.execute`` on both databases."""

from __future__ import annotations

from sqlalchemy import Integer, String, bindparam, literal_column, select

from dispatch_engine.store.db import Prepared, _numbered_placeholders


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
