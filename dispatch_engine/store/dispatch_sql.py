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
  a vehicle is never left booked for an incident that was not saved (on SQLite, where
  each call commits, a failed block puts its claims back).

Rows never leave this module: callers get the core's records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    RootTransaction,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from dispatch_engine.dispatch.lifecycle import CLOSED
from dispatch_engine.dispatch.model import Event, EventType, Incident, IncidentStatus
from dispatch_engine.dispatch.ports import Clock, SystemClock
from dispatch_engine.errors import ConflictError
from dispatch_engine.fleet.model import Fleet, Vehicle, VehicleStatus
from dispatch_engine.store.audit_sql import AuditLog
from dispatch_engine.store.db import Prepared, deferred_writes, joined_transaction
from dispatch_engine.store.models import (
    ApiKeyRow,
    DispatchEventRow,
    IncidentRow,
    VehicleStateRow,
)

logger = logging.getLogger(__name__)

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


def incident_document(incident: Incident) -> str:
    """The incident as JSON text (times ISO 8601 with their offset), serialised by
    pydantic's core in one pass: the store writes this text to the document column."""
    return _INCIDENT.dump_json(incident).decode()


def incident_from_document(document: dict[str, Any]) -> Incident:
    """The incident an :func:`incident_document` (parsed) describes, equal to the one saved.

    JSON has no NaN: a length the dispatcher did not measure (``route_lengths=False``)
    is written as null, and read back as NaN.
    """
    for assignment in document.get("assignments", ()):
        if assignment.get("distance_m") is None:
            assignment["distance_m"] = math.nan
    tow = document.get("tow")
    if tow is not None and tow.get("meters") is None:
        tow["meters"] = math.nan
    return _INCIDENT.validate_python(document)


