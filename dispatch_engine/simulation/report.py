"""What a simulation run means for the promises: shares met, ETAs, vehicle utilisation.

Definitions (the planner's questions of SPEC §7):

* an incident *meets the guarantee* when its first vehicle is on scene by the zone's
  deadline (15 / 30 / 60 minutes from the report);
* its *ETA* is the minutes from the report to that first arrival, waiting for a free
  vehicle included; an incident no vehicle reached is *unserved*: it misses the
  guarantee and has no ETA;
* a vehicle's *utilisation* is the time it spent on jobs (from assignment until done,
  or until it declined) inside the simulated period, over the time it was on shift
  there. Own vehicles count for Shaoguan and for their base's district; partner-branch
  vehicles for the zone their branch is in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from dispatch_engine.dispatch.model import Incident
from dispatch_engine.fleet.model import WEEK_S, Fleet, Vehicle, merge_intervals, second_of_week
from dispatch_engine.geo.zones import ZONE_GUARANTEES
from dispatch_engine.simulation.des import SimulationResult

ZONES = ("shaoguan", "guangdong", "national")


@dataclass(frozen=True)
class Outcome:
    """One incident as the report sees it."""

    id: str
    lat: float
    lon: float
    zone: str
    district: str | None
    eta_min: float  # report to first vehicle on scene; nan when unserved
    met: bool
    handed_off: bool


def outcomes(result: SimulationResult) -> list[Outcome]:
    """Every incident's outcome, in report order."""
    handed = set(result.handed_off)
    found = []
    for incident in result.incidents:
        eta = _eta_min(incident)
        found.append(
            Outcome(
                id=incident.id,
                lat=incident.request.lat,
                lon=incident.request.lon,
                zone=incident.zone.zone,
                district=incident.zone.district,
                eta_min=eta,
                met=incident.arrived_at is not None
                and incident.arrived_at <= incident.arrival_due_at,
                handed_off=incident.id in handed,
            )
        )
    return found


def _eta_min(incident: Incident) -> float:
    if incident.arrived_at is None:
        return float("nan")
    return (incident.arrived_at - incident.request.reported_at).total_seconds() / 60.0


def share_within(result: SimulationResult, minutes: float, *, zone: str = "shaoguan") -> float:
    """Share of the zone's incidents with a first vehicle on scene within ``minutes``."""
    etas = np.array([o.eta_min for o in outcomes(result) if o.zone == zone])
    if etas.size == 0:
        return float("nan")
    return float(np.mean(np.nan_to_num(etas, nan=np.inf) <= minutes))


