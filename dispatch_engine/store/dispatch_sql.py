"""The SQL implementation of the dispatch core's ``DispatchStore`` (``dispatch.ports``), and
the API keys.

- Vehicles: the fleet file gives the static fields (kind, base, shifts, skills, partner);
  ``vehicle_states`` holds what changes (status, position). :meth:`SqlDispatchStore.sync_fleet`
  seeds a row for every vehicle of the file on start-up. :meth:`~SqlDispatchStore.claim_vehicle`
  is one conditional ``UPDATE ... WHERE id = :id AND status IN (...)`` checked by its row
  count: the database, not a process-local lock, decides who gets a vehicle, so two API
  processes on one database can never book the same vehicle twice.
- Incidents: the frozen record serialised whole (pydantic over the core's dataclasses) in a
  JSON document, next to indexed columns for the list views (status, zone, due times).
- Every saved incident change is audited in the same transaction: new assignments, their
  status changes and the incident's status moves, with the actor :func:`acting_as` names.
- :meth:`SqlDispatchStore.one_transaction` runs the store calls of a block (one dispatch:
  read, vehicle claims, save) in a single PostgreSQL transaction: fewer round trips, and
  a vehicle is never left booked for an incident that was not saved.

Rows never leave this module: callers get the core's records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from dispatch_engine.claims.ports import IdempotencyRecord
from dispatch_engine.dispatch.lifecycle import CLOSED
from dispatch_engine.dispatch.model import Event, EventType, Incident, IncidentStatus
from dispatch_engine.dispatch.ports import Clock, SystemClock
from dispatch_engine.fleet.model import Fleet, Vehicle, VehicleStatus
from dispatch_engine.store.models import (
    ApiKeyRow,
    AuditLogRow,
    DispatchEventRow,
    IdempotencyKeyRow,
    IncidentRow,
    VehicleStateRow,
)

SYSTEM_ACTOR = "system"
KEY_PREFIX = "sgd_"

_ACTOR: ContextVar[str] = ContextVar("dispatch_actor", default=SYSTEM_ACTOR)
_INCIDENT: TypeAdapter[Incident] = TypeAdapter(Incident)
_CLOSED_VALUES = [str(status) for status in CLOSED]

# Called after a committed incident change with the record before (None: new) and after.
IncidentObserver = Callable[[Incident | None, Incident], None]


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute the incident changes saved inside the block to ``actor`` in the audit log.

    The dispatch core does not know who calls it; the API names the caller (its key's id
    and role) around each call, in the thread that makes it.
    """
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def incident_document(incident: Incident) -> dict[str, Any]:
    """The incident as a JSON document (times ISO 8601 with their offset)."""
    return _INCIDENT.dump_python(incident, mode="json")


def incident_from_document(document: dict[str, Any]) -> Incident:
    """The incident a :func:`incident_document` describes, equal to the one saved."""
    return _INCIDENT.validate_python(document)


