"""Which status may follow which, for assignments; an illegal move names both ends."""

from __future__ import annotations

from dispatch_engine.dispatch.model import Assignment, AssignmentStatus, Incident, IncidentStatus
from dispatch_engine.errors import ConflictError
from dispatch_engine.records import evolve

_NEXT: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    AssignmentStatus.ASSIGNED: frozenset({AssignmentStatus.ARRIVED, AssignmentStatus.DECLINED}),
    AssignmentStatus.ARRIVED: frozenset({AssignmentStatus.DONE}),
    AssignmentStatus.DONE: frozenset(),
    AssignmentStatus.DECLINED: frozenset(),
}
CLOSED = frozenset({IncidentStatus.DONE, IncidentStatus.CANCELLED})


def move(assignment: Assignment, to: AssignmentStatus) -> Assignment:
    """The assignment in status ``to``; ``ConflictError`` when that move is not allowed."""
    if to not in _NEXT[assignment.status]:
        raise ConflictError(
            f"vehicle {assignment.vehicle_id} cannot go from '{assignment.status}' to '{to}'",
            field="type",
        )
    return evolve(assignment, status=to)


def require_open(incident: Incident) -> None:
    """Events on a done or cancelled incident are conflicts, not silent no-ops."""
    if incident.status in CLOSED:
        raise ConflictError(f"incident {incident.id} is already {incident.status}", field="type")


def active_assignment(incident: Incident, vehicle_id: str | None) -> Assignment:
    """The incident's non-declined assignment of ``vehicle_id`` (naming the field if absent)."""
    for assignment in incident.active():
        if assignment.vehicle_id == vehicle_id:
            return assignment
    raise ConflictError(
        f"vehicle {vehicle_id} is not serving incident {incident.id}", field="vehicle_id"
    )


def replace_assignment(incident: Incident, updated: Assignment) -> Incident:
    """The incident with the active assignment of ``updated.vehicle_id`` replaced."""
    assignments = tuple(
        updated
        if a.vehicle_id == updated.vehicle_id and a.status != AssignmentStatus.DECLINED
        else a
        for a in incident.assignments
    )
    return evolve(incident, assignments=assignments)


def settle_status(incident: Incident) -> Incident:
    """Derive the incident status from its assignments (cancelled stays cancelled)."""
    if incident.status == IncidentStatus.CANCELLED:
        return incident
    active = incident.active()
    if incident.missing_kinds():
        status = IncidentStatus.OPEN
    elif active and all(a.status == AssignmentStatus.DONE for a in active):
        status = IncidentStatus.DONE
    elif any(a.status in (AssignmentStatus.ARRIVED, AssignmentStatus.DONE) for a in active):
        status = IncidentStatus.ON_SCENE
    else:
        status = IncidentStatus.ASSIGNED
    return incident if status == incident.status else evolve(incident, status=status)
