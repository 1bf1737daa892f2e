"""Loss tiers: every boundary value, amount validation, and the SPEC §6 deadline table."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from dispatch_engine.claims.calendar import SHANGHAI_TZ
from dispatch_engine.claims.tiers import (
    TIERS,
    assessment_deadline,
    settlement_deadline,
    tier_for,
)
from dispatch_engine.errors import InvalidInputError


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. ``at("2025-09-30 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI_TZ)


@pytest.mark.parametrize(
    ("estimate", "tier"),
    [
        ("0", 1),
        ("0.01", 1),
        ("5000", 1),
        ("5000.00", 1),
        ("5000.01", 2),
        ("30000", 2),
        ("30000.01", 3),
        ("100000", 3),
        ("100000.01", 4),
        ("200000", 4),
        ("200000.01", 5),
        ("1E+9", 5),
    ],
)
def test_tier_boundaries_belong_to_lower_tier(estimate, tier):
    """Each boundary value is in the lower tier and one fen more is in the next."""
    assert tier_for(Decimal(estimate)).number == tier


def test_integer_estimate_accepted():
    """Whole-yuan ints are exact, so they are accepted like Decimals."""
    assert tier_for(5000).number == 1


@pytest.mark.parametrize(
    "estimate",
    [Decimal("-0.01"), Decimal("1.001"), Decimal("NaN"), Decimal("Infinity"), 5000.0, "5000", True],
)
def test_bad_estimate_names_field(estimate):
    """Negative, sub-fen, non-finite, float, text and bool estimates are refused."""
    with pytest.raises(InvalidInputError) as err:
        tier_for(estimate)
    assert err.value.field == "estimate"


# Report at Monday 2025-09-29 10:00, documents complete at the same moment; the
# Golden Week (10-01..10-08 off, Saturday 10-11 worked) lies inside most deadlines.
@pytest.mark.parametrize(
    ("number", "assessment_due", "settlement_due"),
    [
        (1, "2025-09-29 15:00", "2025-09-29 18:00"),  # 4 business hours / close that day
        (2, "2025-09-30 18:00", "2025-09-30 18:00"),  # 1 / 1 working day
        (3, "2025-10-09 18:00", "2025-10-09 18:00"),  # 2 / 2
        (4, "2025-10-10 18:00", "2025-10-13 18:00"),  # 3 / 5
        (5, "2025-10-13 18:00", "2025-10-20 18:00"),  # 5 / 10
    ],
)
def test_deadline_table(calendar, number, assessment_due, settlement_due):
    """Each tier's assessment and settlement deadlines follow the SPEC §6 table."""
    tier = TIERS[number - 1]
    assert tier.number == number
    event = at("2025-09-29 10:00")
    assert assessment_deadline(tier, event, calendar) == at(assessment_due)
    assert settlement_deadline(tier, event, calendar) == at(settlement_due)


def test_tier1_deadlines_from_boundary_estimate(calendar):
    """A 5,000-yuan Friday-evening report gets tier 1's half day on the next working day."""
    tier = tier_for(Decimal("5000"))
    assert assessment_deadline(tier, at("2025-09-26 19:00"), calendar) == at("2025-09-28 14:00")
    assert settlement_deadline(tier, at("2025-09-26 19:00"), calendar) == at("2025-09-28 18:00")


def test_naive_times_name_their_field(calendar):
    """A naive report or documents time is refused, naming that field."""
    naive = datetime(2025, 9, 29, 10, 0)
    with pytest.raises(InvalidInputError) as err:
        assessment_deadline(TIERS[0], naive, calendar)
    assert err.value.field == "reported_at"
    with pytest.raises(InvalidInputError) as err:
        settlement_deadline(TIERS[0], naive, calendar)
    assert err.value.field == "documents_complete_at"
