"""Travel-time engines: exact road times on a compiled network, and a flagged estimate.

Every engine implements :class:`TravelTimeEngine`: ``locate`` points once (a fleet can
stay located while only its subset changes), then ask one-to-many, many-to-one,
many-to-many (with an optional cutoff) or a route for one pair. Times are seconds,
distances metres; unreachable or beyond-cutoff pairs are ``inf``. An optional ``at``
(timezone-aware) picks the hour of the engine's speed profile; without it, or without
a profile, times are free flow.

Two road engines share :class:`CoreEngine`: both search the contracted core graph
(see ``compile.py``) and differ only in how. Points are not graph nodes: each point
has up to three ways onto the core graph (drive ahead to either end of the chain it
sits on, or leave from the junction it is exactly at) and as many ways off it, so a
query searches between junctions and adds each point's own seconds in numpy.

* :class:`RoadEngine` runs scipy's Dijkstra with one *virtual node* per searched
  point; the base arrays are shared and never modified. It is the reference.
* ``cch.CCHEngine`` answers the same searches from a customizable contraction
  hierarchy (the default engine, much faster).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import dijkstra

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.crs import validate_lat_lon
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.profiles import (
    SpeedProfile,
    TrafficModel,
    TrafficTimes,
    profile_from_settings,
)
from dispatch_engine.network.snap import SnapMemo, Snapped, Snapper
from dispatch_engine.settings import Settings

EARTH_RADIUS_M = 6_371_008.8
# Sources per Dijkstra call in many-to-many: bounds the (sources x core nodes) block.
_SOURCE_BLOCK = 64
# Traffic states (free flow, profile hours) kept ready: the default profile has 39.
_MAX_TRAFFIC_STATES = 48
# Calls locating at most this many points go through the memo of snaps (a dispatch
# decision's few moved vehicles, a site, the repair shops); bigger batches (a whole
# fleet, a planner's matrix) are snapped directly, without evicting those.
_MEMO_BATCH = 32
# Origin x destination pairs up to which same-chain times are compared all at once.
_BROADCAST_PAIRS = 2048


@dataclass(frozen=True)
class Route:
    """The fastest path for one pair: what a dispatcher's map draws."""

    seconds: float
    meters: float
    estimate: bool
    geometry: list[tuple[float, float]]  # (lat, lon) WGS-84, from origin to destination
    nodes: list[int]  # source-graph node ids driven through (empty for estimates)


@dataclass(frozen=True)
class Reach:
    """The points of a set that reach a destination in time, fastest first (ties by index)."""

    index: np.ndarray  # int64 positions in the queried point set
    eta_s: np.ndarray  # float64 seconds, aligned with ``index``


