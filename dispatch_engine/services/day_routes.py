"""Day plans for the value-added services: which technician serves which appointment, and when.

Each appointment is four visits by one technician, who drives the customer's car:

1. **collect** the car at its place, inside the collect window;
2. **drop** it at the facility (inspection station or car-wash partner), inside opening hours;
3. **fetch** it from the facility once the work is done (``service_min`` after the drop's
   hand-over), inside opening hours;
4. **return** it to its place, by ``return_by`` (default: the end of the day).

Between drop and fetch the technician may wait or serve other appointments. Every visit
takes ``handover_s`` (keys, paperwork, a walk round the car). A technician drives one car
at a time, starts and ends at the base within the first shift of the day, and the one who
collects a car returns it: one person answers for the car and its keys all day (our
decision; the SPEC is silent).

Formulation (OR-tools routing, ``pywrapcp``). Driving one car at a time means nothing can
come between a collect and its drop, or a fetch and its return, so each appointment is
two solver nodes, its *legs*: ``out`` (collect, drive, drop) and ``back`` (fetch, drive,
return), joined as a pickup-and-delivery pair (same technician, out before back, both or
neither). Each technician has a depot node at the base, with the shift as the range of
its start and end times. Arc costs and the time dimension read one integer-second matrix
built from a single ``many_to_many`` call of the travel-time engine
(:func:`solver_seconds` is the one float-to-integer boundary); a leg's own drive counts as
travel on its outgoing arc. A node's cumul is the start of its first visit, with waiting
as slack:

- ``out`` in ``[collect_from, min(collect_until, closes - h - drive)]``, and, when the
  facility opens later than the car can reach it, ``out + slack(out) >= opens - h -
  drive`` (the technician waits at the door with the car);
- ``back`` in ``[opens + h + service, min(closes, return_by - h - drive_back)]`` and
  ``back >= out + 2h + drive + service`` (the work starts at the drop), a node precedence
  of the time dimension, which the routing filters check natively and fast.

Search: parallel cheapest insertion, then guided local search for ``time_limit_s``.

The objective is total travel time. Nothing is silently dropped. Before solving, each
appointment is timed alone for every technician (earliest start at each visit, waiting
allowed: exact for one appointment); if none can serve it, it is reported with the
window or shift that makes it impossible. The rest have a disjunction per leg whose
penalty exceeds any travel a plan can contain, so the solver serves as many as fit and
the others are reported as not fitting together.

Times are whole seconds after local (Asia/Shanghai) midnight of the plan's day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.fleet.model import (
    DAY_S,
    SHANGHAI_TZ,
    Fleet,
    Shift,
    VehicleKind,
    VehicleStatus,
    merge_intervals,
)
from dispatch_engine.services.appointments import Appointment
from dispatch_engine.services.facilities import Facility

HANDOVER_S = 300  # keys, papers and a walk round the car, at each visit
DEFAULT_TIME_LIMIT_S = 8.0  # the benchmark's day of 60 appointments fits in 10 s
HORIZON_S = 2 * DAY_S  # a night shift that starts today ends tomorrow
UNREACHABLE_S = HORIZON_S + 1  # longer than any plan: an arc that is never usable


class MatrixEngine(Protocol):
    """What planning needs of a travel-time engine (the router's road engine provides it)."""

    def locate_where_possible(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def many_to_many(
        self,
        origins: Any,
        destinations: Any,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray: ...


class StopKind(StrEnum):
    START = "start"
    COLLECT = "collect"
    DROP = "drop"
    FETCH = "fetch"
    RETURN = "return"
    END = "end"


@dataclass(frozen=True)
class Technician:
    """A technician (a ``repair`` vehicle's crew) on shift: base position and working hours."""

    id: str
    base_id: str
    base_name: str
    lat: float
    lon: float
    shift_start_s: int
    shift_end_s: int


@dataclass(frozen=True)
class Job:
    """An appointment with its facility and both places as indices of the travel matrix."""

    appointment: Appointment
    facility: Facility
    place_location: int
    facility_location: int


@dataclass(frozen=True)
class Unplanned:
    """An appointment the plan does not serve, and why (``lat``/``lon``: its place)."""

    appointment_id: str
    plate: str
    lat: float
    lon: float
    reason: str

    @classmethod
    def of(cls, appointment: Appointment, reason: str) -> Unplanned:
        return cls(appointment.id, appointment.plate, appointment.lat, appointment.lon, reason)


@dataclass(frozen=True, eq=False)
class DayProblem:
    """Everything one day's plan depends on; immutable.

    ``travel_s[i, j]`` is the road time in seconds from location ``i`` to ``j`` (``inf``
    when there is no road); technicians' bases and jobs' places refer to it by index.
    ``unplannable`` are appointments already known to be impossible (off the network, no
    reachable facility), carried into the plan's report.
    """

    day: date
    technicians: tuple[Technician, ...]
    technician_locations: tuple[int, ...]
    jobs: tuple[Job, ...]
    travel_s: np.ndarray
    handover_s: int = HANDOVER_S
    unplannable: tuple[Unplanned, ...] = ()


@dataclass(frozen=True)
class Stop:
    """One stop of a route; times are seconds after local midnight of the plan's day."""

    kind: StopKind
    appointment_id: str | None
    plate: str | None
    place: str
    lat: float
    lon: float
    travel_s: int  # from the previous stop
    arrival_s: int
    start_s: int  # after waiting for a window to open or the facility to finish
    departure_s: int


@dataclass(frozen=True)
class TechnicianRoute:
    """A technician's day: ordered stops from the base back to it, and the totals."""

    technician_id: str
    base_id: str
    stops: tuple[Stop, ...]
    travel_s: int
    service_s: int
    wait_s: int

    @property
    def appointment_ids(self) -> tuple[str, ...]:
        return tuple(
            s.appointment_id for s in self.stops if s.kind is StopKind.COLLECT and s.appointment_id
        )


@dataclass(frozen=True)
class DayPlan:
    """The routes of every technician on shift, and the appointments not served with reasons."""

    day: date
    routes: tuple[TechnicianRoute, ...]
    unplanned: tuple[Unplanned, ...]

    @property
    def travel_s(self) -> int:
        return sum(route.travel_s for route in self.routes)

    def at(self, seconds: int) -> datetime:
        """A plan time as an aware Asia/Shanghai datetime."""
        return midnight(self.day) + timedelta(seconds=seconds)


def midnight(day: date) -> datetime:
    """Local (Asia/Shanghai) midnight starting ``day``: time zero of its plan."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI_TZ)


def seconds_of_day(day: date, when: datetime) -> int:
    """Whole seconds from the local midnight of ``day`` to the aware ``when``."""
    return int((when - midnight(day)).total_seconds())


def clock_text(seconds: int) -> str:
    """``HH:MM`` of a plan time, with ``+1d`` when it falls on the next day."""
    days, rest = divmod(seconds, DAY_S)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return text if days == 0 else f"{text}+{days}d"


# --- building a day's problem -----------------------------------------------------------


def technicians_on(fleet: Fleet, day: date) -> tuple[Technician, ...]:
    """The own fleet's ``repair`` crews whose shift starts on ``day``, not off duty, in id order.

    A technician serves appointments in the first shift starting that day (merged with
    any shift it overlaps), from and back to the vehicle's base.
    """
    technicians = []
    for vehicle in fleet.vehicles:
        if vehicle.kind != VehicleKind.REPAIR or vehicle.branch is not None:
            continue
        pieces = [_shift_window_s(shift) for shift in vehicle.shifts if day.weekday() in shift.days]
        if vehicle.status is VehicleStatus.OFF_DUTY or not pieces:
            continue
        start_s, end_s = merge_intervals(pieces)[0]
        base = fleet.base(vehicle.base_id)
        technicians.append(
            Technician(vehicle.id, base.id, base.name, base.lat, base.lon, start_s, end_s)
        )
    return tuple(technicians)


def _shift_window_s(shift: Shift) -> tuple[int, int]:
    """Start and end of a shift, seconds after midnight of the day it starts (end may pass 24 h)."""
    start_s, end_s = _clock_s(shift.start), _clock_s(shift.end)
    return start_s, start_s + ((end_s - start_s) % DAY_S or DAY_S)


def _clock_s(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def build_day_problem(
    appointments: Sequence[Appointment],
    facilities: Sequence[Facility],
    technicians: Sequence[Technician],
    engine: MatrixEngine,
    day: date,
    *,
    handover_s: int = HANDOVER_S,
) -> DayProblem:
    """Locate everything once, compute one travel matrix and choose each job's facility.

    The matrix is one ``many_to_many`` call at the traffic of the day's median collect
    window opening (the engine's speed profile; free flow without one): a single
    representative hour, since the routing model takes one static matrix.

    Without a ``facility_id`` an appointment goes to the facility of its kind with the
    shortest road time there and back. An appointment whose place is off the network, or
    that has no reachable facility, is carried as ``unplannable`` with the reason.

    Parameters
    ----------
    appointments
        The day's booked appointments.
    facilities
        Inspection stations and car-wash partners.
    technicians
        Those on shift (see :func:`technicians_on`).
    engine
        Road travel times (``router.road``).
    day
        The local day planned.
    handover_s
        Seconds each visit takes (hand-over of car and keys).

    Raises
    ------
    InvalidInputError
        If an appointment is for another day.
    DataError
        If a technician's base is off the road network.
    """
    for appointment in appointments:
        if appointment.day != day:
            raise InvalidInputError(
                f"{appointment.id} is on {appointment.day}, not {day}", field="day"
            )
    bases = list(dict.fromkeys((t.base_id, t.lat, t.lon) for t in technicians))
    by_id = {f.id: f for f in facilities}
    wanted_kinds = {a.kind for a in appointments if a.facility_id is None}
    candidates = sorted(
        {f.id for f in facilities if f.kind in wanted_kinds}
        | {a.facility_id for a in appointments if a.facility_id}
    )
    lat = np.array(
        [b[1] for b in bases] + [a.lat for a in appointments] + [by_id[f].lat for f in candidates]
    )
    lon = np.array(
        [b[2] for b in bases] + [a.lon for a in appointments] + [by_id[f].lon for f in candidates]
    )
    opening = sorted(a.collect_from for a in appointments)
    travel = _travel_matrix(engine, lat, lon, at=opening[len(opening) // 2] if opening else None)
    base_location = {b[0]: i for i, b in enumerate(bases)}
    for base_id, index in base_location.items():
        if not np.isfinite(travel[index, index]):
            raise DataError(f"base {base_id} is too far from any road of the network")
    place_of = {a.id: len(bases) + i for i, a in enumerate(appointments)}
    facility_of = {f: len(bases) + len(appointments) + i for i, f in enumerate(candidates)}

    jobs, unplannable = [], []
    for appointment in appointments:
        place = place_of[appointment.id]
        if not np.isfinite(travel[place, place]):
            reason = f"{appointment.place} is too far from any road of the network"
            unplannable.append(Unplanned.of(appointment, reason))
            continue
        options = (
            [appointment.facility_id]
            if appointment.facility_id
            else [f for f in candidates if by_id[f].kind == appointment.kind]
        )
        round_trip = [
            travel[place, facility_of[f]] + travel[facility_of[f], place] for f in options
        ]
        if not options or not np.isfinite(min(round_trip)):
            reason = f"no {appointment.kind} facility is reachable by road from {appointment.place}"
            unplannable.append(Unplanned.of(appointment, reason))
            continue
        chosen = options[int(np.argmin(round_trip))]
        jobs.append(Job(appointment, by_id[chosen], place, facility_of[chosen]))
    return DayProblem(
        day=day,
        technicians=tuple(technicians),
        technician_locations=tuple(base_location[t.base_id] for t in technicians),
        jobs=tuple(jobs),
        travel_s=travel,
        handover_s=handover_s,
        unplannable=tuple(unplannable),
    )


def _travel_matrix(
    engine: MatrixEngine, lat: np.ndarray, lon: np.ndarray, *, at: datetime | None
) -> np.ndarray:
    """Seconds between all points by one ``many_to_many``; a point to itself is 0 (not its
    off-road legs twice); rows/columns of points off the network are ``inf``, their
    diagonal too, which is how callers recognise them."""
    found, snapped = engine.locate_where_possible(lat, lon)
    travel = np.full((lat.size, lat.size), np.inf)
    if found.any():
        block = engine.many_to_many(snapped, snapped, at=at)
        np.fill_diagonal(block, 0.0)
        travel[np.ix_(found, found)] = block
    return travel


def solver_seconds(travel_s: np.ndarray) -> np.ndarray:
    """The travel matrix in whole seconds for OR-tools: the one float-to-integer boundary.

    Rounded up, so a plan never counts on a trip shorter than the engine's; an unreachable
    pair becomes :data:`UNREACHABLE_S`, longer than any plan, so no route can use it.
    """
    out = np.full(travel_s.shape, UNREACHABLE_S, dtype=np.int64)
    finite = np.isfinite(travel_s)
    out[finite] = np.minimum(np.ceil(travel_s[finite]), UNREACHABLE_S).astype(np.int64)
    return out


# --- timing a sequence of visits --------------------------------------------------------


@dataclass(frozen=True)
class _Visit:
    kind: StopKind
    job: int
    location: int
    open_s: int
    close_s: int


@dataclass(frozen=True)
class _Timing:
    visit: _Visit | None  # None: back at the base
    travel_s: int
    arrival_s: int
    start_s: int


@dataclass(frozen=True)
class _Instance:
    """The problem in solver terms: integer matrix, visits per job, technicians' shifts."""

    problem: DayProblem
    travel: np.ndarray
    visits: tuple[tuple[_Visit, ...], ...]  # per job: collect, drop, fetch, return
    lag_s: tuple[int, ...]  # per job: from the drop's start to the earliest fetch
    shift_s: tuple[tuple[int, int], ...]


def _instance(problem: DayProblem) -> _Instance:
    visits, lags = [], []
    for index, job in enumerate(problem.jobs):
        a, f = job.appointment, job.facility
        opens, closes = _clock_s(f.opens), _clock_s(f.closes)
        back_by = DAY_S if a.return_by is None else seconds_of_day(problem.day, a.return_by)
        collect_from = seconds_of_day(problem.day, a.collect_from)
        collect_until = seconds_of_day(problem.day, a.collect_until)
        visits.append(
            (
                _Visit(StopKind.COLLECT, index, job.place_location, collect_from, collect_until),
                _Visit(StopKind.DROP, index, job.facility_location, opens, closes),
                _Visit(StopKind.FETCH, index, job.facility_location, opens, closes),
                _Visit(StopKind.RETURN, index, job.place_location, 0, back_by),
            )
        )
        lags.append(problem.handover_s + a.service_min * 60)
    shifts = tuple((t.shift_start_s, t.shift_end_s) for t in problem.technicians)
    return _Instance(problem, solver_seconds(problem.travel_s), tuple(visits), tuple(lags), shifts)


def _timeline(inst: _Instance, tech: int, visits: Sequence[_Visit]) -> list[_Timing]:
    """Earliest times along ``visits`` from the technician's base and back to it.

    Waiting is allowed everywhere, so starting each visit as early as possible meets every
    window that any timing of this order meets: checking these times is exact.
    """
    base = inst.problem.technician_locations[tech]
    clock, here = inst.shift_s[tech][0], base
    drop_start: dict[int, int] = {}
    timings = []
    for visit in [*visits, None]:
        there = base if visit is None else visit.location
        travel = int(inst.travel[here, there])
        arrival = clock + travel
        start = arrival if visit is None else max(arrival, visit.open_s)
        if visit is not None and visit.kind is StopKind.FETCH:
            start = max(start, drop_start[visit.job] + inst.lag_s[visit.job])
        if visit is not None and visit.kind is StopKind.DROP:
            drop_start[visit.job] = start
        timings.append(_Timing(visit, travel, arrival, start))
        clock = start + (0 if visit is None else inst.problem.handover_s)
        here = there
    return timings


def _first_miss(inst: _Instance, tech: int, timings: list[_Timing]) -> tuple[int, int] | None:
    """(position, seconds late) of the first timing past its window or the shift end."""
    for position, t in enumerate(timings):
        deadline = inst.shift_s[tech][1] if t.visit is None else t.visit.close_s
        if t.travel_s >= UNREACHABLE_S or t.start_s > deadline:
            return position, t.start_s - deadline
    return None


def _alone_failure(inst: _Instance, job: int) -> str | None:
    """Why no technician can serve the job even with nothing else to do, or None if one can.

    The reason given is the one of the technician who gets furthest (latest stage, then
    least late).
    """
    problem = inst.problem
    if not problem.technicians:
        return f"no technician (repair crew) is on shift on {problem.day}"
    failures = []
    for tech in range(len(problem.technicians)):
        timings = _timeline(inst, tech, inst.visits[job])
        miss = _first_miss(inst, tech, timings)
        if miss is None:
            return None
        failures.append((miss[0], miss[1], tech, timings))
    position, _, tech, timings = max(failures, key=lambda f: (f[0], -f[1], -f[2]))
    reason = _late_reason(inst, job, tech, timings[position], position)
    return f"fits no technician's day even alone: {reason}"


def _late_reason(inst: _Instance, job_index: int, tech: int, t: _Timing, stage: int) -> str:
    """The window or shift a job's earliest timing misses at ``stage`` (0 collect ... 4 end)."""
    job, technician = inst.problem.jobs[job_index], inst.problem.technicians[tech]
    a, f = job.appointment, job.facility
    if t.travel_s >= UNREACHABLE_S:
        legs = (
            (technician.base_name, a.place),
            (a.place, f.name),
            (f.name, f.name),
            (f.name, a.place),
            (a.place, technician.base_name),
        )
        return "no road from {} to {}".format(*legs[stage])
    earliest = clock_text(t.start_s)
    if t.visit is None:
        return (
            f"the shift of {technician.id} ends at {clock_text(technician.shift_end_s)}, "
            f"before the technician is back at {technician.base_name} ({earliest} at the earliest)"
        )
    closes = clock_text(t.visit.close_s)
    if t.visit.kind is StopKind.COLLECT:
        return (
            f"the collect window closes at {closes}, but {technician.id} (shift from "
            f"{clock_text(technician.shift_start_s)} at {technician.base_name}) arrives at "
            f"{earliest} at the earliest"
        )
    if t.visit.kind is StopKind.DROP:
        return (
            f"{f.name} closes at {closes}, before the car can get there "
            f"({earliest} at the earliest)"
        )
    if t.visit.kind is StopKind.FETCH:
        return (
            f"{f.name} closes at {closes}, before the {a.kind} ({a.service_min} min) is done "
            f"({earliest} at the earliest)"
        )
    return f"the car cannot be back by {closes} ({earliest} at the earliest)"


# --- solving ----------------------------------------------------------------------------


def solve_day(problem: DayProblem, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> DayPlan:
    """Assign and order the day's appointments (formulation in the module docstring).

    Parameters
    ----------
    problem
        The day's jobs, technicians and travel times.
    time_limit_s
        Wall-clock budget of the guided local search after the first solution.

    Returns
    -------
    DayPlan
        A route per technician on shift (idle ones go from the base straight back) and
        every appointment not served, with the reason.
    """
    inst = _instance(problem)
    unplanned = list(problem.unplannable)
    candidates = []
    for job in range(len(problem.jobs)):
        reason = _alone_failure(inst, job)
        if reason is None:
            candidates.append(job)
        else:
            unplanned.append(Unplanned.of(problem.jobs[job].appointment, reason))
    idle: list[list[_Visit]] = [[] for _ in problem.technicians]
    sequences = _route_sequences(inst, candidates, time_limit_s) if candidates else idle
    served = {v.job for seq in sequences or [] for v in seq}
    for job in candidates:
        if job not in served:
            reason = (
                _together_reason(inst, job)
                if sequences is not None
                else f"OR-tools found no plan within {time_limit_s:g} s: allow more time"
            )
            unplanned.append(Unplanned.of(problem.jobs[job].appointment, reason))
    routes = tuple(_route(inst, tech, seq) for tech, seq in enumerate(sequences or idle))
    return DayPlan(problem.day, routes, tuple(sorted(unplanned, key=lambda u: u.appointment_id)))


def _together_reason(inst: _Instance, job: int) -> str:
    collect, _, _, back = inst.visits[job]
    back_by = "" if back.close_s >= DAY_S else f", back by {clock_text(back.close_s)}"
    return (
        f"fits alone, but not together with the other appointments: the "
        f"{len(inst.problem.technicians)} technician(s) on shift cannot also collect it "
        f"{clock_text(collect.open_s)}–{clock_text(collect.close_s)}{back_by}"
    )


def _route_sequences(
    inst: _Instance, jobs: list[int], time_limit_s: float
) -> list[list[_Visit]] | None:
    """The visits in order per technician from OR-tools, or None if it finds no solution.

    Solver nodes are one depot per technician and two *legs* per job: ``out`` (collect,
    drive, drop) and ``back`` (fetch, drive, return), a pickup-and-delivery pair. A leg is
    one node because a technician drives one car at a time: nothing can come between a
    collect and its drop, or a fetch and its return. A node's cumul is the start of its
    first visit (collect or fetch); a leg's own drive counts as travel on its outgoing arc.
    """
    problem = inst.problem
    n_tech, h = len(problem.technicians), problem.handover_s
    start_at = list(problem.technician_locations)
    end_at = list(problem.technician_locations)
    inner_s = [0] * n_tech  # the leg's own drive
    for job in jobs:
        collect, drop, fetch, back = inst.visits[job]
        start_at += [collect.location, fetch.location]
        end_at += [drop.location, back.location]
        inner_s += [
            int(inst.travel[collect.location, drop.location]),
            int(inst.travel[fetch.location, back.location]),
        ]
    inner = np.array(inner_s, dtype=np.int64)
    handovers = np.array([0] * n_tech + [2 * h] * (2 * len(jobs)), dtype=np.int64)
    between = inst.travel[np.ix_(end_at, start_at)]
    depots = list(range(n_tech))
    manager = pywrapcp.RoutingIndexManager(len(start_at), n_tech, depots, depots)
    routing = pywrapcp.RoutingModel(manager)
    cost = routing.RegisterTransitMatrix((between + inner[:, None]).tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    busy = routing.RegisterTransitMatrix((between + inner[:, None] + handovers[:, None]).tolist())
    routing.AddDimension(busy, HORIZON_S, HORIZON_S, False, "time")
    clock = routing.GetDimensionOrDie("time")
    for tech, (start_s, end_s) in enumerate(inst.shift_s):
        clock.CumulVar(routing.Start(tech)).SetRange(start_s, end_s)
        clock.CumulVar(routing.End(tech)).SetRange(start_s, end_s)
    # Serving one more appointment is worth more than all the travel any plan contains.
    penalty = sum(end - start for start, end in inst.shift_s) + 1
    solver = routing.solver()
    for k, job in enumerate(jobs):
        collect, drop, fetch, back = inst.visits[job]
        out_s, back_s = inner_s[n_tech + 2 * k], inner_s[n_tech + 2 * k + 1]
        out, home = (manager.NodeToIndex(n_tech + 2 * k + i) for i in range(2))
        routing.AddPickupAndDelivery(out, home)
        solver.Add(routing.VehicleVar(out) == routing.VehicleVar(home))
        for index in (out, home):
            routing.AddDisjunction([index], penalty)
        # collect in its window, early enough to drop before closing; the drop waits for
        # opening, which the slack after the leg absorbs (the car is held meanwhile)
        clock.CumulVar(out).SetRange(collect.open_s, min(collect.close_s, drop.close_s - h - out_s))
        if drop.open_s - h - out_s > collect.open_s:
            solver.Add(clock.CumulVar(out) + clock.SlackVar(out) >= drop.open_s - h - out_s)
        # fetch once the work is done and in time to return the car by its deadline
        clock.CumulVar(home).SetRange(
            drop.open_s + inst.lag_s[job], min(fetch.close_s, back.close_s - h - back_s)
        )
        clock.AddNodePrecedence(out, home, h + out_s + inst.lag_s[job])
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return None
    sequences = []
    for tech in range(n_tech):
        index = solution.Value(routing.NextVar(routing.Start(tech)))
        sequence: list[_Visit] = []
        while not routing.IsEnd(index):
            k, leg = divmod(manager.IndexToNode(index) - n_tech, 2)
            sequence += inst.visits[jobs[k]][2 * leg : 2 * leg + 2]
            index = solution.Value(routing.NextVar(index))
        sequences.append(sequence)
    return sequences


def _route(inst: _Instance, tech: int, sequence: list[_Visit]) -> TechnicianRoute:
    """The technician's stops at their earliest times (feasible whenever the order is)."""
    problem = inst.problem
    technician = problem.technicians[tech]
    start = inst.shift_s[tech][0]
    stops = [
        Stop(
            StopKind.START,
            None,
            None,
            technician.base_name,
            technician.lat,
            technician.lon,
            0,
            start,
            start,
            start,
        )
    ]
    for timing in _timeline(inst, tech, sequence):
        visit = timing.visit
        if visit is None:
            stops.append(
                Stop(
                    StopKind.END,
                    None,
                    None,
                    technician.base_name,
                    technician.lat,
                    technician.lon,
                    timing.travel_s,
                    timing.arrival_s,
                    timing.arrival_s,
                    timing.arrival_s,
                )
            )
            continue
        job = problem.jobs[visit.job]
        at_facility = visit.kind in (StopKind.DROP, StopKind.FETCH)
        where = (
            (job.facility.name, job.facility.lat, job.facility.lon)
            if at_facility
            else (job.appointment.place, job.appointment.lat, job.appointment.lon)
        )
        stops.append(
            Stop(
                visit.kind,
                job.appointment.id,
                job.appointment.plate,
                *where,
                timing.travel_s,
                timing.arrival_s,
                timing.start_s,
                timing.start_s + problem.handover_s,
            )
        )
    return TechnicianRoute(
        technician_id=technician.id,
        base_id=technician.base_id,
        stops=tuple(stops),
        travel_s=sum(s.travel_s for s in stops),
        service_s=problem.handover_s * len(sequence),
        wait_s=sum(s.start_s - s.arrival_s for s in stops),
    )
