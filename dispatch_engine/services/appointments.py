"""Appointments for the free value-added services (SPEC §6): book, change, cancel, list.

An appointment is one of the bureau's cars to be taken from where it stands (``place``,
usually its police station) to a facility and brought back the same day: an inspection
station for the annual-inspection delivery (代送检), a car-wash partner for the free
wash. The owner gives a window in which the car can be collected and, optionally, a time
by which it must be back; ``service_min`` is how long the facility works on the car.

Rules decided here (the SPEC is silent):

- a car has at most one booked appointment per day: two would be planned as independent
  jobs and could send the same car to two places at once;
- every time is an aware datetime; the collect window lies within one local
  (Asia/Shanghai) day, which is the appointment's day, and ``return_by`` (default: the end
  of that day) is later the same day;
- without a ``facility_id`` the planner picks the facility of the right kind nearest to
  the car by road (there and back);
- a cancelled appointment stays in the store (for the record) and cannot be changed.

The store is a protocol; :class:`MemoryAppointmentStore` keeps appointments in memory
until persistence comes with the API.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from dispatch_engine.claims.intake import check_plate
from dispatch_engine.datafiles import first_problem
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.errors import ConflictError, DataError, InvalidInputError, NotFoundError
from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.geo.crs import to_wgs84, validate_lat_lon
from dispatch_engine.services.facilities import Facility, ServiceKind

MAX_SERVICE_MIN = 8 * 60  # a facility that needs longer cannot return the car the same day
MAX_PLACE_CHARS = 200


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(frozen=True, kw_only=True)
class AppointmentRequest:
    """What a booking asks for; ``lat``/``lon`` are WGS-84 (convert at the edge)."""

    kind: ServiceKind
    plate: str
    place: str
    lat: float
    lon: float
    collect_from: datetime
    collect_until: datetime
    service_min: int
    return_by: datetime | None = None
    facility_id: str | None = None

    @property
    def day(self) -> date:
        """The local (Asia/Shanghai) day the service happens."""
        return self.collect_from.astimezone(SHANGHAI_TZ).date()


@dataclass(frozen=True, kw_only=True)
class Appointment(AppointmentRequest):
    """A stored appointment: the request plus its id, status and record times."""

    id: str
    status: AppointmentStatus
    booked_at: datetime
    changed_at: datetime


CHANGEABLE_FIELDS = frozenset(f.name for f in dataclasses.fields(AppointmentRequest))


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError("needs a timezone-aware time", field=field)
    return value


def check_request(
    request: AppointmentRequest, facilities: Mapping[str, Facility]
) -> AppointmentRequest:
    """The request validated and normalised (canonical plate), or the first problem.

    Why one function: booking, changing and importing a CSV all pass through it, so the
    rules of the module docstring hold for every stored appointment.

    Raises
    ------
    InvalidInputError
        Naming the bad field: ``plate``, ``place``, ``lat``/``lon``, ``collect_from``,
        ``collect_until``, ``return_by``, ``service_min`` or ``facility_id``.
    """
    plate = check_plate(request.plate, field="plate")
    if not request.place.strip() or len(request.place) > MAX_PLACE_CHARS:
        raise InvalidInputError(f"must be 1 to {MAX_PLACE_CHARS} characters", field="place")
    validate_lat_lon(request.lat, request.lon)
    start = _aware(request.collect_from, "collect_from")
    until = _aware(request.collect_until, "collect_until")
    if until <= start:
        raise InvalidInputError(
            f"the collect window must end after it starts ({start.isoformat()})",
            field="collect_until",
        )
    if until.astimezone(SHANGHAI_TZ).date() != request.day:
        raise InvalidInputError(
            f"the collect window must end on {request.day}", field="collect_until"
        )
    if request.return_by is not None:
        back = _aware(request.return_by, "return_by")
        if back.astimezone(SHANGHAI_TZ).date() != request.day or back <= start:
            raise InvalidInputError(
                f"the car is returned the same day ({request.day}), after the collect window opens",
                field="return_by",
            )
    if not 0 < request.service_min <= MAX_SERVICE_MIN:
        raise InvalidInputError(
            f"must be between 1 and {MAX_SERVICE_MIN} minutes, got {request.service_min}",
            field="service_min",
        )
    if request.facility_id is not None:
        facility = facilities.get(request.facility_id)
        if facility is None:
            raise InvalidInputError(f"no facility {request.facility_id!r}", field="facility_id")
        if facility.kind != request.kind:
            raise InvalidInputError(
                f"{facility.id} is a {facility.kind} facility, not {request.kind}",
                field="facility_id",
            )
    return dataclasses.replace(request, plate=plate, place=request.place.strip())


class AppointmentStore(Protocol):
    """Where appointments live; writes are whole records."""

    def get(self, appointment_id: str) -> Appointment | None: ...

    def save(self, appointment: Appointment) -> None: ...

    def all(self) -> list[Appointment]: ...


class MemoryAppointmentStore:
    """Appointments in a dict: for the CLI and tests, until the API brings persistence."""

    def __init__(self) -> None:
        self._rows: dict[str, Appointment] = {}

    def get(self, appointment_id: str) -> Appointment | None:
        return self._rows.get(appointment_id)

    def save(self, appointment: Appointment) -> None:
        self._rows[appointment.id] = appointment

    def all(self) -> list[Appointment]:
        return sorted(self._rows.values(), key=lambda a: a.id)


class AppointmentBook:
    """Booking desk for the value-added services, over a store and an injected clock."""

    def __init__(
        self, store: AppointmentStore, *, facilities: Iterable[Facility], clock: Clock
    ) -> None:
        self._store = store
        self._facilities = {f.id: f for f in facilities}
        self._clock = clock

    def book(self, request: AppointmentRequest) -> Appointment:
        """Validate and store a new appointment (id ``AP-000001``, ``AP-000002``, ...).

        Raises
        ------
        InvalidInputError
            On a bad field (see :func:`check_request`).
        ConflictError
            If the car already has a booked appointment that day.
        """
        checked = check_request(request, self._facilities)
        self._refuse_second_booking(checked, keep=None)
        now = self._clock.now()
        appointment = Appointment(
            **_request_fields(checked),
            id=f"AP-{len(self._store.all()) + 1:06d}",
            status=AppointmentStatus.BOOKED,
            booked_at=now,
            changed_at=now,
        )
        self._store.save(appointment)
        return appointment

    def get(self, appointment_id: str) -> Appointment:
        """The appointment with that id.

        Raises
        ------
        NotFoundError
            If there is none.
        """
        found = self._store.get(appointment_id)
        if found is None:
            raise NotFoundError(f"no appointment {appointment_id!r}", field="appointment_id")
        return found

    def change(self, appointment_id: str, changes: Mapping[str, object]) -> Appointment:
        """Change some fields of a booked appointment (any of :data:`CHANGEABLE_FIELDS`).

        Raises
        ------
        NotFoundError
            If there is no such appointment.
        ConflictError
            If it is cancelled, or the change gives the car a second appointment that day.
        InvalidInputError
            On an unknown field or a bad value.
        """
        current = self._booked(appointment_id)
        for name in changes:
            if name not in CHANGEABLE_FIELDS:
                allowed = ", ".join(sorted(CHANGEABLE_FIELDS))
                raise InvalidInputError(f"cannot be changed (changeable: {allowed})", field=name)
        request = AppointmentRequest(**(_request_fields(current) | dict(changes)))
        checked = check_request(request, self._facilities)
        self._refuse_second_booking(checked, keep=appointment_id)
        changed = dataclasses.replace(
            current, **_request_fields(checked), changed_at=self._clock.now()
        )
        self._store.save(changed)
        return changed

    def cancel(self, appointment_id: str) -> Appointment:
        """Cancel a booked appointment; it stays on record.

        Raises
        ------
        NotFoundError, ConflictError
            If there is no such appointment or it is already cancelled.
        """
        current = self._booked(appointment_id)
        cancelled = dataclasses.replace(
            current, status=AppointmentStatus.CANCELLED, changed_at=self._clock.now()
        )
        self._store.save(cancelled)
        return cancelled

    def list(
        self, *, day: date | None = None, include_cancelled: bool = False
    ) -> list[Appointment]:
        """Appointments in id order, optionally of one local day and with the cancelled ones."""
        return [
            a
            for a in self._store.all()
            if (day is None or a.day == day)
            and (include_cancelled or a.status is AppointmentStatus.BOOKED)
        ]

    def _booked(self, appointment_id: str) -> Appointment:
        current = self.get(appointment_id)
        if current.status is not AppointmentStatus.BOOKED:
            raise ConflictError(
                f"appointment {appointment_id} is {current.status}", field="appointment_id"
            )
        return current

    def _refuse_second_booking(self, request: AppointmentRequest, *, keep: str | None) -> None:
        for other in self.list(day=request.day):
            if other.plate == request.plate and other.id != keep:
                raise ConflictError(
                    f"{request.plate} already has appointment {other.id} on {request.day}",
                    field="plate",
                )


def _request_fields(request: AppointmentRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in CHANGEABLE_FIELDS}


# --- CSV import -------------------------------------------------------------------------

CSV_COLUMNS = (
    "kind",
    "plate",
    "place",
    "lat",
    "lon",
    "crs",
    "date",
    "collect_from",
    "collect_until",
    "return_by",
    "service_min",
    "facility_id",
)


class _RowIn(BaseModel):
    """One CSV row: local date and HH:MM times (Asia/Shanghai); empty cells take the default."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    kind: ServiceKind
    plate: str
    place: str
    lat: float
    lon: float
    crs: str = "wgs84"
    date: date
    collect_from: time
    collect_until: time
    return_by: time | None = None
    service_min: int
    facility_id: str | None = None


