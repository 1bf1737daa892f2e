"""Travel-time engines: exact road times on a compiled network, and a flagged estimate.

Both implement :class:`TravelTimeEngine`: ``locate`` points once (a fleet can stay
located while only its subset changes), then ask one-to-many, many-to-one,
many-to-many (with an optional cutoff) or a route for one pair. Times are seconds,
distances metres; unreachable or beyond-cutoff pairs are ``inf``.

The road engine runs scipy's Dijkstra over the contracted core graph (see
``compile.py``). Points are not graph nodes, so each query appends *virtual nodes*
for its points with edges to the ends of the chains they sit on; the base arrays are
shared and never modified, which keeps queries thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from dispatch_engine.geo.crs import validate_lat_lon
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.snap import Snapped, Snapper
from dispatch_engine.settings import Settings

EARTH_RADIUS_M = 6_371_008.8
# Sources per Dijkstra call in many-to-many: bounds the (sources x core nodes) block.
_SOURCE_BLOCK = 64


@dataclass(frozen=True)
class Route:
    """The fastest path for one pair: what a dispatcher's map draws."""

    seconds: float
    meters: float
    estimate: bool
    geometry: list[tuple[float, float]]  # (lat, lon) WGS-84, from origin to destination
    nodes: list[int]  # source-graph node ids driven through (empty for estimates)


class TravelTimeEngine(Protocol):
    """What dispatch and planning need from travel times, whatever computes them."""

    estimate: bool

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> object: ...

    def one_to_many(self, origin: object, destinations: object, *, cutoff_s: float | None = None) -> np.ndarray: ...

    def many_to_one(self, origins: object, destination: object, *, cutoff_s: float | None = None) -> np.ndarray: ...

    def many_to_many(self, origins: object, destinations: object, *, cutoff_s: float | None = None) -> np.ndarray: ...

    def route(self, origin: object, destination: object, *, cutoff_s: float | None = None) -> Route: ...


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True, eq=False)
class Points:
    """Validated WGS-84 points: what the estimate engine locates to."""

    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return int(self.lat.size)

    def take(self, index: np.ndarray | list[int] | slice) -> Points:
        return Points(self.lat[index], self.lon[index])


def as_points(lat: np.ndarray | float, lon: np.ndarray | float) -> Points:
    """Validate coordinates (naming the bad field) and wrap them as arrays."""
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    for la, lo in zip(lat_a, lon_a, strict=True):
        validate_lat_lon(float(la), float(lo))
    return Points(lat_a, lon_a)


class EstimateEngine:
    """Great-circle distance x detour factor / speed: for trips outside the road network.

    Used in Guangdong outside Shaoguan and nationally, from partner branches; every
    answer it gives is flagged ``estimate``. The two constants live in ``Settings``.
    """

    estimate = True

    def __init__(self, *, detour_factor: float, speed_kph: float) -> None:
        self.detour_factor = detour_factor
        self.speed_mps = speed_kph / 3.6

    @classmethod
    def from_settings(cls, settings: Settings) -> EstimateEngine:
        return cls(detour_factor=settings.estimate_detour_factor, speed_kph=settings.estimate_speed_kph)

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> Points:
        return as_points(lat, lon)

    def meters(self, origins: Points, destinations: Points) -> np.ndarray:
        """Estimated road metres, origins x destinations."""
        return self.detour_factor * haversine_m(
            origins.lat[:, None], origins.lon[:, None], destinations.lat[None, :], destinations.lon[None, :]
        )

    def many_to_many(self, origins: Points, destinations: Points, *, cutoff_s: float | None = None) -> np.ndarray:
        seconds = self.meters(origins, destinations) / self.speed_mps
        return _apply_cutoff(seconds, cutoff_s)

    def one_to_many(self, origin: Points, destinations: Points, *, cutoff_s: float | None = None) -> np.ndarray:
        return self.many_to_many(origin, destinations, cutoff_s=cutoff_s)[0]

    def many_to_one(self, origins: Points, destination: Points, *, cutoff_s: float | None = None) -> np.ndarray:
        return self.many_to_many(origins, destination, cutoff_s=cutoff_s)[:, 0]

    def route(self, origin: Points, destination: Points, *, cutoff_s: float | None = None) -> Route:
        meters = float(self.meters(origin, destination)[0, 0])
        return Route(
            seconds=meters / self.speed_mps,
            meters=meters,
            estimate=True,
            geometry=[(float(origin.lat[0]), float(origin.lon[0])),
                      (float(destination.lat[0]), float(destination.lon[0]))],
            nodes=[],
        )


