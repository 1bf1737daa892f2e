"""The SQL dispatch store on both databases: faithful incidents, atomic vehicle claims,
live state kept across restarts, list filters, audit entries, hashed API keys."""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatch_engine.claims.audit import AuditEntry
from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.dispatch.model import Event, EventType, IncidentRequest, IncidentStatus
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import DISPATCHABLE, Dispatcher
from dispatch_engine.errors import ConflictError, InvalidInputError, NotFoundError
from dispatch_engine.fleet.model import VehicleKind, VehicleStatus
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.records import evolve
from dispatch_engine.store.dispatch_sql import (
    SqlApiKeys,
    SqlDispatchStore,
    acting_as,
    hash_key,
    incident_changes,
)
from dispatch_engine.store.memory import MemoryDispatchStore
from dispatch_engine.store.models import AuditLogRow, ClaimRow
from tests.claims.factories import at, make_claim
from tests.fleet.factories import make_fleet, make_vehicle

NOW = at("2025-09-30 10:05")


@pytest.fixture
def fleet():
    """Four survey cars and a flatbed around the Shaoguan urban core, on the test grid."""
    return make_fleet(
        make_vehicle(id="S1", partner_id="S2"),
        make_vehicle(id="S2", lat=24.82, lon=113.59, partner_id="S1"),
        make_vehicle(id="S3", lat=24.805, lon=113.605),
        make_vehicle(id="S4", lat=24.815, lon=113.585),
        make_vehicle(id="T1", kind=VehicleKind.TOW_FLATBED),
    )


@pytest.fixture
def dispatch_store(engine, fleet):
    store = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    store.sync_fleet()
    return store


@pytest.fixture
def dispatcher(dispatch_store, router, settings):
    return Dispatcher(
        store=dispatch_store,
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        clock=ManualClock(NOW),
    )


def request(incident_id: str, **changes) -> IncidentRequest:
    values = {
        "id": incident_id,
        "lat": 24.811,
        "lon": 113.598,
        "reported_at": at("2025-09-30 10:00"),
        "needs": (VehicleKind.SURVEY, VehicleKind.TOW_FLATBED),
    }
    return IncidentRequest(**(values | changes))


def test_an_incident_reads_back_equal_to_the_one_saved(dispatcher, dispatch_store):
    """A real decision (two vehicles, escalations, tow plan) survives the JSON document."""
    incident = dispatcher.dispatch(request("SG-20250930-000001", injured=True))
    incident = dispatcher.record(incident.id, EventType.CALLED)
    assert incident.assignments and incident.called_at is not None
    assert dispatch_store.get_incident(incident.id) == incident
    assert dispatch_store.get_incident("nope") is None


def test_an_unmeasured_length_reads_back_as_nan(dispatch_store, router, settings):
    """A dispatcher that skips route lengths (planning) stores NaN lengths; JSON has no
    NaN, so the document holds null and the store reads it back as NaN."""
    dispatcher = Dispatcher(
        store=dispatch_store,
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        clock=ManualClock(NOW),
        route_lengths=False,
    )
    incident = dispatcher.dispatch(request("SG-20250930-000002"))
    assert incident.assignments and math.isnan(incident.assignments[0].distance_m)
    back = dispatch_store.get_incident(incident.id)
    assert back is not None and math.isnan(back.assignments[0].distance_m)

    def measured(i):  # nan never equals itself: compare the rest
        return evolve(i, assignments=tuple(evolve(a, distance_m=0.0) for a in i.assignments))

    assert measured(back) == measured(incident)


def test_one_racer_wins_a_vehicle(dispatch_store):
    """Sixteen threads claim the same vehicle at once: exactly one gets it."""

    def claim(_: int):
        return dispatch_store.claim_vehicle(
            "S3", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE
        )

    with ThreadPoolExecutor(16) as pool:
        won = [v for v in pool.map(claim, range(16)) if v is not None]
    assert len(won) == 1 and won[0].status is VehicleStatus.EN_ROUTE
    assert dispatch_store.refresh_fleet().vehicle("S3").status is VehicleStatus.EN_ROUTE


def test_a_second_store_sees_claims_and_a_restart_keeps_live_state(engine, fleet, dispatch_store):
    """Another store on the database (another process) cannot claim a booked vehicle, and
    seeding again on start-up does not free it or move it back."""
    dispatch_store.claim_vehicle("S1", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE)
    moved = dataclasses.replace(dispatch_store.fleet().vehicle("S4"), lat=24.83, lon=113.6)
    dispatch_store.save_vehicles([moved])
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    assert other.sync_fleet() == 0
    again = other.fleet()
    assert again.vehicle("S1").status is VehicleStatus.EN_ROUTE
    assert (again.vehicle("S4").lat, again.vehicle("S4").lon) == (24.83, 113.6)
    assert other.claim_vehicle("S1", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE) is None


