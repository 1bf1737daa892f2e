"""The fleet as immutable values: bases, vehicles, shifts and the A/B partner relation (SPEC §4).

A :class:`Fleet` is never mutated: the API and the simulation move a vehicle or change
its status by building a new fleet with :meth:`Fleet.with_vehicle`, so a dispatch
decision always sees one consistent snapshot.

Times are local to Asia/Shanghai. A shift starts on each of its weekdays at ``start``
and runs until the next ``end``: when ``end`` is not after ``start`` it ends on the
following day (20:00–08:00 is a night shift; 08:00–08:00 is 24 hours). Intervals are
half-open, so a 08:00–20:00 shift covers 08:00 but not 20:00.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from dispatch_engine.errors import InvalidInputError

SHANGHAI_TZ = ZoneInfo("Asia/Shanghai")
DAY_S = 86_400
WEEK_S = 7 * DAY_S
ALL_WEEK = frozenset(range(7))  # Monday = 0, as ``datetime.weekday()``


class VehicleKind(StrEnum):
    """What a vehicle does: 查勘车, 平板拖车, 吊车, on-site repair (battery, tyre)."""

    SURVEY = "survey"
    TOW_FLATBED = "tow_flatbed"
    TOW_CRANE = "tow_crane"
    REPAIR = "repair"


class VehicleStatus(StrEnum):
    """Where a vehicle is in its job cycle; only ``available`` vehicles are dispatched."""

    AVAILABLE = "available"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    OFF_DUTY = "off_duty"


class Skill(StrEnum):
    """Qualifications an incident may require of the vehicle's crew or equipment."""

    HEAVY_VEHICLE = "heavy_vehicle"  # trucks and buses: crane lift, heavy-vehicle assessment
    INJURY_CASE = "injury_case"  # surveyor trained for accidents with injured people
    NEW_ENERGY = "new_energy"  # certified for high-voltage electric and hybrid vehicles


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Union of half-open ``[start, end)`` intervals, sorted and non-overlapping."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _seconds(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def second_of_week(when: datetime) -> int:
    """Seconds since Monday 00:00 Asia/Shanghai, the axis shifts are laid out on.

    Raises
    ------
    InvalidInputError
        If ``when`` is naive: a wall-clock time without a zone is ambiguous.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInputError("needs a timezone-aware datetime", field="at")
    local = when.astimezone(SHANGHAI_TZ)
    return local.weekday() * DAY_S + _seconds(local.time())


@dataclass(frozen=True)
class Shift:
    """A weekly working window: starts on each of ``days`` at ``start``, ends at the next ``end``.

    ``days`` are the weekdays the shift *starts* on (Monday = 0); ``start``/``end`` are
    local Asia/Shanghai wall-clock times.
    """

    days: frozenset[int]
    start: time
    end: time
    week_intervals_s: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start_s = _seconds(self.start)
        duration_s = (_seconds(self.end) - start_s) % DAY_S or DAY_S
        pieces: list[tuple[int, int]] = []
        for day in self.days:
            begin = day * DAY_S + start_s
            finish = begin + duration_s
            # A Sunday night shift wraps into Monday morning of the same weekly axis.
            if finish > WEEK_S:
                pieces += [(begin, WEEK_S), (0, finish - WEEK_S)]
            else:
                pieces.append((begin, finish))
        object.__setattr__(self, "week_intervals_s", merge_intervals(pieces))

    def covers(self, when: datetime) -> bool:
        """Whether the shift is on at the aware datetime ``when``.

        Raises
        ------
        InvalidInputError
            If ``when`` is naive.
        """
        return self.covers_second(second_of_week(when))

    def covers_second(self, second: int) -> bool:
        """Whether the shift is on at ``second`` seconds after Monday 00:00 local time."""
        return any(start <= second < end for start, end in self.week_intervals_s)


def coverage_gaps_s(shifts: Iterable[Shift]) -> tuple[tuple[int, int], ...]:
    """The parts of the week (seconds since Monday 00:00) that none of ``shifts`` covers.

    Why: 24 h coverage is made of shifts, so a roster is checked by laying every shift
    on one weekly axis and looking for holes.
    """
    covered = merge_intervals(piece for shift in shifts for piece in shift.week_intervals_s)
    gaps, cursor = [], 0
    for start, end in covered:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < WEEK_S:
        gaps.append((cursor, WEEK_S))
    return tuple(gaps)


@dataclass(frozen=True)
class Base:
    """Where vehicles start and return: a depot of the own fleet, or a partner branch office.

    ``district`` is the Shaoguan county-level unit for own bases and the city for
    partner branches. Coordinates are WGS-84 degrees.
    """

    id: str
    name: str
    district: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Vehicle:
    """One dispatchable vehicle and its crew.

    ``lat``/``lon`` is the current WGS-84 position (at the base unless the API moved it).
    ``partner_id`` is the A/B backup (AB角) offered when this vehicle declines or is out.
    ``branch`` is None for the insurer's own Shaoguan fleet and the city name for a
    partner-network surveyor, whose position is only the city centre
    (``position_is_estimate``).
    """

    id: str
    kind: VehicleKind
    base_id: str
    shifts: tuple[Shift, ...]
    lat: float
    lon: float
    skills: frozenset[str] = frozenset()
    status: VehicleStatus = VehicleStatus.AVAILABLE
    partner_id: str | None = None
    branch: str | None = None
    position_is_estimate: bool = False

    def on_shift(self, at: datetime) -> bool:
        """Whether any of the vehicle's shifts covers the aware datetime ``at``."""
        second = second_of_week(at)
        return any(shift.covers_second(second) for shift in self.shifts)


