"""A realistic day of incidents replayed through the production dispatcher.

``make run``'s main job: it shows, on the embedded default, what the dispatcher decides
over a day and whether the promises hold. Incidents fall where the roads are (network
nodes, so dense in the towns), at a daily rhythm with morning and evening peaks; a few
happen elsewhere in Guangdong and in other provinces, where partner branches serve.
The replay drives the dispatcher's own lifecycle (call, arrival, done, return to base)
on a manual clock with the coverage simulation's engine (``des.py``), so every number
comes from the code dispatchers use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from dispatch_engine.dispatch.model import Incident, IncidentRequest
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.model import SHANGHAI_TZ, Skill, VehicleKind
from dispatch_engine.geo.boundaries import Boundaries
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.simulation.demand import (
    Response,
    Uniform,
    elsewhere_points,
    road_points,
    script,
)
from dispatch_engine.simulation.des import simulate

# Share of a day's accidents per hour (Asia/Shanghai): low at night, peaks at 8-9 and 17-19.
HOURLY_WEIGHT = np.array(
    [
        1,
        0.6,
        0.4,
        0.4,
        0.5,
        1,
        2.5,
        4.5,
        6,
        5,
        4.5,
        4.5,
        4,
        4,
        4.5,
        5,
        5.5,
        6.5,
        6,
        4.5,
        3.5,
        3,
        2,
        1.5,
    ]
)


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
        ("motorway", 8.0),
        ("motorway_link", 4.0),
        ("trunk", 8.0),
        ("primary", 6.0),
        ("secondary", 3.0),
        ("tertiary", 2.0),
        ("residential", 3.0),
        ("unclassified", 0.15),
    )


def synthetic_day(
    day: date,
    network: CompiledNetwork,
    boundaries: Boundaries,
    rng: np.random.Generator,
    plan: DayPlan = DayPlan(),
) -> list[IncidentRequest]:
    """Incident reports for one day, sorted by time (ids ``D-HHMM-n``)."""
    lat, lon = road_points(network, rng, plan.shaoguan, plan.traffic_weight)
    away_lat, away_lon = elsewhere_points(
        boundaries, rng, plan.guangdong, plan.national, replace=False
    )
    points = list(
        zip(np.concatenate([lat, away_lat]), np.concatenate([lon, away_lon]), strict=True)
    )
    hours = rng.choice(24, len(points), p=HOURLY_WEIGHT / HOURLY_WEIGHT.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, len(points))
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI_TZ)
    requests = []
    for k, ((lat_k, lon_k), sec) in enumerate(zip(points, seconds, strict=True)):
        injured = bool(rng.random() < plan.injured_share)
        roll = rng.random()
        needs: tuple[VehicleKind, ...] = (VehicleKind.SURVEY,)
        if roll < plan.crane_share:
            needs += (VehicleKind.TOW_CRANE,)
        elif roll < plan.crane_share + plan.tow_share:
            needs += (VehicleKind.TOW_FLATBED,)
        at = start + timedelta(seconds=int(sec))
        requests.append(
            IncidentRequest(
                id=f"D-{at:%H%M}-{k}",
                lat=float(lat_k),
                lon=float(lon_k),
                reported_at=at,
                needs=needs,
                injured=injured,
                skills=frozenset({Skill.INJURY_CASE.value}) if injured else frozenset(),
            )
        )
    return sorted(requests, key=lambda r: (r.reported_at, r.id))


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


def replay_day(
    dispatcher: Dispatcher,
    clock: ManualClock,
    requests: list[IncidentRequest],
    rng: np.random.Generator,
    plan: DayPlan = DayPlan(),
) -> DayResult:
    """Drive the dispatcher through the day (the simulation engine of ``des.py``)."""
    response = Response(
        call_after=Uniform(*plan.call_after_min),
        decline_share=plan.decline_share,
        on_scene=tuple((kind, Uniform(*plan.on_scene_min)) for kind in VehicleKind),
    )
    result = simulate(dispatcher, clock, script(requests, response, rng))
    escalations = Counter(str(e.kind) for i in result.incidents for e in i.escalations)
    return DayResult(list(result.incidents), escalations)
