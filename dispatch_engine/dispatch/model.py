"""Dispatch records: what was asked, what was decided, what happened since.

All are frozen values; the dispatcher replaces them in its store rather than mutating
them, so a decision read back is exactly the decision made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dispatch_engine.dispatch.rescue import TowPlan
from dispatch_engine.fleet.model import VehicleKind
from dispatch_engine.geo.zones import ZoneResult

TOW_KINDS = frozenset({VehicleKind.TOW_FLATBED, VehicleKind.TOW_CRANE})


class IncidentStatus(StrEnum):
    OPEN = "open"  # some needed vehicle kind has no vehicle yet
    ASSIGNED = "assigned"  # every needed kind has a vehicle on the way
    ON_SCENE = "on_scene"  # the first vehicle arrived
    DONE = "done"
    CANCELLED = "cancelled"


class AssignmentStatus(StrEnum):
    ASSIGNED = "assigned"
    ARRIVED = "arrived"
    DONE = "done"
    DECLINED = "declined"  # declined or no-show: the vehicle was replaced


class EventType(StrEnum):
    CALLED = "called"  # the owner was phoned (the 5-minute task)
    ARRIVED = "arrived"
    DECLINED = "declined"
    NO_SHOW = "no_show"
    DONE = "done"
    CANCELLED = "cancelled"


class EscalationKind(StrEnum):
    ARRIVAL_AT_RISK = "arrival_at_risk"  # at assignment, the ETA is past the deadline
    NO_VEHICLE = "no_vehicle"  # nothing available of a needed kind
    CALL_OVERDUE = "call_overdue"  # 5 minutes passed without the call
    ARRIVAL_OVERDUE = "arrival_overdue"  # the arrival deadline passed without arrival


@dataclass(frozen=True)
class IncidentRequest:
    """A reported incident, in WGS-84, as the dispatcher needs it."""

    id: str
    lat: float
    lon: float
    reported_at: datetime
    needs: tuple[VehicleKind, ...] = (VehicleKind.SURVEY,)
    skills: frozenset[str] = frozenset()
    injured: bool = False
    tow_destination: tuple[str, float, float] | None = None  # (name, lat, lon) the owner named


@dataclass(frozen=True)
class Assignment:
    """One vehicle sent to one incident."""

    vehicle_id: str
    kind: VehicleKind
    eta_s: float
    distance_m: float  # road length; NaN when the dispatcher skips lengths (planning runs)
    estimate: bool  # the ETA is a great-circle estimate, not a road time
    meets_guarantee: bool
    assigned_at: datetime
    status: AssignmentStatus = AssignmentStatus.ASSIGNED


@dataclass(frozen=True)
class Escalation:
    incident_id: str
    kind: EscalationKind
    at: datetime
    detail: str
    vehicle_id: str | None = None


@dataclass(frozen=True)
class Event:
    incident_id: str
    type: EventType
    at: datetime
    vehicle_id: str | None = None


@dataclass(frozen=True)
class Incident:
    """An incident with its zone, deadlines and the vehicles sent so far."""

    request: IncidentRequest
    zone: ZoneResult
    call_due_at: datetime
    arrival_due_at: datetime
    status: IncidentStatus = IncidentStatus.OPEN
    called_at: datetime | None = None
    arrived_at: datetime | None = None
    assignments: tuple[Assignment, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    tow: TowPlan | None = None

    @property
    def id(self) -> str:
        return self.request.id

    def active(self) -> tuple[Assignment, ...]:
        """Assignments not declined (the vehicles actually serving)."""
        return self._derived()[0]

    def missing_kinds(self) -> tuple[VehicleKind, ...]:
        """Needed kinds with no active vehicle."""
        return self._derived()[1]

    def _derived(self) -> tuple[tuple[Assignment, ...], tuple[VehicleKind, ...]]:
        """What every step of a decision asks of an incident, worked out once per value
        (an incident is immutable; a change is a new incident). Kept in the instance's
        ``__dict__`` by hand: ``functools.cached_property`` takes a lock per first read,
        and a simulated year makes hundreds of thousands of incident values."""
        derived = self.__dict__.get("_derived_value")
        if derived is None:
            active = tuple(a for a in self.assignments if a.status != AssignmentStatus.DECLINED)
            served = {a.kind for a in active}
            missing = tuple(kind for kind in self.request.needs if kind not in served)
            derived = self.__dict__["_derived_value"] = (active, missing)
        return derived
