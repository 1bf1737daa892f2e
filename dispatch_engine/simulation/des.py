"""The discrete-event simulation: scripted incidents through the production dispatcher.

Every decision is the production :class:`Dispatcher`'s (no second implementation): the
engine only moves a manual clock from event to event and tells the dispatcher what
happened, as dispatchers and drivers do through the API. Events, in time order (ties in
the order they were scheduled):

``report``   the incident is reported: ``dispatch`` sends the nearest free vehicles
``call``     the dispatcher phones the owner (the 5-minute task)
``decline``  a driver declines a minute after assignment; the dispatcher reassigns
``arrive``   a vehicle arrives ``eta_s`` after its assignment
``done``     it finishes after its on-scene time and drives back to its base
``home``     it is back (unless it took the next job on the way: returning vehicles are
             dispatchable from where they finished)
``check``    a deadline passed: the dispatcher raises its escalations
``shift``    some vehicles come on shift

Incidents no vehicle could take wait (status ``open``); whenever a vehicle of a kind
they need becomes free (done, home, a decline) or a shift starts, the dispatcher's
``surge`` assigns the waiting ones jointly. A kind that no vehicle of the fleet could
ever bring (none has the skills, or none is based within the dispatch horizon, e.g. a
crane for an incident in Beijing) is not waited for: once the incident's other
vehicles are done it is closed (``cancelled``) and counted as *handed off*, as a
dispatcher arranges local rescue. An incident no vehicle reached is reported unserved.

The random parts of an incident (call delay, on-scene times, whether the first driver
declines) are drawn before the run (:class:`SimIncident`), so two fleets compared on the
same seed face exactly the same incidents. The run itself is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from dispatch_engine.dispatch.lifecycle import CLOSED
from dispatch_engine.dispatch.model import (
    AssignmentStatus,
    EventType,
    Incident,
    IncidentRequest,
    IncidentStatus,
)
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import (
    DAY_S,
    SHANGHAI_TZ,
    WEEK_S,
    Fleet,
    VehicleKind,
    VehicleStatus,
    second_of_week,
)
from dispatch_engine.network.engine import EstimateEngine, Points
from dispatch_engine.network.router import Router
from dispatch_engine.network.snap import Snapped

DECLINE_AFTER_S = 60.0  # a driver who declines does so about a minute after the assignment
CHECK_AFTER_S = 1.0  # escalation checks run just after a deadline (they need now > due)

REPORT, CALL, DECLINE, ARRIVE, DONE, HOME, CHECK, SHIFT = range(8)
_SCRIPTED = frozenset({REPORT, SHIFT})  # known before the run; the rest follow from it
_FINISHED = frozenset({AssignmentStatus.DONE, AssignmentStatus.DECLINED})


@dataclass(frozen=True)
class SimIncident:
    """An incident report with its pre-drawn course: what happens once vehicles are sent.

    ``on_scene_s[k]`` and ``declines[k]`` belong to ``request.needs[k]``: how long that
    kind of vehicle works on scene, and whether the first vehicle of that kind sent
    declines (a replacement never does).
    """

    request: IncidentRequest
    call_after_s: float
    on_scene_s: tuple[float, ...]
    declines: tuple[bool, ...]


@dataclass(frozen=True)
class Busy:
    """A vehicle's time on one job: from assignment until done (or declined)."""

    vehicle_id: str
    incident_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SimulationResult:
    """Incidents as they ended, the vehicles' jobs, and how the run went.

    ``interrupted`` is True when the run was stopped (Ctrl-C) before its last event;
    ``incidents`` then holds the incidents reported so far. ``handed_off`` are the
    incidents closed (cancelled) because a kind they need has no vehicle in the fleet
    with the skills they require: a dispatcher would arrange local rescue.
    ``stretches`` is the number of processes whose parts the result joins (``split.py``).
    """

    incidents: tuple[Incident, ...]
    busy: tuple[Busy, ...]
    handed_off: tuple[str, ...]
    start: datetime
    end: datetime  # the last event processed
    events: int
    interrupted: bool
    wall_s: float
    stretches: int = 1

    def unserved(self) -> tuple[Incident, ...]:
        """Incidents no vehicle reached (waiting, or still on the way when the run ended)."""
        return tuple(i for i in self.incidents if i.arrived_at is None)


