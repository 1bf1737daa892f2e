"""Claims: claims, waiver audit, payees, payments, documents, notices, complaints; the
shared sequences, idempotency keys and audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dispatch_engine.store.types import AwareDateTime, JsonDocument, YuanAsFen

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", ID, nullable=False)


def _claim_id(table: str) -> list:
    return [
        sa.Column("claim_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=f"fk_{table}_claim_id_claims"),
    ]


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, AwareDateTime(), nullable=nullable)


def _text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column:
    kind = sa.Text() if length is None else sa.String(length=length)
    return sa.Column(name, kind, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sequences",
        _text("name", 32),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "day", name="pk_sequences"),
    )
    op.create_table(
        "idempotency_keys",
        _text("scope", 64),
        _text("key", 200),
        _text("fingerprint", 64),
        _text("result_ref", 64, nullable=True),
        _time("created_at"),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "audit_log",
        _id(),
        _time("at"),
        _text("actor", 50),
        _text("action", 64),
        _text("entity", 32),
        _text("entity_ref", 64),
        sa.Column("details", JsonDocument, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_ref", "id"])

    op.create_table(
        "claims",
        _id(),
        _text("number", 32),
        _text("state", 32),
        _time("accepted_at"),
        _time("reported_at"),
        _text("address", 200),
        sa.Column("input_lat", sa.Float(), nullable=False),
        sa.Column("input_lon", sa.Float(), nullable=False),
        _text("input_crs", 16),
        sa.Column("lat_wgs84", sa.Float(), nullable=False),
        sa.Column("lon_wgs84", sa.Float(), nullable=False),
        _text("plate", 16),
        _text("vehicle_model", 100),
        _text("driver_name", 50),
        _text("driver_phone", 20),
        _text("driver_id_number", 18),
        _text("driver_email", 254, nullable=True),
        _text("accident_type", 32),
        _text("disaster", 32, nullable=True),
        sa.Column("injured_count", sa.Integer(), nullable=False),
        sa.Column("death_count", sa.Integer(), nullable=False),
        sa.Column("third_parties", JsonDocument, nullable=False),
        _text("description"),
        sa.Column("photo_refs", JsonDocument, nullable=False),
        sa.Column("reported_estimate_fen", YuanAsFen(), nullable=False),
        sa.Column("estimate_fen", YuanAsFen(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        _time("assessment_due"),
        _time("settlement_due", nullable=True),
        sa.Column("survey_waived", sa.Boolean(), nullable=False),
        _text("incident_id", 64, nullable=True),
        _time("surveyed_at", nullable=True),
        _time("assessed_at", nullable=True),
        sa.Column("assessed_amount_fen", YuanAsFen(), nullable=True),
        _time("documents_complete_at", nullable=True),
        _time("approved_at", nullable=True),
        sa.Column("approved_amount_fen", YuanAsFen(), nullable=True),
        _time("paid_at", nullable=True),
        _time("closed_at", nullable=True),
        _time("cancelled_at", nullable=True),
        _time("reopened_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_claims"),
        sa.UniqueConstraint("number", name="uq_claims_number"),
    )
    for column in ("state", "plate", "assessment_due", "settlement_due"):
        op.create_index(f"ix_claims_{column}", "claims", [column])

    op.create_table(
        "waiver_decisions",
        _id(),
        *_claim_id("waiver_decisions"),
        _time("decided_at"),
        _text("trigger", 16),
        sa.Column("waived", sa.Boolean(), nullable=False),
        _text("rule", 32),
        _text("reason"),
        _text("label_zh", 64),
        sa.Column("estimate_fen", YuanAsFen(), nullable=False),
        _text("actor", 50),
        sa.PrimaryKeyConstraint("id", name="pk_waiver_decisions"),
    )
    op.create_table(
        "payees",
        _id(),
        *_claim_id("payees"),
        _text("name", 50),
        _text("kind", 32),
        _text("bank", 50),
        _text("account_number", 32),
        _text("authorisation_document_ref", 200),
        _time("authorised_at"),
        _text("actor", 50),
        sa.PrimaryKeyConstraint("id", name="pk_payees"),
    )
    op.create_table(
        "payments",
        _id(),
        *_claim_id("payments"),
        _text("kind", 16),
        sa.Column("amount_fen", YuanAsFen(), nullable=False),
        _time("due_at"),
        sa.Column("payee_id", ID, nullable=True),
        _text("status", 16),
        _time("created_at"),
        _time("paid_at", nullable=True),
        _text("reference", 500, nullable=True),
        sa.ForeignKeyConstraint(["payee_id"], ["payees.id"], name="fk_payments_payee_id_payees"),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
    )
    op.create_table(
        "documents",
        _id(),
        *_claim_id("documents"),
        _text("kind", 32),
        _text("ref", 500),
        _time("received_at"),
        _text("actor", 50),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_table(
        "notices",
        _id(),
        *_claim_id("notices"),
        _text("kind", 32),
        _text("channel", 16),
        _text("recipient", 254),
        _text("subject", 200),
        _text("body"),
        _time("due_at"),
        _time("created_at"),
        _text("status", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("sent_at", nullable=True),
        _text("last_error", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    op.create_index("ix_notices_pending", "notices", ["status", "due_at"])
    for table in ("waiver_decisions", "payees", "payments", "documents", "notices"):
        op.create_index(f"ix_{table}_claim_id", table, ["claim_id"])

    op.create_table(
        "complaints",
        _id(),
        _text("ticket", 32),
        _text("category", 32),
        _text("channel", 16),
        _text("complainant_name", 50),
        _text("complainant_phone", 20),
        _text("claim_number", 32, nullable=True),
        _text("description"),
        _text("state", 16),
        _time("received_at"),
        _time("handling_due"),
        _time("handling_started_at", nullable=True),
        _text("feedback", nullable=True),
        _time("feedback_at", nullable=True),
        _text("result", nullable=True),
        _time("resolved_at", nullable=True),
        _text("follow_up", nullable=True),
        _time("followed_up_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
        sa.UniqueConstraint("ticket", name="uq_complaints_ticket"),
    )
    op.create_index("ix_complaints_open", "complaints", ["state", "handling_due"])


def downgrade() -> None:
    for table in (
        "complaints",
        "notices",
        "documents",
        "payments",
        "payees",
        "waiver_decisions",
        "claims",
        "audit_log",
        "idempotency_keys",
        "sequences",
    ):
        op.drop_table(table)
