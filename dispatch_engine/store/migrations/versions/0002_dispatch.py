"""Dispatch: vehicles' live state, incidents, dispatch events, API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dispatch_engine.store.types import AwareDateTime, JsonDocument

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, AwareDateTime(), nullable=nullable)


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "vehicle_states",
        _text("id", 64),
        _text("status", 16),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_vehicle_states"),
    )
    op.create_index("ix_vehicle_states_status", "vehicle_states", ["status"])

    op.create_table(
        "incidents",
        _text("id", 64),
        _text("status", 16),
        _text("zone", 16),
        _time("reported_at"),
        _time("call_due_at"),
        _time("arrival_due_at"),
        _time("called_at", nullable=True),
        _time("arrived_at", nullable=True),
        sa.Column("document", JsonDocument, nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_zone", "incidents", ["zone"])
    op.create_index("ix_incidents_reported", "incidents", ["reported_at", "id"])
    op.create_index("ix_incidents_open_calls", "incidents", ["status", "called_at", "call_due_at"])
    op.create_index(
        "ix_incidents_open_arrivals", "incidents", ["status", "arrived_at", "arrival_due_at"]
    )

    op.create_table(
        "dispatch_events",
        sa.Column("id", ID, nullable=False),
        _text("incident_id", 64),
        _text("type", 16),
        _time("at"),
        _text("vehicle_id", 64, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_events"),
    )
    op.create_index("ix_dispatch_events_incident_id", "dispatch_events", ["incident_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        _text("key_hash", 64),
        _text("role", 16),
        _text("label", 100),
        _time("created_at"),
        _time("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    for table in ("api_keys", "dispatch_events", "incidents", "vehicle_states"):
        op.drop_table(table)
