"""Builders for claims tests: a valid report and a stored-looking claim, with overridable
parts."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from dispatch_engine.claims.calendar import SHANGHAI_TZ, BusinessCalendar
from dispatch_engine.claims.intake import ClaimReport, Driver, Location, ThirdParty, Vehicle
from dispatch_engine.claims.lifecycle import Claim, ClaimState, compute_deadlines

# A real-format resident ID (check digit valid) and a mainland mobile number.
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. ``at("2025-09-30 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI_TZ)


def make_report(**overrides: object) -> ClaimReport:
    """A valid single-party report in Shaoguan at Tuesday 2025-09-30 10:00, estimate 3,000.

    Pass any ClaimReport field to override it; ``driver``/``vehicle``/``location`` may be
    dicts of the fields to change in that part.
    """
    parts = {
        "location": Location(address="韶关市浈江区解放路1号", lat=24.811, lon=113.598),
        "vehicle": Vehicle(plate="粤F12345", model="大众帕萨特"),
        "driver": Driver(name="张三", phone=PHONE, id_number=ID_NUMBER),
    }
    for name, default in parts.items():
        value = overrides.pop(name, None)
        if isinstance(value, dict):
            parts[name] = dataclasses.replace(default, **value)
        elif value is not None:
            parts[name] = value
    values: dict[str, object] = {
        "reported_at": at("2025-09-30 10:00"),
        "accident_type": "single_party",
        "description": "倒车时撞到路边石墩，后保险杠受损",
        "estimate_yuan": Decimal("3000"),
        "photo_refs": ("photos/a.jpg",),
        **parts,
    }
    values.update(overrides)
    return ClaimReport(**values)  # type: ignore[arg-type]


def make_claim(
    calendar: BusinessCalendar,
    report: ClaimReport | None = None,
    *,
    state: ClaimState = ClaimState.REPORTED,
    documents_complete_at: datetime | None = None,
    **fields: object,
) -> Claim:
    """A claim as the store would hold it, deadlines computed from ``report`` (default
    :func:`make_report`) and ``documents_complete_at``."""
    report = report or make_report()
    deadlines = compute_deadlines(
        report.estimate_yuan,
        reported_at=report.reported_at,
        documents_complete_at=documents_complete_at,
        calendar=calendar,
    )
    values: dict[str, object] = {
        "number": "SG-20250930-000001",
        "accepted_at": report.reported_at,
        "estimate_yuan": report.estimate_yuan,
        "survey_waived": False,
        **fields,
    }
    return Claim(
        report=report,
        state=state,
        deadlines=deadlines,
        documents_complete_at=documents_complete_at,
        **values,  # type: ignore[arg-type]
    )


def other_vehicle(**overrides: object) -> ThirdParty:
    """A third-party vehicle with nobody hurt and no property loss."""
    values: dict[str, object] = {"name": "李四", "plate": "粤B12345", "phone": "13912345678"}
    values.update(overrides)
    return ThirdParty(**values)  # type: ignore[arg-type]