class BaseTrips:
    """Seconds between each incident's position and each base, both ways, once per base.

    Vehicles drive home from the incident they finished, so every trip home starts at
    an incident: one search per base (the road engine's ``many_to_one``) gives the trip
    from every incident at once; ``one_to_many`` gives the trips out. Ends off the road
    network get the flagged estimate, as ``Router.route`` does.

    Only the incidents ``rows`` (default: all) are located and searched, when first
    asked about: a stretch of a split run needs its own. Asked about another incident,
    the trips widen to all of them (the same numbers: each is its own search's answer).
    """

    def __init__(
        self,
        router: Router,
        fleet: Fleet,
        incidents: Sequence[SimIncident],
        *,
        rows: range | None = None,
    ) -> None:
        self.router = router
        self.fleet = fleet
        self.incidents = incidents
        self.rows = range(len(incidents)) if rows is None else rows
        self._located: tuple[Points, np.ndarray, Snapped] | None = None
        self._columns: dict[tuple[str, bool], np.ndarray] = {}

    def covering(self, rows: range) -> BaseTrips:
        """The same trips, worked out for the incidents ``rows`` only."""
        return BaseTrips(self.router, self.fleet, self.incidents, rows=rows)

    def home_s(self, incident_index: int, base_id: str) -> float:
        """From incident ``incident_index`` to the base."""
        return self._trip(base_id, incident_index, outbound=False)

    def out_s(self, base_id: str, incident_index: int) -> float:
        """From the base to incident ``incident_index``."""
        return self._trip(base_id, incident_index, outbound=True)

    def _trip(self, base_id: str, k: int, *, outbound: bool) -> float:
        if k not in self.rows:
            self.rows = range(len(self.incidents))
            self._located = None
            self._columns.clear()
        return float(self._column(base_id, outbound=outbound)[k - self.rows.start])

    def _locate(self) -> tuple[Points, np.ndarray, Snapped]:
        if self._located is None:
            sites = [self.incidents[k].request for k in self.rows]
            lat = np.array([s.lat for s in sites], dtype=np.float64)
            lon = np.array([s.lon for s in sites], dtype=np.float64)
            found, snapped = self.router.road.locate_where_possible(lat, lon)
            self._located = (self.router.fallback.locate(lat, lon), found, snapped)
        return self._located

    def _column(self, base_id: str, *, outbound: bool) -> np.ndarray:
        column = self._columns.get((base_id, outbound))
        if column is not None:
            return column
        points, found, snapped = self._locate()
        base = self.fleet.base(base_id)
        fallback: EstimateEngine = self.router.fallback
        column = fallback.many_to_one(points, fallback.locate(base.lat, base.lon))
        road = self.router.road
        base_found, base_snapped = road.locate_where_possible(base.lat, base.lon)
        if base_found[0] and found.any():
            if outbound:
                column[found] = road.one_to_many(base_snapped, snapped)
            else:
                column[found] = road.many_to_one(snapped, base_snapped)
        self._columns[(base_id, outbound)] = column
        return column


def shift_starts(fleet: Fleet, start: datetime, end: datetime) -> list[datetime]:
    """Every moment in ``[start, end)`` when some vehicle's shift begins."""
    offsets = sorted(
        {
            day * DAY_S + shift.start.hour * 3600 + shift.start.minute * 60 + shift.start.second
            for v in fleet.vehicles
            for shift in v.shifts
            for day in shift.days
        }
    )
    # Monday 00:00 local (second_of_week drops the fraction of a second)
    week = start - timedelta(seconds=second_of_week(start), microseconds=start.microsecond)
    found = []
    while week < end:
        found += [t for s in offsets if start <= (t := week + timedelta(seconds=s)) < end]
        week += timedelta(seconds=WEEK_S)
    return found


