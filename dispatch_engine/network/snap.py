"""Snap points to the nearest road segment of a compiled network.

Incidents and vehicles are rarely on a road centreline: each point is projected to the
nearest segment (in metres, UTM), its position along the segment is kept, and the
distance to it becomes an off-road leg driven at a slow speed. A point farther than
``snap_max_m`` from every road is an error, not a silent jump across a mountain.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer

from dispatch_engine.errors import OffNetworkError
from dispatch_engine.network.compile import CompiledNetwork

AT_NODE_M = 0.01


@dataclass(frozen=True, eq=False)
class Snapped:
    """Points located on the network, aligned by index with the input points.

    Each point sits on a road at up to two *placements*, one per driving direction of
    its segment: ``chain[i, d]`` is the core chain (or -1 when the road is one-way the
    other way) and ``pos_s[i, d]`` / ``pos_m[i, d]`` how far along that chain it is. A
    point exactly at a node also records it (``at_node``): at a junction it can leave by
    any of the junction's roads, not only the segment it was snapped to.
    """

    lat: np.ndarray
    lon: np.ndarray
    snapped_lat: np.ndarray
    snapped_lon: np.ndarray
    offroad_m: np.ndarray
    chain: np.ndarray  # int64 (k, 2)
    pos_s: np.ndarray  # float64 (k, 2)
    pos_m: np.ndarray  # float64 (k, 2)
    at_node: np.ndarray  # int64 (k,): the node the point is exactly at (within 1 cm), else -1

    def __len__(self) -> int:
        return int(self.lat.size)

    def take(self, index: np.ndarray | list[int] | slice) -> Snapped:
        """A subset of the points, e.g. the available vehicles of a pinned fleet."""
        return Snapped(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    def updated(self, rows: np.ndarray, values: Snapped) -> Snapped:
        """A copy with the points at ``rows`` replaced by ``values`` (one per row)."""
        fields = {}
        for name in self.__dataclass_fields__:
            column = getattr(self, name).copy()
            column[rows] = getattr(values, name)
            fields[name] = column
        return Snapped(**fields)

    @staticmethod
    def concat(parts: Sequence[Snapped]) -> Snapped:
        """Snapped points one after another (no part at all: no point)."""
        if not parts:
            return _NO_POINT
        if len(parts) == 1:
            return parts[0]
        return Snapped(
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in Snapped.__dataclass_fields__
            }
        )


_NO_POINT = Snapped(
    lat=np.zeros(0),
    lon=np.zeros(0),
    snapped_lat=np.zeros(0),
    snapped_lon=np.zeros(0),
    offroad_m=np.zeros(0),
    chain=np.zeros((0, 2), dtype=np.int64),
    pos_s=np.zeros((0, 2)),
    pos_m=np.zeros((0, 2)),
    at_node=np.zeros(0, dtype=np.int64),
)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The UTM zone CRS containing a point (metres, for distances on a city-sized area)."""
    zone = int((lon + 180.0) // 6.0) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


class Snapper:
    """Nearest-segment index over one compiled network (built once, queried often)."""

    def __init__(self, network: CompiledNetwork, *, snap_max_m: float) -> None:
        self.network = network
        self.snap_max_m = snap_max_m
        centre_lon = float(np.median(network.node_lon))
        centre_lat = float(np.median(network.node_lat))
        self._to_metres = Transformer.from_crs(
            "EPSG:4326", utm_crs_for(centre_lon, centre_lat), always_xy=True
        )
        self._x, self._y = self._to_metres.transform(network.node_lon, network.node_lat)
        # One segment per road: the two directions of a two-way road share it.
        tail, head = network.edge_tail, network.edge_head
        forward = tail < head
        reverse_only = (tail > head) & ~_has_reverse(network, tail, head)
        self._edge = np.flatnonzero(forward | reverse_only)
        self._reverse = _reverse_edge(network, tail[self._edge], head[self._edge])
        a, b = tail[self._edge], head[self._edge]
        coords = np.stack(
            [
                np.stack([self._x[a], self._y[a]], axis=1),
                np.stack([self._x[b], self._y[b]], axis=1),
            ],
            axis=1,
        )
        self._segments = shapely.linestrings(coords)
        self._segment_m = shapely.length(self._segments)
        self._tree = shapely.STRtree(self._segments)

    def snap(self, lat: np.ndarray, lon: np.ndarray) -> Snapped:
        """Snap WGS-84 points; raises ``OffNetworkError`` naming the first point too far away."""
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        found, snapped = self.snap_where_possible(lat, lon)
        self.require_found(found, lat, lon)
        return snapped

    def require_found(self, found: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
        """Raise ``OffNetworkError`` naming the first point that did not snap."""
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            raise OffNetworkError(
                f"point {lat[i]:.5f},{lon[i]:.5f} is more than {self.snap_max_m:.0f} m from any "
                f"road of the network '{self.network.meta.get('name', 'unnamed')}'",
                field="location",
            )

    def snap_where_possible(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, Snapped]:
        """Snap the points within ``snap_max_m`` of a road; returns (found mask, those points)."""
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        x, y = self._to_metres.transform(lon, lat)
        points = shapely.points(x, y)
        (point_idx, seg_idx), dist_m = self._tree.query_nearest(
            points, max_distance=self.snap_max_m, return_distance=True, all_matches=False
        )
        found = np.zeros(lat.size, dtype=bool)
        found[point_idx] = True
        order = np.argsort(point_idx, kind="stable")
        point_idx, seg_idx, dist_m = point_idx[order], seg_idx[order], dist_m[order]
        fraction = shapely.line_locate_point(
            self._segments[seg_idx], points[point_idx], normalized=True
        )
        return found, self._place(lat[point_idx], lon[point_idx], seg_idx, fraction, dist_m)

    def _place(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        seg: np.ndarray,
        t: np.ndarray,
        offroad_m: np.ndarray,
    ) -> Snapped:
        net = self.network
        edge, reverse = self._edge[seg], self._reverse[seg]
        a, b = net.edge_tail[edge], net.edge_head[edge]
        chain = np.full((lat.size, 2), -1, dtype=np.int64)
        pos_s = np.zeros((lat.size, 2))
        pos_m = np.zeros((lat.size, 2))
        chain[:, 0] = net.edge_chain[edge]
        pos_s[:, 0] = net.edge_chain_offset_s[edge] + t * net.edge_time_s[edge]
        pos_m[:, 0] = net.edge_chain_offset_m[edge] + t * net.edge_length_m[edge]
        two_way = reverse >= 0
        rev = reverse[two_way]
        chain[two_way, 1] = net.edge_chain[rev]
        pos_s[two_way, 1] = net.edge_chain_offset_s[rev] + (1 - t[two_way]) * net.edge_time_s[rev]
        pos_m[two_way, 1] = net.edge_chain_offset_m[rev] + (1 - t[two_way]) * net.edge_length_m[rev]
        along_m = t * self._segment_m[seg]
        at_node = np.where(
            along_m < AT_NODE_M, a, np.where(self._segment_m[seg] - along_m < AT_NODE_M, b, -1)
        )
        return Snapped(
            at_node=at_node.astype(np.int64),
            lat=lat,
            lon=lon,
            snapped_lat=net.node_lat[a] + t * (net.node_lat[b] - net.node_lat[a]),
            snapped_lon=net.node_lon[a] + t * (net.node_lon[b] - net.node_lon[a]),
            offroad_m=offroad_m,
            chain=chain,
            pos_s=pos_s,
            pos_m=pos_m,
        )


class SnapMemo:
    """The snaps of positions seen before, by their exact WGS-84 coordinates.

    Why: dispatch locates the same positions again and again (bases, the incident sites
    vehicles drive to and finish at, the repair shops of every tow); a lookup costs
    microseconds where a nearest-segment query costs a tenth of a millisecond. The
    ``capacity`` most recent positions are kept; *pinned* ones stay (a planner's run
    knows every incident site in advance and snaps them in one batch).
    """

    def __init__(self, snapper: Snapper, *, capacity: int = 4096) -> None:
        self.snapper = snapper
        self.capacity = capacity
        self._recent: OrderedDict[tuple[float, float], Snapped | None] = OrderedDict()
        self._pinned: dict[tuple[float, float], Snapped | None] = {}
        self._lock = threading.Lock()

    def snap_where_possible(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, Snapped]:
        """As :meth:`Snapper.snap_where_possible`, remembering each point's snap."""
        keys = list(zip(lat.tolist(), lon.tolist(), strict=True))
        each, missing = self._recall(keys)
        if missing:
            snaps = self._snap_each(lat[missing], lon[missing])
            with self._lock:
                for i, snapped in zip(missing, snaps, strict=True):
                    each[i] = self._recent[keys[i]] = snapped
                while len(self._recent) > self.capacity:
                    self._recent.popitem(last=False)
        found = np.array([s is not None for s in each], dtype=bool)
        return found, Snapped.concat([s for s in each if s is not None])

    def pin(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """Snap many positions in one batch and keep them for good."""
        keys = list(zip(lat.tolist(), lon.tolist(), strict=True))
        snaps = self._snap_each(lat, lon)
        with self._lock:
            self._pinned.update(zip(keys, snaps, strict=True))

    def _recall(self, keys: list[tuple[float, float]]) -> tuple[list[Snapped | None], list[int]]:
        """The remembered snaps (None also for the unknown), and the unknown's indexes."""
        each: list[Snapped | None] = []
        missing = []
        with self._lock:
            for i, key in enumerate(keys):
                if key in self._pinned:
                    each.append(self._pinned[key])
                elif key in self._recent:
                    self._recent.move_to_end(key)
                    each.append(self._recent[key])
                else:
                    each.append(None)
                    missing.append(i)
        return each, missing

    def _snap_each(self, lat: np.ndarray, lon: np.ndarray) -> list[Snapped | None]:
        """Each point's own snap (None off the network), from one batch query."""
        found, snapped = self.snapper.snap_where_possible(lat, lon)
        row = np.cumsum(found) - 1
        return [
            snapped.take(slice(r, r + 1)) if f else None
            for f, r in zip(found.tolist(), row.tolist(), strict=True)
        ]


def _edge_keys(network: CompiledNetwork, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    return tail.astype(np.int64) * network.n_nodes + head.astype(np.int64)


def _reverse_edge(network: CompiledNetwork, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Edge id of ``head -> tail`` for each edge, or -1 where the road is one-way."""
    keys = _edge_keys(network, network.edge_tail, network.edge_head)  # sorted: CSR order
    wanted = _edge_keys(network, head, tail)
    pos = np.searchsorted(keys, wanted)
    pos = np.minimum(pos, keys.size - 1)
    return np.where(keys[pos] == wanted, pos, -1)


def _has_reverse(network: CompiledNetwork, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    return _reverse_edge(network, tail, head) >= 0
