"""Claims: the handler's views of a claim, its steps, payments, documents and notices.

A claim is filed by the report (``POST /v1/incidents``); its number is the report number.
Detail views show the driver's contact in full (the handler phones them); list views and
the notices outbox mask phone and ID numbers (SPEC §8).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import RefText, ShortText, Strict, Yuan
from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
from dispatch_engine.claims.documents import DocumentKind
from dispatch_engine.claims.lifecycle import Claim, ClaimState
from dispatch_engine.claims.notices import Channel, Notice
from dispatch_engine.claims.payments import Payee, PayeeKind, Payment, PaymentKind, PaymentStatus
from dispatch_engine.claims.pii import mask_account, mask_phone
from dispatch_engine.claims.service import DocumentChecklist
from dispatch_engine.claims.triage import AccidentType


class ThirdPartyOut(BaseModel):
    name: str
    plate: str | None
    phone: str | None
    injured_count: int
    death_count: int
    property_loss: bool


class ClaimOut(BaseModel):
    """One claim in full, with the deadlines it has missed at the time of the answer."""

    number: str
    state: ClaimState
    accepted_at: datetime
    reported_at: datetime
    address: str
    lat: float = Field(description="As given, in input_crs.")
    lon: float
    input_crs: str
    plate: str
    vehicle_model: str
    driver_name: str
    driver_phone: str
    driver_id_number: str
    driver_email: str | None
    accident_type: AccidentType
    disaster: str | None
    injured_count: int
    death_count: int
    third_parties: list[ThirdPartyOut]
    description: str
    photo_refs: list[str]
    estimate_yuan: Decimal
    tier: int
    assessment_due: datetime
    settlement_due: datetime | None
    survey_waived: bool
    incident_id: str | None
    surveyed_at: datetime | None
    assessed_at: datetime | None
    assessed_amount_yuan: Decimal | None
    documents_complete_at: datetime | None
    approved_at: datetime | None
    approved_amount_yuan: Decimal | None
    paid_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    reopened_at: datetime | None
    overdue: list[str] = Field(description="assessment and/or settlement, when late.")

    @classmethod
    def of(cls, claim: Claim, now: datetime) -> ClaimOut:
        report = claim.report
        return cls(
            number=claim.number,
            state=claim.state,
            accepted_at=claim.accepted_at,
            reported_at=report.reported_at,
            address=report.location.address,
            lat=report.location.lat,
            lon=report.location.lon,
            input_crs=report.location.crs,
            plate=report.vehicle.plate,
            vehicle_model=report.vehicle.model,
            driver_name=report.driver.name,
            driver_phone=report.driver.phone,
            driver_id_number=report.driver.id_number,
            driver_email=report.driver.email,
            accident_type=report.accident_type,
            disaster=None if report.disaster is None else str(report.disaster),
            injured_count=report.injured_count,
            death_count=report.death_count,
            third_parties=[
                ThirdPartyOut.model_validate(party, from_attributes=True)
                for party in report.third_parties
            ],
            description=report.description,
            photo_refs=list(report.photo_refs),
            estimate_yuan=claim.estimate_yuan,
            tier=claim.deadlines.tier,
            assessment_due=claim.deadlines.assessment_due,
            settlement_due=claim.deadlines.settlement_due,
            survey_waived=claim.survey_waived,
            incident_id=claim.incident_id,
            surveyed_at=claim.surveyed_at,
            assessed_at=claim.assessed_at,
            assessed_amount_yuan=claim.assessed_amount_yuan,
            documents_complete_at=claim.documents_complete_at,
            approved_at=claim.approved_at,
            approved_amount_yuan=claim.approved_amount_yuan,
            paid_at=claim.paid_at,
            closed_at=claim.closed_at,
            cancelled_at=claim.cancelled_at,
            reopened_at=claim.reopened_at,
            overdue=list(claim.overdue(now)),
        )


class ClaimSummaryOut(BaseModel):
    """A claim in a list: phone and ID number masked."""

    number: str
    state: ClaimState
    reported_at: datetime
    plate: str
    accident_type: AccidentType
    driver_name: str
    driver_phone_masked: str = Field(examples=["+86 138****5678"])
    driver_id_masked: str = Field(examples=["1101**********002X"])
    tier: int
    estimate_yuan: Decimal
    assessment_due: datetime
    settlement_due: datetime | None
    overdue: list[str]


# --- steps --------------------------------------------------------------------------------


class DispatchStep(Strict):
    """Ask the dispatch core for a surveyor (a retry after a failed dispatch)."""

    type: Literal["dispatch"]


class SurveyStep(Strict):
    """The surveyor finished on site."""

    type: Literal["survey"]


class AssessmentStep(Strict):
    """Loss assessment (定损) done; the amount becomes the estimate."""

    type: Literal["assessment"]
    amount_yuan: Yuan


class ApproveStep(Strict):
    """Approve the settlement amount; the balance becomes a payment."""

    type: Literal["approve"]
    amount_yuan: Yuan


class CloseStep(Strict):
    """Close a paid claim (queues the result SMS and call)."""

    type: Literal["close"]


class CancelStep(Strict):
    type: Literal["cancel"]
    reason: RefText


class ReopenStep(Strict):
    type: Literal["reopen"]
    reason: RefText


ClaimStepIn = Annotated[
    DispatchStep | SurveyStep | AssessmentStep | ApproveStep | CloseStep | CancelStep | ReopenStep,
    Field(discriminator="type"),
]


class ReestimateIn(Strict):
    model_config = {
        "json_schema_extra": {"examples": [{"estimate_yuan": "45000", "reason": "定损复核"}]}
    }

    estimate_yuan: Yuan
    reason: RefText


# --- payments -----------------------------------------------------------------------------


class AdvanceIn(Strict):
    """An advance payment (预付赔款); default amount: the policy's share of the estimate."""

    amount_yuan: Yuan | None = None


