"""Advance-payment rules, balances and payee validation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from dispatch_engine.claims.payments import (
    AdvancePolicy,
    PayeeAuthorisation,
    Payment,
    PaymentKind,
    PaymentStatus,
    balance_yuan,
    default_advance_yuan,
    is_major,
)
from dispatch_engine.errors import InvalidInputError
from tests.claims.factories import at, make_report, other_vehicle

POLICY = AdvancePolicy()


@pytest.mark.parametrize(
    ("overrides", "estimate", "major"),
    [
        ({}, "100000", False),  # the threshold itself is not above it
        ({}, "100000.01", True),
        ({"injured_count": 1}, "0", True),
        ({"death_count": 1}, "0", True),
        (
            {"accident_type": "multi_party", "third_parties": (other_vehicle(injured_count=1),)},
            "500",
            True,
        ),
        ({"accident_type": "multi_party", "third_parties": (other_vehicle(),)}, "99999", False),
    ],
)
def test_major_accident(overrides, estimate, major):
    """Death, injury (any party) or an estimate above 100,000 yuan make an accident major."""
    assert is_major(make_report(**overrides), Decimal(estimate), POLICY) is major


def test_threshold_is_configurable():
    """A lower threshold makes smaller losses major."""
    policy = AdvancePolicy(major_loss_above_yuan=Decimal(50_000))
    assert is_major(make_report(), Decimal("50000.01"), policy)


@pytest.mark.parametrize(
    ("estimate", "share", "advance"),
    [
        ("120000", "0.5", "60000.00"),
        ("12345.67", "0.5", "6172.83"),
        ("100", "0.3", "30.00"),
        ("0.01", "0.5", "0.00"),
    ],
)
def test_default_advance_rounds_down_to_fen(estimate, share, advance):
    """The advance is share x estimate, rounded down to the fen (never more than the share)."""
    policy = AdvancePolicy(share=Decimal(share))
    assert default_advance_yuan(Decimal(estimate), policy) == Decimal(advance)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"share": Decimal(0)}, "share"),
        ({"share": Decimal("1.5")}, "share"),
        ({"share": 0.5}, "share"),
        ({"due_working_days": 0}, "due_working_days"),
        ({"major_loss_above_yuan": Decimal(-1)}, "major_loss_above_yuan"),
    ],
)
def test_bad_policy_refused(kwargs, field):
    """Shares outside (0, 1], non-positive delays and negative thresholds are refused."""
    with pytest.raises(InvalidInputError) as err:
        AdvancePolicy(**kwargs)
    assert err.value.field == field


def _payment(
    amount: str, status: PaymentStatus, kind: PaymentKind = PaymentKind.ADVANCE
) -> Payment:
    moment: datetime = at("2025-09-30 10:00")
    return Payment(
        claim_number="SG-20250930-000001",
        kind=kind,
        amount_yuan=Decimal(amount),
        due_at=moment,
        created_at=moment,
        status=status,
    )


def test_balance_subtracts_payments_not_cancelled():
    """The balance is the approved amount less paid and pending payments, not cancelled ones."""
    payments = [
        _payment("60000", PaymentStatus.PAID),
        _payment("1000", PaymentStatus.CANCELLED),
        _payment("5000", PaymentStatus.PENDING, PaymentKind.BALANCE),
    ]
    assert balance_yuan(Decimal("130000"), payments) == Decimal("65000")
    with pytest.raises(InvalidInputError) as err:
        balance_yuan(Decimal("50000"), payments)
    assert err.value.field == "amount_yuan"


def _authorisation(**overrides) -> PayeeAuthorisation:
    values = {
        "name": "韶关市安达汽修厂",
        "kind": "repair_shop",
        "bank": "中国工商银行韶关分行",
        "account_number": "6222 0212 3456 7890 123",
        "authorisation_document_ref": "docs/auth-001.pdf",
    }
    return PayeeAuthorisation(**(values | overrides))


def test_payee_account_normalised():
    """Spaces in the account number are dropped; the kind becomes the enum."""
    payee = _authorisation()
    assert payee.account_number == "6222021234567890123"
    assert payee.kind == "repair_shop"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"account_number": "6222-0212"}, "account_number"),
        ({"account_number": "1234567"}, "account_number"),
        ({"kind": "friend"}, "kind"),
        ({"authorisation_document_ref": ""}, "authorisation_document_ref"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_payee_refused(overrides, field):
    """Every payee field is validated and named."""
    with pytest.raises(InvalidInputError) as err:
        _authorisation(**overrides)
    assert err.value.field == field
