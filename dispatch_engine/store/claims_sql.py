"""The SQL implementation of the claims store protocols (``claims.ports``).

One :class:`SqlClaimsTransaction` runs on one connection in one database transaction
(an ORM session joins it for the rarer records). Rows are mapped to the core's frozen
records on the way out, so nothing outside this package sees a row. Locks:
``for_update`` is ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite every transaction
already holds the write lock (``db.py``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
from dispatch_engine.claims.complaints import (
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintInput,
    ComplaintState,
)
from dispatch_engine.claims.documents import ClaimDocument, DocumentKind
from dispatch_engine.claims.intake import ClaimReport, Driver, Location, ThirdParty, Vehicle
from dispatch_engine.claims.lifecycle import FINISHED_STATES, Claim, ClaimState, Deadlines
from dispatch_engine.claims.notices import Channel, Notice, NoticeKind, NoticeStatus
from dispatch_engine.claims.payments import (
    Payee,
    PayeeAuthorisation,
    PayeeKind,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from dispatch_engine.claims.ports import IdempotencyRecord
from dispatch_engine.claims.triage import AccidentType, DisasterKind, WaiverDecision, WaiverRule
from dispatch_engine.errors import NotFoundError
from dispatch_engine.store.audit_sql import AuditLog
from dispatch_engine.store.db import (
    DeferredWrites,
    Prepared,
    deferring_transaction,
    joined_transaction,
    shared_transaction,
    shares_transactions,
)
from dispatch_engine.store.models import (
    AuditLogRow,
    Base,
    ClaimRow,
    ComplaintRow,
    DocumentRow,
    IdempotencyKeyRow,
    NoticeRow,
    PayeeRow,
    PaymentRow,
    SequenceRow,
    WaiverDecisionRow,
)


class SqlClaimsStore:
    """Claims storage on a SQLAlchemy engine (see ``store.db.make_engine``).

    The schema must exist: run ``store.migrate.upgrade`` first.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._statements = _Statements(engine.dialect)
        self._audits = AuditLog(engine)
        self._reports = _Reports(REPORTS_REMEMBERED)
        # Daily sequences are advanced in transactions of their own on PostgreSQL (see
        # ``SqlClaimsTransaction.next_sequence``).
        self._sequences = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )

    @contextmanager
    def transaction(self) -> Iterator[SqlClaimsTransaction]:
        """Commit when the block ends, roll back when it raises (inside :meth:`together`:
        when that block ends).

        On PostgreSQL the writes whose results the block does not need (audit entries,
        waiver decisions, notices, an idempotency key's result) are deferred to one round
        trip before the commit (``store.db.DeferredWrites``). The block's own transaction
        is not a shared one: store calls it makes on other stores, or in a claims
        transaction opened inside it, still commit on their own.
        """
        shared = joined_transaction(self._engine)
        begun = (
            deferring_transaction(self._engine)
            if shared is None
            else nullcontext((shared.connection, shared.writes))
        )
        with begun as (connection, writes):
            tx = SqlClaimsTransaction(
                connection,
                writes,
                self._sessions,
                self._statements,
                self._audits,
                self._reports,
                self._sequences,
            )
            try:
                yield tx
            except BaseException:
                tx.close(keep=False)
                raise
            tx.close(keep=True)

    def together(self) -> AbstractContextManager[None]:
        """Claims transactions and dispatch store calls inside the block commit as one
        (PostgreSQL; on SQLite each commits on its own, see ``store.db``)."""
        return shared_transaction(self._engine)

    @property
    def joins_transactions(self) -> bool:
        """Whether :meth:`together` makes one transaction (see ``store.db``)."""
        return shares_transactions(self._engine)