class TravelTimeEngine(Protocol):
    """What dispatch and planning need from travel times, whatever computes them."""

    estimate: bool

    def locate(self, lat: np.ndarray | float, lon: np.ndarray | float) -> object: ...

    def one_to_many(
        self,
        origin: object,
        destinations: object,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray: ...

    def many_to_one(
        self,
        origins: object,
        destination: object,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray: ...

    def many_to_many(
        self,
        origins: object,
        destinations: object,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray: ...

    def route(
        self,
        origin: object,
        destination: object,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> Route: ...


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> Any:
    """Great-circle distance in metres, broadcast over arrays (a NumPy float for four
    numbers, an array otherwise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(np.subtract(lon2, lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    # rounding may leave ``a`` a hair outside [0, 1] (np.clip: the same, slower on small arrays)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(np.maximum(a, 0.0), 1.0)))


@dataclass(frozen=True, eq=False)
class Points:
    """Validated WGS-84 points: what the estimate engine locates to."""

    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return int(self.lat.size)

    def take(self, index: np.ndarray | list[int] | slice) -> Points:
        return Points(self.lat[index], self.lon[index])


_CHECK_ONE_BY_ONE = 8  # points: up to this many, a Python check is quicker than numpy's


def as_points(lat: np.ndarray | float, lon: np.ndarray | float) -> Points:
    """Validate coordinates (naming the bad field) and wrap them as arrays."""
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    # a few points one by one; many in numpy, then one by one only to name the bad one
    if lat_a.size > _CHECK_ONE_BY_ONE and lat_a.shape == lon_a.shape:
        in_range = (np.abs(lat_a) <= 90.0) & (np.abs(lon_a) <= 180.0)  # False for nan
        if in_range.all():
            return Points(lat_a, lon_a)
    for la, lo in zip(lat_a.tolist(), lon_a.tolist(), strict=True):
        validate_lat_lon(la, lo)
    return Points(lat_a, lon_a)


class EstimateEngine:
    """Great-circle distance x detour factor / speed: for trips outside the road network.

    Used in Guangdong outside Shaoguan and nationally, from partner branches; every
    answer it gives is flagged ``estimate``. The two constants live in ``Settings``.
    Estimates have no time of day: ``at`` is accepted so every engine answers the
    same calls, and does not change the answer.
    """

    estimate = True

    def __init__(self, *, detour_factor: float, speed_kph: float) -> None:
        self.detour_factor = detour_factor
        self.speed_mps = speed_kph / 3.6

    @classmethod
    def from_settings(cls, settings: Settings) -> EstimateEngine:
        return cls(
            detour_factor=settings.estimate_detour_factor, speed_kph=settings.estimate_speed_kph
        )

    def locate(self, lat: np.ndarray | float, lon: np.ndarray | float) -> Points:
        return as_points(lat, lon)

    def meters(self, origins: Points, destinations: Points) -> np.ndarray:
        """Estimated road metres, origins x destinations."""
        return self.detour_factor * haversine_m(
            origins.lat[:, None],
            origins.lon[:, None],
            destinations.lat[None, :],
            destinations.lon[None, :],
        )

    def many_to_many(
        self,
        origins: Points,
        destinations: Points,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        seconds = self.meters(origins, destinations) / self.speed_mps
        return _apply_cutoff(seconds, cutoff_s)

    def one_to_many(
        self,
        origin: Points,
        destinations: Points,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        return self.many_to_many(origin, destinations, cutoff_s=cutoff_s)[0]

    def many_to_one(
        self,
        origins: Points,
        destination: Points,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        return self.many_to_many(origins, destination, cutoff_s=cutoff_s)[:, 0]

    def route(
        self,
        origin: Points,
        destination: Points,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> Route:
        meters = float(self.meters(origin, destination)[0, 0])
        return Route(
            seconds=meters / self.speed_mps,
            meters=meters,
            estimate=True,
            geometry=[
                (float(origin.lat[0]), float(origin.lon[0])),
                (float(destination.lat[0]), float(destination.lon[0])),
            ],
            nodes=[],
        )


def _apply_cutoff(seconds: np.ndarray, cutoff_s: float | None) -> np.ndarray:
    if cutoff_s is not None:
        seconds = np.where(seconds <= cutoff_s, seconds, np.inf)
    return seconds


@dataclass(frozen=True)
class CorePath:
    """A fastest path between two junctions of the core graph, as an engine found it."""

    first: int  # core junction where the path leaves the origin's options
    last: int  # core junction where it reaches the destination's options
    chains: np.ndarray  # chain ids driven, in order (empty when first == last)
    core_s: float  # seconds from ``first`` to ``last``


class CoreEngine(ABC):
    """What both road engines share: snapping, the core graph, points on and off it.

    A subclass says how to search between junctions under one *traffic state* (free
    flow or one hour of the speed profile): :meth:`_customize` prepares a state,
    :meth:`_forward`, :meth:`_reverse` and :meth:`_path` search it. Everything about
    points (their ways onto and off the core graph, two points on the same chain, the
    off-road legs, cutoffs, route geometry) is here, once.
    """

    estimate = False
    # Round core weights and each point's seconds to and from the core graph to whole
    # milliseconds (the CCH engine's integer weights).
    integer_ms = False

    def __init__(
        self,
        network: CompiledNetwork,
        *,
        snap_max_m: float,
        offroad_speed_kph: float,
        profile: SpeedProfile | None = None,
    ) -> None:
        self.network = network
        self.snapper = Snapper(network, snap_max_m=snap_max_m)
        self.snaps = SnapMemo(self.snapper)
        self.offroad_mps = offroad_speed_kph / 3.6
        self.traffic = TrafficModel(network, profile)
        net = network
        core = np.unique(np.concatenate([net.chain_tail, net.chain_head]))
        self._core_of = np.full(net.n_nodes, -1, dtype=np.int64)
        self._core_of[core] = np.arange(core.size)
        self.core_node = core  # source-graph node of each core junction
        self.n_core = int(core.size)
        self._chain_tail_core = self._core_of[net.chain_tail]
        self._chain_head_core = self._core_of[net.chain_head]
        # Core arcs: every chain except loops (a loop never shortens a path).
        self.arc_chain = np.flatnonzero(self._chain_tail_core != self._chain_head_core)
        self.arc_tail = self._chain_tail_core[self.arc_chain]
        self.arc_head = self._chain_head_core[self.arc_chain]
        self._edge_tail = net.edge_tail
        self._states: OrderedDict[tuple[float, ...], Any] = OrderedDict()
        self._states_lock = threading.Lock()
        # The last origins searched towards fewer destinations, with their options in a
        # traffic state: (origins, state, options); see ``_origin_options``.
        self._last_origins: tuple[Snapped, Any, Any] | None = None

    @classmethod
    def from_settings(cls, network: CompiledNetwork, settings: Settings) -> CoreEngine:
        """The engine with the settings' snapping, off-road speed and speed profile."""
        return cls(
            network,
            snap_max_m=settings.snap_max_m,
            offroad_speed_kph=settings.offroad_speed_kph,
            profile=profile_from_settings(settings),
        )

    # -- engine-specific searches ----------------------------------------------------

    @abstractmethod
    def _customize(self, times: TrafficTimes) -> Any:
        """Prepare searches under one traffic state; the result has a ``times`` field."""

    @abstractmethod
    def _forward(
        self,
        state: Any,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        """(points x junctions, each once) seconds from each point, leaving by
        its options ``(core[i, j] junction, cost[i, j] seconds to it)``, to each
        junction."""

    @abstractmethod
    def _reverse(
        self,
        state: Any,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        """(points x junctions, each once) seconds from each junction to each
        point, reaching it by its options ``(core[i, j] junction, cost[i, j] seconds
        from it)``."""

    @abstractmethod
    def _path(
        self,
        state: Any,
        departures: tuple[np.ndarray, np.ndarray],
        arrivals: tuple[np.ndarray, np.ndarray],
        cutoff_s: float | None,
    ) -> CorePath | None:
        """The fastest path from one point's departure options to another's arrivals."""

    # -- points ----------------------------------------------------------------------

    def locate(self, lat: np.ndarray | float, lon: np.ndarray | float) -> Snapped:
        """Validate and snap points (raises ``OffNetworkError`` if one is too far from roads)."""
        points = as_points(lat, lon)
        found, snapped = self.locate_where_possible(points.lat, points.lon)
        self.snapper.require_found(found, points.lat, points.lon)
        return snapped

    def locate_where_possible(
        self, lat: np.ndarray | float, lon: np.ndarray | float
    ) -> tuple[np.ndarray, Snapped]:
        """Snap the points near a road; returns (found mask, the snapped ones in order)."""
        points = as_points(lat, lon)
        if len(points) <= _MEMO_BATCH:
            return self.snaps.snap_where_possible(points.lat, points.lon)
        return self.snapper.snap_where_possible(points.lat, points.lon)

    def pin_locations(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """Snap positions that will be asked about one at a time, all now in one batch,
        and remember them (a planner's run knows every incident site in advance)."""
        points = as_points(lat, lon)
        self.snaps.pin(points.lat, points.lon)

    def prepare(self, *, at: datetime | None = None) -> None:
        """Get the traffic state of ``at`` ready now (e.g. at start-up or on the hour),
        so the first query of that hour does not pay for it."""
        self._state(at)

    def prepare_week(self) -> int:
        """Get every traffic state of the speed profile's week ready now (as many as
        are kept); returns how many there are.

        Why: a server or a planner's simulated year meets every hour of the week; each
        state prepared at start-up is one the first query of its hour does not wait for.
        """
        every = self.traffic.week_factors()
        for key in every[:_MAX_TRAFFIC_STATES]:
            self._state_of(key)
        return len(every)

    # -- queries ---------------------------------------------------------------------

    def many_to_many(
        self,
        origins: Snapped,
        destinations: Snapped,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        """Seconds, origins x destinations: one search per point of the smaller side."""
        n, m = len(origins), len(destinations)
        if n == 0 or m == 0:
            return np.full((n, m), np.inf)
        state = self._state(at)
        # Each junction the other side's points name is searched once (vehicles share
        # their base's: a search costs per junction), then lined up with the options.
        if n <= m:
            (dep_core, dep_cost), (arr_core, arr_cost), same = self._options(
                origins, destinations, state.times
            )
            junctions, each = np.unique(arr_core[arr_core >= 0], return_inverse=True)
            dist = self._forward(state, dep_core, dep_cost, junctions, cutoff_s)
            out = _combine(arr_core, arr_cost, dist[:, each].T).T
        else:
            pos_o, departures, junctions, each = self._origin_options(origins, state)
            (dep_core, dep_cost), (arr_core, arr_cost), same = self._options_from(
                origins, pos_o, departures, destinations, state.times
            )
            dist = self._reverse(state, arr_core, arr_cost, junctions, cutoff_s)
            out = _combine(dep_core, dep_cost, dist[:, each].T)
        out = np.minimum(out, same)
        out += (origins.offroad_m[:, None] + destinations.offroad_m[None, :]) / self.offroad_mps
        return _apply_cutoff(out, cutoff_s)

    def many_to_one(
        self,
        origins: Snapped,
        destination: Snapped,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        """Seconds from each origin to one destination: one reverse search."""
        return self.many_to_many(origins, destination, cutoff_s=cutoff_s, at=at)[:, 0]

    def one_to_many(
        self,
        origin: Snapped,
        destinations: Snapped,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> np.ndarray:
        """Seconds from one origin to each destination: one forward search."""
        return self.many_to_many(origin, destinations, cutoff_s=cutoff_s, at=at)[0]

    def reachable(
        self,
        origins: Snapped,
        destination: Snapped,
        *,
        within_s: float,
        at: datetime | None = None,
    ) -> Reach:
        """Every origin (e.g. each available vehicle) that reaches ``destination``
        within ``within_s`` seconds, fastest first, in one call: dispatch then ranks only
        vehicles that can matter.

        Raises ``InvalidInputError`` (field ``within_s``) for a negative or NaN time.
        """
        if not within_s >= 0:
            raise InvalidInputError(
                f"the time limit must be >= 0 seconds, got {within_s}", field="within_s"
            )
        seconds = self.many_to_one(origins, destination, cutoff_s=within_s, at=at)
        index = np.flatnonzero(np.isfinite(seconds))
        index = index[np.argsort(seconds[index], kind="stable")]
        return Reach(index=index, eta_s=seconds[index])

    def route(
        self,
        origin: Snapped,
        destination: Snapped,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> Route:
        """The fastest path for one pair, with node ids, geometry and length.

        A ``cutoff_s`` at or above the known travel time (e.g. from a matrix) bounds the
        search, which makes distances for chosen pairs cheap; beyond it the route is inf.
        """
        fastest = self._fastest(origin, destination, cutoff_s, at)
        if fastest is None:
            return Route(np.inf, np.inf, False, [], [])
        seconds, offroad_m, via = fastest
        if via is None:
            do, dd = self._same_chain_placements(origin, destination)
            nodes = self._chain_nodes(
                int(origin.chain[0, do]), from_s=origin.pos_s[0, do], to_s=destination.pos_s[0, dd]
            )
            meters = destination.pos_m[0, dd] - origin.pos_m[0, do]
            return self._route(origin, destination, seconds, float(meters) + offroad_m, nodes)
        path, departure, arrival = via
        nodes, meters = self._leg(origin, departure, leaving=True)
        nodes += self._chains_heads(path.chains)
        meters += float(self.network.chain_length_m[path.chains].sum())
        end_nodes, end_m = self._leg(destination, arrival, leaving=False)
        nodes += end_nodes[1:]
        return self._route(origin, destination, seconds, meters + end_m + offroad_m, nodes)

    def route_meters(
        self,
        origin: Snapped,
        destination: Snapped,
        *,
        cutoff_s: float | None = None,
        at: datetime | None = None,
    ) -> float:
        """:meth:`route`'s length alone (inf where it finds none), without the node list
        and geometry: what an assignment records, at a fraction of the cost."""
        fastest = self._fastest(origin, destination, cutoff_s, at)
        if fastest is None:
            return np.inf
        _, offroad_m, via = fastest
        if via is None:
            do, dd = self._same_chain_placements(origin, destination)
            return float(destination.pos_m[0, dd] - origin.pos_m[0, do]) + offroad_m
        path, departure, arrival = via
        meters = self._leg_m(origin, departure, leaving=True)
        meters += float(self.network.chain_length_m[path.chains].sum())
        return meters + self._leg_m(destination, arrival, leaving=False) + offroad_m

    def _fastest(
        self, origin: Snapped, destination: Snapped, cutoff_s: float | None, at: datetime | None
    ) -> tuple[float, float, tuple[CorePath, int, int] | None] | None:
        """The fastest way for one pair: (seconds, off-road metres, how), where how is
        (core path, departure option, arrival option), or None along one chain; None
        when there is no way (within ``cutoff_s``)."""
        state = self._state(at)
        offroad_m = float(origin.offroad_m[0] + destination.offroad_m[0])
        offroad_s = offroad_m / self.offroad_mps
        departures, arrivals, same_chain = self._options(origin, destination, state.times)
        dep_core, dep_cost = (a[0] for a in departures)
        arr_core, arr_cost = (a[0] for a in arrivals)
        same = float(same_chain[0, 0])
        path = self._path(state, (dep_core, dep_cost), (arr_core, arr_cost), cutoff_s)
        via_core = np.inf
        if path is not None:
            departure = int(np.argmin(np.where(dep_core == path.first, dep_cost, np.inf)))
            arrival = int(np.argmin(np.where(arr_core == path.last, arr_cost, np.inf)))
            via_core = float(dep_cost[departure] + path.core_s + arr_cost[arrival])
        best = min(same, via_core)
        if not np.isfinite(best) or (cutoff_s is not None and best + offroad_s > cutoff_s):
            return None
        if same <= via_core:
            return best + offroad_s, offroad_m, None
        assert path is not None  # via_core is finite
        return best + offroad_s, offroad_m, (path, departure, arrival)

    # -- internals -------------------------------------------------------------------

    def _state(self, at: datetime | None) -> Any:
        """The prepared traffic state for ``at`` (free flow without a profile or a time)."""
        return self._state_of(self.traffic.state_key(at))

    def _state_of(self, key: tuple[float, ...]) -> Any:
        """The prepared traffic state for one speed factor per road class."""
        with self._states_lock:
            state = self._states.get(key)
            if state is None:
                state = self._customize(self.traffic.times(np.array(key)))
                self._states[key] = state
                if len(self._states) > _MAX_TRAFFIC_STATES:
                    self._states.popitem(last=False)
            self._states.move_to_end(key)
        return state

    def _options(
        self, origins: Snapped, destinations: Snapped, times: TrafficTimes
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], np.ndarray]:
        """The origins' departures, the destinations' arrivals and the same-chain times,
        each point's position converted to the traffic state once."""
        pos_o = times.positions_s(origins.chain, origins.pos_s)
        departures = self._departures(origins, pos_o, times)
        return self._options_from(origins, pos_o, departures, destinations, times)

    def _options_from(
        self,
        origins: Snapped,
        pos_o: np.ndarray,
        departures: tuple[np.ndarray, np.ndarray],
        destinations: Snapped,
        times: TrafficTimes,
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], np.ndarray]:
        """:meth:`_options` with the origins' positions and departures worked out."""
        pos_d = times.positions_s(destinations.chain, destinations.pos_s)
        return (
            departures,
            self._arrivals(destinations, pos_d),
            _same_chain(origins.chain, pos_o, destinations.chain, pos_d),
        )

    def _origin_options(
        self, origins: Snapped, state: Any
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
        """The origins' positions in ``state``, their departures and the distinct
        junctions those name (with each option's index among them).

        Why: the same origins are searched again and again in one traffic state: a fleet
        that did not move between two decisions (the located fleet is then the same
        object), a run's incidents searched base after base. The last origins' options
        are kept (read-only) until other origins or another state come.
        """
        last = self._last_origins
        if last is not None and last[0] is origins and last[1] is state:
            return last[2]
        pos = state.times.positions_s(origins.chain, origins.pos_s)
        core, cost = self._departures(origins, pos, state.times)
        junctions, each = np.unique(core[core >= 0], return_inverse=True)
        options = (pos, (core, cost), junctions, each)
        for array in (core, cost, junctions, each):  # ``pos`` may be the origins' own array
            array.flags.writeable = False
        self._last_origins = (origins, state, options)
        return options

    def _departures(
        self, points: Snapped, pos_s: np.ndarray, times: TrafficTimes
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per point, up to three ways onto the core graph: (junction, seconds to reach it).

        Columns 0 and 1 drive ahead along each placement's chain to its head junction;
        column 2 is the junction the point is exactly at. Unused slots: -1 and inf.
        """
        ok = points.chain >= 0
        chain = np.where(ok, points.chain, 0)
        ahead_s = times.chain_time_s[chain] - pos_s
        core = np.where(ok, self._chain_head_core[chain], -1)
        cost = np.where(ok, self._seconds(np.maximum(ahead_s, 0.0)), np.inf)
        return self._with_at_node(points, core, cost)

    def _arrivals(self, points: Snapped, pos_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per point, the junctions it can be reached from and the seconds from each."""
        ok = points.chain >= 0
        chain = np.where(ok, points.chain, 0)
        core = np.where(ok, self._chain_tail_core[chain], -1)
        cost = np.where(ok, self._seconds(pos_s), np.inf)
        return self._with_at_node(points, core, cost)

    def _seconds(self, seconds: np.ndarray) -> np.ndarray:
        """Seconds as the engine's searches count them (whole ms when ``integer_ms``)."""
        return np.rint(seconds * 1000.0) / 1000.0 if self.integer_ms else seconds

    def _with_at_node(
        self, points: Snapped, core: np.ndarray, cost: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        at = np.where(points.at_node >= 0, self._core_of[np.maximum(points.at_node, 0)], -1)
        # columns 0-1 the chain options, 2 the junction (filled in: cheaper than stacking)
        all_core = np.empty((core.shape[0], 3), dtype=np.int64)
        all_core[:, :2], all_core[:, 2] = core, at
        all_cost = np.empty((cost.shape[0], 3))
        all_cost[:, :2], all_cost[:, 2] = cost, np.where(at >= 0, 0.0, np.inf)
        return all_core, all_cost

    def _chain_nodes(
        self, chain: int, *, from_s: float = -np.inf, to_s: float = np.inf
    ) -> list[int]:
        """Edge-level nodes of a chain (optionally only the part between two positions)."""
        net = self.network
        edges = net.chain_edges[net.chain_ptr[chain] : net.chain_ptr[chain + 1]]
        starts = net.edge_chain_offset_s[edges]
        ends = starts + net.edge_time_s[edges]
        keep = edges[(ends > from_s) & (starts < to_s)]
        if keep.size == 0:
            keep = edges[:1] if from_s <= starts[0] else edges[-1:]
        return [int(self._edge_tail[keep[0]]), *(int(h) for h in net.edge_head[keep])]

    def _chains_heads(self, chains: np.ndarray) -> list[int]:
        """Edge-level nodes driven through whole chains, after the first chain's tail
        (one numpy gather instead of a loop per chain: routes cross dozens of them)."""
        net = self.network
        chains = np.asarray(chains, dtype=np.int64)
        starts, stops = net.chain_ptr[chains], net.chain_ptr[chains + 1]
        counts = stops - starts
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
        edges = net.chain_edges[offsets + np.arange(int(counts.sum()))]
        return net.edge_head[edges].tolist()

    def _leg(self, points: Snapped, option: int, *, leaving: bool) -> tuple[list[int], float]:
        """Nodes and metres between a point and the junction of one of its options."""
        meters = self._leg_m(points, option, leaving=leaving)
        if option == 2:  # exactly at the junction
            return [int(points.at_node[0])], meters
        chain = int(points.chain[0, option])
        pos_s = float(points.pos_s[0, option])
        if leaving:
            return self._chain_nodes(chain, from_s=pos_s), meters
        return self._chain_nodes(chain, to_s=pos_s), meters

    def _leg_m(self, points: Snapped, option: int, *, leaving: bool) -> float:
        """Metres between a point and the junction of one of its options."""
        if option == 2:  # exactly at the junction
            return 0.0
        pos_m = float(points.pos_m[0, option])
        if leaving:
            return float(self.network.chain_length_m[int(points.chain[0, option])]) - pos_m
        return pos_m

    def _same_chain_placements(self, origin: Snapped, destination: Snapped) -> tuple[int, int]:
        """The placements (driving directions) of a pair on one chain, destination ahead."""
        for do in range(2):
            for dd in range(2):
                chain = origin.chain[0, do]
                ahead = destination.pos_s[0, dd] >= origin.pos_s[0, do]
                if chain >= 0 and chain == destination.chain[0, dd] and ahead:
                    return do, dd
        raise AssertionError("same-chain route requested for points on different chains")

    def _route(
        self, origin: Snapped, destination: Snapped, seconds: float, meters: float, nodes: list[int]
    ) -> Route:
        net = self.network
        inner = np.asarray(nodes[1:-1] if len(nodes) > 2 else [], dtype=np.int64)
        geometry = [
            (float(origin.lat[0]), float(origin.lon[0])),
            (float(origin.snapped_lat[0]), float(origin.snapped_lon[0])),
            *zip(net.node_lat[inner].tolist(), net.node_lon[inner].tolist(), strict=True),
            (float(destination.snapped_lat[0]), float(destination.snapped_lon[0])),
            (float(destination.lat[0]), float(destination.lon[0])),
        ]
        osmid = net.node_osmid[np.asarray(nodes, dtype=np.int64)].tolist()
        return Route(seconds, meters, False, geometry, osmid)


def _same_chain(
    origin_chain: np.ndarray, origin_s: np.ndarray, dest_chain: np.ndarray, dest_s: np.ndarray
) -> np.ndarray:
    """Direct times for pairs on the same chain with the destination ahead, else inf.

    Few pairs (a dispatch decision: vehicles to one site) are compared all at once;
    many are matched by chain id (sort and search), so the cost grows with the number
    of pairs that share a chain, not with origins x destinations.
    """
    if origin_chain.shape[0] * dest_chain.shape[0] <= _BROADCAST_PAIRS:
        # only origins on one of the destinations' chains can be ahead of one: usually
        # none of a fleet's hundreds of vehicles is on the one site's chain
        shared = np.flatnonzero(np.isin(origin_chain, dest_chain[dest_chain >= 0]).any(axis=1))
        out = np.full((origin_chain.shape[0], dest_chain.shape[0]), np.inf)
        if shared.size:
            origin = origin_chain[shared, :, None, None]
            ahead = dest_s[None, None] - origin_s[shared, :, None, None]
            same = (origin == dest_chain[None, None]) & (origin >= 0) & (ahead >= 0)
            out[shared] = np.where(same, ahead, np.inf).min(axis=(1, 3))
        return out
    return _same_chain_sorted(origin_chain, origin_s, dest_chain, dest_s)


def _same_chain_sorted(
    origin_chain: np.ndarray, origin_s: np.ndarray, dest_chain: np.ndarray, dest_s: np.ndarray
) -> np.ndarray:
    """:func:`_same_chain` by sorting and searching chain ids."""
    out = np.full((origin_chain.shape[0], dest_chain.shape[0]), np.inf)
    o_point, o_slot = np.nonzero(origin_chain >= 0)
    d_point, d_slot = np.nonzero(dest_chain >= 0)
    by_chain = np.argsort(dest_chain[d_point, d_slot], kind="stable")
    sorted_chain = dest_chain[d_point, d_slot][by_chain]
    chain = origin_chain[o_point, o_slot]
    lo = np.searchsorted(sorted_chain, chain, side="left")
    count = np.searchsorted(sorted_chain, chain, side="right") - lo
    o = np.repeat(np.arange(chain.size), count)
    d = by_chain[np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())]
    ahead = dest_s[d_point[d], d_slot[d]] - origin_s[o_point[o], o_slot[o]]
    ok = ahead >= 0
    np.minimum.at(out, (o_point[o[ok]], d_point[d[ok]]), ahead[ok])
    return out


def _combine(core: np.ndarray, cost: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """(points x others): per point, the best of its options' (own seconds + junction's).

    ``dist[k]`` holds the times of the ``k``-th valid option's junction (``core >= 0``
    in row-major order) to, or from, every other end.
    """
    ok = core >= 0
    total = np.full((*core.shape, dist.shape[1]), np.inf)
    total[ok] = cost[ok][:, None] + dist
    return total.min(axis=1)


@dataclass(frozen=True, eq=False)
class _DijkstraState:
    """One traffic state's core graph for scipy: the fastest chain between junctions."""

    times: TrafficTimes
    forward: sp.csr_matrix
    reverse: sp.csr_matrix
    pair_keys: np.ndarray  # sorted tail * n_core + head of each core edge
    pair_chain: np.ndarray  # the chain it stands for
    pair_s: np.ndarray  # its seconds


class RoadEngine(CoreEngine):
    """Exact fastest road times by Dijkstra on the core graph: the reference engine.

    ``integer_ms`` counts in whole milliseconds like the CCH engine (core weights and
    each point's seconds to and from the core graph), so the two engines can be
    compared on identical integer weights.
    """

    def __init__(
        self,
        network: CompiledNetwork,
        *,
        snap_max_m: float,
        offroad_speed_kph: float,
        profile: SpeedProfile | None = None,
        integer_ms: bool = False,
    ) -> None:
        super().__init__(
            network, snap_max_m=snap_max_m, offroad_speed_kph=offroad_speed_kph, profile=profile
        )
        self.integer_ms = integer_ms
        self.prepare()

    def _customize(self, times: TrafficTimes) -> _DijkstraState:
        weights = self._seconds(times.chain_time_s[self.arc_chain])
        tail, head = self.arc_tail, self.arc_head
        # Keep the fastest chain between two junctions (parallel roads differ by class,
        # so which one is fastest can change with the hour).
        order = np.lexsort((weights, head, tail))
        keys = tail[order] * self.n_core + head[order]
        first = np.concatenate([[True], keys[1:] != keys[:-1]])
        best = order[first]
        pair_s = weights[best]
        shape = (self.n_core, self.n_core)
        # csgraph: a 0 weight is no edge
        forward = sp.csr_matrix((np.maximum(pair_s, 1e-9), (tail[best], head[best])), shape=shape)
        return _DijkstraState(
            times=times,
            forward=forward,
            reverse=forward.T.tocsr(),
            pair_keys=keys[first],
            pair_chain=self.arc_chain[best],
            pair_s=pair_s,
        )

    def _forward(
        self,
        state: _DijkstraState,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        return self._blocks(state.forward, core, cost, junctions, cutoff_s)

    def _reverse(
        self,
        state: _DijkstraState,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        return self._blocks(state.reverse, core, cost, junctions, cutoff_s)

    def _blocks(
        self,
        graph: sp.csr_matrix,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        """One Dijkstra per point (a virtual node each), in blocks of sources."""
        out = np.empty((core.shape[0], junctions.size))
        for start in range(0, core.shape[0], _SOURCE_BLOCK):
            block = range(start, min(start + _SOURCE_BLOCK, core.shape[0]))
            rows = [_row(core[i], cost[i]) for i in block]
            out[start : block.stop] = self._search(graph, rows, cutoff_s)[:, junctions]
        return out

    def _path(
        self,
        state: _DijkstraState,
        departures: tuple[np.ndarray, np.ndarray],
        arrivals: tuple[np.ndarray, np.ndarray],
        cutoff_s: float | None,
    ) -> CorePath | None:
        aug = _augment(state.forward, [_row(*departures)])
        limit = np.inf if cutoff_s is None else float(cutoff_s)
        dist, pred = dijkstra(aug, indices=self.n_core, return_predecessors=True, limit=limit)
        arr_core, arr_cost = arrivals
        totals = np.where(arr_core >= 0, dist[arr_core] + arr_cost, np.inf)
        last = int(arr_core[np.argmin(totals)])
        if not np.isfinite(totals.min()):
            return None
        junctions = [last]
        while pred[junctions[-1]] != self.n_core:
            junctions.append(int(pred[junctions[-1]]))
        junctions.reverse()
        tail = np.array(junctions[:-1], dtype=np.int64)
        head = np.array(junctions[1:], dtype=np.int64)
        pairs = np.searchsorted(state.pair_keys, tail * self.n_core + head)
        return CorePath(
            first=junctions[0],
            last=last,
            chains=state.pair_chain[pairs],
            core_s=float(state.pair_s[pairs].sum()),
        )

    def _search(
        self,
        graph: sp.csr_matrix,
        rows: list[tuple[np.ndarray, np.ndarray]],
        cutoff_s: float | None,
    ) -> np.ndarray:
        """Dijkstra from one virtual node per row; returns (len(rows), n_core) seconds."""
        aug = _augment(graph, rows)
        sources = np.arange(self.n_core, self.n_core + len(rows))
        limit = np.inf if cutoff_s is None else float(cutoff_s)
        dist = dijkstra(aug, indices=sources, limit=limit)
        return np.atleast_2d(dist)[:, : self.n_core]


def _row(core: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The valid (junction, seconds) pairs of one point's options, as a virtual-node row."""
    ok = core >= 0
    return core[ok], cost[ok]


def _augment(base: sp.csr_matrix, rows: list[tuple[np.ndarray, np.ndarray]]) -> sp.csr_matrix:
    """``base`` plus one virtual node per row, with edges only *out of* the virtual nodes."""
    n = base.shape[0]
    k = len(rows)
    targets = [np.asarray(t, dtype=base.indices.dtype) for t, _ in rows]
    weights = [np.maximum(np.asarray(w, dtype=np.float64), 1e-9) for _, w in rows]
    counts = np.array([t.size for t in targets], dtype=base.indptr.dtype)
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)])
    data = np.concatenate([base.data, *weights])
    indices = np.concatenate([base.indices, *targets])
    # Square: the virtual nodes exist as columns too; nothing points at them.
    return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))