def simulate(
    dispatcher: Dispatcher,
    clock: ManualClock,
    incidents: Sequence[SimIncident],
    *,
    trips: BaseTrips | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run the incidents through ``dispatcher`` until no event is left.

    Parameters
    ----------
    dispatcher
        The production dispatcher over the fleet to test; its store must be fresh.
    clock
        The dispatcher's clock; the run moves it.
    incidents
        Sorted by report time (then id), ids unique.
    trips
        Trip times between incidents and bases (built from the dispatcher's router and
        fleet when omitted).
    until
        Shift starts are scheduled until then (default: one day after the last report),
        so incidents waiting at night are served when the morning shift begins.
    progress
        Called with the number of incidents reported so far, about every 1 % of them.

    Returns
    -------
    SimulationResult
        With ``interrupted=True`` and the incidents so far when Ctrl-C stopped the run.

    Raises
    ------
    InvalidInputError
        ``incidents`` unsorted or with a repeated id.
    """
    check_order(incidents)
    started = time.perf_counter()
    start = incidents[0].request.reported_at if incidents else clock.now()
    expect_sites(dispatcher, incidents)
    run = start_run(dispatcher, clock, incidents, trips=trips, until=until)
    interrupted = False
    try:
        run.loop(progress, every=max(1, len(incidents) // 100))
    except KeyboardInterrupt:
        interrupted = True  # a planner's Ctrl-C: stop and report what was simulated
    return SimulationResult(
        incidents=tuple(dispatcher.store.incidents()),
        busy=tuple(run.busy),
        handed_off=tuple(run.handed_off),
        start=start,
        end=run.now,
        events=run.events,
        interrupted=interrupted,
        wall_s=time.perf_counter() - started,
    )


def start_run(
    dispatcher: Dispatcher,
    clock: ManualClock,
    incidents: Sequence[SimIncident],
    *,
    trips: BaseTrips | None = None,
    until: datetime | None = None,
    first: int = 0,
) -> EventLoop:
    """The event loop of :func:`simulate`, ready to run from incident ``first`` on (a later
    stretch of a split run starts there with nothing going on; see ``split.py``)."""
    run = EventLoop(
        dispatcher,
        clock,
        incidents,
        trips or BaseTrips(dispatcher.router, dispatcher.store.fleet(), incidents),
        first=first,
    )
    start = incidents[0].request.reported_at if incidents else clock.now()
    last = incidents[-1].request.reported_at if incidents else start
    begin = incidents[first].request.reported_at if first < len(incidents) else start
    for moment in shift_starts(dispatcher.store.fleet(), begin, until or last + timedelta(days=1)):
        run.push(moment.timestamp(), SHIFT)
    return run


def expect_sites(dispatcher: Dispatcher, incidents: Sequence[SimIncident]) -> None:
    """Classify and snap every incident site in one batch before the run."""
    dispatcher.expect_sites(
        np.array([s.request.lat for s in incidents]), np.array([s.request.lon for s in incidents])
    )


def check_order(incidents: Sequence[SimIncident]) -> None:
    keys = [(s.request.reported_at, s.request.id) for s in incidents]
    if any(a > b for a, b in itertools.pairwise(keys)):
        raise InvalidInputError(
            "incidents must be sorted by report time, then id", field="incidents"
        )
    if len({s.request.id for s in incidents}) != len(incidents):
        raise InvalidInputError("incident ids must be unique", field="incidents")


@dataclass
class EventLoop:
    """The event loop's state; each handler is one kind of event."""

    dispatcher: Dispatcher
    clock: ManualClock
    incidents: Sequence[SimIncident]
    trips: BaseTrips
    queue: list[tuple[float, int, int, int, str]] = field(default_factory=list)
    busy: list[Busy] = field(default_factory=list)
    now: datetime = field(init=False)
    events: int = 0
    _seq: itertools.count = field(default_factory=itertools.count)
    _waiting: dict[int, tuple[VehicleKind, ...]] = field(default_factory=dict)  # -> kinds missing
    handed_off: list[str] = field(default_factory=list)
    _servable: dict[tuple[int, VehicleKind, frozenset[str]], bool] = field(default_factory=dict)
    _followed: dict[tuple[int, str], datetime] = field(default_factory=dict)  # -> assigned at
    _sent_kinds: set[tuple[int, VehicleKind]] = field(default_factory=set)
    _home_due: dict[str, float] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict)  # incident id -> k
    first: int = 0  # the first incident this run reports
    # Asked before a report (its index) at which nothing is going on; True stops the run.
    quiet: Callable[[int], bool] | None = None
    _pending: int = 0  # events in the queue other than reports and shift starts
    _fleet_at_rest: tuple = ()  # the vehicles as they were before the first event

    def __post_init__(self) -> None:
        self.now = self.clock.now()
        self._index = {s.request.id: k for k, s in enumerate(self.incidents)}
        for k in range(self.first, len(self.incidents)):
            self.push(self.incidents[k].request.reported_at.timestamp(), REPORT, k)
        self._fleet_at_rest = self.dispatcher.store.fleet().vehicles

    def push(self, at_s: float, kind: int, incident: int = -1, vehicle_id: str = "") -> None:
        if kind not in _SCRIPTED:
            self._pending += 1
        heapq.heappush(self.queue, (at_s, next(self._seq), kind, incident, vehicle_id))

    def at_rest(self) -> bool:
        """Nothing is going on: no incident open, every vehicle as it was at the start
        (at its base, available), no event due but reports and shift starts. From such a
        moment on, the run goes exactly as a run starting there would."""
        store = self.dispatcher.store
        return (
            not self._pending
            and not store.active_incidents()
            and store.fleet().vehicles == self._fleet_at_rest
        )

    def loop(self, progress: Callable[[int], None] | None, *, every: int) -> None:
        reported = 0
        handlers = {
            REPORT: self._report,
            CALL: self._call,
            DECLINE: self._decline,
            ARRIVE: self._arrive,
            DONE: self._done,
            HOME: self._home,
            CHECK: self._check,
            SHIFT: self._shift,
        }
        while self.queue:
            at_s, _, kind, incident, vehicle_id = self.queue[0]
            if kind == REPORT and self.quiet and self.at_rest() and self.quiet(incident):
                return  # the rest of the run is another's
            heapq.heappop(self.queue)
            if kind not in _SCRIPTED:
                self._pending -= 1
            self.now = datetime.fromtimestamp(at_s, SHANGHAI_TZ)
            self.clock.set(self.now)
            handlers[kind](at_s, incident, vehicle_id)
            self.events += 1
            if kind == REPORT:
                reported += 1
                if progress is not None and (
                    reported % every == 0 or reported == len(self.incidents)
                ):
                    progress(reported)

    # -- handlers ----------------------------------------------------------------------

    def _report(self, at_s: float, k: int, _: str) -> None:
        scripted = self.incidents[k]
        incident = self.dispatcher.dispatch(scripted.request)
        call_s = at_s + scripted.call_after_s
        self.push(call_s, CALL, k)
        # Each deadline gets a check, except a call deadline the call will beat: that check
        # could raise nothing for this incident, and every other one has its own checks.
        self.push(incident.arrival_due_at.timestamp() + CHECK_AFTER_S, CHECK)
        if call_s > incident.call_due_at.timestamp():
            self.push(incident.call_due_at.timestamp() + CHECK_AFTER_S, CHECK)
        self._follow(k, incident)

    def _call(self, _: float, k: int, __: str) -> None:
        incident_id = self.incidents[k].request.id
        if self.dispatcher.incident(incident_id).status not in CLOSED:
            self.dispatcher.record(incident_id, EventType.CALLED)

    def _decline(self, _: float, k: int, vehicle_id: str) -> None:
        self._end_job(k, vehicle_id)
        incident = self.dispatcher.record(
            self.incidents[k].request.id, EventType.DECLINED, vehicle_id=vehicle_id
        )
        self._follow(k, incident)
        self._serve_waiting(vehicle_id)  # the declining vehicle is free again

    def _arrive(self, at_s: float, k: int, vehicle_id: str) -> None:
        scripted = self.incidents[k]
        incident = self.dispatcher.record(
            scripted.request.id, EventType.ARRIVED, vehicle_id=vehicle_id
        )
        kind = next(a.kind for a in incident.active() if a.vehicle_id == vehicle_id)
        on_scene_s = scripted.on_scene_s[scripted.request.needs.index(kind)]
        self.push(at_s + on_scene_s, DONE, k, vehicle_id)

    def _done(self, at_s: float, k: int, vehicle_id: str) -> None:
        self._end_job(k, vehicle_id)
        incident = self.dispatcher.record(
            self.incidents[k].request.id, EventType.DONE, vehicle_id=vehicle_id
        )
        self._follow(k, incident)
        base_id = self.dispatcher.store.fleet().vehicle(vehicle_id).base_id
        due = at_s + self.trips.home_s(k, base_id)
        self._home_due[vehicle_id] = due
        self.push(due, HOME, k, vehicle_id)
        self._serve_waiting(vehicle_id)

    def _home(self, at_s: float, _: int, vehicle_id: str) -> None:
        if self._home_due.get(vehicle_id) != at_s:
            return  # it took another job on the way; that job sends it home later
        fleet = self.dispatcher.store.fleet()
        vehicle = fleet.vehicle(vehicle_id)
        if vehicle.status != VehicleStatus.RETURNING:
            return
        base = fleet.base(vehicle.base_id)
        self.dispatcher.update_vehicle(
            vehicle_id, status=VehicleStatus.AVAILABLE, position=(base.lat, base.lon)
        )
        self._serve_waiting(vehicle_id)

    def _check(self, *_: object) -> None:
        self.dispatcher.check_escalations()

    def _shift(self, *_: object) -> None:
        self._serve_waiting()

    # -- helpers -----------------------------------------------------------------------

    def _follow(self, k: int, incident: Incident) -> None:
        """Schedule what happens to vehicles newly assigned to incident ``k``."""
        scripted = self.incidents[k]
        for a in incident.active():
            if self._followed.get((k, a.vehicle_id)) == a.assigned_at:
                continue
            self._followed[(k, a.vehicle_id)] = a.assigned_at
            first_of_kind = (k, a.kind) not in self._sent_kinds
            self._sent_kinds.add((k, a.kind))
            assigned_s = a.assigned_at.timestamp()
            if first_of_kind and scripted.declines[scripted.request.needs.index(a.kind)]:
                self.push(assigned_s + DECLINE_AFTER_S, DECLINE, k, a.vehicle_id)
            else:
                self.push(assigned_s + a.eta_s, ARRIVE, k, a.vehicle_id)
        if incident.status != IncidentStatus.OPEN:
            self._waiting.pop(k, None)
            return
        missing = incident.missing_kinds()
        sent = frozenset(a.vehicle_id for a in incident.assignments)
        if any(self._can_serve(k, kind, sent) for kind in missing):
            self._waiting[k] = missing
            return
        # No vehicle of the fleet could ever take what is missing: waiting is pointless.
        # Once its other vehicles are done it is closed as handed off (local rescue).
        self._waiting.pop(k, None)
        if all(a.status in _FINISHED for a in incident.assignments):
            self.dispatcher.record(scripted.request.id, EventType.CANCELLED)
            self.handed_off.append(scripted.request.id)

    def _can_serve(self, k: int, kind: VehicleKind, sent: frozenset[str]) -> bool:
        """Whether a vehicle of ``kind`` with the incident's skills, not sent there before
        (a driver who declined is not asked again), has its base within the dispatch
        horizon of incident ``k`` (vehicles come home between jobs)."""
        key = (k, kind, sent)
        if key not in self._servable:
            skills = self.incidents[k].request.skills
            bases = sorted(
                {
                    v.base_id
                    for v in self.dispatcher.store.fleet().vehicles
                    if v.kind == kind and skills <= v.skills and v.id not in sent
                }
            )
            horizon_s = self.dispatcher.horizon_s
            self._servable[key] = any(self.trips.out_s(b, k) <= horizon_s for b in bases)
        return self._servable[key]

    def _end_job(self, k: int, vehicle_id: str) -> None:
        start = self._followed[(k, vehicle_id)]
        self.busy.append(Busy(vehicle_id, self.incidents[k].request.id, start, self.now))

    def _serve_waiting(self, freed: str | None = None) -> None:
        """Let the dispatcher assign the waiting incidents jointly, when that can help.

        An incident waits because no vehicle of a kind it needs could take it; only a
        vehicle of such a kind becoming free (or a new shift) can change that.
        """
        if not self._waiting:
            return
        if freed is not None:
            kind = self.dispatcher.store.fleet().vehicle(freed).kind
            if not any(kind in missing for missing in self._waiting.values()):
                return
        # The surge assigns every open incident it can, also one not waited for (no vehicle
        # of the kind is based within the horizon, but one may be passing nearby): follow
        # them all, or that vehicle's arrival would be scheduled late, in the past.
        unfilled = sorted(
            self._index[i.id]
            for i in self.dispatcher.store.active_incidents()
            if i.status == IncidentStatus.OPEN
        )
        self.dispatcher.surge()
        for k in unfilled:
            self._follow(k, self.dispatcher.incident(self.incidents[k].request.id))