class SqlClaimsTransaction:
    """``ClaimsTransaction`` on one connection's transaction; see the protocol for each
    method.

    Claims, audit entries, notices, waiver decisions and idempotency keys go through
    prebuilt statements on the connection (the per-report path: no ORM session, no
    statement built per call); the rarer records use an ORM session joined to the
    transaction on first use. Given ``writes`` (PostgreSQL), the writes of audit entries,
    waiver decisions, notices and key results wait there for the commit, and reads of
    those tables send them first.
    """

    def __init__(
        self,
        connection: Connection,
        writes: DeferredWrites | None,
        sessions: sessionmaker[Session],
        statements: _Statements,
        audits: AuditLog,
        reports: _Reports,
        sequences: Engine | None,
    ) -> None:
        self._connection = connection
        self._writes = writes
        self._sessions = sessions
        self._orm: Session | None = None
        self._sql = statements
        self._audits = audits
        self._reports = reports
        self._sequences = sequences
        # Report number -> row id of the claims this transaction has seen: the records
        # that hang off a claim (notices, audits, documents) need no lookup each.
        self._claim_ids: dict[str, int] = {}

    @property
    def _session(self) -> Session:
        """The ORM session, joined to this transaction (it never commits it: the owner of
        the transaction does; a rollback of the session rolls the transaction back)."""
        if self._orm is None:
            self._orm = self._sessions(bind=self._connection, join_transaction_mode="rollback_only")
        return self._orm

    def _write(
        self,
        statement: Prepared,
        parameters: Mapping[str, Any],
        check: Callable[[int], None] | None = None,
    ) -> None:
        """Run ``statement`` now, or defer it to the commit; ``check`` gets its row count."""
        if self._writes is not None:
            self._writes.add(statement, parameters, check=check)
            return
        outcome = statement.run(self._connection, parameters)
        if check is not None:
            check(outcome.rowcount)

    def _send_deferred(self) -> None:
        """Write what waits for the commit now (before reading the tables it writes)."""
        if self._writes is not None:
            self._writes.flush()

    def close(self, *, keep: bool) -> None:
        """End the ORM session: its pending changes are written into the transaction
        (before the commit) if ``keep``, else dropped (before the rollback)."""
        if self._orm is not None:
            with self._orm:
                if keep:
                    self._orm.flush()

    # --- shared ---------------------------------------------------------------------------

    def next_sequence(self, name: str, day: date) -> int:
        # The upsert locks the counter row until its transaction ends: concurrent callers
        # queue up. On PostgreSQL it commits at once, apart from this transaction, so a
        # filing does not hold every other filing of the day up until its own commit
        # (under load most of them waited there); a number taken by a transaction that
        # then rolls back stays unused. SQLite serialises writers anyway: there the
        # number is taken inside the transaction, and a rollback returns it.
        parameters = {"name": name, "day": day}
        if self._sequences is None:
            return int(self._sql.next_sequence.run(self._connection, parameters).rows[0][0])
        with self._sequences.connect() as connection:
            return int(self._sql.next_sequence.run(connection, parameters).rows[0][0])

    def reserve_idempotency_key(
        self, scope: str, key: str, fingerprint: str, *, at: datetime
    ) -> IdempotencyRecord | None:
        parameters = {"scope": scope, "key": key, "fingerprint": fingerprint, "created_at": at}
        if self._sql.reserve_key.run(self._connection, parameters).first() is not None:
            return None
        # Inserted by an earlier (now committed) transaction: this statement sees it.
        self._send_deferred()  # a result written in this transaction
        (row,) = self._sql.key_record.run(self._connection, {"b_scope": scope, "b_key": key}).rows
        return IdempotencyRecord(
            scope=scope, key=key, fingerprint=row.fingerprint, result_ref=row.result_ref
        )

    def complete_idempotency_key(self, scope: str, key: str, result_ref: str) -> None:
        # Deferred, the check runs before the commit: the transaction still rolls back.
        def reserved(rowcount: int) -> None:
            if rowcount == 0:
                raise NotFoundError(
                    f"idempotency key {key!r} was never reserved", field="idempotency_key"
                )

        self._write(
            self._sql.complete_key,
            {"b_scope": scope, "b_key": key, "result_ref": result_ref},
            reserved,
        )

    def add_audit(self, entry: AuditEntry) -> None:
        self._audits.add(
            self._connection,
            [
                {
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "entity": entry.entity,
                    "entity_ref": entry.entity_ref,
                    "details": dict(entry.details),
                }
            ],
            self._writes,
        )

    def audit_entries(self, entity: str, entity_ref: str) -> list[AuditEntry]:
        self._send_deferred()
        rows = self._session.scalars(
            select(AuditLogRow)
            .where(AuditLogRow.entity == entity, AuditLogRow.entity_ref == entity_ref)
            .order_by(AuditLogRow.id)
        )
        return [
            AuditEntry(
                at=row.at,
                actor=row.actor,
                action=row.action,
                entity=row.entity,
                entity_ref=row.entity_ref,
                details=row.details,
            )
            for row in rows
        ]

    # --- claims ---------------------------------------------------------------------------

    def add_claim(self, claim: Claim) -> None:
        values = _claim_values(claim)
        row_id = self._sql.add_claim.run(self._connection, values).rows[0].id
        self._claim_ids[claim.number] = row_id
        self._reports.remember(values, claim.report)

    def get_claim(self, number: str, *, for_update: bool = False) -> Claim:
        return self._claim(self._claim_row(number, for_update=for_update))

    def update_claim(self, claim: Claim) -> None:
        # One UPDATE, no read first (claim rows are never held by the session's ORM).
        updated = self._sql.update_claim.run(
            self._connection, {"b_number": claim.number, **_claim_values(claim)}
        )
        if updated.rowcount == 0:
            raise NotFoundError(f"no claim {claim.number}", field="number")

    def move_claim(
        self, number: str, source: ClaimState, target: ClaimState, **changes: object
    ) -> Claim | None:
        # One conditional UPDATE ... RETURNING: the row lock is taken by the write itself.
        moved = self._sql.move_claim(tuple(sorted(changes))).run(
            self._connection,
            {"b_number": number, "b_state": source, "state": target, **changes},
        )
        row = moved.first()
        if row is None:
            return None
        self._claim_ids[number] = row.id
        return self._claim(row)

    def list_claims(self, *, state: ClaimState | None, limit: int, offset: int) -> list[Claim]:
        query = self._sql.claims.order_by(ClaimRow.number.desc()).limit(limit).offset(offset)
        if state is not None:
            query = query.where(ClaimRow.state == state)
        return [self._claim(row) for row in self._connection.execute(query)]

    def overdue_claims(self, now: datetime, *, limit: int) -> list[Claim]:
        query = (
            self._sql.claims.where(
                ClaimRow.state.not_in(list(FINISHED_STATES)),
                or_(
                    and_(ClaimRow.assessed_at.is_(None), ClaimRow.assessment_due < now),
                    and_(
                        ClaimRow.paid_at.is_(None),
                        ClaimRow.settlement_due.is_not(None),
                        ClaimRow.settlement_due < now,
                    ),
                ),
            )
            .order_by(ClaimRow.reported_at, ClaimRow.number)
            .limit(limit)
        )
        return [self._claim(row) for row in self._connection.execute(query)]

    def _claim(self, row: Any) -> Claim:
        return _claim(row, self._reports.report(row._asdict()))

    def _claim_row(self, number: str, *, for_update: bool = False) -> Any:
        query = self._sql.lock_claim if for_update else self._sql.get_claim
        row = query.run(self._connection, {"number": number}).first()
        if row is None:
            raise NotFoundError(f"no claim {number}", field="number")
        self._claim_ids[number] = row.id
        return row

    def _claim_id(self, number: str) -> int:
        known = self._claim_ids.get(number)
        return self._claim_row(number).id if known is None else known

    # --- waiver audit -------------------------------------------------------------------------

    def add_waiver_audit(self, entry: WaiverAudit) -> None:
        decision = entry.decision
        self._write(
            self._sql.add_waiver_audit,
            {
                "claim_id": self._claim_id(entry.claim_number),
                "decided_at": entry.decided_at,
                "trigger": entry.trigger,
                "waived": decision.waived,
                "rule": decision.rule,
                "reason": decision.reason,
                "label_zh": decision.label_zh,
                "estimate_fen": entry.estimate_yuan,
                "actor": entry.actor,
            },
        )

    def waiver_audits(self, number: str) -> list[WaiverAudit]:
        self._send_deferred()
        rows = self._session.scalars(
            select(WaiverDecisionRow)
            .where(WaiverDecisionRow.claim_id == self._claim_id(number))
            .order_by(WaiverDecisionRow.id)
        )
        return [
            WaiverAudit(
                claim_number=number,
                decided_at=row.decided_at,
                trigger=row.trigger,
                decision=WaiverDecision(row.waived, WaiverRule(row.rule), row.reason, row.label_zh),
                estimate_yuan=row.estimate_yuan,
                actor=row.actor,
            )
            for row in rows
        ]

    # --- payees and payments --------------------------------------------------------------------

    def add_payee(self, payee: Payee) -> Payee:
        authorisation = payee.authorisation
        row = PayeeRow(
            claim_id=self._claim_id(payee.claim_number),
            name=authorisation.name,
            kind=authorisation.kind,
            bank=authorisation.bank,
            account_number=authorisation.account_number,
            authorisation_document_ref=authorisation.authorisation_document_ref,
            authorised_at=payee.authorised_at,
            actor=payee.actor,
        )
        self._session.add(row)
        self._session.flush()
        return replace(payee, id=row.id)

    def payees(self, number: str) -> list[Payee]:
        rows = self._session.scalars(
            select(PayeeRow)
            .where(PayeeRow.claim_id == self._claim_id(number))
            .order_by(PayeeRow.id)
        )
        return [
            Payee(
                id=row.id,
                claim_number=number,
                authorisation=PayeeAuthorisation(
                    name=row.name,
                    kind=PayeeKind(row.kind),
                    bank=row.bank,
                    account_number=row.account_number,
                    authorisation_document_ref=row.authorisation_document_ref,
                ),
                authorised_at=row.authorised_at,
                actor=row.actor,
            )
            for row in rows
        ]

    def add_payment(self, payment: Payment) -> Payment:
        row = PaymentRow(claim_id=self._claim_id(payment.claim_number), **_payment_values(payment))
        self._session.add(row)
        self._session.flush()
        return replace(payment, id=row.id)

    def get_payment(self, payment_id: int, *, for_update: bool = False) -> Payment:
        query = (
            select(PaymentRow, ClaimRow.number)
            .join(ClaimRow, PaymentRow.claim_id == ClaimRow.id)
            .where(PaymentRow.id == payment_id)
        )
        if for_update:
            query = query.with_for_update(of=PaymentRow)
        found = self._session.execute(query).one_or_none()
        if found is None:
            raise NotFoundError(f"no payment {payment_id}", field="payment_id")
        return _payment(*found)

    def update_payment(self, payment: Payment) -> None:
        row = self._session.get_one(PaymentRow, payment.id)
        for name, value in _payment_values(payment).items():
            setattr(row, name, value)

    def payments(self, number: str) -> list[Payment]:
        rows = self._session.scalars(
            select(PaymentRow)
            .where(PaymentRow.claim_id == self._claim_id(number))
            .order_by(PaymentRow.id)
        )
        return [_payment(row, number) for row in rows]

    # --- documents and notices ------------------------------------------------------------------

    def add_document(self, document: ClaimDocument) -> None:
        self._session.add(
            DocumentRow(
                claim_id=self._claim_id(document.claim_number),
                kind=document.kind,
                ref=document.ref,
                received_at=document.received_at,
                actor=document.actor,
            )
        )

    def documents(self, number: str) -> list[ClaimDocument]:
        rows = self._session.scalars(
            select(DocumentRow)
            .where(DocumentRow.claim_id == self._claim_id(number))
            .order_by(DocumentRow.id)
        )
        return [
            ClaimDocument(
                claim_number=number,
                kind=DocumentKind(row.kind),
                ref=row.ref,
                received_at=row.received_at,
                actor=row.actor,
            )
            for row in rows
        ]

    def add_notice(self, notice: Notice) -> None:
        self._write(
            self._sql.add_notice,
            {"claim_id": self._claim_id(notice.claim_number), **_notice_values(notice)},
        )

    def pending_notices(self, channels: Collection[Channel], *, limit: int) -> list[Notice]:
        self._send_deferred()
        query = (
            select(NoticeRow, ClaimRow.number)
            .join(ClaimRow, NoticeRow.claim_id == ClaimRow.id)
            .where(NoticeRow.status == NoticeStatus.PENDING, NoticeRow.channel.in_(list(channels)))
            .order_by(NoticeRow.due_at, NoticeRow.id)
            .limit(limit)
            .with_for_update(of=NoticeRow, skip_locked=True)
        )
        return [_notice(row, number) for row, number in self._session.execute(query)]

    def update_notice(self, notice: Notice) -> None:
        row = self._session.get_one(NoticeRow, notice.id)
        for name, value in _notice_values(notice).items():
            setattr(row, name, value)

    def notices(self, number: str) -> list[Notice]:
        self._send_deferred()
        rows = self._session.scalars(
            select(NoticeRow)
            .where(NoticeRow.claim_id == self._claim_id(number))
            .order_by(NoticeRow.due_at, NoticeRow.id)
        )
        return [_notice(row, number) for row in rows]

    # --- complaints -----------------------------------------------------------------------------

    def add_complaint(self, complaint: Complaint) -> None:
        self._session.add(ComplaintRow(**_complaint_values(complaint)))
        self._session.flush()

    def get_complaint(self, ticket: str, *, for_update: bool = False) -> Complaint:
        return _complaint(self._complaint_row(ticket, for_update=for_update))

    def update_complaint(self, complaint: Complaint) -> None:
        row = self._complaint_row(complaint.ticket)
        for name, value in _complaint_values(complaint).items():
            setattr(row, name, value)

    def overdue_complaints(self, now: datetime, *, limit: int) -> list[Complaint]:
        query = (
            select(ComplaintRow)
            .where(ComplaintRow.state == ComplaintState.RECEIVED, ComplaintRow.handling_due < now)
            .order_by(ComplaintRow.handling_due, ComplaintRow.ticket)
            .limit(limit)
        )
        return [_complaint(row) for row in self._session.scalars(query)]

    def _complaint_row(self, ticket: str, *, for_update: bool = False) -> ComplaintRow:
        query = select(ComplaintRow).where(ComplaintRow.ticket == ticket)
        if for_update:
            query = query.with_for_update()
        row = self._session.scalars(query).one_or_none()
        if row is None:
            raise NotFoundError(f"no complaint {ticket}", field="ticket")
        return row


