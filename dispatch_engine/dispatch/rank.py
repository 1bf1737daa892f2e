"""Rank dispatch candidates by travel time to an incident.

Every candidate competes on the same clock: road time when both the vehicle and the
incident are on the road network, the flagged great-circle estimate otherwise (partner
branches in other cities, incidents outside Shaoguan).

What a decision costs is kept to one bounded search plus numpy over the fleet:

* vehicle positions are located once; afterwards only vehicles that moved are located
  again, and positions seen recently (bases, incident sites a vehicle drives to) are
  not snapped twice (the road engine remembers them);
* candidates are rows of the fleet, filtered and ranked in numpy, so the partner network
  (hundreds of vehicles) costs no Python loop per vehicle;
* searches stop at the dispatcher's horizon: vehicles beyond it are never candidates.

Which candidate comes first is the dispatcher's plug-in (:class:`Ranking`): road ETA in
production, straight-line distance as the baseline benchmarks measure it against
(:class:`DispatchPolicy` bundles the ranking with how waiting incidents are assigned).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

import numpy as np

from dispatch_engine.fleet.model import Vehicle
from dispatch_engine.network.engine import Points, haversine_m
from dispatch_engine.network.router import LocatedPoints, Router, locate_points
from dispatch_engine.network.snap import Snapped


@dataclass(frozen=True)
class Candidate:
    vehicle: Vehicle
    eta_s: float
    estimate: bool


@dataclass(frozen=True, eq=False)
class LocatedFleet:
    """Positions of a set of vehicles: snapped to roads where possible, points otherwise."""

    ids: np.ndarray  # object array of vehicle ids (numpy: a subset is one fancy index)
    on_road: np.ndarray  # bool per vehicle
    snapped: Snapped  # the on-road vehicles, in order
    points: Points  # every vehicle's WGS-84 position

    @cached_property
    def _row_of(self) -> dict[str, int]:
        return dict(zip(self.ids.tolist(), range(self.ids.size), strict=True))

    @cached_property
    def _snapped_row(self) -> np.ndarray:
        """Each on-road vehicle's row in ``snapped``."""
        return np.cumsum(self.on_road) - 1

    def subset(self, vehicles: Sequence[Vehicle]) -> LocatedFleet:
        """The located positions of some of the vehicles, in the given order."""
        row_of = self._row_of
        return self.take(np.array([row_of[v.id] for v in vehicles], dtype=np.int64))

    def take(self, rows: np.ndarray) -> LocatedFleet:
        """The located positions of the vehicles at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        road = rows[self.on_road[rows]]
        return LocatedFleet(
            self.ids[rows],
            self.on_road[rows],
            self.snapped.take(self._snapped_row[road]),
            self.points.take(rows),
        )


class FleetLocator:
    """Locates vehicle positions; a call after a few moves locates only those vehicles.

    Vehicles are immutable values, so one that did not change is the same object as in
    the previous call: comparing identities finds the few that changed without reading
    every position.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self._vehicles: tuple[Vehicle, ...] = ()
        self._located: LocatedFleet | None = None

    def locate(self, vehicles: Sequence[Vehicle]) -> LocatedFleet:
        vehicles = tuple(vehicles)
        previous, located = self._vehicles, self._located
        if located is None or len(vehicles) != len(previous):
            return self._remember(vehicles, self._locate_all(vehicles))
        changed = np.flatnonzero(
            np.fromiter(map(operator.is_not, vehicles, previous), dtype=bool, count=len(vehicles))
        ).tolist()
        if any(vehicles[i].id != previous[i].id for i in changed):
            return self._remember(vehicles, self._locate_all(vehicles))
        moved = [i for i in changed if _position(vehicles[i]) != _position(previous[i])]
        if moved:
            located = self._relocate(located, vehicles, np.array(moved, dtype=np.int64))
        return self._remember(vehicles, located)

    def locate_site(self, lat: float, lon: float) -> LocatedPoints:
        """Locate one incident site (the road engine remembers it for the vehicles that
        will drive there)."""
        return locate_points(self.router, lat, lon)

    def _remember(self, vehicles: tuple[Vehicle, ...], located: LocatedFleet) -> LocatedFleet:
        self._vehicles, self._located = vehicles, located
        return located

    def _locate_some(self, vehicles: Sequence[Vehicle]) -> tuple[Points, np.ndarray, Snapped]:
        """Positions of ``vehicles``: (points, on-road mask, the on-road ones snapped)."""
        lat = np.array([v.lat for v in vehicles], dtype=np.float64)
        lon = np.array([v.lon for v in vehicles], dtype=np.float64)
        found, snapped = self.router.road.locate_where_possible(lat, lon)
        # coarse partner-branch positions never count as on the road network
        coarse = np.array([v.position_is_estimate for v in vehicles], dtype=bool)
        if not (coarse & found).any():  # the usual case: no snapped point to drop
            return Points(lat, lon), found, snapped
        on_road = found & ~coarse
        return Points(lat, lon), on_road, snapped.take(on_road[found])

    def _locate_all(self, vehicles: tuple[Vehicle, ...]) -> LocatedFleet:
        points, on_road, snapped = self._locate_some(vehicles)
        ids = np.array([v.id for v in vehicles], dtype=object)
        return LocatedFleet(ids, on_road, snapped, points)

    def _relocate(
        self, located: LocatedFleet, vehicles: tuple[Vehicle, ...], rows: np.ndarray
    ) -> LocatedFleet:
        """``located`` with the vehicles at ``rows`` located again."""
        points, found, snapped = self._locate_some([vehicles[i] for i in rows])
        lat, lon = located.points.lat.copy(), located.points.lon.copy()
        lat[rows], lon[rows] = points.lat, points.lon
        if np.array_equal(found, located.on_road[rows]):
            # the usual move, road to road: the same rows of ``snapped``, new values
            relocated = dataclasses.replace(
                located,
                snapped=located.snapped.updated(located._snapped_row[rows[found]], snapped),
                points=Points(lat, lon),
            )
            relocated.__dict__["_snapped_row"] = located._snapped_row
        else:
            on_road = located.on_road.copy()
            on_road[rows] = found
            # each on-road vehicle's row in the old and new snapped rows, concatenated
            source = np.cumsum(located.on_road) - 1
            source[rows[found]] = len(located.snapped) + np.arange(len(snapped))
            relocated = dataclasses.replace(
                located,
                on_road=on_road,
                snapped=Snapped.concat([located.snapped, snapped]).take(source[on_road]),
                points=Points(lat, lon),
            )
        # the same vehicles in the same rows: keep the id lookup instead of rebuilding it
        relocated.__dict__["_row_of"] = located._row_of
        return relocated