class StaleIncidentError(ConflictError):
    """An incident was saved over a change committed since it was read (by another
    request or server process); nothing of the block was kept, and doing it again from a
    fresh read is safe."""


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
        self._engine = engine
        self._statements = _Statements(engine.dialect)
        self._audits = AuditLog(engine)
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
        self._claims: ContextVar[list[_Claim] | None] = ContextVar(
            "dispatch_store_claims", default=None
        )
        self._grouping = engine.dialect.name == "postgresql"

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def one_transaction(self, *, serialise: bool = False) -> Iterator[None]:
        """Run this thread's store calls inside the block in one transaction: begun by the
        first call (so it never waits on a lock taken before it), committed when the block
        ends, rolled back when it raises. Observers hear of saved incidents after the
        commit. Nested blocks join the outer one.

        Inside a block, an incident read and then saved is saved only if nobody changed it
        meanwhile (its ``version``); otherwise :class:`StaleIncidentError` rolls the whole
        block back, vehicle changes included, so the caller can do it again.

        Without ``serialise``, on PostgreSQL only: a SQLite transaction holds the file's
        one write lock, and the ranking between the calls of a report's dispatch would run
        under it while every other writer sleeps in SQLite's busy handler; there each call
        commits on its own. ``serialise=True`` groups on SQLite too, for read-modify-write
        blocks on existing incidents (events, surge, escalation checks): there the lock
        makes the read current.

        Where each call commits on its own (SQLite), a block that fails puts back the
        vehicles it claimed (:meth:`_claims_undone_on_failure`), so none is left booked for
        an incident that was never saved.

        Inside a ``store.db.shared_transaction`` the block joins that transaction: it is
        committed (and observers told) or rolled back with it.
        """
        if self._unit.get() is not None:
            yield
            return
        if not (self._grouping or serialise):
            with self._claims_undone_on_failure():
                yield
            return
        shared = joined_transaction(self._engine)
        unit = _Unit(self._engine, None if shared is None else shared.connection)
        token = self._unit.set(unit)
        try:
            with unit:
                yield
        except BaseException as exc:
            self._forget_claims()
            if isinstance(exc, DBAPIError) and _retryable(exc):
                raise StaleIncidentError(
                    "another request changed the same records at the same time; retry",
                    field="incident_id",
                ) from exc
            raise
        finally:
            self._unit.reset(token)
        if shared is None:
            self._announce(unit)
        else:
            shared.after_commit.append(lambda: self._announce(unit))
            shared.after_rollback.append(self._forget_claims)

    @contextmanager
    def _claims_undone_on_failure(self) -> Iterator[None]:
        """Note the vehicles claimed in the block; if it raises, set each back to the status
        it was claimed from, unless an incident saved in the block holds it or something
        changed it since (its status or ``updated_at`` differ). Nested blocks leave it to
        the outermost one."""
        if self._claims.get() is not None:
            yield
            return
        claims: list[_Claim] = []
        token = self._claims.set(claims)
        try:
            yield
        except BaseException:
            self._undo_claims(claims)
            raise
        finally:
            self._claims.reset(token)

    def _keep_claims_of(self, incident: Incident) -> None:
        """A saved incident holds its vehicles: a later failure of the block must not put
        them back (the incident would then send a vehicle another could book)."""
        claims = self._claims.get()
        if claims:
            held = {assignment.vehicle_id for assignment in incident.assignments}
            claims[:] = [claim for claim in claims if claim.vehicle_id not in held]

    def _undo_claims(self, claims: list[_Claim]) -> None:
        """Release ``claims`` (newest first) on a best-effort basis: the block's own error is
        the one the caller sees; a failed release is logged with the vehicle's id."""
        if not claims:
            return
        for claim in reversed(claims):
            parameters = {
                "b_id": claim.vehicle_id,
                "b_status": str(claim.status),
                "b_updated_at": claim.at,
                "status": str(claim.previous),
                "updated_at": self._clock.now(),
            }
            try:
                with self._transaction() as connection:
                    self._statements.undo_claim.run(connection, parameters)
            except SQLAlchemyError:
                logger.exception("vehicle %s stays booked: releasing it failed", claim.vehicle_id)
        self._forget_claims()

    def _announce(self, unit: _Unit) -> None:
        """Tell the observer of the incidents a committed block saved."""
        if self._observer is not None:
            for before, after in unit.saved:
                self._observer(before, after)

    def _forget_claims(self) -> None:
        """Read the vehicles afresh next time: those remembered as claimed by a block
        that was rolled back were not."""
        with self._fleet_lock:
            self._fresh_until = -math.inf

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        unit = self._unit.get()
        if unit is not None:
            yield unit.connection()
            return
        with self._engine.begin() as connection:
            yield connection

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
            self._statements.insert(_VEHICLES)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(_VEHICLES.c.id)
        )
        with self._transaction() as connection:
            added = len(connection.execute(statement).all())
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
        with self._transaction() as connection:
            rows = self._statements.vehicle_states.run(connection, {}).rows
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
        rows = [
            {
                "b_id": vehicle.id,
                "status": str(vehicle.status),
                "lat": vehicle.lat,
                "lon": vehicle.lon,
                "updated_at": now,
            }
            for vehicle in vehicles
        ]
        if rows:
            with self._transaction() as connection:
                self._statements.save_vehicle.run_many(connection, rows)
        self._remember(vehicles)

    def claim_vehicle(
        self, vehicle_id: str, *, allowed: frozenset[VehicleStatus], status: VehicleStatus
    ) -> Vehicle | None:
        """One conditional ``UPDATE``: the row changes only if its status is still allowed.

        Both databases apply it atomically (PostgreSQL re-checks the condition after a
        concurrent writer commits; SQLite runs one writer at a time), so of two racing
        requests exactly one sees a row updated.
        """
        now = self._clock.now()
        parameters = {
            "b_id": vehicle_id,
            "allowed": [str(s) for s in allowed],
            "status": str(status),
            "updated_at": now,
        }
        with self._transaction() as connection:
            row = self._statements.claim_vehicle.run(connection, parameters).first()
        if row is None:
            return None
        with self._fleet_lock:
            vehicle = self._fleet.vehicle(vehicle_id)
        claims = self._claims.get()
        if claims is not None:
            # The status the caller ranked it by (the row was in an allowed one; a stale
            # read falls back to the first allowed status by name: ``available``).
            previous = vehicle.status if vehicle.status in allowed else min(allowed)
            claims.append(_Claim(vehicle_id, previous, status, now))
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
        with self._transaction() as connection:
            row = self._statements.get_incident.run(connection, {"id": incident_id}).first()
        unit = self._unit.get()
        if row is None:
            if unit is not None:
                unit.read[incident_id] = None
            return None
        return self._read(unit, row.document, row.version)

    def check_new_incident(self, incident_id: str) -> None:
        """Inside :meth:`one_transaction`, no read: the save of the new incident inserts it
        only if the id is free, and refuses it otherwise, rolling back the block (the
        vehicles it claimed) with it. Outside, each call commits on its own, so the id is
        looked up now, before any vehicle is claimed."""
        unit = self._unit.get()
        if unit is None:
            if self.get_incident(incident_id) is not None:
                raise _incident_exists(incident_id)
            return
        unit.read[incident_id] = None
        unit.opening.add(incident_id)

    def save_incident(self, incident: Incident) -> None:
        """Insert or replace the incident and audit what changed, in one transaction.

        Inside :meth:`one_transaction`, an incident read in the block is written only if
        it is still as read (absent, or at the version read): else
        :class:`StaleIncidentError`. Outside, the save replaces whatever is stored.
        """
        now = self._clock.now()
        values = _incident_values(incident, now)
        unit = self._unit.get()
        with self._transaction() as connection:
            if unit is not None and incident.id in unit.read:
                before, version = self._save_as_read(connection, unit, incident, values)
            else:
                before, version = self._replace(connection, incident, values)
            entries = [
                {
                    "at": now,
                    "actor": _ACTOR.get(),
                    "action": action,
                    "entity": "incident",
                    "entity_ref": incident.id,
                    "details": details,
                }
                for action, details in incident_changes(before, incident)
            ]
            self._audits.add(connection, entries, deferred_writes(self._engine, connection))
        self._keep_claims_of(incident)
        if unit is not None:
            unit.read[incident.id] = (version, incident)
            unit.saved.append((before, incident))
        elif self._observer is not None:
            self._observer(before, incident)

    def _save_as_read(
        self, connection: Connection, unit: _Unit, incident: Incident, values: dict[str, Any]
    ) -> tuple[Incident | None, int]:
        """Write ``incident`` only if it is as the block read it; (before, new version)."""
        read = unit.read[incident.id]
        if read is None:
            inserted = self._statements.insert_new_incident.run(
                connection, {"id": incident.id, "version": 0, **values}
            ).first()
            if inserted is None:
                if incident.id in unit.opening:
                    raise _incident_exists(incident.id)
                raise StaleIncidentError(
                    f"incident {incident.id} already exists (opened meanwhile)", field="id"
                )
            return None, 0
        version, before = read
        updated = self._statements.update_incident_at.run(
            connection,
            {"b_id": incident.id, "b_version": version, "version": version + 1, **values},
        ).first()
        if updated is None:
            raise StaleIncidentError(
                f"incident {incident.id} was changed by another request meanwhile; retry",
                field="incident_id",
            )
        return before, version + 1

    def _replace(
        self, connection: Connection, incident: Incident, values: dict[str, Any]
    ) -> tuple[Incident | None, int]:
        """Write ``incident`` over whatever is stored (locked first); (before, new version)."""
        row = self._statements.lock_incident.run(connection, {"id": incident.id}).first()
        if row is None:
            self._statements.upsert_incident.run(
                connection, {"id": incident.id, "version": 0, **values}
            )
            return None, 0
        self._statements.update_incident.run(
            connection, {"b_id": incident.id, "version": row.version + 1, **values}
        )
        return incident_from_document(row.document), row.version + 1

    def _read(self, unit: _Unit | None, document: dict[str, Any], version: int) -> Incident:
        """An incident read; inside a block, remembered with its version for the save."""
        incident = incident_from_document(document)
        if unit is not None:
            unit.read[incident.id] = (version, incident)
        return incident

    def incidents(self) -> list[Incident]:
        """All incidents in report order (then id)."""
        return self._select_incidents(select(_INCIDENTS.c.document, _INCIDENTS.c.version))

    def active_incidents(self) -> list[Incident]:
        """Incidents not done or cancelled, in report order (then id)."""
        return self._select_incidents(
            select(_INCIDENTS.c.document, _INCIDENTS.c.version).where(
                _INCIDENTS.c.status.not_in(_CLOSED_VALUES)
            )
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
        columns = _INCIDENTS.c
        query = select(columns.document)
        if status is not None:
            query = query.where(columns.status == str(status))
        if zone is not None:
            query = query.where(columns.zone == zone)
        if overdue_at is not None:
            query = query.where(
                columns.status.not_in(_CLOSED_VALUES),
                or_(
                    and_(columns.called_at.is_(None), columns.call_due_at < overdue_at),
                    and_(columns.arrived_at.is_(None), columns.arrival_due_at < overdue_at),
                ),
            )
        query = (
            query.order_by(columns.reported_at.desc(), columns.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._transaction() as connection:
            return [incident_from_document(doc) for doc in connection.scalars(query)]

    def _select_incidents(self, query: Any) -> list[Incident]:
        with self._transaction() as connection:
            rows = connection.execute(
                query.order_by(_INCIDENTS.c.reported_at, _INCIDENTS.c.id)
            ).all()
        unit = self._unit.get()
        return [self._read(unit, document, version) for document, version in rows]

    # --- events ---------------------------------------------------------------------------

    def append_event(self, event: Event) -> None:
        with self._transaction() as connection:
            connection.execute(
                insert(_EVENTS),
                {
                    "incident_id": event.incident_id,
                    "type": str(event.type),
                    "at": event.at,
                    "vehicle_id": event.vehicle_id,
                },
            )

    def events(self, incident_id: str) -> list[Event]:
        with self._transaction() as connection:
            rows = connection.execute(
                select(_EVENTS.c.incident_id, _EVENTS.c.type, _EVENTS.c.at, _EVENTS.c.vehicle_id)
                .where(_EVENTS.c.incident_id == incident_id)
                .order_by(_EVENTS.c.id)
            )
            return [
                Event(row.incident_id, EventType(row.type), row.at, row.vehicle_id) for row in rows
            ]


_VEHICLES = cast(Table, VehicleStateRow.__table__)
_INCIDENTS = cast(Table, IncidentRow.__table__)
_EVENTS = cast(Table, DispatchEventRow.__table__)
# Deadlock and serialization failure: PostgreSQL rolled the block back; it may be redone.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_INCIDENT_COLUMNS = (
    "status",
    "zone",
    "reported_at",
    "call_due_at",
    "arrival_due_at",
    "called_at",
    "arrived_at",
    "document",
    "updated_at",
    "version",
)


def _incident_exists(incident_id: str) -> ConflictError:
    return ConflictError(f"incident {incident_id} already exists", field="id")


def _retryable(exc: DBAPIError) -> bool:
    """PostgreSQL's deadlock and serialization failures: the block was rolled back and may
    be done again."""
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


class _Statements:
    """The hot path's statements, compiled once per store (``store.db.Prepared``).
    Parameters named ``b_*`` are the ``WHERE`` clause's (the rest set columns)."""

    def __init__(self, dialect: Dialect) -> None:
        self.insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        columns: dict[str, Any] = {name: bindparam(name) for name in _INCIDENT_COLUMNS}
        # The document arrives as JSON text (``incident_document``); PostgreSQL parses it
        # into JSONB, SQLite stores the text as its JSON type does.
        text = bindparam("document", type_=Text)
        columns["document"] = text.cast(JSONB) if dialect.name == "postgresql" else text
        incidents = _INCIDENTS.c
        vehicles = _VEHICLES.c
        # PostgreSQL takes the allowed statuses as one array parameter (a statement compiled
        # once cannot expand a list); SQLite's ``IN`` is expanded per call.
        allowed = (
            vehicles.status == any_(bindparam("allowed", type_=postgresql.ARRAY(String)))
            if dialect.name == "postgresql"
            else vehicles.status.in_(bindparam("allowed", expanding=True))
        )
        get_incident = select(incidents.document, incidents.version).where(
            incidents.id == bindparam("id")
        )
        self.vehicle_states = Prepared(
            select(vehicles.id, vehicles.status, vehicles.lat, vehicles.lon), dialect
        )
        self.save_vehicle = Prepared(
            update(_VEHICLES)
            .where(vehicles.id == bindparam("b_id"))
            .values(status=bindparam("status"), lat=bindparam("lat"), lon=bindparam("lon"))
            .values(updated_at=bindparam("updated_at")),
            dialect,
        )
        self.claim_vehicle = Prepared(
            update(_VEHICLES)
            .where(vehicles.id == bindparam("b_id"), allowed)
            .values(status=bindparam("status"), updated_at=bindparam("updated_at"))
            .returning(vehicles.lat, vehicles.lon),
            dialect,
        )
        self.undo_claim = Prepared(
            update(_VEHICLES)
            .where(
                vehicles.id == bindparam("b_id"),
                vehicles.status == bindparam("b_status"),
                vehicles.updated_at == bindparam("b_updated_at"),
            )
            .values(status=bindparam("status"), updated_at=bindparam("updated_at")),
            dialect,
        )
        self.get_incident = Prepared(get_incident, dialect)
        self.lock_incident = Prepared(get_incident.with_for_update(), dialect)
        self.insert_new_incident = Prepared(
            self.insert(_INCIDENTS)
            .values(id=bindparam("id"), **columns)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(incidents.id),
            dialect,
        )
        self.upsert_incident = Prepared(
            self.insert(_INCIDENTS)
            .values(id=bindparam("id"), **columns)
            .on_conflict_do_update(
                index_elements=["id"],
                set_={**columns, "version": _INCIDENTS.c.version + 1},
            ),
            dialect,
        )
        self.update_incident = Prepared(
            update(_INCIDENTS).where(incidents.id == bindparam("b_id")).values(**columns),
            dialect,
        )
        self.update_incident_at = Prepared(
            update(_INCIDENTS)
            .where(incidents.id == bindparam("b_id"), incidents.version == bindparam("b_version"))
            .values(**columns)
            .returning(incidents.id),
            dialect,
        )


@dataclass(frozen=True)
class _Claim:
    """A vehicle claimed by a block that commits call by call: what to undo if it fails."""

    vehicle_id: str
    previous: VehicleStatus
    status: VehicleStatus
    at: datetime


class _Unit:
    """The lazily begun transaction of :meth:`SqlDispatchStore.one_transaction` (or the
    ``joined`` connection of a shared transaction, which its owner ends), the
    incidents read in it (id -> (version, incident), or None when read as absent), and
    the ids of new incidents whose existence is checked by their insert
    (:meth:`SqlDispatchStore.check_new_incident`)."""

    def __init__(self, engine: Engine, joined: Connection | None = None) -> None:
        self._engine = engine
        self._connection: Connection | None = joined
        self._transaction: RootTransaction | None = None
        self.read: dict[str, tuple[int, Incident] | None] = {}
        self.saved: list[tuple[Incident | None, Incident]] = []
        self.opening: set[str] = set()

    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
        return self._connection

    def __enter__(self) -> _Unit:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._connection is None or self._transaction is None:
            return
        with self._connection:
            if kind is None:
                self._transaction.commit()
            else:
                self._transaction.rollback()


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
                        # JSON has no NaN: an unmeasured length is null
                        "distance_m": round(assignment.distance_m, 1)
                        if math.isfinite(assignment.distance_m)
                        else None,
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