def _table(row_class: type[Base]) -> Table:
    return cast(Table, row_class.__table__)


class _Statements:
    """The per-report statements, compiled once per store (``store.db.Prepared``).
    Parameters named ``b_*`` are the ``WHERE`` clause's; the rest name columns (claims:
    the mapped attributes, as ``_claim_values`` gives them)."""

    def __init__(self, dialect: Dialect) -> None:
        upsert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        sequences, keys, claims = _table(SequenceRow), _table(IdempotencyKeyRow), _table(ClaimRow)
        self.next_sequence = Prepared(
            upsert(sequences)
            .values(name=bindparam("name"), day=bindparam("day"), last_value=1)
            .on_conflict_do_update(
                index_elements=["name", "day"],
                set_={"last_value": sequences.c.last_value + 1},
            )
            .returning(sequences.c.last_value),
            dialect,
        )
        self.reserve_key = Prepared(
            upsert(keys)
            .values(
                scope=bindparam("scope"),
                key=bindparam("key"),
                fingerprint=bindparam("fingerprint"),
                result_ref=None,
                created_at=bindparam("created_at"),
            )
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(keys.c.key),
            dialect,
        )
        key_is = (keys.c.scope == bindparam("b_scope"), keys.c.key == bindparam("b_key"))
        self.key_record = Prepared(
            select(keys.c.fingerprint, keys.c.result_ref).where(*key_is), dialect
        )
        self.complete_key = Prepared(
            update(keys).where(*key_is).values(result_ref=bindparam("result_ref")), dialect
        )
        self.add_waiver_audit = Prepared(_insert_row(_table(WaiverDecisionRow)), dialect)
        notices = _table(NoticeRow)
        self.add_notice = Prepared(_insert_row(notices), dialect)
        # Claim columns by mapped attribute (``estimate_yuan`` is the column ``estimate_fen``).
        attributes = {a.key: a.columns[0] for a in sa_inspect(ClaimRow).column_attrs}
        values: dict[Any, Any] = {
            column: bindparam(key) for key, column in attributes.items() if key != "id"
        }
        self.add_claim = Prepared(insert(claims).values(values).returning(claims.c.id), dialect)
        self.update_claim = Prepared(
            update(claims).where(claims.c.number == bindparam("b_number")).values(values),
            dialect,
        )
        self.claims = select(*(column.label(key) for key, column in attributes.items()))
        get_claim = self.claims.where(claims.c.number == bindparam("number"))
        self.get_claim = Prepared(get_claim, dialect)
        self.lock_claim = Prepared(get_claim.with_for_update(), dialect)
        self._dialect = dialect
        self._attributes = attributes
        self._moves: dict[tuple[str, ...], Prepared] = {}

    def move_claim(self, fields: tuple[str, ...]) -> Prepared:
        """``UPDATE`` of the state and ``fields`` (claim attributes) of the claim numbered
        ``b_number`` if its state is still ``b_state``, returning the claim's columns; one
        statement per set of fields, compiled on first use."""
        statement = self._moves.get(fields)
        if statement is None:
            claims, attributes = _table(ClaimRow), self._attributes
            statement = Prepared(
                update(claims)
                .where(
                    claims.c.number == bindparam("b_number"),
                    claims.c.state == bindparam("b_state"),
                )
                .values({attributes[name]: bindparam(name) for name in ("state", *fields)})
                .returning(*(column.label(key) for key, column in attributes.items())),
                self._dialect,
            )
            self._moves[fields] = statement
        return statement


