"""A report taken by the desk on the SQL stores: the claim and its dispatch in one commit on
PostgreSQL, and a dispatch that fails inside it rolled back and taken again as two
transactions (the claim filed, the failure audited, no vehicle left booked)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.lifecycle import ClaimState
from dispatch_engine.claims.reporting import ReportDesk
from dispatch_engine.dispatch.model import Incident, IncidentRequest
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.errors import DispatchEngineError
from dispatch_engine.fleet.model import VehicleKind, VehicleStatus
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.store.dispatch_sql import SqlDispatchStore
from dispatch_engine.store.models import AuditLogRow, IncidentRow, VehicleStateRow
from tests.claims.factories import at, make_report
from tests.fleet.factories import make_fleet, make_vehicle

NOW = at("2025-09-30 10:05")
NEEDS_SURVEY = {"estimate_yuan": Decimal("20000")}  # above the waiver limit


class FailsAfterBooking(Dispatcher):
    """A dispatcher whose dispatch fails after it has booked a vehicle in the store."""

    def dispatch(self, request: IncidentRequest) -> Incident:
        incident = self._fill(self.open_incident(request))
        assert incident.assignments, "the test needs a vehicle booked before the failure"
        raise DispatchEngineError("routing failed after booking", field="location")


@pytest.fixture
def dispatch_store(engine):
    fleet = make_fleet(
        make_vehicle(id="S1", partner_id="S2"),
        make_vehicle(id="S2", lat=24.82, lon=113.59, partner_id="S1"),
        make_vehicle(id="T1", kind=VehicleKind.TOW_FLATBED),
    )
    store = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    store.sync_fleet()
    return store


def desk_with(dispatcher_class, store, dispatch_store, router, settings) -> ReportDesk:
    clock = ManualClock(NOW)
    dispatcher = dispatcher_class(
        store=dispatch_store,
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        clock=clock,
    )
    return ReportDesk(
        claims_store=store,
        records=dispatch_store,
        clock=clock,
        calendar=BusinessCalendar(),
        dispatcher=dispatcher,
    )


def test_claim_and_dispatch_commit_once_on_postgresql(
    engine, store, dispatch_store, router, settings
):
    """PostgreSQL: one commit for the claim, its incident, the vehicle and the claim's move
    (SQLite: the claim's own, then each of the dispatch's calls)."""
    desk = desk_with(Dispatcher, store, dispatch_store, router, settings)
    commits: list[object] = []
    count = commits.append
    event.listen(engine, "commit", count)
    try:
        taken = desk.take(make_report(**NEEDS_SURVEY), actor="desk-1")
    finally:
        event.remove(engine, "commit", count)
    assert taken.dispatched and taken.claim.state is ClaimState.DISPATCHED
    if engine.dialect.name == "postgresql":
        assert len(commits) == 1
    else:
        assert len(commits) > 1
    assert store.joins_transactions is (engine.dialect.name == "postgresql")


def test_a_dispatch_failing_after_booking_leaves_the_claim_filed_and_no_vehicle_booked(
    engine, store, dispatch_store, router, settings
):
    """The claim is filed once, waiting, with the reason in its audit trail, and the failed
    dispatch's booking is undone (database and the store's fleet) on both databases:
    rolled back on PostgreSQL, put back on SQLite, where each dispatch call commits on its
    own (see ``SqlDispatchStore.one_transaction``)."""
    desk = desk_with(FailsAfterBooking, store, dispatch_store, router, settings)
    taken = desk.take(make_report(**NEEDS_SURVEY), actor="desk-1", idempotency_key="k-1")
    assert not taken.dispatched and taken.claim.state is ClaimState.REPORTED
    with Session(engine) as session:
        statuses = dict(session.execute(select(VehicleStateRow.id, VehicleStateRow.status)).all())
        incidents = session.scalars(select(IncidentRow.id)).all()
        actions = session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.id)).all()
    assert statuses == {"S1": "available", "S2": "available", "T1": "available"}
    assert {v.status for v in dispatch_store.fleet().vehicles} == {VehicleStatus.AVAILABLE}
    assert incidents == []
    assert actions == ["claim.reported", "claim.dispatch_failed"]
    with store.transaction() as tx:
        assert tx.get_claim(taken.claim.number).state is ClaimState.REPORTED
    again = desk.take(make_report(**NEEDS_SURVEY), actor="desk-1", idempotency_key="k-1")
    assert again.claim.number == taken.claim.number


def test_every_audit_entry_of_a_report_is_written_in_order(
    engine, store, dispatch_store, router, settings
):
    """A report filed and dispatched (claims and dispatch store in one transaction on
    PostgreSQL, the audit entries of both written together before the commit) leaves all
    its audit entries, in the order they were made, on both databases."""
    desk = desk_with(Dispatcher, store, dispatch_store, router, settings)
    taken = desk.take(make_report(**NEEDS_SURVEY), actor="desk-1")
    assert taken.dispatched and taken.claim.state is ClaimState.DISPATCHED
    with Session(engine) as session:
        rows = session.scalars(select(AuditLogRow).order_by(AuditLogRow.id)).all()
    assert [(row.entity, row.action) for row in rows] == [
        ("claim", "claim.reported"),
        ("incident", "incident.assigned"),
        ("incident", "incident.status"),
        ("claim", "claim.dispatched"),
    ]
    assert {row.entity_ref for row in rows} == {taken.claim.number}
    assert rows[1].details["vehicle_id"] == taken.incident.assignments[0].vehicle_id
    assert rows[3].details["incident_id"] == taken.incident.id
