"""The claim state machine and the claim record (SPEC §6).

::

    reported ─┬─> dispatched ───> surveyed ──┐
              └─> survey_waived ─────────────┴─> assessed -> documents_complete
                                                  -> approved -> paid -> closed

- ``survey_waived -> assessed``: a waived claim is assessed remotely from its photos;
  ``survey_waived -> dispatched`` when a re-estimate removes the waiver.
- ``cancelled`` from any state before payment; ``reopened`` from ``closed`` or
  ``cancelled``; a reopened claim is surveyed again (``dispatched``), re-assessed
  (``assessed``), closed unchanged or cancelled.

Settlement (结案) counts as done when the claim is ``paid``: the customer has the money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.intake import ClaimReport
from dispatch_engine.claims.pii import mask_id_number, mask_phone
from dispatch_engine.claims.tiers import assessment_deadline, settlement_deadline, tier_for
from dispatch_engine.claims.triage import AccidentType
from dispatch_engine.errors import ConflictError


class ClaimState(StrEnum):
    REPORTED = "reported"
    DISPATCHED = "dispatched"
    SURVEY_WAIVED = "survey_waived"
    SURVEYED = "surveyed"
    ASSESSED = "assessed"
    DOCUMENTS_COMPLETE = "documents_complete"
    APPROVED = "approved"
    PAID = "paid"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REOPENED = "reopened"


S = ClaimState
TRANSITIONS: dict[ClaimState, frozenset[ClaimState]] = {
    S.REPORTED: frozenset({S.DISPATCHED, S.SURVEY_WAIVED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.SURVEYED, S.CANCELLED}),
    S.SURVEY_WAIVED: frozenset({S.ASSESSED, S.DISPATCHED, S.CANCELLED}),
    S.SURVEYED: frozenset({S.ASSESSED, S.CANCELLED}),
    S.ASSESSED: frozenset({S.DOCUMENTS_COMPLETE, S.CANCELLED}),
    S.DOCUMENTS_COMPLETE: frozenset({S.APPROVED, S.CANCELLED}),
    S.APPROVED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.CLOSED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.CANCELLED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.ASSESSED, S.CLOSED, S.CANCELLED}),
}
# A claim in these states waits for nothing: no deadline can be overdue.
FINISHED_STATES = frozenset({S.PAID, S.CLOSED, S.CANCELLED})
# The loss estimate may change until the amount is approved.
ESTIMABLE_STATES = frozenset(
    {
        S.REPORTED,
        S.DISPATCHED,
        S.SURVEY_WAIVED,
        S.SURVEYED,
        S.ASSESSED,
        S.DOCUMENTS_COMPLETE,
        S.REOPENED,
    }
)


def check_transition(
    current: StrEnum,
    target: StrEnum,
    *,
    transitions: Mapping[Any, frozenset[Any]] = TRANSITIONS,
    subject: str = "a claim",
) -> None:
    """Refuse a move the state machine does not allow, naming both states.

    Parameters
    ----------
    current, target
        The state now and the state asked for.
    transitions
        The machine: allowed targets per state (claims by default; complaints pass theirs).
    subject
        What moves, for the message.

    Raises
    ------
    ConflictError
        ``field="state"``, e.g. "cannot go from reported to paid; from reported a claim
        may go to: cancelled, dispatched, survey_waived".
    """
    allowed = transitions[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (final state)"
        raise ConflictError(
            f"cannot go from {current} to {target}; from {current} {subject} may go to: {options}",
            field="state",
        )


@dataclass(frozen=True, kw_only=True)
class Deadlines:
    """The tier of an estimate and the deadlines it sets (``settlement_due`` is None until
    the documents are complete)."""

    tier: int
    assessment_due: datetime
    settlement_due: datetime | None


def compute_deadlines(
    estimate_yuan: Decimal,
    *,
    reported_at: datetime,
    documents_complete_at: datetime | None,
    calendar: BusinessCalendar,
) -> Deadlines:
    """Tier and deadlines of SPEC §6, always counted from the original events.

    A re-estimate calls this again with the same ``reported_at`` and
    ``documents_complete_at``, so moving to another tier never restarts a clock.
    """
    tier = tier_for(estimate_yuan)
    settlement_due = (
        None
        if documents_complete_at is None
        else settlement_deadline(tier, documents_complete_at, calendar)
    )
    return Deadlines(
        tier=tier.number,
        assessment_due=assessment_deadline(tier, reported_at, calendar),
        settlement_due=settlement_due,
    )


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim as stored: the report, where it stands, and when each step happened.

    ``number`` is the report number and the claim's identity everywhere. Times are
    aware (Asia/Shanghai); a step's time is None until it happened. Amounts are yuan.
    """

    number: str
    report: ClaimReport
    state: ClaimState
    accepted_at: datetime
    estimate_yuan: Decimal
    deadlines: Deadlines
    survey_waived: bool
    incident_id: str | None = None
    surveyed_at: datetime | None = None
    assessed_at: datetime | None = None
    assessed_amount_yuan: Decimal | None = None
    documents_complete_at: datetime | None = None
    approved_at: datetime | None = None
    approved_amount_yuan: Decimal | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    reopened_at: datetime | None = None

    def overdue(self, now: datetime) -> tuple[str, ...]:
        """Which deadlines (``"assessment"``, ``"settlement"``) have passed unmet at ``now``."""
        if self.state in FINISHED_STATES:
            return ()
        late = []
        if self.assessed_at is None and self.deadlines.assessment_due < now:
            late.append("assessment")
        settlement_due = self.deadlines.settlement_due
        if self.paid_at is None and settlement_due is not None and settlement_due < now:
            late.append("settlement")
        return tuple(late)


@dataclass(frozen=True, kw_only=True)
class ClaimSummary:
    """A claim as list views show it: phone and ID numbers masked, overdue deadlines named."""

    number: str
    state: ClaimState
    reported_at: datetime
    plate: str
    accident_type: AccidentType
    driver_name: str
    driver_phone_masked: str
    driver_id_masked: str
    tier: int
    estimate_yuan: Decimal
    assessment_due: datetime
    settlement_due: datetime | None
    overdue: tuple[str, ...]


def summarise_claim(claim: Claim, now: datetime) -> ClaimSummary:
    """The list-view form of a claim at ``now`` (which deadlines are overdue then)."""
    report = claim.report
    return ClaimSummary(
        number=claim.number,
        state=claim.state,
        reported_at=report.reported_at,
        plate=report.vehicle.plate,
        accident_type=report.accident_type,
        driver_name=report.driver.name,
        driver_phone_masked=mask_phone(report.driver.phone),
        driver_id_masked=mask_id_number(report.driver.id_number),
        tier=claim.deadlines.tier,
        estimate_yuan=claim.estimate_yuan,
        assessment_due=claim.deadlines.assessment_due,
        settlement_due=claim.deadlines.settlement_due,
        overdue=claim.overdue(now),
    )
