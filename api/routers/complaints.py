"""Complaints (举报投诉): filing, handling steps, overdue list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import Handling, ServicesDep
from api.schemas.common import ERROR_RESPONSES, Limit
from api.schemas.complaints import (
    ComplaintIn,
    ComplaintOut,
    ComplaintStepIn,
    ComplaintSummaryOut,
)

router = APIRouter(prefix="/v1/complaints", tags=["complaints"], responses=ERROR_RESPONSES)
Ticket = Annotated[str, Path(pattern=r"^TS-\d{8}-\d{6,9}$", examples=["TS-20251130-000007"])]


@router.post("", status_code=201, response_model=ComplaintOut)
def file_complaint(body: ComplaintIn, caller: Handling, services: ServicesDep) -> ComplaintOut:
    """Record a complaint under a new ticket; handling is due within 1 working day."""
    return ComplaintOut.of(services.complaints.file(body.to_core(), actor=caller.actor))


@router.get("/overdue", response_model=list[ComplaintSummaryOut])
def overdue_complaints(
    caller: Handling, services: ServicesDep, limit: Annotated[Limit, Query()] = 100
) -> list[ComplaintSummaryOut]:
    """Complaints not taken up by their handling deadline (phone masked)."""
    return [
        ComplaintSummaryOut.model_validate(s, from_attributes=True)
        for s in services.complaints.list_overdue(limit=limit)
    ]


@router.get("/{ticket}", response_model=ComplaintOut)
def get_complaint(ticket: Ticket, caller: Handling, services: ServicesDep) -> ComplaintOut:
    return ComplaintOut.of(services.complaints.get(ticket))


@router.post("/{ticket}/events", response_model=ComplaintOut)
def complaint_step(
    ticket: Ticket, body: ComplaintStepIn, caller: Handling, services: ServicesDep
) -> ComplaintOut:
    """`handling` (taken up), `feedback`, `resolved` (the result), `followed_up`."""
    return ComplaintOut.of(services.complaint_step(ticket, body, caller=caller))