def _position(vehicle: Vehicle) -> tuple[float, float, bool]:
    return vehicle.lat, vehicle.lon, vehicle.position_is_estimate


def eta_matrix(
    router: Router,
    fleet: LocatedFleet,
    incidents: LocatedPoints,
    *,
    cutoff_s: float | None = None,
    at: datetime | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from every located vehicle to every incident (vehicles x incidents).

    Returns the matrix and a same-shaped bool array telling which entries are estimates.
    Entries beyond ``cutoff_s`` are ``inf``; the searches stop there, which is what makes
    a bounded query cheap. ``at`` is the departure time: road times follow the speed
    profile of that hour (free flow without it).
    """
    road_vehicles = np.flatnonzero(fleet.on_road)
    road_incidents = np.flatnonzero(incidents.found)
    if road_vehicles.size == fleet.on_road.size and road_incidents.size == incidents.found.size:
        # all on the road network (a dispatch in the city): no estimate is kept
        eta = np.empty((road_vehicles.size, road_incidents.size))
    else:
        eta = router.fallback.many_to_many(fleet.points, incidents.points, cutoff_s=cutoff_s)
    estimate = np.ones_like(eta, dtype=bool)
    if road_vehicles.size and road_incidents.size:
        road = router.road
        if road_incidents.size == 1:  # one reverse search instead of one per vehicle
            column = int(road_incidents[0])
            eta[road_vehicles, column] = road.many_to_one(
                fleet.snapped, incidents.snapped, cutoff_s=cutoff_s, at=at
            )
            estimate[road_vehicles, column] = False
        else:
            times = road.many_to_many(fleet.snapped, incidents.snapped, cutoff_s=cutoff_s, at=at)
            eta[np.ix_(road_vehicles, road_incidents)] = times
            estimate[np.ix_(road_vehicles, road_incidents)] = False
    return eta, estimate


class Ranking(Protocol):
    """The order in which the dispatcher offers a job to candidates: lower keys first.

    A ranking only orders the vehicles the dispatcher may send (those within its horizon
    by road); whichever it picks drives the road, and the assignment records that
    vehicle's road ETA, so rankings are compared on real arrivals.
    """

    def keys(self, eta_s: np.ndarray, vehicles: Points, sites: Points) -> np.ndarray:
        """Preference keys, vehicles x sites, shaped like ``eta_s`` (road seconds)."""
        ...


@dataclass(frozen=True)
class ByRoadEta:
    """Nearest by road travel time from the current position: production (SPEC §5)."""

    def keys(self, eta_s: np.ndarray, vehicles: Points, sites: Points) -> np.ndarray:
        return eta_s


@dataclass(frozen=True)
class ByStraightLine:
    """Nearest as the crow flies: what a dispatcher with a map and no router would send.

    The baseline of the guarantee benchmarks; rivers, mountains and one-way streets make
    it send the wrong car where the road detours.
    """

    def keys(self, eta_s: np.ndarray, vehicles: Points, sites: Points) -> np.ndarray:
        return haversine_m(
            vehicles.lat[:, None], vehicles.lon[:, None], sites.lat[None, :], sites.lon[None, :]
        )


BY_ROAD_ETA = ByRoadEta()


@dataclass(frozen=True)
class DispatchPolicy:
    """How the dispatcher chooses: the candidate ranking, and how a queue is served.

    A report is always served at once, by the first candidate of ``ranking`` that the
    store lets the dispatcher claim. Incidents left waiting (no vehicle of a kind they
    need was free) are assigned when vehicles free up: jointly with OR-tools when
    ``joint`` (the surge optimizer, SPEC §5), else one by one, injury cases first, then
    earliest deadline, each taking its first free candidate of ``ranking``.
    """

    name: str
    ranking: Ranking = BY_ROAD_ETA
    joint: bool = True


# The production policy, and the two baselines the benchmarks measure it against.
OPTIMIZER = DispatchPolicy("optimizer")
GREEDY_ROAD = DispatchPolicy("greedy_road", joint=False)
STRAIGHT_LINE = DispatchPolicy("straight_line", ranking=ByStraightLine(), joint=False)
POLICIES = {p.name: p for p in (OPTIMIZER, GREEDY_ROAD, STRAIGHT_LINE)}


def rank(
    router: Router,
    fleet: LocatedFleet,
    vehicles: Sequence[Vehicle],
    lat: float,
    lon: float,
    *,
    horizon_s: float = np.inf,
    at: datetime | None = None,
) -> list[Candidate]:
    """Candidates (a subset of the located fleet) within ``horizon_s``, by ETA then id."""
    if not vehicles:
        return []
    eta, estimate = _etas(
        router, fleet.subset(vehicles), locate_points(router, lat, lon), horizon_s, at
    )
    within = np.flatnonzero(eta <= horizon_s)
    candidates = [Candidate(vehicles[int(i)], float(eta[i]), bool(estimate[i])) for i in within]
    return sorted(candidates, key=lambda c: (c.eta_s, c.vehicle.id))


@dataclass(frozen=True, eq=False)
class SiteEtas:
    """Every vehicle of a located fleet to one site: ETA (inf beyond the horizon) and
    whether it is an estimate, from one bounded search.

    Why: a decision ranks several subsets of the fleet (each needed kind, the A/B
    partner first) for the same site at the same moment; one search over every located
    vehicle answers them all, and keeps the road engine's pinned sources the same from
    one decision to the next until a vehicle moves (a status change re-pins nothing).
    """

    fleet: LocatedFleet
    site: LocatedPoints
    eta_s: np.ndarray
    estimate: np.ndarray

    @classmethod
    def search(
        cls,
        router: Router,
        fleet: LocatedFleet,
        site: LocatedPoints,
        *,
        horizon_s: float = np.inf,
        at: datetime | None = None,
    ) -> SiteEtas:
        return cls(fleet, site, *_etas(router, fleet, site, horizon_s, at))


def rank_rows(
    vehicles: Sequence[Vehicle],
    rows: np.ndarray,
    etas: SiteEtas,
    *,
    horizon_s: float = np.inf,
    ranking: Ranking = BY_ROAD_ETA,
) -> Iterator[Candidate]:
    """:func:`rank` for the vehicles at ``rows`` of a fleet located in ``vehicles``' order,
    which must be id order (a ``Fleet``'s), lazily: candidates are made as they are read.

    Why: the dispatcher filters the fleet by rows (``Fleet.available_rows``), has the
    site's ETAs already, and usually takes the first candidate; sorting rows in numpy
    spares an object per vehicle in reach. ``ranking`` orders the candidates (ties by
    id); each still carries its road ETA.
    """
    if len(rows) == 0:
        return
    rows = np.asarray(rows, dtype=np.int64)
    eta, estimate = etas.eta_s[rows], etas.estimate[rows]
    within = np.flatnonzero(eta <= horizon_s)
    points = etas.fleet.points.take(rows[within])
    key = ranking.keys(eta[within, None], points, etas.site.points)[:, 0]
    # rows ascend with the vehicle id, so (key, row) is the (key, id) order
    for i in within[np.lexsort((rows[within], key))]:
        yield Candidate(vehicles[int(rows[i])], float(eta[i]), bool(estimate[i]))


def _etas(
    router: Router,
    fleet: LocatedFleet,
    site: LocatedPoints,
    horizon_s: float,
    at: datetime | None,
) -> tuple[np.ndarray, np.ndarray]:
    """ETA to the one site per vehicle, and whether it is an estimate; search bounded."""
    cutoff = None if np.isinf(horizon_s) else horizon_s
    eta, estimate = eta_matrix(router, fleet, site, cutoff_s=cutoff, at=at)
    return eta[:, 0], estimate[:, 0]
