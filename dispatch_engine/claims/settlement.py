"""Settlement of claims: approval, advance and balance payments, third-party payees.

Every payment and payee change is audited (SPEC §8) in the transaction that makes it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.documents import DocumentKind
from dispatch_engine.claims.intake import check_text
from dispatch_engine.claims.lifecycle import Claim, ClaimState, check_transition
from dispatch_engine.claims.payments import (
    ADVANCE_STATES,
    MAX_REF_CHARS,
    AdvancePolicy,
    Payee,
    PayeeAuthorisation,
    Payment,
    PaymentKind,
    PaymentStatus,
    balance_yuan,
    default_advance_yuan,
    is_major,
)
from dispatch_engine.claims.pii import mask_account
from dispatch_engine.claims.ports import ClaimsStore
from dispatch_engine.claims.steps import Step, check_claim_number, reading, writing
from dispatch_engine.claims.tiers import check_amount_yuan
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.errors import ConflictError, InvalidInputError

S = ClaimState


class SettlementService:
    """Approves claims and schedules, redirects and records their payments.

    Parameters
    ----------
    store
        The claims store (shared with ``ClaimsService``).
    clock
        The time of every step; must return aware datetimes.
    calendar
        Working days for the advance deadline.
    advance_policy
        When an advance payment is offered and how much (SPEC §6 defaults).
    """

    def __init__(
        self,
        store: ClaimsStore,
        *,
        clock: Clock,
        calendar: BusinessCalendar,
        advance_policy: AdvancePolicy | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._calendar = calendar
        self._advance_policy = advance_policy or AdvancePolicy()

    def authorise_payee(
        self, number: str, authorisation: PayeeAuthorisation, *, actor: str
    ) -> Payee:
        """Record the insured's authorisation to pay a third party (授权第三者收款).

        The authorisation document joins the claim's documents, the payee receives every
        payment not yet made, and the audit log keeps who, which account (masked) and
        which document.
        """
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            if claim.state in (S.PAID, S.CLOSED, S.CANCELLED):
                raise ConflictError(
                    f"claim {number} is {claim.state}; a payee can be set until it is paid",
                    field="state",
                )
            payee = step.tx.add_payee(
                Payee(
                    claim_number=number,
                    authorisation=authorisation,
                    authorised_at=step.now,
                    actor=step.actor,
                )
            )
            redirected = []
            for payment in step.tx.payments(number):
                if payment.status is PaymentStatus.PENDING:
                    step.tx.update_payment(replace(payment, payee_id=payee.id))
                    redirected.append(payment.id)
            step.audit(
                claim,
                "claim.payee_authorised",
                payee_id=payee.id,
                name=authorisation.name,
                kind=authorisation.kind,
                bank=authorisation.bank,
                account=mask_account(authorisation.account_number),
                document_ref=authorisation.authorisation_document_ref,
                payments_redirected=redirected,
            )
            step.add_document(
                claim, DocumentKind.PAYEE_AUTHORISATION, authorisation.authorisation_document_ref
            )
            step.complete_documents_if_ready(claim, self._calendar)
        return payee

    def request_advance_payment(
        self, number: str, *, actor: str, amount_yuan: Decimal | None = None
    ) -> Payment:
        """Schedule the advance of a major accident (Insurance Law art. 25).

        By default ``share`` of the current estimate, due within ``due_working_days``
        working days; the balance follows at approval. One advance per claim.

        Raises
        ------
        ConflictError
            When the accident is not major, liability is not yet established (before the
            survey) or the amount is already fixed (approved), or an advance exists.
        InvalidInputError
            ``field="amount_yuan"`` for an amount of zero or above the estimate.
        """
        number = check_claim_number(number)
        policy = self._advance_policy
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            if claim.state not in ADVANCE_STATES:
                raise ConflictError(
                    f"an advance needs liability established and the amount open "
                    f"({', '.join(sorted(ADVANCE_STATES))}); claim {number} is {claim.state}",
                    field="state",
                )
            if not is_major(claim.report, claim.estimate_yuan, policy):
                raise ConflictError(
                    f"claim {number} is not a major accident: nobody injured and estimate "
                    f"{claim.estimate_yuan} ≤ {policy.major_loss_above_yuan} yuan",
                    field="estimate_yuan",
                )
            for payment in step.tx.payments(number):
                if (
                    payment.kind is PaymentKind.ADVANCE
                    and payment.status is not PaymentStatus.CANCELLED
                ):
                    raise ConflictError(
                        f"claim {number} already has advance payment {payment.id}", field="kind"
                    )
            amount = (
                default_advance_yuan(claim.estimate_yuan, policy)
                if amount_yuan is None
                else check_amount_yuan(amount_yuan, field="amount_yuan")
            )
            if not Decimal(0) < amount <= claim.estimate_yuan:
                raise InvalidInputError(
                    f"an advance must be > 0 and at most the estimate {claim.estimate_yuan}, "
                    f"got {amount}",
                    field="amount_yuan",
                )
            due_at = self._calendar.working_days_after(step.now, policy.due_working_days)
            return _add_payment(step, claim, PaymentKind.ADVANCE, amount, due_at=due_at)

    def approve(self, number: str, amount_yuan: Decimal, *, actor: str) -> Claim:
        """Approve the settlement amount; the balance after earlier payments becomes a
        payment due by the settlement deadline (none when they cover it).

        Raises
        ------
        InvalidInputError
            ``field="amount_yuan"`` when payments already exceed the amount.
        """
        amount = check_amount_yuan(amount_yuan, field="amount_yuan")
        number = check_claim_number(number)
        with writing(self._store, self._clock, actor) as step:
            claim = step.tx.get_claim(number, for_update=True)
            check_transition(claim.state, S.APPROVED)
            balance = balance_yuan(amount, step.tx.payments(number))
            claim = step.move(claim, S.APPROVED, approved_at=step.now, approved_amount_yuan=amount)
            if balance > 0:
                due_at = claim.deadlines.settlement_due or step.now
                _add_payment(step, claim, PaymentKind.BALANCE, balance, due_at=due_at)
            return _mark_paid_if_settled(step, claim)

    def record_payment(self, payment_id: int, *, reference: str, actor: str) -> Payment:
        """A payment was made (``reference`` is the bank's); when nothing is left to pay on
        an approved claim, the claim becomes ``paid``."""
        reference = check_text(reference, field="reference", max_chars=MAX_REF_CHARS)
        if isinstance(payment_id, bool) or not isinstance(payment_id, int):
            raise InvalidInputError(f"must be a payment id, got {payment_id!r}", field="payment_id")
        with writing(self._store, self._clock, actor) as step:
            # Lock the claim before the payment, the order every other step uses.
            number = step.tx.get_payment(payment_id).claim_number
            claim = step.tx.get_claim(number, for_update=True)
            payment = step.tx.get_payment(payment_id, for_update=True)
            if payment.status is not PaymentStatus.PENDING:
                raise ConflictError(f"payment {payment_id} is {payment.status}", field="status")
            paid = replace(
                payment, status=PaymentStatus.PAID, paid_at=step.now, reference=reference
            )
            step.tx.update_payment(paid)
            step.audit(
                claim,
                "claim.payment_made",
                payment_id=payment_id,
                kind=payment.kind,
                amount_yuan=payment.amount_yuan,
                payee_id=payment.payee_id,
                reference=reference,
            )
            _mark_paid_if_settled(step, claim)
        return paid

    def payments(self, number: str) -> list[Payment]:
        """The claim's payments, oldest first."""
        with reading(self._store, number) as tx:
            return tx.payments(number)

    def payees(self, number: str) -> list[Payee]:
        """The claim's payee authorisations, oldest first (the last one is current)."""
        with reading(self._store, number) as tx:
            return tx.payees(number)


def _add_payment(
    step: Step, claim: Claim, kind: PaymentKind, amount: Decimal, *, due_at: datetime
) -> Payment:
    """Schedule a payment to the claim's current payee (the insured when none)."""
    payees = step.tx.payees(claim.number)
    payment = step.tx.add_payment(
        Payment(
            claim_number=claim.number,
            kind=kind,
            amount_yuan=amount,
            due_at=due_at,
            created_at=step.now,
            payee_id=payees[-1].id if payees else None,
        )
    )
    step.audit(
        claim,
        f"claim.{kind}_scheduled",
        payment_id=payment.id,
        amount_yuan=amount,
        due_at=due_at.isoformat(),
        payee_id=payment.payee_id,
    )
    return payment


def _mark_paid_if_settled(step: Step, claim: Claim) -> Claim:
    """An approved claim with nothing left pending is ``paid``."""
    if claim.state is not S.APPROVED:
        return claim
    if any(p.status is PaymentStatus.PENDING for p in step.tx.payments(claim.number)):
        return claim
    return step.move(claim, S.PAID, paid_at=step.now)