def _insert_row(table: Table) -> Any:
    """``INSERT`` of one row, every column but the id a parameter named as the column
    (inline: the id is not fetched unless asked for with ``returning``)."""
    return (
        insert(table)
        .values(
            {column.name: bindparam(column.name) for column in table.columns if column.name != "id"}
        )
        .inline()
    )


# --- row <-> record ---------------------------------------------------------------------------


def _claim_values(claim: Claim) -> dict[str, Any]:
    report = claim.report
    lat_wgs84, lon_wgs84 = report.position_wgs84
    return {
        "number": claim.number,
        "state": claim.state,
        "accepted_at": claim.accepted_at,
        "reported_at": report.reported_at,
        "address": report.location.address,
        "input_lat": report.location.lat,
        "input_lon": report.location.lon,
        "input_crs": report.location.crs,
        "lat_wgs84": lat_wgs84,
        "lon_wgs84": lon_wgs84,
        "plate": report.vehicle.plate,
        "vehicle_model": report.vehicle.model,
        "driver_name": report.driver.name,
        "driver_phone": report.driver.phone,
        "driver_id_number": report.driver.id_number,
        "driver_email": report.driver.email,
        "accident_type": report.accident_type,
        "disaster": report.disaster,
        "injured_count": report.injured_count,
        "death_count": report.death_count,
        "third_parties": [asdict(party) for party in report.third_parties],
        "description": report.description,
        "photo_refs": list(report.photo_refs),
        "reported_estimate_yuan": report.estimate_yuan,
        "estimate_yuan": claim.estimate_yuan,
        "tier": claim.deadlines.tier,
        "assessment_due": claim.deadlines.assessment_due,
        "settlement_due": claim.deadlines.settlement_due,
        "survey_waived": claim.survey_waived,
        "incident_id": claim.incident_id,
        "surveyed_at": claim.surveyed_at,
        "assessed_at": claim.assessed_at,
        "assessed_amount_yuan": claim.assessed_amount_yuan,
        "documents_complete_at": claim.documents_complete_at,
        "approved_at": claim.approved_at,
        "approved_amount_yuan": claim.approved_amount_yuan,
        "paid_at": claim.paid_at,
        "closed_at": claim.closed_at,
        "cancelled_at": claim.cancelled_at,
        "reopened_at": claim.reopened_at,
    }


