"""Escalations: a breach that is likely (at assignment) or has happened (by the clock).

Each kind is raised once per incident (once per vehicle for ``arrival_at_risk``), so a
dispatcher's queue shows each problem once however often the check runs.
"""

from __future__ import annotations

from datetime import datetime

from dispatch_engine.dispatch.lifecycle import CLOSED
from dispatch_engine.dispatch.model import Assignment, Escalation, EscalationKind, Incident


def at_assignment(incident: Incident, assignment: Assignment) -> Escalation | None:
    """``arrival_at_risk`` when the chosen vehicle cannot arrive by the deadline."""
    if assignment.meets_guarantee:
        return None
    late_min = (
        assignment.assigned_at.timestamp() + assignment.eta_s - incident.arrival_due_at.timestamp()
    ) / 60
    return Escalation(
        incident.id,
        EscalationKind.ARRIVAL_AT_RISK,
        assignment.assigned_at,
        f"{assignment.vehicle_id} ({assignment.kind}) arrives about {late_min:.0f} min "
        "after the deadline",
        assignment.vehicle_id,
    )


def overdue(incident: Incident, now: datetime) -> tuple[Escalation, ...]:
    """Deadlines that passed without their event and were not escalated yet."""
    if incident.status in CLOSED:
        return ()
    raised = {e.kind for e in incident.escalations}
    new = []
    if (
        incident.called_at is None
        and now > incident.call_due_at
        and EscalationKind.CALL_OVERDUE not in raised
    ):
        new.append(
            Escalation(
                incident.id,
                EscalationKind.CALL_OVERDUE,
                now,
                f"owner not called by {incident.call_due_at.isoformat()}",
            )
        )
    if (
        incident.arrived_at is None
        and now > incident.arrival_due_at
        and EscalationKind.ARRIVAL_OVERDUE not in raised
    ):
        new.append(
            Escalation(
                incident.id,
                EscalationKind.ARRIVAL_OVERDUE,
                now,
                f"no vehicle on scene by {incident.arrival_due_at.isoformat()}",
            )
        )
    return tuple(new)
