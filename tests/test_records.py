"""``evolve``: the same copy as ``dataclasses.replace`` (the reference), faster."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from dispatch_engine.dispatch.model import (
    Assignment,
    AssignmentStatus,
    Incident,
    IncidentRequest,
    IncidentStatus,
)
from dispatch_engine.fleet.model import VehicleKind, VehicleStatus
from dispatch_engine.geo.zones import ZoneResult
from dispatch_engine.records import evolve
from tests.fleet.factories import DAY_SHIFT, make_vehicle
from tests.simulation.factories import MONDAY


def an_incident() -> tuple[Incident, Assignment]:
    request = IncidentRequest(id="I1", lat=24.81, lon=113.6, reported_at=MONDAY)
    zone = ZoneResult("shaoguan", "广东省", "韶关市", "浈江区", 5, 15, 24.81, 113.6)
    assignment = Assignment("V1", VehicleKind.SURVEY, 300.0, 4000.0, False, True, MONDAY)
    due = MONDAY + timedelta(minutes=15)
    return Incident(request, zone, due, due, assignments=(assignment,)), assignment


def test_evolve_makes_what_replace_makes():
    vehicle = make_vehicle()
    changes = {"status": VehicleStatus.EN_ROUTE, "lat": 24.8, "lon": 113.6}
    copy = evolve(vehicle, **changes)
    assert copy == dataclasses.replace(vehicle, **changes)
    assert type(copy) is type(vehicle) and copy is not vehicle
    assert vehicle.status == VehicleStatus.AVAILABLE  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.status = VehicleStatus.AVAILABLE  # type: ignore[misc]


def test_evolve_does_not_carry_cached_values():
    """An incident caches its active assignments; the copy works them out again."""
    incident, assignment = an_incident()
    assert incident.active() == (assignment,)  # cached on the old record now
    declined = evolve(assignment, status=AssignmentStatus.DECLINED)
    changes = {"assignments": (declined,), "status": IncidentStatus.OPEN}
    copy = evolve(incident, **changes)
    assert copy.active() == ()
    assert copy.missing_kinds() == (VehicleKind.SURVEY,)
    assert copy == dataclasses.replace(incident, **changes)


def test_evolve_refuses_unknown_fields_and_self_checking_records():
    with pytest.raises(TypeError, match="no field"):
        evolve(make_vehicle(), colour="red")
    with pytest.raises(TypeError, match="checks itself"):
        evolve(DAY_SHIFT, end=DAY_SHIFT.start)