def _apply_cutoff(seconds: np.ndarray, cutoff_s: float | None) -> np.ndarray:
    if cutoff_s is not None:
        seconds = np.where(seconds <= cutoff_s, seconds, np.inf)
    return seconds


class RoadEngine:
    """Exact fastest road times on a compiled network (the reference for everything)."""

    estimate = False

    def __init__(self, network: CompiledNetwork, *, snap_max_m: float, offroad_speed_kph: float) -> None:
        self.network = network
        self.snapper = Snapper(network, snap_max_m=snap_max_m)
        self.offroad_mps = offroad_speed_kph / 3.6
        net = network
        core = np.unique(np.concatenate([net.chain_tail, net.chain_head]))
        self._core_of = np.full(net.n_nodes, -1, dtype=np.int64)
        self._core_of[core] = np.arange(core.size)
        self._core_node = core
        self.n_core = int(core.size)
        tail, head = self._core_of[net.chain_tail], self._core_of[net.chain_head]
        # Keep the fastest chain between two junctions; remember which chain it was.
        order = np.lexsort((net.chain_time_s, head, tail))
        keys = tail[order] * self.n_core + head[order]
        first = np.concatenate([[True], keys[1:] != keys[:-1]])
        best = order[first]
        self._core_keys = keys[first]  # sorted (tail, head) keys of core edges
        self._core_chain = best
        weights = np.maximum(net.chain_time_s[best], 1e-9)  # csgraph: a 0 weight is no edge
        shape = (self.n_core, self.n_core)
        self._forward = sp.csr_matrix((weights, (tail[best], head[best])), shape=shape)
        self._reverse = self._forward.T.tocsr()
        self._chain_tail_core = tail
        self._chain_head_core = head
        self._edge_tail = net.edge_tail

    @classmethod
    def from_settings(cls, network: CompiledNetwork, settings: Settings) -> RoadEngine:
        return cls(network, snap_max_m=settings.snap_max_m, offroad_speed_kph=settings.offroad_speed_kph)

    def locate(self, lat: np.ndarray, lon: np.ndarray) -> Snapped:
        """Validate and snap points (raises ``OffNetworkError`` if one is too far from roads)."""
        points = as_points(lat, lon)
        return self.snapper.snap(points.lat, points.lon)

    def locate_where_possible(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, Snapped]:
        """Snap the points near a road; returns (found mask, the snapped ones in order)."""
        points = as_points(lat, lon)
        return self.snapper.snap_where_possible(points.lat, points.lon)

    # -- queries ---------------------------------------------------------------------

    def many_to_one(self, origins: Snapped, destination: Snapped, *, cutoff_s: float | None = None) -> np.ndarray:
        """Seconds from each origin to one destination: one reverse Dijkstra."""
        core, cost = self._arrivals(destination)
        dist = self._search(self._reverse, [_row(core[0], cost[0])], cutoff_s)[0]
        seconds = self._combine_departures(origins, dist[None, :])[:, 0]
        seconds = np.minimum(seconds, self._same_chain(origins, destination)[:, 0])
        seconds = seconds + (origins.offroad_m + destination.offroad_m[0]) / self.offroad_mps
        return _apply_cutoff(seconds, cutoff_s)

    def one_to_many(self, origin: Snapped, destinations: Snapped, *, cutoff_s: float | None = None) -> np.ndarray:
        """Seconds from one origin to each destination: one forward Dijkstra."""
        return self.many_to_many(origin, destinations, cutoff_s=cutoff_s)[0]

    def many_to_many(self, origins: Snapped, destinations: Snapped, *, cutoff_s: float | None = None) -> np.ndarray:
        """Seconds, origins x destinations: one forward Dijkstra per origin, in blocks."""
        out = np.empty((len(origins), len(destinations)))
        for start in range(0, len(origins), _SOURCE_BLOCK):
            block = np.arange(start, min(start + _SOURCE_BLOCK, len(origins)))
            core, cost = self._departures(origins.take(block))
            rows = [_row(core[i], cost[i]) for i in range(block.size)]
            dist = self._search(self._forward, rows, cutoff_s)
            out[block] = self._combine_arrivals(destinations, dist)
        out = np.minimum(out, self._same_chain(origins, destinations))
        out += (origins.offroad_m[:, None] + destinations.offroad_m[None, :]) / self.offroad_mps
        return _apply_cutoff(out, cutoff_s)

    def route(self, origin: Snapped, destination: Snapped, *, cutoff_s: float | None = None) -> Route:
        """The fastest path for one pair, with node ids, geometry and length.

        A ``cutoff_s`` at or above the known travel time (e.g. from a matrix) bounds the
        search, which makes distances for chosen pairs cheap; beyond it the route is inf.
        """
        offroad_s = (origin.offroad_m[0] + destination.offroad_m[0]) / self.offroad_mps
        offroad_m = float(origin.offroad_m[0] + destination.offroad_m[0])
        same = self._same_chain(origin, destination)[0, 0]
        dep_core, dep_cost = self._departures(origin)
        arr_core, arr_cost = self._arrivals(destination)
        aug = _augment(self._forward, [_row(dep_core[0], dep_cost[0])])
        limit = np.inf if cutoff_s is None else float(cutoff_s)
        dist, pred = dijkstra(aug, indices=self.n_core, return_predecessors=True, limit=limit)
        totals = np.where(arr_core[0] >= 0, dist[arr_core[0]] + arr_cost[0], np.inf)
        arrival = int(np.argmin(totals))
        if same <= totals[arrival]:
            return self._route_same_chain(origin, destination, float(same + offroad_s), offroad_m)
        if not np.isfinite(totals[arrival]):
            return Route(np.inf, np.inf, False, [], [])
        core_path = [int(arr_core[0, arrival])]
        while pred[core_path[-1]] != self.n_core:
            core_path.append(int(pred[core_path[-1]]))
        core_path.reverse()
        # the departure option whose virtual edge led to the first junction
        used = np.where(dep_core[0] == core_path[0], dep_cost[0], np.inf)
        departure = int(np.argmin(used))
        nodes, meters = self._leg(origin, departure, leaving=True)
        for u, v in zip(core_path[:-1], core_path[1:], strict=True):
            chain = self._core_edge_chain(u, v)
            nodes += self._chain_nodes(chain)[1:]
            meters += float(self.network.chain_length_m[chain])
        end_nodes, end_m = self._leg(destination, arrival, leaving=False)
        nodes += end_nodes[1:]
        meters += end_m
        return self._route(origin, destination, float(totals[arrival] + offroad_s), meters + offroad_m, nodes)

    # -- internals -------------------------------------------------------------------

    def _search(self, base: sp.csr_matrix, rows: list[tuple[np.ndarray, np.ndarray]],
                cutoff_s: float | None) -> np.ndarray:
        """Dijkstra from one virtual node per row; returns (len(rows), n_core) seconds."""
        aug = _augment(base, rows)
        sources = np.arange(self.n_core, self.n_core + len(rows))
        limit = np.inf if cutoff_s is None else float(cutoff_s)
        dist = dijkstra(aug, indices=sources, limit=limit)
        return np.atleast_2d(dist)[:, : self.n_core]

    def _departures(self, points: Snapped) -> tuple[np.ndarray, np.ndarray]:
        """Per point, up to three ways onto the core graph: (junction, seconds to reach it).

        Columns 0 and 1 drive ahead along each placement's chain to its head junction;
        column 2 is the junction the point is exactly at. Unused slots: -1 and inf.
        """
        ok = points.chain >= 0
        chain = np.where(ok, points.chain, 0)
        core = np.where(ok, self._chain_head_core[chain], -1)
        cost = np.where(ok, self.network.chain_time_s[chain] - points.pos_s, np.inf)
        return self._with_at_node(points, core, cost)

    def _arrivals(self, points: Snapped) -> tuple[np.ndarray, np.ndarray]:
        """Per point, the junctions it can be reached from and the seconds from each."""
        ok = points.chain >= 0
        chain = np.where(ok, points.chain, 0)
        core = np.where(ok, self._chain_tail_core[chain], -1)
        cost = np.where(ok, points.pos_s, np.inf)
        return self._with_at_node(points, core, cost)

    def _with_at_node(self, points: Snapped, core: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.where(points.at_node >= 0, self._core_of[np.maximum(points.at_node, 0)], -1)
        return np.column_stack([core, at]), np.column_stack([cost, np.where(at >= 0, 0.0, np.inf)])

    def _combine_departures(self, origins: Snapped, dist_to: np.ndarray) -> np.ndarray:
        """(origins x targets): best of (reach a junction + junction's time to the target)."""
        core, cost = self._departures(origins)
        best = np.full((len(origins), dist_to.shape[0]), np.inf)
        for j in range(core.shape[1]):
            ok = core[:, j] >= 0
            best[ok] = np.minimum(best[ok], cost[ok, j][:, None] + dist_to[:, core[ok, j]].T)
        return best

    def _combine_arrivals(self, destinations: Snapped, dist_from: np.ndarray) -> np.ndarray:
        """(sources x destinations): best of (source's time to a junction + the way on)."""
        core, cost = self._arrivals(destinations)
        best = np.full((dist_from.shape[0], len(destinations)), np.inf)
        for j in range(core.shape[1]):
            ok = core[:, j] >= 0
            best[:, ok] = np.minimum(best[:, ok], dist_from[:, core[ok, j]] + cost[ok, j][None, :])
        return best

    @staticmethod
    def _same_chain(origins: Snapped, destinations: Snapped) -> np.ndarray:
        """Direct times for pairs on the same chain with the destination ahead, else inf."""
        out = np.full((len(origins), len(destinations)), np.inf)
        for do in range(2):
            for dd in range(2):
                co = origins.chain[:, do][:, None]
                cd = destinations.chain[:, dd][None, :]
                ahead = destinations.pos_s[:, dd][None, :] - origins.pos_s[:, do][:, None]
                ok = (co == cd) & (co >= 0) & (ahead >= 0)
                out = np.where(ok, np.minimum(out, ahead), out)
        return out

    def _core_edge_chain(self, u: int, v: int) -> int:
        pos = int(np.searchsorted(self._core_keys, u * self.n_core + v))
        return int(self._core_chain[pos])

    def _chain_nodes(self, chain: int, *, from_s: float = -np.inf, to_s: float = np.inf) -> list[int]:
        """Edge-level nodes of a chain (optionally only the part between two positions)."""
        net = self.network
        edges = net.chain_edges[net.chain_ptr[chain]: net.chain_ptr[chain + 1]]
        starts = net.edge_chain_offset_s[edges]
        ends = starts + net.edge_time_s[edges]
        keep = edges[(ends > from_s) & (starts < to_s)]
        if keep.size == 0:
            keep = edges[:1] if from_s <= starts[0] else edges[-1:]
        return [int(self._edge_tail[keep[0]]), *(int(h) for h in net.edge_head[keep])]

    def _leg(self, points: Snapped, option: int, *, leaving: bool) -> tuple[list[int], float]:
        """Nodes and metres between a point and the junction of one of its options."""
        if option == 2:  # exactly at the junction
            return [int(points.at_node[0])], 0.0
        chain = int(points.chain[0, option])
        pos_s, pos_m = float(points.pos_s[0, option]), float(points.pos_m[0, option])
        if leaving:
            return self._chain_nodes(chain, from_s=pos_s), float(self.network.chain_length_m[chain]) - pos_m
        return self._chain_nodes(chain, to_s=pos_s), pos_m

    def _route_same_chain(self, origin: Snapped, destination: Snapped, seconds: float, offroad_m: float) -> Route:
        for do in range(2):
            for dd in range(2):
                chain = origin.chain[0, do]
                if chain >= 0 and chain == destination.chain[0, dd] and destination.pos_s[0, dd] >= origin.pos_s[0, do]:
                    nodes = self._chain_nodes(int(chain), from_s=origin.pos_s[0, do], to_s=destination.pos_s[0, dd])
                    meters = destination.pos_m[0, dd] - origin.pos_m[0, do]
                    return self._route(origin, destination, seconds, float(meters) + offroad_m, nodes)
        raise AssertionError("same-chain route requested for points on different chains")

    def _route(self, origin: Snapped, destination: Snapped, seconds: float, meters: float, nodes: list[int]) -> Route:
        net = self.network
        inner = nodes[1:-1] if len(nodes) > 2 else []
        geometry = [
            (float(origin.lat[0]), float(origin.lon[0])),
            (float(origin.snapped_lat[0]), float(origin.snapped_lon[0])),
            *((float(net.node_lat[n]), float(net.node_lon[n])) for n in inner),
            (float(destination.snapped_lat[0]), float(destination.snapped_lon[0])),
            (float(destination.lat[0]), float(destination.lon[0])),
        ]
        return Route(seconds, meters, False, geometry, [int(net.node_osmid[n]) for n in nodes])


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
