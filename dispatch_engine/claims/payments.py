"""Advance payment (预付赔款) and third-party payees (授权第三者收款), SPEC §6.

Insurance Law art. 25: when liability is established but the amount cannot yet be
fixed, the insurer pays the part it can determine and the balance at settlement. Here
that is offered for major accidents — a death, an injury, or an estimated loss above a
threshold — with the share, threshold and delay in :class:`AdvancePolicy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from dispatch_engine.claims.intake import MAX_NAME_CHARS, ClaimReport, check_text
from dispatch_engine.claims.lifecycle import ClaimState
from dispatch_engine.claims.tiers import check_amount_yuan
from dispatch_engine.errors import InvalidInputError

FEN = Decimal("0.01")
MAX_REF_CHARS = 200
# Liability is established after the survey (or remotely, for a waived one) and the
# amount is open until approval.
ADVANCE_STATES = frozenset(
    {
        ClaimState.SURVEY_WAIVED,
        ClaimState.SURVEYED,
        ClaimState.ASSESSED,
        ClaimState.DOCUMENTS_COMPLETE,
    }
)


@dataclass(frozen=True, kw_only=True)
class AdvancePolicy:
    """When an advance is offered and how much (SPEC §6 defaults).

    Parameters
    ----------
    major_loss_above_yuan
        An estimate strictly above this makes the accident major even without injury.
    share
        Part of the current estimate paid in advance, in (0, 1].
    due_working_days
        Working days from the request to the payment deadline.
    """

    major_loss_above_yuan: Decimal = Decimal(100_000)
    share: Decimal = Decimal("0.5")
    due_working_days: int = 2

    def __post_init__(self) -> None:
        check_amount_yuan(self.major_loss_above_yuan, field="major_loss_above_yuan")
        if not isinstance(self.share, Decimal) or not Decimal(0) < self.share <= Decimal(1):
            raise InvalidInputError(
                f"must be a Decimal in (0, 1], got {self.share!r}", field="share"
            )
        if isinstance(self.due_working_days, bool) or not (
            isinstance(self.due_working_days, int) and self.due_working_days >= 1
        ):
            raise InvalidInputError(
                f"must be a whole number >= 1, got {self.due_working_days!r}",
                field="due_working_days",
            )


def is_major(report: ClaimReport, estimate_yuan: Decimal, policy: AdvancePolicy) -> bool:
    """Whether the accident qualifies for an advance: death, injury, or a large loss."""
    return report.anyone_injured or estimate_yuan > policy.major_loss_above_yuan


def default_advance_yuan(estimate_yuan: Decimal, policy: AdvancePolicy) -> Decimal:
    """``share`` of the estimate, rounded down to the fen (never pay more than the share)."""
    return (estimate_yuan * policy.share).quantize(FEN, rounding=ROUND_DOWN)


class PaymentKind(StrEnum):
    ADVANCE = "advance"
    BALANCE = "balance"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True, kw_only=True)
class Payment:
    """One payment of a claim; ``payee_id`` None means the insured is paid.

    ``id`` is None until stored. ``reference`` is the bank's transaction reference,
    recorded when the payment is made.
    """

    claim_number: str
    kind: PaymentKind
    amount_yuan: Decimal
    due_at: datetime
    created_at: datetime
    payee_id: int | None = None
    status: PaymentStatus = PaymentStatus.PENDING
    paid_at: datetime | None = None
    reference: str | None = None
    id: int | None = None


class PayeeKind(StrEnum):
    REPAIR_SHOP = "repair_shop"
    INJURED_PARTY = "injured_party"
    OTHER = "other"


_ACCOUNT_RE = re.compile(r"\d{8,32}")


@dataclass(frozen=True, kw_only=True)
class PayeeAuthorisation:
    """The insured's authorisation to pay a third party: who, which account, on what paper.

    ``authorisation_document_ref`` points at the signed authorisation (授权书) in the
    document store. Construction validates every field.
    """

    name: str
    kind: PayeeKind
    bank: str
    account_number: str
    authorisation_document_ref: str

    def __post_init__(self) -> None:
        try:
            kind = PayeeKind(self.kind)
        except ValueError as exc:
            raise InvalidInputError(
                f"{self.kind!r} is not one of: {', '.join(PayeeKind)}", field="kind"
            ) from exc
        account = (
            self.account_number.replace(" ", "") if isinstance(self.account_number, str) else ""
        )
        if not _ACCOUNT_RE.fullmatch(account):
            raise InvalidInputError("must be 8-32 digits (spaces allowed)", field="account_number")
        values = {
            "name": check_text(self.name, field="name", max_chars=MAX_NAME_CHARS),
            "kind": kind,
            "bank": check_text(self.bank, field="bank", max_chars=MAX_NAME_CHARS),
            "account_number": account,
            "authorisation_document_ref": check_text(
                self.authorisation_document_ref,
                field="authorisation_document_ref",
                max_chars=MAX_REF_CHARS,
            ),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class Payee:
    """A stored authorisation; the latest one of a claim receives its new payments."""

    claim_number: str
    authorisation: PayeeAuthorisation
    authorised_at: datetime
    actor: str
    id: int | None = None


def balance_yuan(approved_yuan: Decimal, payments: list[Payment]) -> Decimal:
    """What is left to pay at settlement: the approved amount less every payment already
    made or due (advances, and on a reopened claim the earlier settlement).

    Raises
    ------
    InvalidInputError
        ``field="amount_yuan"`` when the payments already exceed the approved amount —
        that needs a recovery, which is a decision for a person, not an automatic step.
    """
    committed = sum(
        (p.amount_yuan for p in payments if p.status is not PaymentStatus.CANCELLED), Decimal(0)
    )
    if approved_yuan < committed:
        raise InvalidInputError(
            f"approved {approved_yuan} yuan is below the {committed} yuan already paid or due",
            field="amount_yuan",
        )
    return approved_yuan - committed
