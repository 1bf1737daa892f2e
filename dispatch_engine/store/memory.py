"""The in-memory dispatch store: the core's reference implementation of ``DispatchStore``.

Used by the CLI, the simulation and the tests; the API uses the SQL store. A lock keeps
each read or write whole when several threads share it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from dispatch_engine.dispatch.lifecycle import CLOSED
from dispatch_engine.dispatch.model import Event, Incident
from dispatch_engine.errors import ConflictError
from dispatch_engine.fleet.model import Fleet, Vehicle, VehicleStatus
from dispatch_engine.records import evolve


class MemoryDispatchStore:
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._incidents: dict[str, Incident] = {}
        self._active: dict[str, Incident] = {}  # not done or cancelled
        self._events: dict[str, list[Event]] = {}
        self._lock = threading.Lock()

    def fleet(self) -> Fleet:
        with self._lock:
            return self._fleet

    def save_vehicles(self, vehicles: Iterable[Vehicle]) -> None:
        with self._lock:
            for vehicle in vehicles:
                self._fleet = self._fleet.with_vehicle(vehicle)

    def claim_vehicle(
        self, vehicle_id: str, *, allowed: frozenset[VehicleStatus], status: VehicleStatus
    ) -> Vehicle | None:
        with self._lock:
            vehicle = self._fleet.vehicle(vehicle_id)
            if vehicle.status not in allowed:
                return None
            claimed = evolve(vehicle, status=status)
            self._fleet = self._fleet.with_vehicle(claimed)
            return claimed

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._lock:
            return self._incidents.get(incident_id)

    def check_new_incident(self, incident_id: str) -> None:
        with self._lock:
            if incident_id in self._incidents:
                raise ConflictError(f"incident {incident_id} already exists", field="id")

    def save_incident(self, incident: Incident) -> None:
        with self._lock:
            self._incidents[incident.id] = incident
            if incident.status in CLOSED:
                self._active.pop(incident.id, None)
            else:
                self._active[incident.id] = incident

    def incidents(self) -> list[Incident]:
        """All incidents in report order (then id), so runs repeat exactly."""
        with self._lock:
            return sorted(self._incidents.values(), key=_report_order)

    def active_incidents(self) -> list[Incident]:
        with self._lock:
            return sorted(self._active.values(), key=_report_order)

    def append_event(self, event: Event) -> None:
        with self._lock:
            self._events.setdefault(event.incident_id, []).append(event)

    def events(self, incident_id: str) -> list[Event]:
        with self._lock:
            return list(self._events.get(incident_id, []))


def _report_order(incident: Incident) -> tuple:
    return incident.request.reported_at, incident.id