@dataclass(frozen=True)
class Problem:
    """One integrity problem: ``collection[index].field`` is wrong, for the reason ``message``.

    ``other`` is the index of the record it clashes with (the first holder of a
    duplicate id), so a file loader can point at that record's line too.
    """

    collection: str  # "bases" or "vehicles"
    index: int
    field: str
    message: str
    other: int | None = None

    @property
    def where(self) -> str:
        return f"{self.collection}[{self.index}].{self.field}"


def fleet_problems(bases: Sequence[Base], vehicles: Sequence[Vehicle]) -> list[Problem]:
    """Every cross-record problem: duplicate ids, unknown bases, invalid A/B partners.

    Why a function: :class:`Fleet` refuses such fleets, and the file loader reports the
    same problems with the file's line numbers, from this one list.
    """
    problems: list[Problem] = []
    base_index: dict[str, int] = {}
    for index, base in enumerate(bases):
        if base.id in base_index:
            message = f"duplicate id {base.id!r}"
            problems.append(Problem("bases", index, "id", message, base_index[base.id]))
        base_index.setdefault(base.id, index)
    by_id: dict[str, tuple[int, Vehicle]] = {}
    for index, vehicle in enumerate(vehicles):
        if vehicle.id in by_id:
            message = f"duplicate id {vehicle.id!r}"
            problems.append(Problem("vehicles", index, "id", message, by_id[vehicle.id][0]))
        by_id.setdefault(vehicle.id, (index, vehicle))
    for index, vehicle in enumerate(vehicles):
        if vehicle.base_id not in base_index:
            message = f"base {vehicle.base_id!r} is not a base of this fleet"
            problems.append(Problem("vehicles", index, "base_id", message))
        if vehicle.partner_id is None:
            continue
        partner = by_id.get(vehicle.partner_id)
        if vehicle.partner_id == vehicle.id:
            message = "a vehicle cannot be its own A/B partner"
        elif partner is None:
            message = f"partner {vehicle.partner_id!r} is not a vehicle of this fleet"
        elif partner[1].kind != vehicle.kind:
            message = (
                f"partner {vehicle.partner_id!r} is a {partner[1].kind}, "
                f"not a {vehicle.kind} like {vehicle.id!r}"
            )
        else:
            continue
        problems.append(Problem("vehicles", index, "partner_id", message))
    return problems