def test_one_transaction_commits_a_dispatch_together(engine, fleet, dispatcher, dispatch_store):
    """Inside ``one_transaction`` the claim and the incident show to others only after the
    block on PostgreSQL (at once on SQLite), and the observer hears of the save after the
    commit."""
    grouped = engine.dialect.name == "postgresql"
    heard = []
    store = SqlDispatchStore(
        engine,
        fleet,
        clock=ManualClock(NOW),
        observer=lambda before, after: heard.append((before, after)),
    )
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    with store.one_transaction():
        won = store.claim_vehicle("S3", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE)
        incident = dispatcher.open_incident(request("SG-20250930-000001"))
        store.save_incident(incident)
        assert heard == ([] if grouped else [(None, incident)])
        assert (other.get_incident(incident.id) is None) is grouped
        status = other.refresh_fleet().vehicle("S3").status
        assert status is (VehicleStatus.AVAILABLE if grouped else VehicleStatus.EN_ROUTE)
    assert won is not None and heard == [(None, incident)]
    assert other.get_incident(incident.id) == incident
    assert other.refresh_fleet().vehicle("S3").status is VehicleStatus.EN_ROUTE


def test_one_transaction_rolls_back_together(engine, fleet, dispatcher, dispatch_store):
    """On PostgreSQL a block that raises leaves neither the vehicle claim nor the incident
    behind."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite commits each call of the block on its own")
    incident = dispatcher.open_incident(request("SG-20250930-000001"))
    with pytest.raises(RuntimeError), dispatch_store.one_transaction():
        dispatch_store.claim_vehicle("S3", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE)
        dispatch_store.save_incident(incident)
        raise RuntimeError("crash before the commit")
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    assert other.get_incident(incident.id) is None
    assert other.refresh_fleet().vehicle("S3").status is VehicleStatus.AVAILABLE


def test_a_failed_block_leaves_no_vehicle_booked(engine, fleet, dispatch_store):
    """Vehicles claimed by a block that raises are free again afterwards, each in the status
    it was claimed from, in the database and the store's fleet: rolled back on PostgreSQL,
    put back on SQLite (where the claims had committed)."""
    returning = dataclasses.replace(
        dispatch_store.fleet().vehicle("S4"), status=VehicleStatus.RETURNING
    )
    dispatch_store.save_vehicles([returning])
    with pytest.raises(RuntimeError), dispatch_store.one_transaction():
        with dispatch_store.one_transaction():  # a nested block leaves it to the outer one
            for vehicle_id in ("S3", "S4"):
                claimed = dispatch_store.claim_vehicle(
                    vehicle_id, allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE
                )
                assert claimed is not None
        raise RuntimeError("crash after the claims")
    for store in (dispatch_store, SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))):
        vehicles = store.fleet()
        assert vehicles.vehicle("S3").status is VehicleStatus.AVAILABLE
        assert vehicles.vehicle("S4").status is VehicleStatus.RETURNING


def test_a_failed_block_keeps_what_it_no_longer_owns(engine, fleet, dispatcher, dispatch_store):
    """SQLite, where a block's calls commit one by one: a block that fails after saving an
    incident leaves that incident's vehicle booked (the incident sends it), and a vehicle
    that another request changed since the claim keeps that change, whether its status
    (on scene) or only its time (freed and booked again by someone else)."""
    if engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL rolls the whole block back")
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW + timedelta(minutes=1)))
    with pytest.raises(RuntimeError), dispatch_store.one_transaction():
        sent = dispatcher.dispatch(request("SG-20250930-000001"))  # claims, then saves
        held = sent.assignments[0].vehicle_id
        on_scene, booked_again = [v for v in ("S1", "S3", "S4") if v != held][:2]
        for vehicle_id in (on_scene, booked_again):
            dispatch_store.claim_vehicle(
                vehicle_id, allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE
            )
        live = other.refresh_fleet()
        other.save_vehicles(
            [
                dataclasses.replace(live.vehicle(on_scene), status=VehicleStatus.ON_SCENE),
                dataclasses.replace(live.vehicle(booked_again), status=VehicleStatus.AVAILABLE),
            ]
        )
        other.claim_vehicle(booked_again, allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE)
        raise RuntimeError("crash after the save")
    vehicles = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW)).fleet()
    assert vehicles.vehicle(held).status is VehicleStatus.EN_ROUTE
    assert vehicles.vehicle(on_scene).status is VehicleStatus.ON_SCENE
    assert vehicles.vehicle(booked_again).status is VehicleStatus.EN_ROUTE
    assert dispatch_store.get_incident(sent.id) == sent


def test_claims_and_dispatch_commit_together(engine, fleet, dispatcher, store):
    """Inside ``SqlClaimsStore.together`` a claim and a dispatch block are one transaction
    on PostgreSQL: a failure after both leaves neither, and the observer hears of a saved
    incident only once the whole block commits (each commits on its own on SQLite)."""
    grouped = engine.dialect.name == "postgresql"
    heard = []
    dispatch = SqlDispatchStore(
        engine, fleet, clock=ManualClock(NOW), observer=lambda *change: heard.append(change)
    )
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    claim = make_claim(BusinessCalendar())
    incident = dispatcher.open_incident(request(claim.number))

    def file_and_dispatch() -> None:
        with store.transaction() as tx:
            tx.add_claim(claim)
        with dispatch.one_transaction():
            dispatch.claim_vehicle("S3", allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE)
            dispatch.save_incident(incident)

    with pytest.raises(RuntimeError), store.together():
        file_and_dispatch()
        raise RuntimeError("crash before the commit")
    assert (other.get_incident(incident.id) is None) is grouped
    status = other.refresh_fleet().vehicle("S3").status
    assert status is (VehicleStatus.AVAILABLE if grouped else VehicleStatus.EN_ROUTE)
    if not grouped:
        return
    assert heard == []
    with pytest.raises(NotFoundError), store.transaction() as tx:
        tx.get_claim(claim.number)
    with store.together():
        file_and_dispatch()
        assert heard == [] and other.get_incident(incident.id) is None
    assert heard == [(None, incident)]
    assert other.get_incident(incident.id) == incident
    with store.transaction() as tx:
        assert tx.get_claim(claim.number) == claim


def test_a_stored_report_edited_by_hand_is_refused_on_read(engine, store):
    """A claim's report is validated on the way out too: a row changed to an invalid phone
    is refused, even right after this store filed (and remembered) the valid one."""
    claim = make_claim(BusinessCalendar())
    with store.transaction() as tx:
        tx.add_claim(claim)
    with store.transaction() as tx:
        assert tx.get_claim(claim.number) == claim
    with engine.begin() as connection:
        connection.execute(
            update(ClaimRow).where(ClaimRow.number == claim.number).values(driver_phone="12")
        )
    with pytest.raises(InvalidInputError) as refused, store.transaction() as tx:
        tx.get_claim(claim.number)
    assert refused.value.field == "driver.phone"


def test_lists_filter_like_a_python_reference(dispatcher, dispatch_store):
    """Status, zone and overdue filters in SQL give what filtering in Python gives."""
    for minute in range(4):
        dispatcher.dispatch(
            request(
                f"SG-20250930-00000{minute}",
                reported_at=at(f"2025-09-30 10:0{minute}"),
                needs=(VehicleKind.SURVEY,),
            )
        )
    dispatcher.record("SG-20250930-000001", EventType.CALLED)
    dispatcher.record("SG-20250930-000002", EventType.CANCELLED)
    everything = dispatch_store.incidents()
    for moment in (NOW, NOW + timedelta(minutes=12), NOW + timedelta(hours=1)):
        expected = [
            i.id
            for i in sorted(everything, key=lambda i: (i.request.reported_at, i.id), reverse=True)
            if i.status not in (IncidentStatus.DONE, IncidentStatus.CANCELLED)
            and (
                (i.called_at is None and i.call_due_at < moment)
                or (i.arrived_at is None and i.arrival_due_at < moment)
            )
        ]
        listed = dispatch_store.list_incidents(overdue_at=moment, limit=50)
        assert [i.id for i in listed] == expected
    open_ = dispatch_store.list_incidents(status=IncidentStatus.ASSIGNED, zone="shaoguan", limit=2)
    assert [i.id for i in open_] == ["SG-20250930-000003", "SG-20250930-000001"]
    assert [i.id for i in dispatch_store.active_incidents()] == [
        "SG-20250930-000000",
        "SG-20250930-000001",
        "SG-20250930-000003",
    ]


def test_changes_are_audited_with_the_actor(engine, dispatcher, dispatch_store):
    """Assignments, declines and status moves are audited in the saving transaction,
    attributed to the actor named around the call."""
    with acting_as("key-7 (dispatcher)"):
        incident = dispatcher.dispatch(request("SG-20250930-000009"))
        dispatcher.record(incident.id, EventType.DECLINED, vehicle_id="S1")
    with engine.connect() as connection:
        rows = connection.execute(
            AuditLogRow.__table__.select().order_by(AuditLogRow.__table__.c.id)
        ).all()
    actions = [(row.action, row.details.get("vehicle_id")) for row in rows]
    assert ("incident.assigned", "S1") in actions and ("incident.assigned", "T1") in actions
    assert ("incident.assignment_declined", "S1") in actions
    assert ("incident.assigned", "S2") in actions  # the A/B partner took over
    assert {row.actor for row in rows} == {"key-7 (dispatcher)"}
    assert incident_changes(incident, incident) == []


def test_events_are_kept_in_order(dispatch_store):
    """Events read back in the order they were appended."""
    for kind in (EventType.CALLED, EventType.ARRIVED):
        dispatch_store.append_event(Event("SG-20250930-000001", kind, NOW, "S1"))
    assert [e.type for e in dispatch_store.events("SG-20250930-000001")] == [
        EventType.CALLED,
        EventType.ARRIVED,
    ]


def test_api_keys_are_stored_hashed_and_looked_up(engine):
    """A created key authenticates; the database holds only its hash; others do not."""
    keys = SqlApiKeys(engine, clock=ManualClock(NOW))
    created, plain = keys.create("claims", label="handler 1")
    assert keys.lookup(plain) == created and created.role == "claims"
    assert keys.lookup(plain + "x") is None
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT key_hash FROM api_keys").scalar_one()
    assert stored == hash_key(plain) != plain


@pytest.mark.parametrize("block", ["none", "one_transaction", "together"])
def test_a_duplicate_incident_id_is_a_conflict_with_nothing_booked(
    engine, fleet, dispatcher, dispatch_store, store, block
):
    """Dispatching an id that exists is ``ConflictError(field="id")`` and leaves every
    vehicle, the stored incident and the audit log as they were: checked before any claim
    where each call commits on its own, by the insert (claims rolled back) inside a block."""
    first = dispatcher.dispatch(request("SG-20250930-000001", needs=(VehicleKind.SURVEY,)))
    booked = {a.vehicle_id for a in first.assignments}
    with Session(engine) as session:
        audited = session.scalar(select(func.count()).select_from(AuditLogRow))
    blocks = {
        "none": nullcontext,
        "one_transaction": dispatch_store.one_transaction,
        "together": lambda: _nested(store.together(), dispatch_store.one_transaction()),
    }
    with pytest.raises(ConflictError) as refused, blocks[block]():
        dispatcher.dispatch(request(first.id))
    assert type(refused.value) is ConflictError and refused.value.field == "id"
    assert str(refused.value) == f"id: incident {first.id} already exists"
    other = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    assert {
        v.id for v in other.refresh_fleet().vehicles if v.status is VehicleStatus.EN_ROUTE
    } == booked
    assert {
        v.id for v in dispatch_store.fleet().vehicles if v.status is VehicleStatus.EN_ROUTE
    } == booked
    assert other.get_incident(first.id) == first
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditLogRow)) == audited
    again = dispatcher.dispatch(request("SG-20250930-000002", needs=(VehicleKind.SURVEY,)))
    assert again.assignments and again.assignments[0].vehicle_id not in booked


def test_the_memory_store_refuses_a_duplicate_id_before_claiming(fleet, router, settings):
    """The in-memory store (simulation, CLI) refuses the id before any vehicle is claimed:
    it has no transaction to roll a claim back."""
    memory = MemoryDispatchStore(fleet)
    dispatcher = Dispatcher(
        store=memory,
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        clock=ManualClock(NOW),
    )
    first = dispatcher.dispatch(request("SG-20250930-000001"))
    fleet_after = memory.fleet()
    with pytest.raises(ConflictError) as refused:
        dispatcher.dispatch(request(first.id))
    assert refused.value.field == "id"
    assert memory.fleet() is fleet_after and memory.get_incident(first.id) == first


def test_audit_entries_queued_in_a_shared_transaction(engine, fleet, store, dispatcher):
    """Inside ``together`` the entries of both stores are read back in the transaction that
    made them, written at its commit, and dropped with its rollback."""
    dispatch = SqlDispatchStore(engine, fleet, clock=ManualClock(NOW))
    claim = make_claim(BusinessCalendar())
    incident = dispatcher.open_incident(request(claim.number))
    entry = AuditEntry(
        at=NOW, actor="a", action="claim.noted", entity="claim", entity_ref=claim.number
    )

    def record() -> None:
        with dispatch.one_transaction():
            dispatch.save_incident(incident)
        with store.transaction() as tx:
            tx.add_claim(claim)
            tx.add_audit(entry)
            assert [e.action for e in tx.audit_entries("claim", claim.number)] == ["claim.noted"]

    def actions() -> list[str]:
        with Session(engine) as session:
            return list(session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.id)))

    with pytest.raises(RuntimeError), store.together():
        record()
        raise RuntimeError("crash before the commit")
    if engine.dialect.name != "postgresql":  # each store committed on its own
        assert actions() == ["incident.status", "claim.noted"]
        return
    assert actions() == []
    with store.together():
        record()
    assert actions() == ["incident.status", "claim.noted"]


@contextmanager
def _nested(*blocks):
    with ExitStack() as stack:
        for block in blocks:
            stack.enter_context(block)
        yield
