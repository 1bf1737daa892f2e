"""The SQL ``AppointmentStore``: appointments kept as JSON documents, indexed by day."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dispatch_engine.services.appointments import Appointment, AppointmentStatus
from dispatch_engine.services.facilities import ServiceKind
from dispatch_engine.store.models import AppointmentRow

_TIMES = ("collect_from", "collect_until", "return_by", "booked_at", "changed_at")


def _document(appointment: Appointment) -> dict:
    fields = dataclasses.asdict(appointment)
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat()
    fields["kind"], fields["status"] = str(appointment.kind), str(appointment.status)
    return fields


def _appointment(document: dict) -> Appointment:
    fields = dict(document)
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    fields["kind"] = ServiceKind(fields["kind"])
    fields["status"] = AppointmentStatus(fields["status"])
    return Appointment(**fields)


class SqlAppointmentStore:
    """Whole-record writes, like the in-memory store, in one table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, appointment_id: str) -> Appointment | None:
        with Session(self._engine) as session:
            row = session.get(AppointmentRow, appointment_id)
            return None if row is None else _appointment(row.document)

    def save(self, appointment: Appointment) -> None:
        with Session(self._engine) as session, session.begin():
            session.merge(
                AppointmentRow(
                    id=appointment.id,
                    day=appointment.day,
                    status=str(appointment.status),
                    document=_document(appointment),
                )
            )

    def all(self) -> list[Appointment]:
        with Session(self._engine) as session:
            rows = session.scalars(select(AppointmentRow).order_by(AppointmentRow.id))
            return [_appointment(row.document) for row in rows]
