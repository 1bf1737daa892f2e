"""Claims: a claim's views and steps. A claim is filed by its report (``POST /v1/incidents``)
and keeps the report number."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Handling, ServicesDep
from api.schemas.claims import (
    AdvanceIn,
    AuditOut,
    ChecklistOut,
    ClaimOut,
    ClaimStepIn,
    ClaimSummaryOut,
    DocumentIn,
    NoticeOut,
    PayeeIn,
    PayeeOut,
    PaymentOut,
    ReestimateIn,
    WaiverOut,
)
from api.schemas.common import ERROR_RESPONSES, Limit, Offset, Page, page
from api.schemas.incidents import IncidentOut
from dispatch_engine.claims.lifecycle import ClaimState

router = APIRouter(prefix="/v1/claims", tags=["claims"], responses=ERROR_RESPONSES)
Number = Annotated[str, Path(pattern=r"^SG-\d{8}-\d{6,9}$", examples=["SG-20251130-000123"])]


@router.get("", response_model=Page[ClaimSummaryOut])
def list_claims(
    caller: Handling,
    services: ServicesDep,
    state: ClaimState | None = None,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[ClaimSummaryOut]:
    """Claims, newest first; phone and ID numbers masked."""
    found = services.claims.list_claims(state=state, limit=limit + 1, offset=offset)
    items = [ClaimSummaryOut.model_validate(s, from_attributes=True) for s in found]
    return page(items, limit=limit, offset=offset)


@router.get("/overdue", response_model=list[ClaimSummaryOut])
def overdue_claims(
    caller: Handling, services: ServicesDep, limit: Annotated[Limit, Query()] = 100
) -> list[ClaimSummaryOut]:
    """Claims past their assessment or settlement deadline, oldest report first (masked)."""
    return [
        ClaimSummaryOut.model_validate(s, from_attributes=True)
        for s in services.claims.list_overdue(limit=limit)
    ]


@router.get("/{number}", response_model=ClaimOut)
def get_claim(number: Number, caller: Handling, services: ServicesDep) -> ClaimOut:
    """One claim in full (the handler's detail view)."""
    return ClaimOut.of(services.claims.get(number), services.now())


@router.get("/{number}/survey", response_model=IncidentOut)
def survey_incident(number: Number, caller: Handling, services: ServicesDep) -> IncidentOut:
    """The dispatch incident of the claim's latest survey: vehicle, ETA, status."""
    return IncidentOut.of(services.claims.survey_incident(number))


@router.post("/{number}/events", response_model=ClaimOut)
def claim_step(
    number: Number, body: ClaimStepIn, caller: Handling, services: ServicesDep
) -> ClaimOut:
    """A lifecycle step: `dispatch` (retry), `survey`, `assessment`, `approve`, `close`,
    `cancel`, `reopen`. A step the claim's state does not allow is a 409 naming both
    states."""
    return ClaimOut.of(services.claim_step(number, body, caller=caller), services.now())


@router.post("/{number}/estimate", response_model=ClaimOut)
def reestimate(
    number: Number, body: ReestimateIn, caller: Handling, services: ServicesDep
) -> ClaimOut:
    """Replace the loss estimate; a new tier recomputes the deadlines from the original
    events, and a lost survey waiver dispatches a surveyor."""
    claim = services.reestimate(number, body.estimate_yuan, body.reason, caller=caller)
    return ClaimOut.of(claim, services.now())


@router.get("/{number}/waivers", response_model=list[WaiverOut])
def waivers(number: Number, caller: Handling, services: ServicesDep) -> list[WaiverOut]:
    """Every survey-waiver decision (免查勘) with its rule, oldest first."""
    return [WaiverOut.of(w) for w in services.claims.waiver_history(number)]


@router.get("/{number}/audit", response_model=list[AuditOut])
def claim_audit(number: Number, caller: Handling, services: ServicesDep) -> list[AuditOut]:
    """Every audited step of the claim (who, when, what), oldest first."""
    return [AuditOut.of(entry) for entry in services.claims.audit_trail(number)]


@router.get("/{number}/payments", response_model=list[PaymentOut])
def payments(number: Number, caller: Handling, services: ServicesDep) -> list[PaymentOut]:
    """The claim's payments, oldest first."""
    return [PaymentOut.of(p) for p in services.settlement.payments(number)]


@router.post("/{number}/advance-payment", status_code=201, response_model=PaymentOut)
def advance_payment(
    number: Number, body: AdvanceIn, caller: Handling, services: ServicesDep
) -> PaymentOut:
    """Schedule the advance payment (预付赔款) of a major accident, due within 2 working days."""
    payment = services.settlement.request_advance_payment(
        number, actor=caller.actor, amount_yuan=body.amount_yuan
    )
    return PaymentOut.of(payment)


@router.get("/{number}/payees", response_model=list[PayeeOut])
def payees(number: Number, caller: Handling, services: ServicesDep) -> list[PayeeOut]:
    """Payee authorisations, oldest first (the last is current); accounts masked."""
    return [PayeeOut.of(p) for p in services.settlement.payees(number)]


@router.post("/{number}/payees", status_code=201, response_model=PayeeOut)
def authorise_payee(
    number: Number, body: PayeeIn, caller: Handling, services: ServicesDep
) -> PayeeOut:
    """Record the insured's authorisation to pay a third party (授权第三者收款); pending
    payments are redirected to it."""
    return PayeeOut.of(services.authorise_payee(number, body, caller=caller))


@router.get("/{number}/documents", response_model=ChecklistOut)
def documents(number: Number, caller: Handling, services: ServicesDep) -> ChecklistOut:
    """The documents this case type requires and those still missing."""
    return ChecklistOut.of(services.claims.document_checklist(number))


@router.post("/{number}/documents", status_code=201, response_model=ChecklistOut)
def receive_document(
    number: Number, body: DocumentIn, caller: Handling, services: ServicesDep
) -> ChecklistOut:
    """Record a received document; completing an assessed claim's checklist starts the
    settlement clock."""
    services.claims.receive_document(number, body.kind, body.ref, actor=caller.actor)
    return ChecklistOut.of(services.claims.document_checklist(number))


@router.get("/{number}/notices", response_model=list[NoticeOut])
def notices(number: Number, caller: Handling, services: ServicesDep) -> list[NoticeOut]:
    """The claim's progress notices in the outbox (pending and sent), earliest due first."""
    return [NoticeOut.of(n) for n in services.claims.notices(number)]
