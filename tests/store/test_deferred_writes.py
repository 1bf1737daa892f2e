"""Writes a claims transaction defers to its commit (PostgreSQL: one pipelined round trip;
SQLite: written at once) are all there after the commit, none after a rollback, seen by
reads inside the transaction, and fail the whole transaction when one of them fails."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.documents import ClaimDocument, DocumentKind
from dispatch_engine.claims.notices import Channel, Notice, NoticeKind
from dispatch_engine.claims.triage import WaiverDecision, WaiverRule
from dispatch_engine.errors import NotFoundError
from dispatch_engine.store.db import DeferredWrites, Prepared, deferring_transaction
from dispatch_engine.store.models import (
    AuditLogRow,
    ClaimRow,
    DocumentRow,
    IdempotencyKeyRow,
    NoticeRow,
    SequenceRow,
    WaiverDecisionRow,
)
from tests.claims.factories import make_claim

CLAIM = make_claim(BusinessCalendar())
NOW = CLAIM.accepted_at
KEY = ("intake", "key-1")


def _audit(action: str) -> AuditEntry:
    return AuditEntry(
        at=NOW, actor="desk-1", action=action, entity="claim", entity_ref=CLAIM.number
    )


def _notice(recipient: str | None = "13800138000") -> Notice:
    return Notice(
        claim_number=CLAIM.number,
        kind=NoticeKind.REPORT_ACCEPTED,
        channel=Channel.SMS,
        recipient=cast(str, recipient),
        subject="报案受理",
        body="您的报案已受理",
        due_at=NOW,
        created_at=NOW,
    )


WAIVER = WaiverAudit(
    claim_number=CLAIM.number,
    decided_at=NOW,
    trigger="intake",
    decision=WaiverDecision(False, WaiverRule.SINGLE_PARTY_MINOR, "estimate too high", "金额超限"),
    estimate_yuan=Decimal("20000"),
    actor="desk-1",
)


def _file(tx, *, notice: Notice | None = None) -> None:
    """What filing a report writes: key, claim, audit, waiver decision, notice, key result
    (and a document through the ORM session)."""
    assert tx.reserve_idempotency_key(*KEY, "fp", at=NOW) is None
    tx.add_claim(CLAIM)
    tx.add_audit(_audit("claim.reported"))
    tx.add_waiver_audit(WAIVER)
    tx.add_audit(_audit("claim.noted"))
    tx.add_notice(notice or _notice())
    tx.add_document(
        ClaimDocument(
            claim_number=CLAIM.number,
            kind=DocumentKind.CLAIM_FORM,
            ref="p1",
            received_at=NOW,
            actor="a",
        )
    )
    tx.complete_idempotency_key(*KEY, CLAIM.number)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            row.__tablename__: connection.scalar(select(func.count()).select_from(row))
            for row in (ClaimRow, AuditLogRow, WaiverDecisionRow, NoticeRow, DocumentRow)
        } | {
            "completed_keys": connection.scalar(
                select(func.count())
                .select_from(IdempotencyKeyRow)
                .where(IdempotencyKeyRow.result_ref.is_not(None))
            )
        }


NOTHING = {
    "claims": 0,
    "audit_log": 0,
    "waiver_decisions": 0,
    "notices": 0,
    "documents": 0,
    "completed_keys": 0,
}


def test_every_row_of_a_filing_is_kept_by_the_commit_and_none_by_a_rollback(engine, store):
    assert _counts(engine) == NOTHING
    with pytest.raises(RuntimeError), store.transaction() as tx:
        _file(tx)
        raise RuntimeError("crash before the commit")
    assert _counts(engine) == NOTHING
    with store.transaction() as tx:
        _file(tx)
    assert _counts(engine) == {**{name: 1 for name in NOTHING}, "audit_log": 2}
    with store.transaction() as tx:
        assert tx.reserve_idempotency_key(*KEY, "fp", at=NOW).result_ref == CLAIM.number
        assert [e.action for e in tx.audit_entries("claim", CLAIM.number)] == [
            "claim.reported",
            "claim.noted",
        ]
        assert tx.waiver_audits(CLAIM.number) == [WAIVER]
        (stored,) = tx.notices(CLAIM.number)
    assert dataclasses.replace(stored, id=None) == _notice()


def test_reads_inside_the_transaction_see_the_deferred_rows(store):
    """Each read follows a write of its table made since the last read."""
    with store.transaction() as tx:
        assert tx.reserve_idempotency_key(*KEY, "fp", at=NOW) is None
        tx.add_claim(CLAIM)
        tx.complete_idempotency_key(*KEY, CLAIM.number)
        assert tx.reserve_idempotency_key(*KEY, "fp", at=NOW).result_ref == CLAIM.number
        tx.add_audit(_audit("claim.reported"))
        assert [e.action for e in tx.audit_entries("claim", CLAIM.number)] == ["claim.reported"]
        tx.add_waiver_audit(WAIVER)
        assert tx.waiver_audits(CLAIM.number) == [WAIVER]
        tx.add_notice(_notice())
        assert [n.recipient for n in tx.notices(CLAIM.number)] == ["13800138000"]
        tx.add_notice(_notice("13900139000"))
        pending = tx.pending_notices([Channel.SMS], limit=10)
        assert sorted(n.recipient for n in pending) == ["13800138000", "13900139000"]


def test_a_failing_deferred_write_rolls_the_whole_transaction_back(engine, store):
    """A notice without a recipient breaks a NOT NULL constraint: on PostgreSQL when the
    deferred writes are sent before the commit (the block itself ran to its end), on SQLite
    at the call. Either way an IntegrityError, and nothing of the transaction is kept."""
    ended = False
    with pytest.raises(IntegrityError), store.transaction() as tx:
        _file(tx, notice=_notice(None))
        ended = True
    assert ended is (engine.dialect.name == "postgresql")
    assert _counts(engine) == NOTHING
    with store.transaction() as tx:  # the pooled connection serves the next transaction
        _file(tx)
    assert _counts(engine)["claims"] == 1


def test_completing_a_key_never_reserved_is_refused_and_rolled_back(engine, store):
    with pytest.raises(NotFoundError) as refused, store.transaction() as tx:
        tx.add_claim(CLAIM)
        tx.add_audit(_audit("claim.reported"))
        tx.complete_idempotency_key("intake", "never-reserved", CLAIM.number)
    assert refused.value.field == "idempotency_key"
    assert _counts(engine) == NOTHING


def test_a_shared_transaction_sends_every_store_s_deferred_writes(engine, store):
    """Inside ``together`` a claims transaction's writes wait for the shared commit."""
    with pytest.raises(RuntimeError), store.together():
        with store.transaction() as tx:
            _file(tx)
        raise RuntimeError("crash before the shared commit")
    if engine.dialect.name != "postgresql":  # the claims transaction committed on its own
        assert _counts(engine)["notices"] == 1
        return
    assert _counts(engine) == NOTHING
    with store.together(), store.transaction() as tx:
        _file(tx)
    assert _counts(engine) == {**{name: 1 for name in NOTHING}, "audit_log": 2}


def test_deferred_statements_run_in_order_with_their_row_counts(engine):
    """``DeferredWrites`` sends statements in order (a later one sees an earlier one's row)
    and gives each check its own statement's row count."""
    table = cast(Table, SequenceRow.__table__)
    add = Prepared(
        insert(table).values(name=bindparam("name"), day=date(2025, 9, 30), last_value=1),
        engine.dialect,
    )
    bump = Prepared(
        table.update()
        .where(table.c.name == bindparam("b_name"))
        .values(last_value=table.c.last_value + 1),
        engine.dialect,
    )
    counts: list[int] = []
    with deferring_transaction(engine) as (connection, writes):
        writes = writes or DeferredWrites(connection)  # SQLite: sent at flush, one by one
        writes.add(add, {"name": "a"})
        writes.add(bump, {"b_name": "a"}, check=counts.append)
        writes.add(bump, {"b_name": "none"}, check=counts.append)
        writes.add(add, {"name": "b"})
        writes.flush()
        values = dict(connection.execute(select(table.c.name, table.c.last_value)).all())
    assert counts == [1, 0]
    assert values == {"a": 2, "b": 1}