def read_appointments_csv(
    path: Path, facilities: Mapping[str, Facility]
) -> list[AppointmentRequest]:
    """Validated booking requests from a CSV file with a header of :data:`CSV_COLUMNS`.

    ``crs`` (wgs84, gcj02 or bd09; default wgs84), ``return_by`` and ``facility_id`` may
    be empty. Coordinates are converted to WGS-84 here, and every row passes
    :func:`check_request`, so a bad file fails before anything is booked.

    Raises
    ------
    DataError
        If the file cannot be read.
    InvalidInputError
        On the first bad cell, with the file and line in the message and the column as
        ``field``.
    """
    name = Path(path).name
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    requests = []
    for line, row in enumerate(rows, start=2):
        try:
            parsed = _RowIn.model_validate({k: v for k, v in row.items() if v != ""})
        except ValidationError as exc:
            raise first_problem(exc, where=f"{name} line {line}") from None
        try:
            requests.append(check_request(_request_of(parsed), facilities))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name} line {line}: {exc.message}", field=exc.field) from None
    return requests


def _request_of(row: _RowIn) -> AppointmentRequest:
    lat, lon = to_wgs84(row.lat, row.lon, row.crs)

    def at(clock: time) -> datetime:
        return datetime.combine(row.date, clock, tzinfo=SHANGHAI_TZ)

    return AppointmentRequest(
        kind=row.kind,
        plate=row.plate,
        place=row.place,
        lat=lat,
        lon=lon,
        collect_from=at(row.collect_from),
        collect_until=at(row.collect_until),
        service_min=row.service_min,
        return_by=None if row.return_by is None else at(row.return_by),
        facility_id=row.facility_id,
    )
