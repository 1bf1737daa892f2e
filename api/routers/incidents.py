"""Incidents: the report (报案) that dispatches, the dispatcher's views and events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import Dispatching, IdempotencyKey, Reading, Reporting, ServicesDep
from api.schemas.claims import AuditOut
from api.schemas.common import (
    ERROR_RESPONSES,
    RECORD_ID,
    Limit,
    Offset,
    Page,
    json_answer,
    page,
)
from api.schemas.incidents import IncidentEventIn, IncidentOut, ReportIn, ReportOut
from dispatch_engine.dispatch.model import IncidentStatus
from dispatch_engine.geo.zones import ZoneName

router = APIRouter(prefix="/v1/incidents", tags=["incidents"], responses=ERROR_RESPONSES)
IncidentId = Annotated[str, Path(pattern=RECORD_ID, examples=["SG-20251130-000123"])]


@router.post("", status_code=201, response_model=ReportOut)
def report_incident(
    body: ReportIn, caller: Reporting, services: ServicesDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Take a report: file the claim (report number, survey-waiver triage, deadlines, first
    SMS) and send the best available vehicle of each needed kind by road ETA.

    `assignments` is empty when nothing is available: the incident waits, listed with
    `status=open`, and `POST /v1/surge` or a later decline fills it. Outside the service
    area is a 422 and nothing is stored.
    """
    taken = services.report(body, caller=caller, idempotency_key=idempotency_key)
    return json_answer(ReportOut.of_report(taken), status_code=201)


@router.get("", response_model=Page[IncidentOut])
def list_incidents(
    caller: Reading,
    services: ServicesDep,
    status: Annotated[
        IncidentStatus | None, Query(description="open = some kind still unassigned.")
    ] = None,
    zone: ZoneName | None = None,
    overdue: Annotated[
        bool, Query(description="Only open incidents past their call or arrival deadline.")
    ] = False,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[IncidentOut]:
    """Incidents, newest report first."""
    found = services.incidents(
        status=status, zone=zone, overdue=overdue, limit=limit, offset=offset
    )
    return page([IncidentOut.of(i) for i in found], limit=limit, offset=offset)


@router.get("/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: IncidentId, caller: Reading, services: ServicesDep) -> IncidentOut:
    """One incident as it stands now."""
    return IncidentOut.of(services.dispatcher.incident(incident_id))


@router.post("/{incident_id}/events", response_model=IncidentOut)
def record_event(
    incident_id: IncidentId, body: IncidentEventIn, caller: Dispatching, services: ServicesDep
) -> IncidentOut:
    """Record `called` (the 5-minute call), `arrived`, `declined` (reassigns, A/B partner
    first), `no_show`, `done` or `cancelled`. An event the incident's state does not allow
    is a 409."""
    return IncidentOut.of(services.record(incident_id, body, caller=caller))


@router.get("/{incident_id}/audit", response_model=list[AuditOut])
def incident_audit(
    incident_id: IncidentId, caller: Dispatching, services: ServicesDep
) -> list[AuditOut]:
    """Who assigned, declined and moved this incident, and when."""
    return [AuditOut.of(entry) for entry in services.audit("incident", incident_id)]