class PaymentMadeIn(Strict):
    reference: RefText = Field(description="The bank's transfer reference.")


class PaymentOut(BaseModel):
    id: int
    claim_number: str
    kind: PaymentKind
    amount_yuan: Decimal
    due_at: datetime
    created_at: datetime
    payee_id: int | None
    status: PaymentStatus
    paid_at: datetime | None
    reference: str | None

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls.model_validate(payment, from_attributes=True)


class PayeeIn(Strict):
    """The insured authorises payment to a third party (授权第三者收款)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "韶关市某汽车维修有限公司",
                    "kind": "repair_shop",
                    "bank": "中国工商银行韶关分行",
                    "account_number": "6222021234567890123",
                    "authorisation_document_ref": "docs/payee-authorisation.pdf",
                }
            ]
        }
    }

    name: ShortText
    kind: PayeeKind
    bank: ShortText
    account_number: Annotated[str, Field(min_length=1, max_length=34)]
    authorisation_document_ref: RefText


class PayeeOut(BaseModel):
    id: int
    claim_number: str
    name: str
    kind: PayeeKind
    bank: str
    account_masked: str
    authorisation_document_ref: str
    authorised_at: datetime
    actor: str

    @classmethod
    def of(cls, payee: Payee) -> PayeeOut:
        auth = payee.authorisation
        return cls(
            id=int(payee.id or 0),
            claim_number=payee.claim_number,
            name=auth.name,
            kind=auth.kind,
            bank=auth.bank,
            account_masked=mask_account(auth.account_number),
            authorisation_document_ref=auth.authorisation_document_ref,
            authorised_at=payee.authorised_at,
            actor=payee.actor,
        )


# --- documents, notices, audit --------------------------------------------------------------


class DocumentIn(Strict):
    model_config = {
        "json_schema_extra": {"examples": [{"kind": "claim_form", "ref": "docs/form.pdf"}]}
    }

    kind: DocumentKind
    ref: RefText = Field(description="Where the document is kept (a file reference).")


class ChecklistOut(BaseModel):
    required: list[DocumentKind]
    missing: list[DocumentKind]
    complete: bool

    @classmethod
    def of(cls, checklist: DocumentChecklist) -> ChecklistOut:
        return cls(
            required=list(checklist.required),
            missing=list(checklist.missing),
            complete=checklist.complete,
        )


class NoticeOut(BaseModel):
    """A notice in the outbox; phone recipients masked."""

    id: int
    kind: str
    channel: Channel
    recipient_masked: str
    subject: str
    due_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None

    @classmethod
    def of(cls, notice: Notice) -> NoticeOut:
        phone = notice.channel in (Channel.SMS, Channel.CALL)
        return cls(
            id=int(notice.id or 0),
            kind=str(notice.kind),
            channel=notice.channel,
            recipient_masked=mask_phone(notice.recipient) if phone else notice.recipient,
            subject=notice.subject,
            due_at=notice.due_at,
            status=str(notice.status),
            attempts=notice.attempts,
            sent_at=notice.sent_at,
        )


class AuditOut(BaseModel):
    at: datetime
    actor: str
    action: str
    entity: str
    entity_ref: str
    details: dict[str, object]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            entity=entry.entity,
            entity_ref=entry.entity_ref,
            details=dict(entry.details),
        )


class WaiverOut(BaseModel):
    """One survey-waiver decision (免查勘) with its rule and reason."""

    decided_at: datetime
    trigger: str
    waived: bool
    rule: str
    reason: str
    label_zh: str
    estimate_yuan: Decimal
    actor: str

    @classmethod
    def of(cls, audit: WaiverAudit) -> WaiverOut:
        decision = audit.decision
        return cls(
            decided_at=audit.decided_at,
            trigger=audit.trigger,
            waived=decision.waived,
            rule=str(decision.rule),
            reason=decision.reason,
            label_zh=decision.label_zh,
            estimate_yuan=audit.estimate_yuan,
            actor=audit.actor,
        )
