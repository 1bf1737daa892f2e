"""Value-added services: book, list and cancel appointments; read a day's technician plan."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import Reading, Reporting, ServicesDep
from api.schemas.appointments import AppointmentIn, AppointmentOut
from api.schemas.common import ERROR_RESPONSES, RECORD_ID
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.services.views import plan_json

DAY = r"^\d{4}-\d{2}-\d{2}$"
router = APIRouter(tags=["services"], responses=ERROR_RESPONSES)


@router.post("/v1/appointments", status_code=201, response_model=AppointmentOut)
def book_appointment(
    body: AppointmentIn, caller: Reporting, services: ServicesDep
) -> AppointmentOut:
    """Book an appointment; one booked appointment per car per day (409 for a second)."""
    return AppointmentOut.of(services.book_appointment(body.to_request()))


@router.get("/v1/appointments", response_model=list[AppointmentOut])
def list_appointments(
    caller: Reading,
    services: ServicesDep,
    day: Annotated[
        str | None, Query(pattern=DAY, description="Only this local day.", examples=["2026-03-02"])
    ] = None,
) -> list[AppointmentOut]:
    """Booked appointments, in id order."""
    chosen = None if day is None else _day(day)
    return [AppointmentOut.of(a) for a in services.appointments.list(day=chosen)]


@router.delete("/v1/appointments/{appointment_id}", response_model=AppointmentOut)
def cancel_appointment(
    appointment_id: Annotated[str, Path(pattern=RECORD_ID, examples=["AP-000001"])],
    caller: Reporting,
    services: ServicesDep,
) -> AppointmentOut:
    """Cancel an appointment (it stays on record as cancelled)."""
    return AppointmentOut.of(services.cancel_appointment(appointment_id))


@router.get("/v1/day-plans/{day}")
def day_plan(
    day: Annotated[str, Path(pattern=DAY, examples=["2026-03-02"])],
    caller: Reading,
    services: ServicesDep,
    time_limit_s: Annotated[float, Query(gt=0, le=30, description="Route search seconds.")] = 5.0,
) -> dict[str, Any]:
    """The technicians' ordered stops for the day's appointments, and what cannot fit, why."""
    return plan_json(services.day_plan(_day(day), time_limit_s=time_limit_s))


def _day(text: str) -> date:
    """A calendar day, strictly ``YYYY-MM-DD`` (a number is not a day)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"not a calendar day: '{text}'", field="day") from None
