"""What the dispatch core needs from outside, as protocols: a clock and a store.

The core never imports an implementation: the API and the simulation pass one in
(``store/memory.py`` here; persistent stores come with the API).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from dispatch_engine.dispatch.model import Event, Incident
from dispatch_engine.fleet.model import Fleet, Vehicle, VehicleStatus


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """Wall-clock time (UTC-aware; displayed in Asia/Shanghai at the edges)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests and simulations move by hand."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class DispatchStore(Protocol):
    """Incidents, events and the fleet's live state. Writes are whole records."""

    def fleet(self) -> Fleet: ...

    def save_vehicles(self, vehicles: Iterable[Vehicle]) -> None: ...

    def claim_vehicle(
        self, vehicle_id: str, *, allowed: frozenset[VehicleStatus], status: VehicleStatus
    ) -> Vehicle | None:
        """Atomically set ``status`` if the vehicle is still in one of ``allowed``.

        Returns the updated vehicle, or None when another request took it first: the
        store, not the caller's earlier read, decides, so a vehicle is never double-booked
        even across processes.
        """
        ...

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def check_new_incident(self, incident_id: str) -> None:
        """Refuse an id an incident already has: ``ConflictError(field="id")``.

        A store whose vehicle claims and incident save share one transaction may refuse at
        the save of the new incident instead (rolling the claims back with it), which
        spares it a read now; the caller must then save that incident in the same
        transaction.
        """
        ...

    def save_incident(self, incident: Incident) -> None: ...

    def incidents(self) -> list[Incident]: ...

    def active_incidents(self) -> list[Incident]:
        """Incidents not done or cancelled, in report order (then id).

        Escalation checks and surges read only these, so their cost follows the open
        workload, not every incident ever stored.
        """
        ...

    def append_event(self, event: Event) -> None: ...

    def events(self, incident_id: str) -> list[Event]: ...