@dataclass(frozen=True)
class Fleet:
    """Bases and vehicles (kept in id order so every run iterates them the same way).

    Raises
    ------
    InvalidInputError
        On construction, if :func:`fleet_problems` finds anything.
    """

    bases: tuple[Base, ...]
    vehicles: tuple[Vehicle, ...]
    _bases_by_id: dict[str, Base] = field(init=False, repr=False, compare=False)
    _index_of: dict[str, int] = field(init=False, repr=False, compare=False)
    _columns: _Columns = field(init=False, repr=False, compare=False)
    _status: np.ndarray = field(init=False, repr=False, compare=False)  # code per vehicle

    def __post_init__(self) -> None:
        problems = fleet_problems(self.bases, self.vehicles)
        if problems:
            listing = "; ".join(
                f"{p.where}: {p.message}"
                + ("" if p.other is None else f" (also {p.collection}[{p.other}])")
                for p in problems
            )
            raise InvalidInputError(f"invalid fleet: {listing}", field=problems[0].where)
        object.__setattr__(self, "bases", tuple(sorted(self.bases, key=lambda b: b.id)))
        object.__setattr__(self, "vehicles", tuple(sorted(self.vehicles, key=lambda v: v.id)))
        object.__setattr__(self, "_bases_by_id", {b.id: b for b in self.bases})
        self._index()

    def _index(self) -> None:
        """Lookups every dispatch decision makes: row by id, and columns to filter rows."""
        object.__setattr__(self, "_index_of", {v.id: i for i, v in enumerate(self.vehicles)})
        object.__setattr__(self, "_columns", _Columns.of(self.vehicles))
        status = np.array([_STATUS_CODE[v.status] for v in self.vehicles], dtype=np.int8)
        object.__setattr__(self, "_status", status)

    def base(self, base_id: str) -> Base:
        """The base with id ``base_id``.

        Raises
        ------
        InvalidInputError
            If there is none.
        """
        try:
            return self._bases_by_id[base_id]
        except KeyError:
            raise InvalidInputError(f"no base {base_id!r} in the fleet", field="base_id") from None

    def vehicle(self, vehicle_id: str) -> Vehicle:
        """The vehicle with id ``vehicle_id``.

        Raises
        ------
        InvalidInputError
            If there is none.
        """
        try:
            return self.vehicles[self._index_of[vehicle_id]]
        except KeyError:
            raise InvalidInputError(
                f"no vehicle {vehicle_id!r} in the fleet", field="vehicle_id"
            ) from None

    def partner_of(self, vehicle_id: str) -> Vehicle | None:
        """The A/B backup of ``vehicle_id``, or None if it has no partner.

        Raises
        ------
        InvalidInputError
            If ``vehicle_id`` is not in the fleet.
        """
        partner_id = self.vehicle(vehicle_id).partner_id
        return None if partner_id is None else self.vehicles[self._index_of[partner_id]]

    def available(
        self,
        kind: VehicleKind,
        skills: Iterable[str],
        at: datetime,
        *,
        statuses: frozenset[VehicleStatus] = frozenset({VehicleStatus.AVAILABLE}),
    ) -> tuple[Vehicle, ...]:
        """Dispatch candidates: status in ``statuses`` (default ``available``), of ``kind``,
        with every one of ``skills``, and on shift at the aware datetime ``at``; in id order.

        Raises
        ------
        InvalidInputError
            If ``at`` is naive.
        """
        return tuple(
            self.vehicles[row] for row in self.available_rows(kind, skills, at, statuses=statuses)
        )

    def available_rows(
        self,
        kind: VehicleKind,
        skills: Iterable[str],
        at: datetime,
        *,
        statuses: frozenset[VehicleStatus] = frozenset({VehicleStatus.AVAILABLE}),
    ) -> np.ndarray:
        """:meth:`available` as positions in :attr:`vehicles` (int64, ascending).

        Why: a decision filters the whole fleet (with the partner network, hundreds of
        vehicles); columns filter it in numpy instead of a Python loop per vehicle.

        Raises
        ------
        InvalidInputError
            If ``at`` is naive.
        """
        columns = self._columns
        mask = columns.of_kind(kind) & _allowed(statuses)[self._status]
        for skill in frozenset(skills):
            if skill not in columns.skill_column:
                return np.zeros(0, dtype=np.int64)
            mask &= columns.skills[:, columns.skill_column[skill]]
        return np.flatnonzero(mask & columns.on_shift(second_of_week(at)))

    def skills_of(self, kind: VehicleKind) -> frozenset[str]:
        """Skills any vehicle of ``kind`` carries: the only ones that can be asked of that kind.

        An injured person needs an injury-trained surveyor, not an injury-trained tow
        truck; requiring ``injury_case`` of a kind that never has it would leave the
        incident waiting forever.
        """
        return self._columns.skills_of_kind[kind]

    def row(self, vehicle_id: str) -> int:
        """The position of ``vehicle_id`` in :attr:`vehicles`.

        Raises
        ------
        InvalidInputError
            If there is no such vehicle.
        """
        self.vehicle(vehicle_id)
        return self._index_of[vehicle_id]

    def with_vehicle(self, updated: Vehicle) -> Fleet:
        """A new fleet where the vehicle with ``updated.id`` is replaced by ``updated``.

        Raises
        ------
        InvalidInputError
            If no vehicle has that id, or the update breaks the fleet's integrity
            (unknown base, invalid partner).
        """
        current = self.vehicle(updated.id)
        index = self._index_of[updated.id]
        replaced = list(self.vehicles)
        replaced[index] = updated
        vehicles = tuple(replaced)
        same_links = (updated.kind, updated.base_id, updated.partner_id) == (
            current.kind,
            current.base_id,
            current.partner_id,
        )
        if not same_links:
            return Fleet(self.bases, vehicles)
        # A status or position change (every dispatch event) cannot break the fleet's
        # integrity, nor move a vehicle in the id order: keep the checked indexes.
        fleet = object.__new__(Fleet)
        object.__setattr__(fleet, "bases", self.bases)
        object.__setattr__(fleet, "vehicles", vehicles)
        object.__setattr__(fleet, "_bases_by_id", self._bases_by_id)
        object.__setattr__(fleet, "_index_of", self._index_of)
        object.__setattr__(fleet, "_columns", self._columns)
        status = self._status.copy()
        status[index] = _STATUS_CODE[updated.status]
        object.__setattr__(fleet, "_status", status)
        return fleet


