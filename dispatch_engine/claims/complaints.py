"""Complaints (举报投诉, SPEC §6): ticket, handling deadline, feedback, result, follow-up.

A complaint arrives by hotline or online in one of three categories and gets a ticket
``TS-YYYYMMDD-NNNNNN``. Handling must start within 1 working day (close of business of
the next working day after receipt); then the handler gives the complainant feedback,
records the result, and a follow-up call closes the loop::

    received -> handling -> resolved -> followed_up
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from dispatch_engine.claims.audit import AuditEntry
from dispatch_engine.claims.calendar import BusinessCalendar, to_shanghai
from dispatch_engine.claims.intake import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    REPORT_NUMBER_PREFIX,
    check_number,
    check_phone,
    check_text,
    format_number,
)
from dispatch_engine.claims.lifecycle import check_transition
from dispatch_engine.claims.pii import mask_phone
from dispatch_engine.errors import ConflictError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from dispatch_engine.claims.ports import ClaimsStore, ClaimsTransaction
    from dispatch_engine.dispatch.ports import Clock

logger = logging.getLogger(__name__)

TICKET_PREFIX = "TS"
HANDLING_WORKING_DAYS = 1


class ComplaintCategory(StrEnum):
    SERVICE_QUALITY = "service_quality"
    CLAIM_DISPUTE = "claim_dispute"
    POLICY_TERMS = "policy_terms"


class ComplaintChannel(StrEnum):
    HOTLINE = "hotline"
    ONLINE = "online"


class ComplaintState(StrEnum):
    RECEIVED = "received"
    HANDLING = "handling"
    RESOLVED = "resolved"
    FOLLOWED_UP = "followed_up"


C = ComplaintState
COMPLAINT_TRANSITIONS: dict[ComplaintState, frozenset[ComplaintState]] = {
    C.RECEIVED: frozenset({C.HANDLING}),
    C.HANDLING: frozenset({C.RESOLVED}),
    C.RESOLVED: frozenset({C.FOLLOWED_UP}),
    C.FOLLOWED_UP: frozenset(),
}


def _member(enum: type[StrEnum], value: str, *, field: str) -> StrEnum:
    try:
        return enum(value)
    except ValueError as exc:
        raise InvalidInputError(f"{value!r} is not one of: {', '.join(enum)}", field=field) from exc


@dataclass(frozen=True, kw_only=True)
class ComplaintInput:
    """A complaint as taken down; construction validates every field.

    ``claim_number`` links a complaint about a claim (required for ``claim_dispute``).
    """

    category: ComplaintCategory
    channel: ComplaintChannel
    complainant_name: str
    phone: str
    description: str
    claim_number: str | None = None

    def __post_init__(self) -> None:
        category = _member(ComplaintCategory, self.category, field="category")
        if category is ComplaintCategory.CLAIM_DISPUTE and self.claim_number is None:
            raise InvalidInputError("a claim dispute names its claim", field="claim_number")
        values = {
            "category": category,
            "channel": _member(ComplaintChannel, self.channel, field="channel"),
            "complainant_name": check_text(
                self.complainant_name, field="complainant_name", max_chars=MAX_NAME_CHARS
            ),
            "phone": check_phone(self.phone, field="phone"),
            "description": check_text(
                self.description, field="description", max_chars=MAX_DESCRIPTION_CHARS
            ),
            "claim_number": None
            if self.claim_number is None
            else check_number(self.claim_number, prefix=REPORT_NUMBER_PREFIX, field="claim_number"),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class Complaint:
    """A stored complaint with each step's text and time (None until it happened)."""

    ticket: str
    filed: ComplaintInput
    state: ComplaintState
    received_at: datetime
    handling_due: datetime
    handling_started_at: datetime | None = None
    feedback: str | None = None
    feedback_at: datetime | None = None
    result: str | None = None
    resolved_at: datetime | None = None
    follow_up: str | None = None
    followed_up_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ComplaintSummary:
    """A complaint as list views show it: the phone masked."""

    ticket: str
    category: ComplaintCategory
    channel: ComplaintChannel
    state: ComplaintState
    complainant_name: str
    phone_masked: str
    claim_number: str | None
    received_at: datetime
    handling_due: datetime


def summarise_complaint(complaint: Complaint) -> ComplaintSummary:
    """The list-view form of a complaint (no full phone number)."""
    filed = complaint.filed
    return ComplaintSummary(
        ticket=complaint.ticket,
        category=filed.category,
        channel=filed.channel,
        state=complaint.state,
        complainant_name=filed.complainant_name,
        phone_masked=mask_phone(filed.phone),
        claim_number=filed.claim_number,
        received_at=complaint.received_at,
        handling_due=complaint.handling_due,
    )