def summarize(
    result: SimulationResult,
    fleet: Fleet,
    *,
    period: tuple[datetime, datetime],
    base_zone: Mapping[str, str],
) -> dict:
    """The ``summary.json`` content: run facts, then per zone, district and vehicle kind.

    Parameters
    ----------
    result
        The simulation's result.
    fleet
        The fleet simulated (its shifts give the on-shift time).
    period
        ``[start, end)`` the incidents were drawn for; utilisation is measured inside it.
    base_zone
        Zone of each base (``shaoguan`` for own bases).
    """
    rows = outcomes(result)
    busy = _busy_s(result, period)
    on_shift = {v.id: on_shift_s(v, *period) for v in fleet.vehicles}
    by_zone = defaultdict(list)
    by_district = defaultdict(list)
    for row in rows:
        by_zone[row.zone].append(row)
        if row.zone == "shaoguan" and row.district is not None:
            by_district[row.district].append(row)
    zone_of_vehicle = {v.id: base_zone.get(v.base_id, "national") for v in fleet.vehicles}
    own = [v for v in fleet.vehicles if v.branch is None]
    district_of_base = {b.id: b.district for b in fleet.bases}
    zones = {}
    for zone in ZONES:
        vehicles = [v for v in fleet.vehicles if zone_of_vehicle[v.id] == zone]
        if by_zone.get(zone) or vehicles:
            zones[zone] = _group(by_zone.get(zone, []), vehicles, busy, on_shift, zone)
    districts = {}
    for district in sorted({*by_district, *(district_of_base[v.base_id] for v in own)}):
        vehicles = [v for v in own if district_of_base[v.base_id] == district]
        districts[district] = _group(
            by_district.get(district, []), vehicles, busy, on_shift, "shaoguan"
        )
    kinds = {}
    for kind in sorted({v.kind for v in own}):
        vehicles = [v for v in own if v.kind == kind]
        kinds[str(kind)] = {
            "vehicles": len(vehicles),
            "utilisation": _utilisation(vehicles, busy, on_shift),
        }
    wall_s = result.wall_s
    return {
        "run": {
            "incidents": len(rows),
            "served": sum(1 for r in rows if not np.isnan(r.eta_min)),
            "unserved": sum(1 for r in rows if np.isnan(r.eta_min)),
            "handed_off": len(result.handed_off),
            "interrupted": result.interrupted,
            "period_start": period[0].isoformat(),
            "period_end": period[1].isoformat(),
            "last_event": result.end.isoformat(),
            "events": result.events,
            "wall_s": round(wall_s, 2),
            "incidents_per_s": round(len(rows) / wall_s, 1) if wall_s > 0 else None,
            "processes": result.stretches,
        },
        "zones": zones,
        "districts": districts,
        "own_vehicle_kinds": kinds,
    }


def _group(
    rows: Sequence[Outcome],
    vehicles: Sequence[Vehicle],
    busy: Mapping[str, float],
    on_shift: Mapping[str, float],
    zone: str,
) -> dict:
    etas = np.array([r.eta_min for r in rows], dtype=np.float64)
    served = etas[~np.isnan(etas)]
    met = sum(r.met for r in rows)

    def percentile(q: float) -> float | None:
        return round(float(np.percentile(served, q)), 1) if served.size else None

    return {
        "guarantee_min": ZONE_GUARANTEES[zone].arrival_minutes,
        "incidents": len(rows),
        "met": met,
        "share_met": round(met / len(rows), 4) if rows else None,
        "unserved": int(np.isnan(etas).sum()),
        "handed_off": sum(r.handed_off for r in rows),
        "eta_min_p50": percentile(50),
        "eta_min_p90": percentile(90),
        "eta_min_p99": percentile(99),
        "vehicles": len(vehicles),
        "utilisation": _utilisation(vehicles, busy, on_shift),
    }


def _utilisation(
    vehicles: Iterable[Vehicle], busy: Mapping[str, float], on_shift: Mapping[str, float]
) -> float | None:
    ids = [v.id for v in vehicles]
    shift_s = sum(on_shift[i] for i in ids)
    if shift_s <= 0:
        return None
    return round(sum(busy.get(i, 0.0) for i in ids) / shift_s, 4)


def _busy_s(result: SimulationResult, period: tuple[datetime, datetime]) -> dict[str, float]:
    """Seconds each vehicle spent on jobs inside the period."""
    start, end = period
    busy: dict[str, float] = defaultdict(float)
    for job in result.busy:
        overlap = (min(job.end, end) - max(job.start, start)).total_seconds()
        if overlap > 0:
            busy[job.vehicle_id] += overlap
    return busy


def on_shift_s(vehicle: Vehicle, start: datetime, end: datetime) -> float:
    """Seconds of ``[start, end)`` covered by the vehicle's shifts."""
    intervals = merge_intervals(
        piece for shift in vehicle.shifts for piece in shift.week_intervals_s
    )
    week = start - timedelta(seconds=second_of_week(start))  # Monday 00:00 local
    total = 0.0
    while week < end:
        for begin, finish in intervals:
            a = max(week + timedelta(seconds=begin), start)
            b = min(week + timedelta(seconds=finish), end)
            total += max((b - a).total_seconds(), 0.0)
        week += timedelta(seconds=WEEK_S)
    return total
