"""What every write of the claims services shares: one transaction, one actor, one moment,
and the moves made with them (transition + audit, notices, waiver audit, documents).

A step commits all it records together, so a reply means the step is durable (SPEC §8).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
from dispatch_engine.claims.calendar import BusinessCalendar, to_shanghai
from dispatch_engine.claims.documents import (
    ClaimDocument,
    DocumentKind,
    missing_documents,
    required_documents,
)
from dispatch_engine.claims.intake import (
    MAX_NAME_CHARS,
    REPORT_NUMBER_PREFIX,
    check_number,
    check_text,
)
from dispatch_engine.claims.lifecycle import Claim, ClaimState, check_transition, compute_deadlines
from dispatch_engine.claims.notices import NoticeKind, schedule_notices
from dispatch_engine.claims.ports import ClaimsStore, ClaimsTransaction
from dispatch_engine.claims.triage import decide_waiver
from dispatch_engine.dispatch.ports import Clock


@dataclass(frozen=True)
class Step:
    """One service call's transaction, actor and time: what every write of it needs."""

    tx: ClaimsTransaction
    actor: str
    now: datetime

    def audit(self, claim: Claim, action: str, **details: object) -> None:
        """Add an audit entry about ``claim``; details become JSON values."""
        self.tx.add_audit(
            AuditEntry(
                at=self.now,
                actor=self.actor,
                action=action,
                entity="claim",
                entity_ref=claim.number,
                details={key: _json_safe(value) for key, value in details.items()},
            )
        )

    def move(
        self,
        claim: Claim,
        target: ClaimState,
        *,
        note: Mapping[str, object] | None = None,
        **changes: Any,
    ) -> Claim:
        """Check and apply one transition with its field changes; audit it with ``note``."""
        check_transition(claim.state, target)
        moved = replace(claim, state=target, **changes)
        self.tx.update_claim(moved)
        self._audit_move(claim.state, moved, note)
        return moved

    def move_if_still(
        self,
        number: str,
        source: ClaimState,
        target: ClaimState,
        *,
        note: Mapping[str, object] | None = None,
        **changes: Any,
    ) -> Claim | None:
        """:meth:`move` of a claim not read in this transaction, done only if it is still
        in ``source`` (one conditional write: no locked read first); None otherwise."""
        check_transition(source, target)
        moved = self.tx.move_claim(number, source, target, **changes)
        if moved is not None:
            self._audit_move(source, moved, note)
        return moved

    def _audit_move(
        self, source: ClaimState, moved: Claim, note: Mapping[str, object] | None
    ) -> None:
        target = moved.state
        self.audit(moved, f"claim.{target}", **{"from": source, "to": target}, **(note or {}))

    def queue(self, kind: NoticeKind, claim: Claim, *, event_at: datetime | None = None) -> None:
        """Put the event's notices in the outbox, due from ``event_at`` (default: now)."""
        event = self.now if event_at is None else event_at
        for notice in schedule_notices(kind, claim, event_at=event, created_at=self.now):
            self.tx.add_notice(notice)

    def waiver(self, claim: Claim, estimate: Decimal, *, trigger: str) -> bool:
        """Decide the survey waiver for ``estimate``, audit the decision, return it."""
        decision = decide_waiver(claim.report.triage_facts(estimate))
        self.tx.add_waiver_audit(
            WaiverAudit(
                claim_number=claim.number,
                decided_at=self.now,
                trigger=trigger,
                decision=decision,
                estimate_yuan=estimate,
                actor=self.actor,
            )
        )
        return decision.waived

    def add_document(self, claim: Claim, kind: DocumentKind, ref: str) -> None:
        """Record a received document and audit it."""
        self.tx.add_document(
            ClaimDocument(
                claim_number=claim.number,
                kind=kind,
                ref=ref,
                received_at=self.now,
                actor=self.actor,
            )
        )
        self.audit(claim, "claim.document_received", kind=kind, ref=ref)

    def complete_documents_if_ready(self, claim: Claim, calendar: BusinessCalendar) -> Claim:
        """``assessed`` → ``documents_complete`` once nothing is missing; the settlement
        deadline starts then.

        The event time is the later of assessment and the last document: settlement is
        counted from when the claim could be settled, never before it was assessed.
        """
        if claim.state is not ClaimState.ASSESSED or checklist(self.tx, claim)[1]:
            return claim
        deadlines = compute_deadlines(
            claim.estimate_yuan,
            reported_at=claim.report.reported_at,
            documents_complete_at=self.now,
            calendar=calendar,
        )
        moved = self.move(
            claim,
            ClaimState.DOCUMENTS_COMPLETE,
            documents_complete_at=self.now,
            deadlines=deadlines,
        )
        self.queue(NoticeKind.PROGRESS, moved)
        return moved


@contextmanager
def writing(store: ClaimsStore, clock: Clock, actor: str) -> Iterator[Step]:
    """One transaction for one step by ``actor`` (validated), at the clock's now."""
    actor = check_actor(actor)
    now = now_in_shanghai(clock)
    with store.transaction() as tx:
        yield Step(tx, actor, now)


@contextmanager
def reading(store: ClaimsStore, number: str) -> Iterator[ClaimsTransaction]:
    """A transaction for reading about one existing claim (``NotFoundError`` otherwise)."""
    number = check_claim_number(number)
    with store.transaction() as tx:
        tx.get_claim(number)
        yield tx


def checklist(
    tx: ClaimsTransaction, claim: Claim
) -> tuple[frozenset[DocumentKind], tuple[DocumentKind, ...]]:
    """The claim's required documents and those still missing."""
    required = required_documents(claim.report, payee_authorised=bool(tx.payees(claim.number)))
    return required, missing_documents(required, tx.documents(claim.number))


def now_in_shanghai(clock: Clock) -> datetime:
    """The clock's time as Asia/Shanghai local time (refusing a naive clock)."""
    return to_shanghai(clock.now(), field="clock")


def check_actor(actor: str) -> str:
    """Who acts: a user id or name, required for the audit log."""
    return check_text(actor, field="actor", max_chars=MAX_NAME_CHARS)


def check_claim_number(number: str) -> str:
    """A report number in its format (``field="number"``)."""
    return check_number(number, prefix=REPORT_NUMBER_PREFIX, field="number")


def _json_safe(value: object) -> object:
    """Audit details are stored as JSON: numbers stay numbers, the rest becomes text
    (enums their value, Decimals exact)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return str(value)
