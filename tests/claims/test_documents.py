"""The documents checklist per case type."""

from __future__ import annotations

from dispatch_engine.claims.documents import (
    BASE_DOCUMENTS,
    LABELS_ZH,
    ClaimDocument,
    DocumentKind,
    missing_documents,
    required_documents,
)
from tests.claims.factories import at, make_report, other_vehicle

D = DocumentKind


def test_every_kind_has_a_chinese_label():
    """Handlers see each document by its Chinese name."""
    assert set(LABELS_ZH) == set(DocumentKind)


def test_single_party_needs_the_base_set():
    """A minor single-party case needs only the base documents."""
    assert required_documents(make_report(), payee_authorised=False) == BASE_DOCUMENTS


def test_case_facts_add_documents():
    """Other parties, losses, injuries, deaths, disasters and payees each add their papers."""
    multi = make_report(
        accident_type="multi_party",
        third_parties=(other_vehicle(property_loss=True, injured_count=1),),
    )
    assert required_documents(multi, payee_authorised=False) == BASE_DOCUMENTS | {
        D.ACCIDENT_CERTIFICATE,
        D.THIRD_PARTY_LOSS_INVOICE,
        D.MEDICAL_RECORDS,
        D.MEDICAL_INVOICES,
    }
    fatal = make_report(death_count=1)
    assert required_documents(fatal, payee_authorised=True) == BASE_DOCUMENTS | {
        D.MEDICAL_RECORDS,
        D.MEDICAL_INVOICES,
        D.DEATH_CERTIFICATE,
        D.PAYEE_AUTHORISATION,
    }
    flood = make_report(accident_type="natural_disaster", disaster="flood")
    assert required_documents(flood, payee_authorised=False) == BASE_DOCUMENTS | {
        D.DISASTER_CERTIFICATE
    }


def test_missing_documents_sorted_and_shrinking():
    """Missing kinds are listed in a stable order and drop out as they arrive."""
    required = required_documents(make_report(), payee_authorised=False)
    received = [
        ClaimDocument(
            claim_number="SG-20250930-000001",
            kind=kind,
            ref=f"{kind}.pdf",
            received_at=at("2025-09-30 11:00"),
            actor="h1",
        )
        for kind in (D.CLAIM_FORM, D.REPAIR_INVOICE, D.DEATH_CERTIFICATE)  # an extra is harmless
    ]
    assert missing_documents(required, received) == (
        D.DRIVER_LICENCE,
        D.INSURED_ID,
        D.PAYEE_ACCOUNT,
        D.VEHICLE_LICENCE,
    )
    assert missing_documents(required, []) == tuple(sorted(required))
