"""A realistic day of incidents replayed through the production dispatcher.

``make run``'s main job: it shows, on the embedded default, what the dispatcher decides
over a day and whether the promises hold. Incidents fall where the roads are (network
nodes, so dense in the towns), at a daily rhythm with morning and evening peaks; a few
happen elsewhere in Guangdong and in other provinces, where partner branches serve.
The replay drives the dispatcher's own lifecycle (call, arrival, done, return to base)
on a manual clock, so every number comes from the code dispatchers use.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from dispatch_engine.dispatch.model import EventType, Incident, IncidentRequest, IncidentStatus
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.model import SHANGHAI_TZ, Skill, VehicleKind, VehicleStatus
from dispatch_engine.geo.boundaries import GUANGDONG_PROVINCE, SHAOGUAN_CITY, Boundaries
from dispatch_engine.network.compile import CompiledNetwork

# Share of a day's accidents per hour (Asia/Shanghai): low at night, peaks at 8-9 and 17-19.
HOURLY_WEIGHT = np.array([1, 0.6, 0.4, 0.4, 0.5, 1, 2.5, 4.5, 6, 5, 4.5, 4.5,
                          4, 4, 4.5, 5, 5.5, 6.5, 6, 4.5, 3.5, 3, 2, 1.5])


@dataclass(frozen=True)
class DayPlan:
    """How many incidents of each kind a replayed day has."""

    shaoguan: int = 48
    guangdong: int = 6
    national: int = 3
    injured_share: float = 0.1
    tow_share: float = 0.15
    crane_share: float = 0.03
    decline_share: float = 0.05
    on_scene_min: tuple[float, float] = (25.0, 60.0)
    call_after_min: tuple[float, float] = (0.5, 4.5)
    # Accidents per km of road, relative: busy arterials and town streets far above lanes.
    traffic_weight: tuple[tuple[str, float], ...] = (
        ("motorway", 8.0), ("motorway_link", 4.0), ("trunk", 8.0), ("primary", 6.0), ("secondary", 3.0),
        ("tertiary", 2.0), ("residential", 3.0), ("unclassified", 0.15),
    )


def synthetic_day(day: date, network: CompiledNetwork, boundaries: Boundaries, rng: np.random.Generator,
                  plan: DayPlan = DayPlan()) -> list[IncidentRequest]:
    """Incident reports for one day, sorted by time (ids ``D-HHMM-n``)."""
    points = _road_points(network, rng, plan)
    cities = boundaries.cities.properties
    guangdong = [c for c in cities if c["province"] == GUANGDONG_PROVINCE and c["name"] != SHAOGUAN_CITY]
    capitals = [c for c in cities if c["mainland"] and c["province"] != GUANGDONG_PROVINCE
                and str(c["adcode"]).endswith("0100")]
    for pool, count in ((guangdong, plan.guangdong), (capitals, plan.national)):
        for i in rng.choice(len(pool), count, replace=False):
            # within a few km of the centre, where most traffic is
            points.append((pool[i]["centre_lat"] + rng.normal(0, 0.02), pool[i]["centre_lon"] + rng.normal(0, 0.02)))
    hours = rng.choice(24, len(points), p=HOURLY_WEIGHT / HOURLY_WEIGHT.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, len(points))
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI_TZ)
    requests = []
    for k, ((lat, lon), sec) in enumerate(zip(points, seconds, strict=True)):
        injured = bool(rng.random() < plan.injured_share)
        roll = rng.random()
        needs = (VehicleKind.SURVEY,)
        if roll < plan.crane_share:
            needs += (VehicleKind.TOW_CRANE,)
        elif roll < plan.crane_share + plan.tow_share:
            needs += (VehicleKind.TOW_FLATBED,)
        at = start + timedelta(seconds=int(sec))
        requests.append(IncidentRequest(
            id=f"D-{at:%H%M}-{k}", lat=lat, lon=lon, reported_at=at, needs=needs, injured=injured,
            skills=frozenset({Skill.INJURY_CASE.value}) if injured else frozenset()))
    return sorted(requests, key=lambda r: (r.reported_at, r.id))


def _road_points(network: CompiledNetwork, rng: np.random.Generator, plan: DayPlan) -> list[tuple[float, float]]:
    """Points on roads, drawn in proportion to road length x the class's traffic weight."""
    weight_of = dict(plan.traffic_weight)
    class_weight = np.array([weight_of.get(c, 1.0) for c in network.road_classes])
    weight = network.edge_length_m * class_weight[network.edge_class]
    edges = rng.choice(network.n_edges, plan.shaoguan, p=weight / weight.sum())
    along = rng.random(plan.shaoguan)
    tail, head = network.edge_tail[edges], network.edge_head[edges]
    lat = network.node_lat[tail] + along * (network.node_lat[head] - network.node_lat[tail])
    lon = network.node_lon[tail] + along * (network.node_lon[head] - network.node_lon[tail])
    return [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


@dataclass
class DayResult:
    """Incidents as they ended, with the escalations raised along the way."""

    incidents: list[Incident] = field(default_factory=list)
    escalations: Counter = field(default_factory=Counter)

    def by_zone(self) -> dict[str, dict]:
        """Per zone: incidents, calls within 5 min, arrivals within the guarantee, ETA p50/p90."""
        groups: dict[str, list[Incident]] = defaultdict(list)
        for incident in self.incidents:
            groups[incident.zone.zone].append(incident)
        table = {}
        for zone in ("shaoguan", "guangdong", "national"):
            items = groups.get(zone, [])
            if not items:
                continue
            etas = [a.eta_s / 60 for i in items for a in i.active()]
            called = [i.called_at is not None and i.called_at <= i.call_due_at for i in items]
            arrived = [i.arrived_at is not None and i.arrived_at <= i.arrival_due_at for i in items]
            table[zone] = {
                "incidents": len(items),
                "calls_within_5_min": round(float(np.mean(called)), 3),
                "arrivals_within_guarantee": round(float(np.mean(arrived)), 3),
                "eta_min_p50": round(float(np.percentile(etas, 50)), 1) if etas else None,
                "eta_min_p90": round(float(np.percentile(etas, 90)), 1) if etas else None,
                "estimated_etas": sum(a.estimate for i in items for a in i.active()),
            }
        return table


def replay_day(dispatcher: Dispatcher, clock: ManualClock, requests: list[IncidentRequest],
               rng: np.random.Generator, plan: DayPlan = DayPlan()) -> DayResult:
    """Drive the dispatcher through the day: report, call, decline, arrive, finish, return."""
    queue: list[tuple[datetime, int, str, str, str | None]] = []
    counter = itertools.count()

    def push(at: datetime, kind: str, incident_id: str, vehicle_id: str | None = None) -> None:
        heapq.heappush(queue, (at, next(counter), kind, incident_id, vehicle_id))

    def follow(incident: Incident, known: set[str]) -> None:
        """Schedule what happens to vehicles newly assigned to ``incident``."""
        for a in incident.active():
            if a.vehicle_id in known:
                continue
            known.add(a.vehicle_id)
            if rng.random() < plan.decline_share:
                push(a.assigned_at + timedelta(minutes=1), "decline", incident.id, a.vehicle_id)
            else:
                push(a.assigned_at + timedelta(seconds=a.eta_s), "arrive", incident.id, a.vehicle_id)

    followed: dict[str, set[str]] = defaultdict(set)
    home_due: dict[str, datetime] = {}  # a vehicle's latest trip home; earlier ones are stale
    for request in requests:
        push(request.reported_at, "report", request.id)
    by_id = {r.id: r for r in requests}
    result = DayResult()
    while queue:
        at, _, kind, incident_id, vehicle_id = heapq.heappop(queue)
        clock.set(at)
        for e in dispatcher.check_escalations():
            result.escalations[str(e.kind)] += 1
        if kind == "report":
            incident = dispatcher.dispatch(by_id[incident_id])
            result.escalations.update(str(e.kind) for e in incident.escalations)
            push(at + timedelta(minutes=float(rng.uniform(*plan.call_after_min))), "call", incident_id)
        elif kind == "call":
            incident = dispatcher.record(incident_id, EventType.CALLED)
        elif kind == "decline":
            before = len(dispatcher.incident(incident_id).escalations)
            incident = dispatcher.record(incident_id, EventType.DECLINED, vehicle_id=vehicle_id)
            result.escalations.update(str(e.kind) for e in incident.escalations[before:])
        elif kind == "arrive":
            incident = dispatcher.record(incident_id, EventType.ARRIVED, vehicle_id=vehicle_id)
            push(at + timedelta(minutes=float(rng.uniform(*plan.on_scene_min))), "done", incident_id, vehicle_id)
        elif kind == "done":
            incident = dispatcher.record(incident_id, EventType.DONE, vehicle_id=vehicle_id)
            home_due[str(vehicle_id)] = at + _drive_home(dispatcher, vehicle_id)
            push(home_due[str(vehicle_id)], "home", incident_id, vehicle_id)
        elif home_due.get(str(vehicle_id)) == at:  # back at base, unless it took another job on the way
            _arrive_home(dispatcher, vehicle_id)
        if kind in ("done", "home"):  # a vehicle is free again: serve whoever waits
            waiting = [i for i in dispatcher.store.incidents() if i.status == IncidentStatus.OPEN]
            if waiting:
                dispatcher.surge()
                for waiter in waiting:
                    follow(dispatcher.incident(waiter.id), followed[waiter.id])
            continue
        if incident.status not in (IncidentStatus.DONE, IncidentStatus.CANCELLED):
            follow(incident, followed[incident_id])
    for e in dispatcher.check_escalations():
        result.escalations[str(e.kind)] += 1
    result.incidents = dispatcher.store.incidents()
    return result


def _drive_home(dispatcher: Dispatcher, vehicle_id: str | None) -> timedelta:
    fleet = dispatcher.store.fleet()
    vehicle = fleet.vehicle(str(vehicle_id))
    base = fleet.base(vehicle.base_id)
    route = dispatcher.router.route((vehicle.lat, vehicle.lon), (base.lat, base.lon))
    return timedelta(seconds=route.seconds)


def _arrive_home(dispatcher: Dispatcher, vehicle_id: str | None) -> None:
    fleet = dispatcher.store.fleet()
    vehicle = fleet.vehicle(str(vehicle_id))
    if vehicle.status != VehicleStatus.RETURNING:
        return
    base = fleet.base(vehicle.base_id)
    dispatcher.update_vehicle(vehicle.id, status=VehicleStatus.AVAILABLE, position=(base.lat, base.lon))
