"""The claim documents (索赔单证) each case needs; the checklist drives "documents complete".

Every claim needs the base set. A case adds documents for what happened: another party
or a third-party loss needs the police accident certificate, injuries need medical
records and invoices, a death the death certificate, a natural disaster the weather
bureau's certificate, and a third-party payee the signed authorisation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dispatch_engine.claims.intake import ClaimReport
from dispatch_engine.claims.triage import AccidentType


class DocumentKind(StrEnum):
    """A kind of claim document; the value is stable, :data:`LABELS_ZH` names it."""

    CLAIM_FORM = "claim_form"
    DRIVER_LICENCE = "driver_licence"
    VEHICLE_LICENCE = "vehicle_licence"
    INSURED_ID = "insured_id"
    REPAIR_INVOICE = "repair_invoice"
    PAYEE_ACCOUNT = "payee_account"
    ACCIDENT_CERTIFICATE = "accident_certificate"
    THIRD_PARTY_LOSS_INVOICE = "third_party_loss_invoice"
    MEDICAL_RECORDS = "medical_records"
    MEDICAL_INVOICES = "medical_invoices"
    DEATH_CERTIFICATE = "death_certificate"
    DISASTER_CERTIFICATE = "disaster_certificate"
    PAYEE_AUTHORISATION = "payee_authorisation"


LABELS_ZH = {
    DocumentKind.CLAIM_FORM: "索赔申请书",
    DocumentKind.DRIVER_LICENCE: "驾驶证",
    DocumentKind.VEHICLE_LICENCE: "行驶证",
    DocumentKind.INSURED_ID: "被保险人身份证明",
    DocumentKind.REPAIR_INVOICE: "车辆维修发票",
    DocumentKind.PAYEE_ACCOUNT: "领款人账户信息",
    DocumentKind.ACCIDENT_CERTIFICATE: "交通事故认定书",
    DocumentKind.THIRD_PARTY_LOSS_INVOICE: "第三者财产损失清单及发票",
    DocumentKind.MEDICAL_RECORDS: "病历及诊断证明",
    DocumentKind.MEDICAL_INVOICES: "医疗费发票",
    DocumentKind.DEATH_CERTIFICATE: "死亡证明",
    DocumentKind.DISASTER_CERTIFICATE: "气象证明",
    DocumentKind.PAYEE_AUTHORISATION: "授权第三者收款授权书",
}

BASE_DOCUMENTS = frozenset(
    {
        DocumentKind.CLAIM_FORM,
        DocumentKind.DRIVER_LICENCE,
        DocumentKind.VEHICLE_LICENCE,
        DocumentKind.INSURED_ID,
        DocumentKind.REPAIR_INVOICE,
        DocumentKind.PAYEE_ACCOUNT,
    }
)


@dataclass(frozen=True, kw_only=True)
class ClaimDocument:
    """A document received for a claim; ``ref`` points into the document store."""

    claim_number: str
    kind: DocumentKind
    ref: str
    received_at: datetime
    actor: str


def required_documents(report: ClaimReport, *, payee_authorised: bool) -> frozenset[DocumentKind]:
    """The checklist of a case: the base set plus what its facts add (see module doc)."""
    required = set(BASE_DOCUMENTS)
    if report.accident_type is AccidentType.MULTI_PARTY or report.third_parties:
        required.add(DocumentKind.ACCIDENT_CERTIFICATE)
    if any(party.property_loss for party in report.third_parties):
        required.add(DocumentKind.THIRD_PARTY_LOSS_INVOICE)
    if report.anyone_injured:
        required |= {DocumentKind.MEDICAL_RECORDS, DocumentKind.MEDICAL_INVOICES}
    if report.anyone_killed:
        required.add(DocumentKind.DEATH_CERTIFICATE)
    if report.accident_type is AccidentType.NATURAL_DISASTER:
        required.add(DocumentKind.DISASTER_CERTIFICATE)
    if payee_authorised:
        required.add(DocumentKind.PAYEE_AUTHORISATION)
    return frozenset(required)


def missing_documents(
    required: frozenset[DocumentKind], received: Iterable[ClaimDocument]
) -> tuple[DocumentKind, ...]:
    """Required kinds not yet received, in a stable (alphabetical) order."""
    return tuple(sorted(required - {document.kind for document in received}))