class SqlDispatchStore:
    """``DispatchStore`` on a migrated database (``store.migrate.upgrade``).

    Parameters
    ----------
    engine
        From ``store.db.make_engine``.
    fleet
        The fleet file's vehicles: static fields, and the first live state of each.
    clock
        Stamps ``updated_at`` and audit entries.
    observer
        Told of each committed incident change (the API counts assignments and breaches).
    refresh_s
        How long a read of the vehicles' live state is reused (see :meth:`fleet`).
    """

    def __init__(
        self,
        engine: Engine,
        fleet: Fleet,
        *,
        clock: Clock | None = None,
        observer: IncidentObserver | None = None,
        refresh_s: float = 1.0,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._clock = clock or SystemClock()
        self._observer = observer
        self._known = frozenset(v.id for v in fleet.vehicles)
        self._seed = fleet
        # Unchanged vehicles stay the same objects between reads, which lets the core's
        # FleetLocator re-snap only the vehicles that moved.
        self._fleet = fleet
        self._fleet_lock = threading.Lock()
        self._refresh_s = refresh_s
        self._fresh_until = -math.inf
        self._unit: ContextVar[_Unit | None] = ContextVar("dispatch_store_unit", default=None)
        self._grouping = engine.dialect.name == "postgresql"

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def one_transaction(self) -> Iterator[None]:
        """Run this thread's store calls inside the block in one transaction: begun by the
        first call (so it never waits on a lock taken before it), committed when the block
        ends, rolled back when it raises. Observers hear of saved incidents after the
        commit. Nested blocks join the outer one.

        On PostgreSQL only: a SQLite transaction holds the file's one write lock, and the
        ranking between the calls would run under it while every other writer sleeps in
        SQLite's busy handler; there each call commits on its own, as outside a block.
        """
        if not self._grouping or self._unit.get() is not None:
            yield
            return
        unit = _Unit(self._sessions)
        token = self._unit.set(unit)
        try:
            with unit:
                yield
        finally:
            self._unit.reset(token)
        if self._observer is not None:
            for before, after in unit.saved:
                self._observer(before, after)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        unit = self._unit.get()
        if unit is not None:
            yield unit.session()
            return
        with self._sessions.begin() as session:
            yield session

    # --- vehicles -------------------------------------------------------------------------

    def sync_fleet(self) -> int:
        """Add a live-state row for each vehicle of the fleet file that has none yet.

        Existing rows keep their state (a restart must not free a booked vehicle).
        Returns the number of rows added.
        """
        now = self._clock.now()
        rows = [
            {"id": v.id, "status": str(v.status), "lat": v.lat, "lon": v.lon, "updated_at": now}
            for v in self._seed.vehicles
        ]
        statement = (
            self._insert(VehicleStateRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(VehicleStateRow.id)
        )
        with self._transaction() as session:
            added = len(session.execute(statement).all())
        self.refresh_fleet()
        return added

    def fleet(self) -> Fleet:
        """The fleet with every vehicle's status and position.

        This store's own changes show at once; changes made by other processes on the
        same database are read at most ``refresh_s`` seconds later. Staleness can cost a
        decision a little optimality, never correctness: a vehicle another process took
        is refused by :meth:`claim_vehicle`, which reads the row itself.
        """
        with self._fleet_lock:
            if time.monotonic() < self._fresh_until:
                return self._fleet
        return self.refresh_fleet()

    def refresh_fleet(self) -> Fleet:
        """Read every vehicle's live state from the database now."""
        read_at = time.monotonic()
        with self._transaction() as session:
            rows = session.execute(
                select(
                    VehicleStateRow.id,
                    VehicleStateRow.status,
                    VehicleStateRow.lat,
                    VehicleStateRow.lon,
                )
            ).all()
        with self._fleet_lock:
            fleet = self._fleet
            for vehicle_id, status, lat, lon in rows:
                if vehicle_id not in self._known:
                    continue  # a vehicle since removed from the fleet file
                vehicle = fleet.vehicle(vehicle_id)
                if (vehicle.status, vehicle.lat, vehicle.lon) != (status, lat, lon):
                    fleet = fleet.with_vehicle(
                        dataclasses.replace(vehicle, status=VehicleStatus(status), lat=lat, lon=lon)
                    )
            self._fleet = fleet
            self._fresh_until = read_at + self._refresh_s
            return fleet

    def save_vehicles(self, vehicles: Iterable[Vehicle]) -> None:
        vehicles = list(vehicles)
        now = self._clock.now()
        with self._transaction() as session:
            for vehicle in vehicles:
                session.execute(
                    update(VehicleStateRow)
                    .where(VehicleStateRow.id == vehicle.id)
                    .values(
                        status=str(vehicle.status), lat=vehicle.lat, lon=vehicle.lon, updated_at=now
                    )
                )
        self._remember(vehicles)

    def claim_vehicle(
        self, vehicle_id: str, *, allowed: frozenset[VehicleStatus], status: VehicleStatus
    ) -> Vehicle | None:
        """One conditional ``UPDATE``: the row changes only if its status is still allowed.

        Both databases apply it atomically (PostgreSQL re-checks the condition after a
        concurrent writer commits; SQLite runs one writer at a time), so of two racing
        requests exactly one sees a row updated.
        """
        statement = (
            update(VehicleStateRow)
            .where(
                VehicleStateRow.id == vehicle_id,
                VehicleStateRow.status.in_([str(s) for s in allowed]),
            )
            .values(status=str(status), updated_at=self._clock.now())
            .returning(VehicleStateRow.lat, VehicleStateRow.lon)
        )
        with self._transaction() as session:
            row = session.execute(statement).first()
        if row is None:
            return None
        with self._fleet_lock:
            vehicle = self._fleet.vehicle(vehicle_id)
        claimed = dataclasses.replace(vehicle, status=status, lat=row.lat, lon=row.lon)
        self._remember([claimed])
        return claimed

    def _remember(self, vehicles: Iterable[Vehicle]) -> None:
        with self._fleet_lock:
            for vehicle in vehicles:
                if vehicle.id in self._known:
                    self._fleet = self._fleet.with_vehicle(vehicle)

    # --- incidents ------------------------------------------------------------------------

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._transaction() as session:
            document = session.scalar(
                select(IncidentRow.document).where(IncidentRow.id == incident_id)
            )
        return None if document is None else incident_from_document(document)

    def save_incident(self, incident: Incident) -> None:
        """Insert or replace the incident and audit what changed, in one transaction."""
        now = self._clock.now()
        values = _incident_values(incident, now)
        statement = (
            self._insert(IncidentRow)
            .values(id=incident.id, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )
        with self._transaction() as session:
            before_document = session.scalar(
                select(IncidentRow.document).where(IncidentRow.id == incident.id).with_for_update()
            )
            before = None if before_document is None else incident_from_document(before_document)
            session.execute(statement)
            actor = _ACTOR.get()
            entries = [
                {
                    "at": now,
                    "actor": actor,
                    "action": action,
                    "entity": "incident",
                    "entity_ref": incident.id,
                    "details": details,
                }
                for action, details in incident_changes(before, incident)
            ]
            if entries:
                session.execute(insert(AuditLogRow), entries)
        unit = self._unit.get()
        if unit is not None:
            unit.saved.append((before, incident))
        elif self._observer is not None:
            self._observer(before, incident)

    def incidents(self) -> list[Incident]:
        """All incidents in report order (then id)."""
        return self._select_incidents(select(IncidentRow.document))

    def active_incidents(self) -> list[Incident]:
        """Incidents not done or cancelled, in report order (then id)."""
        return self._select_incidents(
            select(IncidentRow.document).where(IncidentRow.status.not_in(_CLOSED_VALUES))
        )

    def list_incidents(
        self,
        *,
        status: IncidentStatus | None = None,
        zone: str | None = None,
        overdue_at: datetime | None = None,
        limit: int,
        offset: int = 0,
    ) -> list[Incident]:
        """Incidents newest report first, filtered in the database.

        ``overdue_at``: only open incidents whose call or arrival deadline passed before
        that time without the call or the arrival.
        """
        query = select(IncidentRow.document)
        if status is not None:
            query = query.where(IncidentRow.status == str(status))
        if zone is not None:
            query = query.where(IncidentRow.zone == zone)
        if overdue_at is not None:
            query = query.where(
                IncidentRow.status.not_in(_CLOSED_VALUES),
                or_(
                    and_(IncidentRow.called_at.is_(None), IncidentRow.call_due_at < overdue_at),
                    and_(IncidentRow.arrived_at.is_(None), IncidentRow.arrival_due_at < overdue_at),
                ),
            )
        query = (
            query.order_by(IncidentRow.reported_at.desc(), IncidentRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._transaction() as session:
            return [incident_from_document(doc) for doc in session.scalars(query)]

    def _select_incidents(self, query: Any) -> list[Incident]:
        with self._transaction() as session:
            documents = session.scalars(query.order_by(IncidentRow.reported_at, IncidentRow.id))
            return [incident_from_document(document) for document in documents]

    # --- events ---------------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        with self._transaction() as session:
            session.add(
                DispatchEventRow(
                    incident_id=event.incident_id,
                    type=str(event.type),
                    at=event.at,
                    vehicle_id=event.vehicle_id,
                )
            )

    def events(self, incident_id: str) -> list[Event]:
        with self._transaction() as session:
            rows = session.scalars(
                select(DispatchEventRow)
                .where(DispatchEventRow.incident_id == incident_id)
                .order_by(DispatchEventRow.id)
            )
            return [
                Event(row.incident_id, EventType(row.type), row.at, row.vehicle_id) for row in rows
            ]

    # --- idempotency ----------------------------------------------------------------------

    def idempotency_record(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The request an idempotency key was first used for, if any (read only)."""
        with self._transaction() as session:
            row = session.get(IdempotencyKeyRow, (scope, key))
            if row is None:
                return None
            return IdempotencyRecord(
                scope=row.scope, key=row.key, fingerprint=row.fingerprint, result_ref=row.result_ref
            )


class _Unit:
    """The lazily begun session of :meth:`SqlDispatchStore.one_transaction`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._session: Session | None = None
        self.saved: list[tuple[Incident | None, Incident]] = []

    def session(self) -> Session:
        if self._session is None:
            self._session = self._sessions()
            self._session.begin()
        return self._session

    def __enter__(self) -> _Unit:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._session is None:
            return
        with self._session:
            if kind is None:
                self._session.commit()
            else:
                self._session.rollback()


def incident_changes(
    before: Incident | None, after: Incident
) -> list[tuple[str, dict[str, object]]]:
    """The audit entries (action, details) of one incident change: new assignments, their
    status changes and the incident's status move."""
    changes: list[tuple[str, dict[str, object]]] = []
    assignments = () if before is None else before.assignments
    earlier = {(a.vehicle_id, a.assigned_at): a for a in assignments}
    for assignment in after.assignments:
        previous = earlier.get((assignment.vehicle_id, assignment.assigned_at))
        if previous is None:
            changes.append(
                (
                    "incident.assigned",
                    {
                        "vehicle_id": assignment.vehicle_id,
                        "kind": str(assignment.kind),
                        "eta_s": round(assignment.eta_s, 1),
                        "distance_m": round(assignment.distance_m, 1),
                        "meets_guarantee": assignment.meets_guarantee,
                        "estimate": assignment.estimate,
                    },
                )
            )
        elif previous.status != assignment.status:
            changes.append(
                (
                    f"incident.assignment_{assignment.status}",
                    {"vehicle_id": assignment.vehicle_id, "from": str(previous.status)},
                )
            )
    if before is None or before.status != after.status:
        changes.append(
            (
                "incident.status",
                {"from": None if before is None else str(before.status), "to": str(after.status)},
            )
        )
    return changes


def _incident_values(incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "status": str(incident.status),
        "zone": incident.zone.zone,
        "reported_at": incident.request.reported_at,
        "call_due_at": incident.call_due_at,
        "arrival_due_at": incident.arrival_due_at,
        "called_at": incident.called_at,
        "arrived_at": incident.arrived_at,
        "document": incident_document(incident),
        "updated_at": now,
    }


# --- API keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """A stored key's identity: who acts when a request presents it."""

    id: int
    role: str
    label: str

    @property
    def actor(self) -> str:
        """How the audit log names the holder: ``key-12 (dispatcher)``."""
        return f"key-{self.id} ({self.role})"


def hash_key(key: str) -> str:
    """SHA-256 of a key. Keys are 256 random bits, so a fast hash is as safe as a slow one."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class SqlApiKeys:
    """API keys stored hashed; the plain key exists only in :meth:`create`'s answer."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or SystemClock()

    def create(self, role: str, *, label: str = "") -> tuple[ApiKey, str]:
        """A new key for ``role`` (validated by the caller); returns it with its plain text."""
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            row = ApiKeyRow(
                key_hash=hash_key(plain),
                role=role,
                label=label,
                created_at=self._clock.now(),
                revoked_at=None,
            )
            session.add(row)
            session.flush()
            return ApiKey(row.id, row.role, row.label), plain

    def lookup(self, key: str) -> ApiKey | None:
        """The key's identity, or None for an unknown or revoked key."""
        with self._sessions.begin() as session:
            row = session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key))
            ).one_or_none()
            if row is None or row.revoked_at is not None:
                return None
            return ApiKey(row.id, row.role, row.label)
