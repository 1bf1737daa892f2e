"""Loss tiers and their assessment / settlement deadlines (SPEC §6).

The tier follows the estimated loss (估损金额) in yuan; a boundary value belongs to the
lower tier, which favours the customer (Civil Code art. 1259 counts 以下 inclusive).

| tier | estimate, yuan      | assessment, from report | settlement, from documents complete |
|------|---------------------|-------------------------|-------------------------------------|
| 1    | ≤ 5,000             | half a working day      | immediately (close of business)     |
| 2    | ≤ 30,000            | 1 working day           | 1 working day                       |
| 3    | ≤ 100,000           | 2 working days          | 2 working days                      |
| 4    | ≤ 200,000           | 3 working days          | 5 working days                      |
| 5    | > 200,000           | 5 working days          | 10 working days                     |
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dispatch_engine.claims.calendar import BusinessCalendar, to_shanghai
from dispatch_engine.errors import InvalidInputError

HALF_WORKING_DAY_HOURS = 4.0
# Inclusive upper bounds of tiers 1-4; anything above the last is tier 5.
TIER_UPPER_BOUNDS_YUAN = (Decimal(5_000), Decimal(30_000), Decimal(100_000), Decimal(200_000))


class DeadlineKind(StrEnum):
    WORKING_DAYS = "working_days"
    BUSINESS_HOURS = "business_hours"
    CLOSE_OF_BUSINESS = "close_of_business"


@dataclass(frozen=True)
class DeadlineRule:
    """How long one step may take: ``amount`` working days or business hours, or by close."""

    kind: DeadlineKind
    label: str
    amount: float = 0.0

    def due(self, event: datetime, calendar: BusinessCalendar) -> datetime:
        """The deadline for an ``event`` (aware datetime) under this rule."""
        match self.kind:
            case DeadlineKind.WORKING_DAYS:
                return calendar.working_days_after(event, int(self.amount))
            case DeadlineKind.BUSINESS_HOURS:
                return calendar.business_hours_after(event, self.amount)
            case DeadlineKind.CLOSE_OF_BUSINESS:
                return calendar.close_of_business(event)


def _working_days(n: int) -> DeadlineRule:
    return DeadlineRule(DeadlineKind.WORKING_DAYS, f"{n} working day{'s' if n > 1 else ''}", n)


@dataclass(frozen=True)
class Tier:
    """One loss tier: its number (1-5) and the deadline rules of SPEC §6."""

    number: int
    assessment: DeadlineRule
    settlement: DeadlineRule


TIERS = (
    Tier(
        1,
        DeadlineRule(DeadlineKind.BUSINESS_HOURS, "half a working day", HALF_WORKING_DAY_HOURS),
        DeadlineRule(DeadlineKind.CLOSE_OF_BUSINESS, "immediately (close of business)"),
    ),
    Tier(2, _working_days(1), _working_days(1)),
    Tier(3, _working_days(2), _working_days(2)),
    Tier(4, _working_days(3), _working_days(5)),
    Tier(5, _working_days(5), _working_days(10)),
)


def check_amount_yuan(value: Decimal | int, *, field: str) -> Decimal:
    """Validate a money amount in yuan: finite, ≥ 0, at most two decimals (fen).

    Floats are refused: binary floats cannot hold fen exactly, so callers parse
    amounts from text straight into ``Decimal``.

    Raises
    ------
    InvalidInputError
        Naming ``field`` with the reason.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidInputError(
            f"must be a Decimal amount in yuan, got {type(value).__name__} {value!r}", field=field
        )
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidInputError(f"must be a finite amount, got {amount}", field=field)
    if amount < 0:
        raise InvalidInputError(f"must be >= 0 yuan, got {amount}", field=field)
    if amount.normalize().as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInputError(f"at most two decimals (fen), got {amount}", field=field)
    return amount


def tier_for(estimate: Decimal | int) -> Tier:
    """The tier of an estimated loss in yuan; a boundary value goes to the lower tier.

    Raises
    ------
    InvalidInputError
        ``field="estimate"`` when the amount is negative, not a Decimal/int, or has
        more than two decimals.
    """
    amount = check_amount_yuan(estimate, field="estimate")
    return TIERS[bisect_left(TIER_UPPER_BOUNDS_YUAN, amount)]


def assessment_deadline(tier: Tier, reported_at: datetime, calendar: BusinessCalendar) -> datetime:
    """When assessment (定损) is due, counted from the report time (aware datetime)."""
    return tier.assessment.due(to_shanghai(reported_at, field="reported_at"), calendar)


def settlement_deadline(
    tier: Tier, documents_complete_at: datetime, calendar: BusinessCalendar
) -> datetime:
    """When settlement (结案) is due, counted from the moment the documents were complete."""
    local = to_shanghai(documents_complete_at, field="documents_complete_at")
    return tier.settlement.due(local, calendar)
