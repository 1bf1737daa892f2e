"""Rank dispatch candidates by travel time to an incident.

Every candidate competes on the same clock: road time when both the vehicle and the
incident are on the road network, the flagged great-circle estimate otherwise (partner
branches in other cities, incidents outside Shaoguan). Vehicle positions are located
once and reused until a position changes, so a decision costs one reverse Dijkstra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch_engine.fleet.model import Vehicle
from dispatch_engine.network.engine import Points
from dispatch_engine.network.router import Router
from dispatch_engine.network.snap import Snapped


@dataclass(frozen=True)
class Candidate:
    vehicle: Vehicle
    eta_s: float
    estimate: bool


@dataclass(frozen=True, eq=False)
class LocatedFleet:
    """Positions of a set of vehicles: snapped to roads where possible, points otherwise."""

    ids: tuple[str, ...]
    on_road: np.ndarray  # bool per vehicle
    snapped: Snapped  # the on-road vehicles, in order
    points: Points  # every vehicle's WGS-84 position

    def subset(self, vehicles: Sequence[Vehicle]) -> LocatedFleet:
        """The located positions of some of the vehicles, in the given order."""
        row_of = {vid: i for i, vid in enumerate(self.ids)}
        rows = np.array([row_of[v.id] for v in vehicles], dtype=np.int64)
        road = rows[self.on_road[rows]]
        return LocatedFleet(
            tuple(self.ids[i] for i in rows),
            self.on_road[rows],
            self.snapped.take(np.cumsum(self.on_road)[road] - 1),
            self.points.take(rows),
        )


class FleetLocator:
    """Locates vehicle positions, caching the result while no position changes."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._key: tuple | None = None
        self._located: LocatedFleet | None = None

    def locate(self, vehicles: Sequence[Vehicle]) -> LocatedFleet:
        key = tuple((v.id, v.lat, v.lon) for v in vehicles)
        if key != self._key or self._located is None:
            lat = np.array([v.lat for v in vehicles], dtype=np.float64)
            lon = np.array([v.lon for v in vehicles], dtype=np.float64)
            # coarse partner-branch positions never count as on the road network
            coarse = np.array([v.position_is_estimate for v in vehicles], dtype=bool)
            found, snapped = self.router.road.locate_where_possible(lat, lon)
            if coarse.any():
                keep = ~coarse[found]
                found = found & ~coarse
                snapped = snapped.take(np.flatnonzero(keep))
            self._located = LocatedFleet(
                tuple(v.id for v in vehicles), found, snapped, Points(lat, lon)
            )
            self._key = key
        return self._located


def eta_matrix(
    router: Router, fleet: LocatedFleet, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from every located vehicle to every incident (vehicles x incidents).

    Returns the matrix and a same-shaped bool array telling which entries are estimates.
    """
    lat = np.atleast_1d(lat)
    lon = np.atleast_1d(lon)
    eta = np.empty((len(fleet.ids), lat.size))
    estimate = np.ones_like(eta, dtype=bool)
    incident_found, incident_snapped = router.road.locate_where_possible(lat, lon)
    fallback = router.fallback
    eta[:] = fallback.many_to_many(fleet.points, Points(lat, lon))
    road_vehicles = np.flatnonzero(fleet.on_road)
    road_incidents = np.flatnonzero(incident_found)
    if road_vehicles.size and road_incidents.size:
        if road_incidents.size == 1:  # one reverse search instead of one per vehicle
            times = router.road.many_to_one(fleet.snapped, incident_snapped)[:, None]
        else:
            times = router.road.many_to_many(fleet.snapped, incident_snapped)
        eta[np.ix_(road_vehicles, road_incidents)] = times
        estimate[np.ix_(road_vehicles, road_incidents)] = False
    return eta, estimate


def rank(
    router: Router,
    fleet: LocatedFleet,
    vehicles: Sequence[Vehicle],
    lat: float,
    lon: float,
    *,
    horizon_s: float = np.inf,
) -> list[Candidate]:
    """Candidates (a subset of the located fleet) within ``horizon_s``, by ETA then id."""
    if not vehicles:
        return []
    eta, estimate = eta_matrix(router, fleet.subset(vehicles), np.array([lat]), np.array([lon]))
    candidates = [
        Candidate(v, float(eta[i, 0]), bool(estimate[i, 0])) for i, v in enumerate(vehicles)
    ]
    return sorted(
        (c for c in candidates if c.eta_s <= horizon_s), key=lambda c: (c.eta_s, c.vehicle.id)
    )