_KIND_CODE = {kind: code for code, kind in enumerate(VehicleKind)}
_STATUS_CODE = {status: code for code, status in enumerate(VehicleStatus)}


@functools.cache
def _allowed(statuses: frozenset[VehicleStatus]) -> np.ndarray:
    """Bool per status code: whether it is one of ``statuses`` (a filter of the codes)."""
    allowed = np.zeros(len(_STATUS_CODE), dtype=bool)
    allowed[[_STATUS_CODE[s] for s in statuses]] = True
    return allowed


@dataclass(frozen=True, eq=False)
class _Columns:
    """What never changes about a fleet's vehicles, as columns aligned with its rows."""

    kind: np.ndarray  # int8 code per vehicle
    skill_column: dict[str, int]  # skill name -> column of ``skills``
    skills: np.ndarray  # bool (vehicles, skills)
    shift_groups: tuple[tuple[Shift, ...], ...]  # the distinct shift tuples
    shift_group: np.ndarray  # int64 per vehicle: its index in ``shift_groups``
    skills_of_kind: dict[VehicleKind, frozenset[str]]  # skills any vehicle of a kind has
    # Seconds of the week where some shift starts or ends: who is on shift is the same
    # between two of them, so it is worked out once per such stretch (in ``_on_shift``).
    changes_s: np.ndarray
    _on_shift: dict[int, np.ndarray] = field(default_factory=dict)
    _of_kind: dict[VehicleKind, np.ndarray] = field(default_factory=dict)

    def of_kind(self, kind: VehicleKind) -> np.ndarray:
        """Bool per vehicle: of ``kind`` (worked out once per kind)."""
        mask = self._of_kind.get(kind)
        if mask is None:
            mask = self._of_kind[kind] = self.kind == _KIND_CODE[kind]
        return mask

    def on_shift(self, second: int) -> np.ndarray:
        """Bool per vehicle: on shift at ``second`` seconds after Monday 00:00 local."""
        stretch = int(np.searchsorted(self.changes_s, second, side="right"))
        mask = self._on_shift.get(stretch)
        if mask is None:
            groups = np.array(
                [any(s.covers_second(second) for s in group) for group in self.shift_groups],
                dtype=bool,
            )
            mask = self._on_shift[stretch] = groups[self.shift_group]
        return mask

    @classmethod
    def of(cls, vehicles: Sequence[Vehicle]) -> _Columns:
        names = sorted({skill for v in vehicles for skill in v.skills})
        column = {name: j for j, name in enumerate(names)}
        skills = np.zeros((len(vehicles), len(names)), dtype=bool)
        groups: dict[tuple[Shift, ...], int] = {}
        group = np.empty(len(vehicles), dtype=np.int64)
        for i, vehicle in enumerate(vehicles):
            skills[i, [column[s] for s in vehicle.skills]] = True
            group[i] = groups.setdefault(vehicle.shifts, len(groups))
        kind = np.array([_KIND_CODE[v.kind] for v in vehicles], dtype=np.int8)
        skills_of_kind = {}
        for k, code in _KIND_CODE.items():
            of_kind = skills[kind == code].any(axis=0)
            skills_of_kind[k] = frozenset(name for name, j in column.items() if of_kind[j])
        pieces = [piece for shifts in groups for s in shifts for piece in s.week_intervals_s]
        return cls(
            kind=kind,
            skill_column=column,
            skills=skills,
            shift_groups=tuple(groups),
            shift_group=group,
            skills_of_kind=skills_of_kind,
            changes_s=np.unique(np.array(pieces, dtype=np.int64)),
        )
