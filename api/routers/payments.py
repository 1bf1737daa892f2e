"""Payments: recording that a scheduled payment was made."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Handling, ServicesDep
from api.schemas.claims import PaymentMadeIn, PaymentOut
from api.schemas.common import ERROR_RESPONSES

router = APIRouter(prefix="/v1/payments", tags=["claims"], responses=ERROR_RESPONSES)


@router.post("/{payment_id}/paid", response_model=PaymentOut)
def payment_made(
    payment_id: Annotated[int, Path(ge=1, le=2**53)],
    body: PaymentMadeIn,
    caller: Handling,
    services: ServicesDep,
) -> PaymentOut:
    """The payment was made (audited); when nothing is left to pay on an approved claim, the
    claim becomes `paid`."""
    payment = services.settlement.record_payment(
        payment_id, reference=body.reference, actor=caller.actor
    )
    return PaymentOut.of(payment)
