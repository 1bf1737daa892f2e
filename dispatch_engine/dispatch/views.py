"""The one JSON shape of a dispatch decision, shared by the CLI (``assign --json``) and the
API (whose response models validate it), so both always show the same fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatch_engine.dispatch.model import Incident
from dispatch_engine.fleet.model import SHANGHAI_TZ


def incident_view(incident: Incident) -> dict[str, Any]:
    """The incident as plain JSON values: zone, deadlines (Asia/Shanghai, ISO 8601), the
    vehicles serving it, the kinds still unassigned, escalations and the tow plan."""
    tow = incident.tow
    return {
        "id": incident.id,
        "zone": incident.zone.zone,
        "province": incident.zone.province,
        "city": incident.zone.city,
        "district": incident.zone.district,
        "status": str(incident.status),
        "reported_at": _local(incident.request.reported_at),
        "call_due_at": _local(incident.call_due_at),
        "arrival_due_at": _local(incident.arrival_due_at),
        "called_at": None if incident.called_at is None else _local(incident.called_at),
        "arrived_at": None if incident.arrived_at is None else _local(incident.arrived_at),
        "assignments": [
            {
                "vehicle_id": a.vehicle_id,
                "kind": str(a.kind),
                "status": str(a.status),
                "eta_seconds": round(a.eta_s, 1),
                "distance_m": round(a.distance_m, 1),
                "meets_guarantee": a.meets_guarantee,
                "estimate": a.estimate,
            }
            for a in incident.active()
        ],
        "unassigned_kinds": [str(k) for k in incident.missing_kinds()],
        "escalations": [
            {"kind": str(e.kind), "at": _local(e.at), "detail": e.detail}
            for e in incident.escalations
        ],
        "tow": None
        if tow is None
        else {
            "destination": tow.destination,
            "free": tow.free,
            "eta_seconds": round(tow.seconds, 1),
            "reason": tow.reason,
        },
    }


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI_TZ).isoformat()
