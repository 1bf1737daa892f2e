"""The claims service: the claim steps of SPEC §6 as methods, over a store.

Each step runs in one store transaction that locks the claim, checks the move against
the state machine, records the change, its audit entry and the notices it queues, and
commits them together — so a reply means the step is durable (SPEC §8). A report is
stored first, then dispatched: the dispatch and the claim's move to ``dispatched`` commit
together where the store allows it (``ClaimsStore.together``), else one after the other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.documents import (
    DocumentKind,
)
from dispatch_engine.claims.intake import (
    REPORT_NUMBER_PREFIX,
    ClaimReport,
    check_text,
    format_number,
)
from dispatch_engine.claims.lifecycle import (
    ESTIMABLE_STATES,
    Claim,
    ClaimState,
    ClaimSummary,
    check_transition,
    compute_deadlines,
    summarise_claim,
)
from dispatch_engine.claims.notices import (
    Channel,
    Notice,
    NoticeKind,
    NoticeSender,
    NoticeStatus,
)
from dispatch_engine.claims.payments import (
    PaymentStatus,
)
from dispatch_engine.claims.pii import mask_phone, mask_text
from dispatch_engine.claims.ports import ClaimsStore, DispatchService
from dispatch_engine.claims.steps import (
    Step,
    check_actor,
    check_claim_number,
    checklist,
    now_in_shanghai,
    reading,
    writing,
)
from dispatch_engine.claims.tiers import check_amount_yuan
from dispatch_engine.dispatch.model import Incident, IncidentRequest
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.errors import (
    ConflictError,
    DispatchEngineError,
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
)
from dispatch_engine.fleet.model import VehicleKind

logger = logging.getLogger(__name__)

INTAKE_SCOPE = "claims.intake"
# A report time this far past the service's clock is a typo, not clock drift.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_KEY_CHARS = 200
MAX_TEXT_CHARS = 500  # reasons, document references
S = ClaimState


@dataclass(frozen=True, kw_only=True)
class DocumentChecklist:
    """The documents a claim needs, and which of them are still missing."""

    required: tuple[DocumentKind, ...]
    missing: tuple[DocumentKind, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True, kw_only=True)
class DeliveryReport:
    """Ids of the notices one delivery run sent, and of those whose sender failed."""

    sent: tuple[int, ...]
    failed: tuple[int, ...]


class ClaimsService:
    """Intake, triage, dispatch, deadlines, documents, notices and the claim's way to its
    close (approval and payments are ``SettlementService``'s).

    Parameters
    ----------
    store
        Durable storage (``dispatch_engine.store.claims_sql.SqlClaimsStore``).
    clock
        The time of every step; must return aware datetimes.
    calendar
        Working days and business hours for every deadline.
    dispatch
        The dispatch core (a ``Dispatcher``), asked for a surveyor unless the survey is waived.
    """

    def __init__(
        self,
        store: ClaimsStore,
        *,
        clock: Clock,
        calendar: BusinessCalendar,
        dispatch: DispatchService,
    ) -> None:
        self._store = store
        self._clock = clock
        self._calendar = calendar
        self._dispatch = dispatch

    # --- intake and dispatch ---------------------------------------------------------------

    def report(
        self,
        report: ClaimReport,
        *,
        actor: str,
        idempotency_key: str | None = None,
        time_defaulted: bool = False,
    ) -> Claim:
        """File a report: number it, triage it, set its deadlines, queue the first SMS, then
        dispatch a surveyor unless the survey is waived.

        The claim is committed before dispatch is asked; if dispatch fails the claim stays
        ``reported``, the failure is in its audit trail, and :meth:`dispatch_survey`
        retries. With an ``idempotency_key`` a repeated call returns the first claim;
        ``time_defaulted`` (the report time was not given but taken from the clock) compares
        a repeat with the first attempt at the first attempt's report time.

        Raises
        ------
        InvalidInputError
            ``reported_at`` later than now (beyond a 5-minute clock skew).
        ConflictError
            ``field="idempotency_key"`` when the key was used for a different report.
        """
        key = (
            None
            if idempotency_key is None
            else check_text(idempotency_key, field="idempotency_key", max_chars=MAX_KEY_CHARS)
        )
        fingerprint = report.fingerprint()
        with writing(self._store, self._clock, actor) as step:
            if report.reported_at > step.now + MAX_CLOCK_SKEW:
                raise InvalidInputError(
                    f"{report.reported_at.isoformat()} is in the future "
                    f"(now {step.now:%Y-%m-%d %H:%M})",
                    field="reported_at",
                )
            if key is not None:
                earlier = step.tx.reserve_idempotency_key(
                    INTAKE_SCOPE, key, fingerprint, at=step.now
                )
                if earlier is not None:
                    first = step.tx.get_claim(str(earlier.result_ref))
                    if time_defaulted:
                        fingerprint = replace(
                            report, reported_at=first.report.reported_at
                        ).fingerprint()
                    if earlier.fingerprint != fingerprint:
                        raise ConflictError(
                            f"key already used for a different report ({earlier.result_ref}); "
                            "use a new key for a new report",
                            field="idempotency_key",
                        )
                    return first
            claim = self._file(step, report)
            if key is not None:
                step.tx.complete_idempotency_key(INTAKE_SCOPE, key, claim.number)
        logger.info(
            "claim %s reported: plate %s, driver phone %s, tier %d, survey %s",
            claim.number,
            report.vehicle.plate,
            mask_phone(report.driver.phone),
            claim.deadlines.tier,
            "waived" if claim.survey_waived else "needed",
        )
        if claim.state is S.REPORTED:
            return self._dispatch_or_record(claim, actor=step.actor)
        return claim

    def _file(self, step: Step, report: ClaimReport) -> Claim:
        day = report.reported_at.date()
        claim = Claim(
            number=format_number(REPORT_NUMBER_PREFIX, day, step.tx.next_sequence("claim", day)),
            report=report,
            state=S.REPORTED,
            accepted_at=step.now,
            estimate_yuan=report.estimate_yuan,
            deadlines=compute_deadlines(
                report.estimate_yuan,
                reported_at=report.reported_at,
                documents_complete_at=None,
                calendar=self._calendar,
            ),
            survey_waived=False,
        )
        step.tx.add_claim(claim)
        step.audit(claim, "claim.reported", tier=claim.deadlines.tier, plate=report.vehicle.plate)
        if step.waiver(claim, report.estimate_yuan, trigger="intake"):
            claim = step.move(claim, S.SURVEY_WAIVED, survey_waived=True)
        step.queue(NoticeKind.REPORT_ACCEPTED, claim, event_at=report.reported_at)
        return claim

    def dispatch_survey(self, number: str, *, actor: str) -> Claim:
        """Ask the dispatch core for a surveyor and mark the claim ``dispatched``.

        Raises
        ------
        ConflictError
            When the claim's state does not allow dispatch (checked before and after the
            call, as a handler may have moved it meanwhile).
        DispatchEngineError
            Whatever the dispatch core raised; the claim is unchanged then.
        """
        return self._send_survey(self.get(number), actor=check_actor(actor))

    def _send_survey(self, claim: Claim, *, actor: str) -> Claim:
        """:meth:`dispatch_survey` for a claim in hand."""
        check_transition(claim.state, S.DISPATCHED)
        incident_id = _next_incident_id(claim)
        lat, lon = claim.report.position_wgs84
        request = IncidentRequest(
            id=incident_id,
            lat=lat,
            lon=lon,
            reported_at=claim.report.reported_at,
            needs=(VehicleKind.SURVEY,),
            injured=claim.report.anyone_injured,
        )
        try:
            # The vehicles booked and the claim marked commit together where the store
            # allows it: a claim moved meanwhile (cancelled) then books nothing.
            with self._store.together():
                incident = self._dispatch.dispatch(request)
                return self._mark_dispatched(claim, incident, actor=actor)
        except ConflictError as exc:
            if exc.field != "id":
                raise
        # An earlier call opened it but its reply was lost; take it up, do not open twice.
        return self._mark_dispatched(claim, self._dispatch.incident(incident_id), actor=actor)

    def _mark_dispatched(self, claim: Claim, incident: Incident, *, actor: str) -> Claim:
        """Move ``claim`` (as read before the dispatch) to ``dispatched``: in one write if
        it is still in the state read, else from a fresh locked read (a handler moved it
        meanwhile: the move may now be refused)."""
        etas_s = [assignment.eta_s for assignment in incident.active()]
        note = {
            "incident_id": incident.id,
            "status": incident.status,
            "zone": incident.zone.zone,
            "eta_s": min(etas_s) if etas_s else None,
            "arrival_due_at": incident.arrival_due_at.isoformat(),
        }
        changes = {"incident_id": incident.id, "survey_waived": False}
        with writing(self._store, self._clock, actor) as step:
            moved = step.move_if_still(
                claim.number, claim.state, S.DISPATCHED, note=note, **changes
            )
            if moved is not None:
                return moved
            current = step.tx.get_claim(claim.number, for_update=True)
            return step.move(current, S.DISPATCHED, note=note, **changes)

    def _dispatch_or_record(self, claim: Claim, *, actor: str) -> Claim:
        """Dispatch after intake or a lost waiver; a failure leaves the claim as it is, with
        the reason in its audit trail and the log, for the dispatcher to retry."""
        try:
            return self._send_survey(claim, actor=actor)
        except DispatchEngineError as exc:
            reason = mask_text(str(exc))
            logger.warning("claim %s not dispatched: %s", claim.number, reason)
            with writing(self._store, self._clock, actor) as step:
                claim = step.tx.get_claim(claim.number)
                step.audit(claim, "claim.dispatch_failed", code=exc.code, message=reason)
            return claim

    def survey_incident(self, number: str) -> Incident:
        """The dispatch core's incident of the claim's latest survey: status, vehicles, ETA.

        Raises
        ------
        NotFoundError
            ``field="incident_id"`` when the claim was never dispatched.
        """
        claim = self.get(number)
        if claim.incident_id is None:
            raise NotFoundError(
                f"claim {claim.number} has no dispatched survey (state {claim.state})",
                field="incident_id",
            )
        return self._dispatch.incident(claim.incident_id)

    # --- survey, assessment, estimate --------------------------------------------------------

    def record_survey(self, number: str, *, actor: str) -> Claim:
        """The surveyor finished on site; queues the call with the result."""
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            claim = step.move(claim, S.SURVEYED, surveyed_at=step.now)
            step.queue(NoticeKind.SURVEY_RESULT, claim)
        return claim

    def record_assessment(self, number: str, amount_yuan: Decimal, *, actor: str) -> Claim:
        """Loss assessment (定损) done: the assessed amount becomes the estimate, and the
        claim moves on to ``documents_complete`` at once if its checklist is already met.

        A claim whose survey was waived is assessed remotely; its result call is queued now.
        """
        amount = check_amount_yuan(amount_yuan, field="amount_yuan")
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            remote = claim.state is S.SURVEY_WAIVED
            claim = step.move(
                claim,
                S.ASSESSED,
                assessed_at=step.now,
                assessed_amount_yuan=amount,
                **self._estimate_changes(claim, amount),
            )
            if remote:
                step.queue(NoticeKind.SURVEY_RESULT, claim)
            return step.complete_documents_if_ready(claim, self._calendar)

    def reestimate(self, number: str, estimate_yuan: Decimal, *, actor: str, reason: str) -> Claim:
        """Replace the loss estimate; a new tier recomputes both deadlines from the original
        report and documents-complete times.

        While the survey is waived the waiver is decided again (and audited); a claim that
        no longer qualifies is dispatched for a survey.

        Raises
        ------
        ConflictError
            When the amount is already approved (or the claim finished).
        """
        estimate = check_amount_yuan(estimate_yuan, field="estimate_yuan")
        reason = check_text(reason, field="reason", max_chars=MAX_TEXT_CHARS)
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            if claim.state not in ESTIMABLE_STATES:
                raise ConflictError(
                    f"the estimate of a {claim.state} claim is fixed; reopen it to change it",
                    field="state",
                )
            updated = replace(claim, **self._estimate_changes(claim, estimate))
            step.tx.update_claim(updated)
            step.audit(
                updated,
                "claim.reestimated",
                reason=reason,
                from_yuan=claim.estimate_yuan,
                to_yuan=estimate,
                from_tier=claim.deadlines.tier,
                to_tier=updated.deadlines.tier,
            )
            lost_waiver = claim.state is S.SURVEY_WAIVED and not step.waiver(
                claim, estimate, trigger="reestimate"
            )
        if lost_waiver:
            return self._dispatch_or_record(updated, actor=step.actor)
        return updated

    def _estimate_changes(self, claim: Claim, estimate: Decimal) -> dict[str, Any]:
        deadlines = compute_deadlines(
            estimate,
            reported_at=claim.report.reported_at,
            documents_complete_at=claim.documents_complete_at,
            calendar=self._calendar,
        )
        return {"estimate_yuan": estimate, "deadlines": deadlines}

    # --- documents ----------------------------------------------------------------------------

    def receive_document(self, number: str, kind: DocumentKind, ref: str, *, actor: str) -> Claim:
        """Record a received document; completing an assessed claim's checklist moves it to
        ``documents_complete`` and starts the settlement clock."""
        kind = _document_kind(kind)
        ref = check_text(ref, field="ref", max_chars=MAX_TEXT_CHARS)
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            if claim.state in (S.CLOSED, S.CANCELLED):
                raise ConflictError(
                    f"claim {number} is {claim.state}; reopen it before adding documents",
                    field="state",
                )
            step.add_document(claim, kind, ref)
            return step.complete_documents_if_ready(claim, self._calendar)

    def document_checklist(self, number: str) -> DocumentChecklist:
        """The documents this claim's case type requires and which are missing."""
        number = check_claim_number(number)
        with self._store.transaction() as tx:
            required, missing = checklist(tx, tx.get_claim(number))
        return DocumentChecklist(required=tuple(sorted(required)), missing=missing)

    # --- close, cancel, reopen -------------------------------------------------------------

    def close(self, number: str, *, actor: str) -> Claim:
        """Close a paid (or reopened, unchanged) claim; queues the result SMS and call."""
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            claim = step.move(claim, S.CLOSED, closed_at=step.now)
            step.queue(NoticeKind.CLOSE_RESULT, claim)
        return claim

    def cancel(self, number: str, *, actor: str, reason: str) -> Claim:
        """Withdraw a claim before payment; its pending payments are cancelled.

        Raises
        ------
        ConflictError
            When a payment (e.g. an advance) was already made: that needs a recovery first.
        """
        reason = check_text(reason, field="reason", max_chars=MAX_TEXT_CHARS)
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            check_transition(claim.state, S.CANCELLED)
            payments = step.tx.payments(number)
            made = [p.id for p in payments if p.status is PaymentStatus.PAID]
            if made:
                raise ConflictError(
                    f"payments {made} of claim {number} were made; recover them before cancelling",
                    field="state",
                )
            for payment in payments:
                if payment.status is PaymentStatus.PENDING:
                    step.tx.update_payment(replace(payment, status=PaymentStatus.CANCELLED))
            return step.move(claim, S.CANCELLED, note={"reason": reason}, cancelled_at=step.now)

    def reopen(self, number: str, *, actor: str, reason: str) -> Claim:
        """Reopen a closed or cancelled claim (e.g. a supplementary loss).

        The times of the steps to redo after assessment are cleared (the audit log keeps
        them), so the second settlement gets its own deadline once the documents are
        complete again; the assessment time and deadline of the first pass stay.
        """
        reason = check_text(reason, field="reason", max_chars=MAX_TEXT_CHARS)
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            return step.move(
                claim,
                S.REOPENED,
                note={"reason": reason},
                reopened_at=step.now,
                documents_complete_at=None,
                approved_at=None,
                paid_at=None,
                closed_at=None,
                cancelled_at=None,
                deadlines=replace(claim.deadlines, settlement_due=None),
            )

    # --- reading --------------------------------------------------------------------------

    def get(self, number: str) -> Claim:
        """The full claim (unmasked: for the handler's detail view, not for lists)."""
        number = check_claim_number(number)
        with self._store.transaction() as tx:
            return tx.get_claim(number)

    def list_claims(
        self, *, state: ClaimState | None = None, limit: int = 50, offset: int = 0
    ) -> list[ClaimSummary]:
        """Claims, newest first, masked for a list view."""
        state = None if state is None else _claim_state(state)
        limit, offset = _check_page(limit, offset)
        with self._store.transaction() as tx:
            claims = tx.list_claims(state=state, limit=limit, offset=offset)
        now = now_in_shanghai(self._clock)
        return [summarise_claim(claim, now) for claim in claims]

    def list_overdue(self, *, limit: int = 100) -> list[ClaimSummary]:
        """Claims past their assessment or settlement deadline, oldest report first."""
        limit, _ = _check_page(limit, 0)
        now = now_in_shanghai(self._clock)
        with self._store.transaction() as tx:
            claims = tx.overdue_claims(now, limit=limit)
        return [summarise_claim(claim, now) for claim in claims]

    def waiver_history(self, number: str) -> list[WaiverAudit]:
        """Every survey-waiver decision of the claim, oldest first."""
        with reading(self._store, number) as tx:
            return tx.waiver_audits(number)

    def audit_trail(self, number: str) -> list[AuditEntry]:
        """Every audited step of the claim, oldest first."""
        with reading(self._store, number) as tx:
            return tx.audit_entries("claim", number)

    def notices(self, number: str) -> list[Notice]:
        """The claim's notices in the outbox (pending and sent), earliest due first."""
        with reading(self._store, number) as tx:
            return tx.notices(number)

    # --- outbox --------------------------------------------------------------------------------

    def deliver_notices(
        self, senders: Mapping[Channel, NoticeSender], *, limit: int = 100
    ) -> DeliveryReport:
        """Send pending notices on the channels that have a sender, earliest due first.

        A sender's :class:`ExternalServiceError` is recorded on the notice (attempts,
        last error), logged, and the notice stays pending for the next run.
        """
        limit, _ = _check_page(limit, 0)
        now = now_in_shanghai(self._clock)
        sent: list[int] = []
        failed: list[int] = []
        with self._store.transaction() as tx:
            for notice in tx.pending_notices(tuple(senders), limit=limit):
                attempts = notice.attempts + 1
                try:
                    senders[notice.channel].send(notice)
                except ExternalServiceError as exc:
                    logger.warning("notice %s not delivered: %s", notice.id, mask_text(str(exc)))
                    tx.update_notice(replace(notice, attempts=attempts, last_error=str(exc)))
                    failed.append(int(notice.id or 0))
                    continue
                tx.update_notice(
                    replace(notice, status=NoticeStatus.SENT, sent_at=now, attempts=attempts)
                )
                sent.append(int(notice.id or 0))
        return DeliveryReport(sent=tuple(sent), failed=tuple(failed))

    # --- plumbing -------------------------------------------------------------------------------


def _next_incident_id(claim: Claim) -> str:
    """The report number for a claim's first survey; ``-2``, ``-3`` ... for surveys after a
    reopening, so each survey is its own incident."""
    if claim.incident_id is None:
        return claim.number
    previous = claim.incident_id.removeprefix(claim.number).lstrip("-") or "1"
    return f"{claim.number}-{int(previous) + 1}"


def _check_page(limit: int, offset: int) -> tuple[int, int]:
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10_000:
            raise InvalidInputError(
                f"must be a whole number {low}-10000, got {value!r}", field=name
            )
    return limit, offset


def _document_kind(kind: str) -> DocumentKind:
    try:
        return DocumentKind(kind)
    except ValueError as exc:
        raise InvalidInputError(
            f"{kind!r} is not one of: {', '.join(DocumentKind)}", field="kind"
        ) from exc


def _claim_state(state: str) -> ClaimState:
    try:
        return ClaimState(state)
    except ValueError as exc:
        raise InvalidInputError(
            f"{state!r} is not one of: {', '.join(ClaimState)}", field="state"
        ) from exc
