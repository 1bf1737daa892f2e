"""The dispatcher: one incident, a surge, lifecycle events, escalations.

Pure Python over injected parts (store, router, zone classifier, clock). Every
decision is made and stored under one lock, so concurrent callers never see a
vehicle as free after it was given to someone else (a vehicle is never double-booked).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from dispatch_engine.dispatch import escalation, lifecycle
from dispatch_engine.dispatch.model import (
    TOW_KINDS,
    Assignment,
    AssignmentStatus,
    Escalation,
    EscalationKind,
    Event,
    EventType,
    Incident,
    IncidentRequest,
    IncidentStatus,
)
from dispatch_engine.dispatch.ports import Clock, DispatchStore
from dispatch_engine.dispatch.rank import (
    OPTIMIZER,
    ByRoadEta,
    Candidate,
    DispatchPolicy,
    FleetLocator,
    LocatedFleet,
    LocatedPoints,
    SiteEtas,
    eta_matrix,
    locate_points,
    rank_rows,
)
from dispatch_engine.dispatch.rescue import RepairShop, ShopSites, plan_tow
from dispatch_engine.dispatch.surge import (
    SurgeAssignment,
    SurgeProblem,
    assign_greedy,
    assign_jointly,
)
from dispatch_engine.errors import ConflictError, InvalidInputError, NotFoundError
from dispatch_engine.fleet.model import Fleet, Vehicle, VehicleStatus
from dispatch_engine.geo.crs import validate_lat_lon
from dispatch_engine.geo.zones import ZONE_GUARANTEES, ZoneClassifier, require_service_area
from dispatch_engine.network.router import Router
from dispatch_engine.records import evolve

# A vehicle driving back to base after a job is free to take the next one.
DISPATCHABLE = frozenset({VehicleStatus.AVAILABLE, VehicleStatus.RETURNING})


@dataclass(frozen=True)
class SurgeReport:
    """What the policy's assignment did (joint for the optimizer), and what greedy
    nearest-first by road would have done."""

    incidents: int
    assigned: int
    met: int
    met_injury: int
    greedy_met: int
    greedy_met_injury: int
    wall_s: float


class Dispatcher:
    """Assigns vehicles to incidents and follows them to the end."""

    def __init__(
        self,
        *,
        store: DispatchStore,
        router: Router,
        classifier: ZoneClassifier,
        clock: Clock,
        repair_shops: tuple[RepairShop, ...] = (),
        horizon_s: float = 3 * 3600.0,
        route_lengths: bool = True,
        policy: DispatchPolicy = OPTIMIZER,
    ) -> None:
        self.store = store
        # How candidates are ranked and a queue is served: production uses the optimizer;
        # benchmarks plug in the baselines to measure what it gains.
        self.policy = policy
        # A road assignment's length (and a free tow's) takes a second search; planning
        # runs that never read lengths switch it off (lengths are then NaN), nothing else
        # changes.
        self.route_lengths = route_lengths
        self.horizon_s = (
            horizon_s  # farther than this, the dispatcher arranges local rescue instead
        )
        self.repair_shops = repair_shops
        self._shop_sites: ShopSites | None = None  # located at the first tow
        self.router = router
        self.classifier = classifier
        self.clock = clock
        self.locator = FleetLocator(router)
        self._lock = threading.RLock()

    def with_policy(self, policy: DispatchPolicy) -> Dispatcher:
        """The same dispatcher (store, router, clock, settings) deciding by ``policy``.

        Why: a benchmark runs one scenario under each policy with everything else equal.
        The two share the store, so use one of them only.
        """
        return Dispatcher(
            store=self.store,
            router=self.router,
            classifier=self.classifier,
            clock=self.clock,
            repair_shops=self.repair_shops,
            horizon_s=self.horizon_s,
            route_lengths=self.route_lengths,
            policy=policy,
        )

    # -- one incident ------------------------------------------------------------------

    def expect_sites(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """Classify and locate, in one vectorised pass each, WGS-84 sites that will be
        reported one by one (a planner's simulated year): each report then looks its
        site up instead of querying the boundaries and the road index."""
        self.classifier.pin(lat, lon)
        self.router.road.pin_locations(lat, lon)

    def _located_shops(self) -> ShopSites | None:
        if self._shop_sites is None and self.repair_shops:
            self._shop_sites = ShopSites.locate(self.router, self.repair_shops)
        return self._shop_sites

    def open_incident(self, request: IncidentRequest) -> Incident:
        """Zone and deadlines for a report (no vehicle yet); outside the area is an error."""
        if request.reported_at.tzinfo is None:
            raise InvalidInputError("reported_at must carry a timezone", field="reported_at")
        if not request.needs:
            raise InvalidInputError("at least one vehicle kind is needed", field="needs")
        zone = require_service_area(self.classifier.classify(request.lat, request.lon))
        guarantee = ZONE_GUARANTEES[zone.zone]
        assert guarantee.call_minutes is not None and guarantee.arrival_minutes is not None
        needs_tow = TOW_KINDS.intersection(request.needs) and (
            self.repair_shops or request.tow_destination
        )
        tow = (
            plan_tow(
                self.router,
                zone,
                self._located_shops(),
                owner_destination=request.tow_destination,
                route_length=self.route_lengths,
            )
            if needs_tow
            else None
        )
        return Incident(
            request=request,
            zone=zone,
            call_due_at=request.reported_at + timedelta(minutes=guarantee.call_minutes),
            arrival_due_at=request.reported_at + timedelta(minutes=guarantee.arrival_minutes),
            tow=tow,
        )

    def dispatch(self, request: IncidentRequest) -> Incident:
        """Open an incident and send the best available vehicle of each needed kind."""
        incident = self.open_incident(request)
        with self._lock:
            self.store.check_new_incident(request.id)
            incident = self._fill(incident)
            self.store.save_incident(incident)
        return incident

    def _fill(self, incident: Incident, *, prefer: str | None = None) -> Incident:
        """Assign every missing kind; ``prefer`` (an A/B partner) goes first when free."""
        now = self.clock.now()
        fleet = self.store.fleet()
        located = self.locator.locate(fleet.vehicles)
        excluded = [fleet.row(a.vehicle_id) for a in incident.assignments]
        req = incident.request
        site = self.locator.locate_site(req.lat, req.lon)
        etas: SiteEtas | None = None  # searched when a kind first has free vehicles
        for kind in incident.missing_kinds():
            skills = req.skills & fleet.skills_of(kind)
            free = fleet.available_rows(kind, skills, now, statuses=DISPATCHABLE)
            if excluded:
                free = free[~np.isin(free, excluded)]
            chosen = None
            if free.size:
                etas = etas or SiteEtas.search(
                    self.router, located, site, horizon_s=self.horizon_s, at=now
                )
                preferred = free[free == fleet.row(prefer)] if prefer is not None else free[:0]
                chosen = self._claim_nearest(fleet, preferred, etas) or self._claim_nearest(
                    fleet, free, etas
                )
            if chosen is None:
                incident = _escalate(
                    incident,
                    Escalation(
                        incident.id,
                        EscalationKind.NO_VEHICLE,
                        now,
                        f"no {kind} available with skills "
                        f"{sorted(skills) or 'none'} on shift "
                        f"within {self.horizon_s / 60:.0f} min",
                    ),
                )
                continue
            incident = self._add_assignment(incident, chosen, located, site, now)
        return lifecycle.settle_status(incident)

    def _claim_nearest(self, fleet: Fleet, rows: np.ndarray, etas: SiteEtas) -> Candidate | None:
        """The nearest vehicle at ``rows`` within the horizon that the store lets us have,
        by the site's road times at the decision's moment (the hour's speed profile)."""
        ranked = rank_rows(
            fleet.vehicles, rows, etas, horizon_s=self.horizon_s, ranking=self.policy.ranking
        )
        return self._claim_first(ranked)

    def _claim_first(self, candidates: Iterable[Candidate]) -> Candidate | None:
        """The best candidate the store lets us have (others may have taken some meanwhile)."""
        for candidate in candidates:
            if (
                self.store.claim_vehicle(
                    candidate.vehicle.id, allowed=DISPATCHABLE, status=VehicleStatus.EN_ROUTE
                )
                is not None
            ):
                return candidate
        return None

    def _add_assignment(
        self, incident: Incident, chosen: Candidate, located: LocatedFleet, site: LocatedPoints, now
    ) -> Incident:
        """Record a claimed vehicle on the incident, escalating if it will be late."""
        assignment = self._assignment(incident, chosen, located, site, now)
        incident = evolve(incident, assignments=(*incident.assignments, assignment))
        risk = escalation.at_assignment(incident, assignment)
        return incident if risk is None else _escalate(incident, risk)

    def _assignment(
        self, incident: Incident, best: Candidate, located: LocatedFleet, site: LocatedPoints, now
    ) -> Assignment:
        """``site`` is the incident's position, located once for ranking and route."""
        if best.estimate:
            sub = located.subset([best.vehicle])
            distance_m = float(self.router.fallback.meters(sub.points, site.points)[0, 0])
        elif not self.route_lengths:
            distance_m = math.nan
        else:
            # bounded by the known ETA, the search only explores what the answer needs
            distance_m = self.router.road.route_meters(
                located.subset([best.vehicle]).snapped,
                site.snapped,
                cutoff_s=best.eta_s * 1.0001 + 1,
                at=now,
            )
        arrives = now + timedelta(seconds=best.eta_s)
        return Assignment(
            vehicle_id=best.vehicle.id,
            kind=best.vehicle.kind,
            eta_s=best.eta_s,
            distance_m=distance_m,
            estimate=best.estimate,
            meets_guarantee=arrives <= incident.arrival_due_at,
            assigned_at=now,
        )

    def _set_status(
        self,
        vehicle: Vehicle,
        status: VehicleStatus,
        *,
        position: tuple[float, float] | None = None,
    ) -> Vehicle:
        lat, lon = (vehicle.lat, vehicle.lon) if position is None else position
        updated = evolve(vehicle, status=status, lat=lat, lon=lon)
        self.store.save_vehicles([updated])
        return updated

    # -- lifecycle ---------------------------------------------------------------------

    def incident(self, incident_id: str) -> Incident:
        found = self.store.get_incident(incident_id)
        if found is None:
            raise NotFoundError(f"no incident {incident_id}", field="incident_id")
        return found

    def record(
        self, incident_id: str, event_type: EventType, *, vehicle_id: str | None = None
    ) -> Incident:
        """Apply a dispatcher's event; declines and no-shows reassign, A/B partner first."""
        with self._lock:
            incident = self.incident(incident_id)
            lifecycle.require_open(incident)
            now = self.clock.now()
            fleet = self.store.fleet()
            if event_type == EventType.CALLED:
                if incident.called_at is not None:
                    raise ConflictError(f"owner of {incident_id} was already called", field="type")
                incident = evolve(incident, called_at=now)
            elif event_type == EventType.CANCELLED:
                for a in incident.active():
                    if a.status in (AssignmentStatus.ASSIGNED, AssignmentStatus.ARRIVED):
                        self._set_status(fleet.vehicle(a.vehicle_id), VehicleStatus.AVAILABLE)
                incident = evolve(incident, status=IncidentStatus.CANCELLED)
            else:
                incident = self._vehicle_event(incident, event_type, vehicle_id, fleet, now)
            self.store.save_incident(incident)
            self.store.append_event(Event(incident_id, event_type, now, vehicle_id))
            return incident

    def _vehicle_event(
        self, incident: Incident, event_type: EventType, vehicle_id: str | None, fleet: Fleet, now
    ) -> Incident:
        if vehicle_id is None:
            raise InvalidInputError(
                f"a '{event_type}' event needs the vehicle_id", field="vehicle_id"
            )
        assignment = lifecycle.active_assignment(incident, vehicle_id)
        vehicle = fleet.vehicle(vehicle_id)
        req = incident.request
        if event_type == EventType.ARRIVED:
            incident = lifecycle.replace_assignment(
                incident, lifecycle.move(assignment, AssignmentStatus.ARRIVED)
            )
            incident = evolve(incident, arrived_at=incident.arrived_at or now)
            self._set_status(vehicle, VehicleStatus.ON_SCENE, position=(req.lat, req.lon))
        elif event_type == EventType.DONE:
            incident = lifecycle.replace_assignment(
                incident, lifecycle.move(assignment, AssignmentStatus.DONE)
            )
            self._set_status(vehicle, VehicleStatus.RETURNING, position=(req.lat, req.lon))
        elif event_type in (EventType.DECLINED, EventType.NO_SHOW):
            incident = lifecycle.replace_assignment(
                incident, lifecycle.move(assignment, AssignmentStatus.DECLINED)
            )
            # a decline leaves the vehicle free for others; a no-show takes it out until checked
            status = (
                VehicleStatus.AVAILABLE
                if event_type == EventType.DECLINED
                else VehicleStatus.OFF_DUTY
            )
            self._set_status(vehicle, status)
            incident = self._fill(lifecycle.settle_status(incident), prefer=vehicle.partner_id)
        else:
            raise InvalidInputError(f"unknown event type '{event_type}'", field="type")
        return lifecycle.settle_status(incident)

    def update_vehicle(
        self,
        vehicle_id: str,
        *,
        status: VehicleStatus | None = None,
        position: tuple[float, float] | None = None,
    ) -> Vehicle:
        """A dispatcher's or a driver's update of a vehicle's status or WGS-84 position."""
        if position is not None:
            validate_lat_lon(*position)
        with self._lock:
            vehicle = self.store.fleet().vehicle(vehicle_id)
            return self._set_status(vehicle, status or vehicle.status, position=position)

    # -- escalations -------------------------------------------------------------------

    def check_escalations(self) -> list[Escalation]:
        """Raise (and store) escalations for deadlines that passed without their event."""
        now = self.clock.now()
        raised: list[Escalation] = []
        with self._lock:
            for incident in self.store.active_incidents():
                new = escalation.overdue(incident, now)
                if new:
                    self.store.save_incident(
                        evolve(incident, escalations=(*incident.escalations, *new))
                    )
                    raised.extend(new)
        return raised

    # -- surge -------------------------------------------------------------------------

    def surge(self) -> SurgeReport:
        """Assign every open incident's missing vehicles, kind by kind: jointly (OR-tools)
        under the optimizer policy, one by one in priority order under a baseline."""
        started = time.perf_counter()
        with self._lock:
            now = self.clock.now()
            fleet = self.store.fleet()
            located = self.locator.locate(fleet.vehicles)
            waiting = [
                i
                for i in self.store.active_incidents()
                if i.status == IncidentStatus.OPEN and i.missing_kinds()
            ]
            totals = np.zeros(6)
            updated: dict[str, Incident] = {i.id: i for i in waiting}
            for kind in sorted({k for i in waiting for k in i.missing_kinds()}):
                needing = [updated[i.id] for i in waiting if kind in updated[i.id].missing_kinds()]
                vehicles = fleet.available(kind, (), now, statuses=DISPATCHABLE)
                if not vehicles:
                    continue
                problem, estimate, sites = self._surge_problem(needing, vehicles, located, now)
                greedy = assign_greedy(problem)
                chosen = self._assign(problem, greedy, located, vehicles, sites)
                totals += [
                    len(needing),
                    chosen.assigned_count,
                    chosen.met_count,
                    chosen.met_injury_count,
                    greedy.met_count,
                    greedy.met_injury_count,
                ]
                for row, incident in enumerate(needing):
                    col = int(chosen.vehicle_of[row])
                    if col < 0:
                        continue
                    best = Candidate(
                        vehicles[col], float(problem.eta_s[row, col]), bool(estimate[row, col])
                    )
                    if self._claim_first([best]) is None:
                        continue  # taken by a concurrent request since the matrix was built
                    updated[incident.id] = lifecycle.settle_status(
                        self._add_assignment(incident, best, located, sites.take(row), now)
                    )
            for incident in updated.values():
                self.store.save_incident(incident)
            n, assigned, met, met_injury, greedy_met, greedy_injury = (int(x) for x in totals)
            return SurgeReport(
                n,
                assigned,
                met,
                met_injury,
                greedy_met,
                greedy_injury,
                time.perf_counter() - started,
            )

    def _assign(
        self,
        problem: SurgeProblem,
        greedy: SurgeAssignment,
        located: LocatedFleet,
        vehicles: Sequence[Vehicle],
        sites: LocatedPoints,
    ) -> SurgeAssignment:
        """The policy's assignment of one kind's waiting incidents (``greedy``: by road)."""
        if self.policy.joint:
            return assign_jointly(problem)
        if isinstance(self.policy.ranking, ByRoadEta):
            return greedy
        points = located.subset(vehicles).points
        keys = self.policy.ranking.keys(problem.eta_s.T, points, sites.points)
        return assign_greedy(problem, preference=keys.T)

    def _surge_problem(
        self, incidents: Sequence[Incident], vehicles: Sequence[Vehicle], located: LocatedFleet, now
    ) -> tuple[SurgeProblem, np.ndarray, LocatedPoints]:
        lat = np.array([i.request.lat for i in incidents])
        lon = np.array([i.request.lon for i in incidents])
        sites = locate_points(self.router, lat, lon)
        eta, estimate = eta_matrix(
            self.router, located.subset(vehicles), sites, cutoff_s=self.horizon_s, at=now
        )
        eta, estimate = eta.T.copy(), estimate.T
        kind_skills = frozenset().union(*(v.skills for v in vehicles))
        for row, incident in enumerate(incidents):
            # lacking a skill, or already sent there once (a driver who declined is not
            # offered the same job again, as in a single decision)
            sent = {a.vehicle_id for a in incident.assignments}
            excluded = [
                col
                for col, v in enumerate(vehicles)
                if not (incident.request.skills & kind_skills) <= v.skills or v.id in sent
            ]
            eta[row, excluded] = np.inf
        deadline_s = np.array([(i.arrival_due_at - now).total_seconds() for i in incidents])
        injury = np.array([i.request.injured for i in incidents], dtype=bool)
        return (
            SurgeProblem(
                eta_s=eta,
                deadline_s=deadline_s,
                injury=injury,
                incident_ids=tuple(i.id for i in incidents),
                vehicle_ids=tuple(v.id for v in vehicles),
            ),
            estimate,
            sites,
        )


def _escalate(incident: Incident, item: Escalation) -> Incident:
    return evolve(incident, escalations=(*incident.escalations, item))
