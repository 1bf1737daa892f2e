"""Migrations build exactly the models' schema; column types keep values exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from dispatch_engine.claims.calendar import SHANGHAI_TZ
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.store.db import database_url
from dispatch_engine.store.migrate import current_revision, head_revision, upgrade
from dispatch_engine.store.models import AuditLogRow, Base, PaymentRow


def test_migrations_match_models(engine):
    """After upgrade the database has exactly the tables, columns and indexes of the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(engine):
    """Upgrading an up-to-date database changes nothing and stays at head."""
    upgrade(engine)
    assert current_revision(engine) == head_revision() == "0004"


def test_fresh_sqlite_file_is_created(tmp_path):
    """A plain file path in a missing folder becomes a migrated SQLite database."""
    path = tmp_path / "new" / "claims.sqlite3"
    upgrade(path)
    assert path.exists()


def test_amounts_and_times_round_trip(engine):
    """Amounts stay exact to the fen; aware times come back as the same instant in Shanghai."""
    moment = datetime(2025, 9, 30, 2, 0, 30, 123456, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            AuditLogRow.__table__.insert(),
            {
                "at": moment,
                "actor": "a",
                "action": "x",
                "entity": "e",
                "entity_ref": "1",
                "details": {"k": [1, "二"]},
            },
        )
        stored_at, details = connection.execute(select(AuditLogRow.at, AuditLogRow.details)).one()
    assert stored_at == moment and stored_at.tzinfo == SHANGHAI_TZ
    assert stored_at.hour == 10
    assert details == {"k": [1, "二"]}
    amount_type = PaymentRow.__table__.c.amount_fen.type
    for value in (Decimal("0.01"), Decimal("9999999999999.99"), Decimal("120000")):
        fen = amount_type.process_bind_param(value, engine.dialect)
        assert amount_type.process_result_value(fen, engine.dialect) == value


def test_naive_times_and_sub_fen_refused(engine):
    """Naive datetimes and fractions of a fen never reach the database."""
    at_type = AuditLogRow.__table__.c.at.type
    with pytest.raises(InvalidInputError):
        at_type.process_bind_param(datetime(2025, 9, 30, 10, 0), engine.dialect)
    with pytest.raises(InvalidInputError):
        PaymentRow.__table__.c.amount_fen.type.process_bind_param(Decimal("0.001"), engine.dialect)


@pytest.mark.parametrize(
    ("target", "driver"),
    [
        ("postgresql://u@db:5432/claims", "postgresql+psycopg"),
        ("postgres://u@db/claims", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/claims", "postgresql+psycopg"),
        ("sqlite:////tmp/x.db", "sqlite"),
    ],
)
def test_database_url_drivers(target, driver):
    """PostgreSQL DSNs get the psycopg 3 driver; SQLite URLs pass through."""
    assert database_url(target).drivername == driver


def test_database_url_refuses_other_backends():
    """Only SQLite and PostgreSQL are supported."""
    with pytest.raises(InvalidInputError) as err:
        database_url("mysql://u@db/claims")
    assert err.value.field == "database"