class ComplaintsService:
    """Files complaints and moves them through handling, auditing each step.

    Parameters
    ----------
    store
        Where complaints (and the claims they name) are kept.
    clock
        The time of receipt and of every step.
    calendar
        Working days for the handling deadline.
    """

    def __init__(self, store: ClaimsStore, *, clock: Clock, calendar: BusinessCalendar) -> None:
        self._store = store
        self._clock = clock
        self._calendar = calendar

    def _now(self) -> datetime:
        return to_shanghai(self._clock.now(), field="clock")

    def file(self, complaint: ComplaintInput, *, actor: str) -> Complaint:
        """Record a complaint under a new ticket; handling is due within 1 working day.

        Raises
        ------
        NotFoundError
            ``field="claim_number"`` when it names a claim that does not exist.
        """
        actor = check_text(actor, field="actor", max_chars=MAX_NAME_CHARS)
        now = self._now()
        with self._store.transaction() as tx:
            if complaint.claim_number is not None:
                try:
                    tx.get_claim(complaint.claim_number)
                except NotFoundError as exc:
                    raise NotFoundError(exc.message, field="claim_number") from exc
            ticket = format_number(
                TICKET_PREFIX, now.date(), tx.next_sequence("complaint", now.date())
            )
            stored = Complaint(
                ticket=ticket,
                filed=complaint,
                state=ComplaintState.RECEIVED,
                received_at=now,
                handling_due=self._calendar.working_days_after(now, HANDLING_WORKING_DAYS),
            )
            tx.add_complaint(stored)
            self._audit(tx, actor, "complaint.filed", ticket, now, category=complaint.category)
        logger.info("complaint %s filed (%s, %s)", ticket, complaint.category, complaint.channel)
        return stored

    def get(self, ticket: str) -> Complaint:
        """The complaint with this ticket."""
        ticket = check_number(ticket, prefix=TICKET_PREFIX, field="ticket")
        with self._store.transaction() as tx:
            return tx.get_complaint(ticket)

    def start_handling(self, ticket: str, *, actor: str) -> Complaint:
        """Mark that a handler has taken the complaint up (the deadline is about this)."""
        return self._step(ticket, ComplaintState.HANDLING, actor=actor, stamp="handling_started_at")

    def give_feedback(self, ticket: str, feedback: str, *, actor: str) -> Complaint:
        """Record what the complainant was told; allowed while handling and after the result."""
        text = check_text(feedback, field="feedback", max_chars=MAX_DESCRIPTION_CHARS)
        actor = check_text(actor, field="actor", max_chars=MAX_NAME_CHARS)
        ticket = check_number(ticket, prefix=TICKET_PREFIX, field="ticket")
        now = self._now()
        with self._store.transaction() as tx:
            complaint = tx.get_complaint(ticket, for_update=True)
            if complaint.state not in (ComplaintState.HANDLING, ComplaintState.RESOLVED):
                raise ConflictError(
                    f"feedback needs a complaint in handling or resolved; {ticket} is "
                    f"{complaint.state}",
                    field="state",
                )
            updated = replace(complaint, feedback=text, feedback_at=now)
            tx.update_complaint(updated)
            self._audit(tx, actor, "complaint.feedback", ticket, now)
        return updated

    def resolve(self, ticket: str, result: str, *, actor: str) -> Complaint:
        """Record the outcome of handling."""
        text = check_text(result, field="result", max_chars=MAX_DESCRIPTION_CHARS)
        return self._step(
            ticket, ComplaintState.RESOLVED, actor=actor, stamp="resolved_at", result=text
        )

    def follow_up(self, ticket: str, note: str, *, actor: str) -> Complaint:
        """Record the follow-up with the complainant after the result; the last step."""
        text = check_text(note, field="follow_up", max_chars=MAX_DESCRIPTION_CHARS)
        return self._step(
            ticket, ComplaintState.FOLLOWED_UP, actor=actor, stamp="followed_up_at", follow_up=text
        )

    def list_overdue(self, *, limit: int = 100) -> list[ComplaintSummary]:
        """Complaints not taken up by their handling deadline, masked for a list view."""
        with self._store.transaction() as tx:
            late = tx.overdue_complaints(self._now(), limit=limit)
        return [summarise_complaint(complaint) for complaint in late]

    def _step(
        self, ticket: str, target: ComplaintState, *, actor: str, stamp: str, **texts: str
    ) -> Complaint:
        actor = check_text(actor, field="actor", max_chars=MAX_NAME_CHARS)
        ticket = check_number(ticket, prefix=TICKET_PREFIX, field="ticket")
        now = self._now()
        with self._store.transaction() as tx:
            complaint = tx.get_complaint(ticket, for_update=True)
            check_transition(
                complaint.state, target, transitions=COMPLAINT_TRANSITIONS, subject="a complaint"
            )
            changes: dict[str, object] = {"state": target, stamp: now, **texts}
            updated = replace(complaint, **changes)  # type: ignore[arg-type]
            tx.update_complaint(updated)
            self._audit(tx, actor, f"complaint.{target}", ticket, now)
        return updated

    @staticmethod
    def _audit(
        tx: ClaimsTransaction, actor: str, action: str, ticket: str, now: datetime, **details: str
    ) -> None:
        tx.add_audit(
            AuditEntry(
                at=now,
                actor=actor,
                action=action,
                entity="complaint",
                entity_ref=ticket,
                details=details,
            )
        )
