"""Database tables (SQLAlchemy 2.x). Rows never leave ``dispatch_engine.store``: the SQL
stores map them to and from the core's frozen records.

The shared tables (``sequences``, ``idempotency_keys``, ``audit_log``) are generic, keyed
by a name or scope, so later modules (incidents, vehicles) reuse them. Every schema
change is an Alembic migration in ``migrations/versions``; a test checks that the
migrations build exactly these tables.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dispatch_engine.store.types import AwareDateTime, JsonDocument, YuanAsFen

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: AwareDateTime(),
        Decimal: YuanAsFen(),
        dict[str, Any]: JsonDocument,
        list[Any]: JsonDocument,
    }


# --- shared -----------------------------------------------------------------------------


class SequenceRow(Base):
    """Daily counters behind human-readable numbers (``SG-20251130-000123``)."""

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKeyRow(Base):
    """Requests already seen, per scope (``claims.intake``, ...)."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    result_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class AuditLogRow(Base):
    """Who did what to which record (SPEC §8: assignments and payments among them)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_ref", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_ref: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]


# --- claims ---------------------------------------------------------------------------------


class ClaimRow(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    accepted_at: Mapped[datetime]
    reported_at: Mapped[datetime]
    # Location: the coordinates as given, their crs, and WGS-84 (what the product uses).
    address: Mapped[str] = mapped_column(String(200))
    input_lat: Mapped[float] = mapped_column(Float)
    input_lon: Mapped[float] = mapped_column(Float)
    input_crs: Mapped[str] = mapped_column(String(16))
    lat_wgs84: Mapped[float] = mapped_column(Float)
    lon_wgs84: Mapped[float] = mapped_column(Float)
    plate: Mapped[str] = mapped_column(String(16), index=True)
    vehicle_model: Mapped[str] = mapped_column(String(100))
    driver_name: Mapped[str] = mapped_column(String(50))
    driver_phone: Mapped[str] = mapped_column(String(20))
    driver_id_number: Mapped[str] = mapped_column(String(18))
    driver_email: Mapped[str | None] = mapped_column(String(254))
    accident_type: Mapped[str] = mapped_column(String(32))
    disaster: Mapped[str | None] = mapped_column(String(32))
    injured_count: Mapped[int] = mapped_column(Integer)
    death_count: Mapped[int] = mapped_column(Integer)
    third_parties: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(Text)
    photo_refs: Mapped[list[Any]]
    reported_estimate_yuan: Mapped[Decimal] = mapped_column("reported_estimate_fen")
    estimate_yuan: Mapped[Decimal] = mapped_column("estimate_fen")
    tier: Mapped[int] = mapped_column(Integer)
    assessment_due: Mapped[datetime] = mapped_column(index=True)
    settlement_due: Mapped[datetime | None] = mapped_column(index=True)
    survey_waived: Mapped[bool] = mapped_column(Boolean)
    incident_id: Mapped[str | None] = mapped_column(String(64))
    surveyed_at: Mapped[datetime | None]
    assessed_at: Mapped[datetime | None]
    assessed_amount_yuan: Mapped[Decimal | None] = mapped_column("assessed_amount_fen")
    documents_complete_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    approved_amount_yuan: Mapped[Decimal | None] = mapped_column("approved_amount_fen")
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]


class WaiverDecisionRow(Base):
    """The survey-waiver audit trail: every decision with its rule, reason and estimate."""

    __tablename__ = "waiver_decisions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    decided_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))
    waived: Mapped[bool] = mapped_column(Boolean)
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    label_zh: Mapped[str] = mapped_column(String(64))
    estimate_yuan: Mapped[Decimal] = mapped_column("estimate_fen")
    actor: Mapped[str] = mapped_column(String(50))


class PayeeRow(Base):
    __tablename__ = "payees"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(32))
    bank: Mapped[str] = mapped_column(String(50))
    account_number: Mapped[str] = mapped_column(String(32))
    authorisation_document_ref: Mapped[str] = mapped_column(String(200))
    authorised_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(50))


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_yuan: Mapped[Decimal] = mapped_column("amount_fen")
    due_at: Mapped[datetime]
    payee_id: Mapped[int | None] = mapped_column(ForeignKey("payees.id"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(500))


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(50))


class NoticeRow(Base):
    """The outbox."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_pending", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ComplaintRow(Base):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_open", "state", "handling_due"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    complainant_name: Mapped[str] = mapped_column(String(50))
    complainant_phone: Mapped[str] = mapped_column(String(20))
    claim_number: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    handling_due: Mapped[datetime]
    handling_started_at: Mapped[datetime | None]
    feedback: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    follow_up: Mapped[str | None] = mapped_column(Text)
    followed_up_at: Mapped[datetime | None]


# --- dispatch (migration 0002) ----------------------------------------------------------------


class VehicleStateRow(Base):
    """A vehicle's live state. Static fields (kind, base, shifts, skills, partner) come from
    the fleet file; only what the API changes lives here, so a conditional ``UPDATE`` of
    ``status`` is the one place a vehicle is claimed."""

    __tablename__ = "vehicle_states"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]


class IncidentRow(Base):
    """One incident: the whole frozen record as a JSON document, plus the columns that
    list views filter and sort on."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_open_calls", "status", "called_at", "call_due_at"),
        Index("ix_incidents_open_arrivals", "status", "arrived_at", "arrival_due_at"),
        Index("ix_incidents_reported", "reported_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    zone: Mapped[str] = mapped_column(String(16), index=True)
    reported_at: Mapped[datetime]
    call_due_at: Mapped[datetime]
    arrival_due_at: Mapped[datetime]
    called_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    document: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    # Bumped by every save (migration 0004): a save expecting an older one is refused.
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class DispatchEventRow(Base):
    """A dispatcher's event on an incident (called, arrived, declined, ...)."""

    __tablename__ = "dispatch_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    vehicle_id: Mapped[str | None] = mapped_column(String(64))


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AppointmentRow(Base):
    """A value-added service appointment (inspection delivery, car wash), as a document."""

    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]]
