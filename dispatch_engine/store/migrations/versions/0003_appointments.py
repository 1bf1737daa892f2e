"""Appointments of the value-added services (inspection delivery, car wash).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dispatch_engine.store.types import JsonDocument

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", JsonDocument, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
    )
    op.create_index("ix_appointments_day", "appointments", ["day"])


def downgrade() -> None:
    op.drop_index("ix_appointments_day", table_name="appointments")
    op.drop_table("appointments")
