"""Builders of valid services objects with overridable defaults, and small named instances.

Times default to Monday 2026-03-02 (Asia/Shanghai). ``at("09:30")`` is that day's local
time; plan times in seconds are ``hours(9.5)``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import numpy as np

from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.services.appointments import Appointment, AppointmentRequest, AppointmentStatus
from dispatch_engine.services.day_routes import DayProblem, Job, Technician
from dispatch_engine.services.facilities import Facility, ServiceKind

DAY = date(2026, 3, 2)
CORE_LAT, CORE_LON = 24.811, 113.598


def at(clock: str, day: date = DAY) -> datetime:
    """``"09:30"`` on ``day`` in Asia/Shanghai."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=SHANGHAI_TZ)


def hours(value: float) -> int:
    """Plan seconds after midnight."""
    return round(value * 3600)


def make_facility(**overrides: Any) -> Facility:
    """An inspection station open 08:30-17:30 in the urban core."""
    fields: dict[str, Any] = {
        "id": "IS-1",
        "kind": ServiceKind.INSPECTION,
        "name": "test station",
        "district": "浈江区",
        "lat": CORE_LAT,
        "lon": CORE_LON,
        "opens": time(8, 30),
        "closes": time(17, 30),
        "synthetic": True,
    }
    return Facility(**(fields | overrides))


def make_request(**overrides: Any) -> AppointmentRequest:
    """An inspection run collected 09:00-10:00, 60 min at the station."""
    fields: dict[str, Any] = {
        "kind": ServiceKind.INSPECTION,
        "plate": "粤F1234警",
        "place": "test police station",
        "lat": CORE_LAT,
        "lon": CORE_LON,
        "collect_from": at("09:00"),
        "collect_until": at("10:00"),
        "service_min": 60,
    }
    return AppointmentRequest(**(fields | overrides))


def make_appointment(**overrides: Any) -> Appointment:
    """A booked appointment ``AP-1`` (request fields as :func:`make_request`)."""
    record: dict[str, Any] = {
        "id": "AP-1",
        "status": AppointmentStatus.BOOKED,
        "booked_at": at("07:00"),
        "changed_at": at("07:00"),
    }
    request = make_request(**{k: v for k, v in overrides.items() if k not in record})
    record |= {k: v for k, v in overrides.items() if k in record}
    return Appointment(**vars(request), **record)


def make_technician(**overrides: Any) -> Technician:
    """A technician on shift 08:00-20:00 at base ``B1``."""
    fields: dict[str, Any] = {
        "id": "T1",
        "base_id": "B1",
        "base_name": "base 1",
        "lat": CORE_LAT,
        "lon": CORE_LON,
        "shift_start_s": hours(8),
        "shift_end_s": hours(20),
    }
    return Technician(**(fields | overrides))


def matrix_problem(
    minutes: list[list[float]],
    technicians: list[tuple[Technician, int]],
    jobs: list[tuple[Appointment, int, Facility, int]],
    *,
    handover_s: int = 300,
) -> DayProblem:
    """A problem over a hand-written travel matrix in minutes (location indices as given)."""
    return DayProblem(
        day=DAY,
        technicians=tuple(t for t, _ in technicians),
        technician_locations=tuple(loc for _, loc in technicians),
        jobs=tuple(Job(a, f, place, fac) for a, place, f, fac in jobs),
        travel_s=np.asarray(minutes, dtype=float) * 60.0,
        handover_s=handover_s,
    )