# Claim columns that hold the report (the rest is the claim's own progress).
_REPORT_COLUMNS = (
    "reported_at",
    "address",
    "input_lat",
    "input_lon",
    "input_crs",
    "plate",
    "vehicle_model",
    "driver_name",
    "driver_phone",
    "driver_id_number",
    "driver_email",
    "accident_type",
    "disaster",
    "injured_count",
    "death_count",
    "third_parties",
    "description",
    "photo_refs",
    "reported_estimate_yuan",
)
# Reports of the claims this process filed or read most recently (see ``_Reports``).
REPORTS_REMEMBERED = 1024


class _Reports:
    """The validated reports of recent claims, by their stored column values.

    Rebuilding a report from a row re-runs intake validation (phone and ID number
    parsing, ...): stored data is checked on the way out too, so a row edited by hand
    cannot slip an invalid value into the core. A row whose report columns equal those
    of a report validated here before (the claim just filed, read again to mark it
    dispatched) holds that same report, and gets it without validating it again.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._known: OrderedDict[tuple[Any, ...], ClaimReport] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, values: Mapping[Any, Any], report: ClaimReport) -> None:
        with self._lock:
            self._add(_report_key(values), report)

    def report(self, row: Mapping[Any, Any]) -> ClaimReport:
        """The report a claim row holds (validated unless it is a remembered one)."""
        key = _report_key(row)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return known
        report = _report(row)
        with self._lock:
            self._add(key, report)
        return report

    def _add(self, key: tuple[Any, ...], report: ClaimReport) -> None:
        self._known[key] = report
        self._known.move_to_end(key)
        if len(self._known) > self._size:
            self._known.popitem(last=False)


def _report_key(values: Mapping[Any, Any]) -> tuple[Any, ...]:
    """The report columns as one hashable value (JSON columns as canonical text)."""
    return tuple(
        json.dumps(values[name], sort_keys=True, ensure_ascii=False)
        if name in ("third_parties", "photo_refs")
        else values[name]
        for name in _REPORT_COLUMNS
    )


def _report(row: Mapping[Any, Any]) -> ClaimReport:
    return ClaimReport(
        reported_at=row["reported_at"],
        location=Location(
            address=row["address"], lat=row["input_lat"], lon=row["input_lon"], crs=row["input_crs"]
        ),
        vehicle=Vehicle(plate=row["plate"], model=row["vehicle_model"]),
        driver=Driver(
            name=row["driver_name"],
            phone=row["driver_phone"],
            id_number=row["driver_id_number"],
            email=row["driver_email"],
        ),
        accident_type=AccidentType(row["accident_type"]),
        description=row["description"],
        estimate_yuan=row["reported_estimate_yuan"],
        disaster=None if row["disaster"] is None else DisasterKind(row["disaster"]),
        injured_count=row["injured_count"],
        death_count=row["death_count"],
        third_parties=tuple(ThirdParty(**party) for party in row["third_parties"]),
        photo_refs=tuple(row["photo_refs"]),
    )


def _claim(row: Any, report: ClaimReport) -> Claim:
    return Claim(
        number=row.number,
        report=report,
        state=ClaimState(row.state),
        accepted_at=row.accepted_at,
        estimate_yuan=row.estimate_yuan,
        deadlines=Deadlines(
            tier=row.tier, assessment_due=row.assessment_due, settlement_due=row.settlement_due
        ),
        survey_waived=row.survey_waived,
        incident_id=row.incident_id,
        surveyed_at=row.surveyed_at,
        assessed_at=row.assessed_at,
        assessed_amount_yuan=row.assessed_amount_yuan,
        documents_complete_at=row.documents_complete_at,
        approved_at=row.approved_at,
        approved_amount_yuan=row.approved_amount_yuan,
        paid_at=row.paid_at,
        closed_at=row.closed_at,
        cancelled_at=row.cancelled_at,
        reopened_at=row.reopened_at,
    )


def _payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "kind": payment.kind,
        "amount_yuan": payment.amount_yuan,
        "due_at": payment.due_at,
        "payee_id": payment.payee_id,
        "status": payment.status,
        "created_at": payment.created_at,
        "paid_at": payment.paid_at,
        "reference": payment.reference,
    }


def _payment(row: PaymentRow, number: str) -> Payment:
    return Payment(
        id=row.id,
        claim_number=number,
        kind=PaymentKind(row.kind),
        amount_yuan=row.amount_yuan,
        due_at=row.due_at,
        created_at=row.created_at,
        payee_id=row.payee_id,
        status=PaymentStatus(row.status),
        paid_at=row.paid_at,
        reference=row.reference,
    )


def _notice_values(notice: Notice) -> dict[str, Any]:
    return {
        "kind": notice.kind,
        "channel": notice.channel,
        "recipient": notice.recipient,
        "subject": notice.subject,
        "body": notice.body,
        "due_at": notice.due_at,
        "created_at": notice.created_at,
        "status": notice.status,
        "attempts": notice.attempts,
        "sent_at": notice.sent_at,
        "last_error": notice.last_error,
    }


def _notice(row: NoticeRow, number: str) -> Notice:
    return Notice(
        id=row.id,
        claim_number=number,
        kind=NoticeKind(row.kind),
        channel=Channel(row.channel),
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        due_at=row.due_at,
        created_at=row.created_at,
        status=NoticeStatus(row.status),
        attempts=row.attempts,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def _complaint_values(complaint: Complaint) -> dict[str, Any]:
    filed = complaint.filed
    return {
        "ticket": complaint.ticket,
        "category": filed.category,
        "channel": filed.channel,
        "complainant_name": filed.complainant_name,
        "complainant_phone": filed.phone,
        "claim_number": filed.claim_number,
        "description": filed.description,
        "state": complaint.state,
        "received_at": complaint.received_at,
        "handling_due": complaint.handling_due,
        "handling_started_at": complaint.handling_started_at,
        "feedback": complaint.feedback,
        "feedback_at": complaint.feedback_at,
        "result": complaint.result,
        "resolved_at": complaint.resolved_at,
        "follow_up": complaint.follow_up,
        "followed_up_at": complaint.followed_up_at,
    }


def _complaint(row: ComplaintRow) -> Complaint:
    return Complaint(
        ticket=row.ticket,
        filed=ComplaintInput(
            category=ComplaintCategory(row.category),
            channel=ComplaintChannel(row.channel),
            complainant_name=row.complainant_name,
            phone=row.complainant_phone,
            description=row.description,
            claim_number=row.claim_number,
        ),
        state=ComplaintState(row.state),
        received_at=row.received_at,
        handling_due=row.handling_due,
        handling_started_at=row.handling_started_at,
        feedback=row.feedback,
        feedback_at=row.feedback_at,
        result=row.result,
        resolved_at=row.resolved_at,
        follow_up=row.follow_up,
        followed_up_at=row.followed_up_at,
    )
