"""The CCH engine: road times from a customizable contraction hierarchy (RoutingKit).

A CCH splits a shortest-path index in three: a contraction *order* of the graph's
nodes (nested dissection; depends only on the topology and coordinates, the slow
part), the hierarchy built from it, and a *customization* that puts weights on it
(cheap). Queries then touch a few hundred nodes instead of the whole graph.

Here the hierarchy is built on the contracted core graph of ``compile.py`` (several
times smaller than the edge graph, and as fast to query), with integer millisecond
weights. The order is cached on disk next to the compiled networks, keyed by the core
graph's topology and coordinates, so it is computed once per network; travel times can
change without touching it. Each traffic state (free flow, each hour of the speed
profile) is one customization of the same hierarchy, kept ready by ``CoreEngine``.

Points reuse everything of :class:`~dispatch_engine.network.engine.CoreEngine`: the
hierarchy answers junction-to-junction searches with each point's options entered as
initial distances, in whole milliseconds like the weights.

RoutingKit's query objects are bound to the thread that made them, so each thread
keeps its own (a few per thread; fleets pinned as sources stay pinned until the set of
junctions changes, and re-pinning reuses the query's buffers).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from routingkit_cch import (
    CCH,
    CCHManyToOne,
    CCHMetric,
    CCHOneToMany,
    CCHQuery,
    compute_order_inertial,
)

from dispatch_engine.errors import DataError
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.engine import CoreEngine, CorePath
from dispatch_engine.network.profiles import SpeedProfile, TrafficTimes, profile_from_settings
from dispatch_engine.settings import Settings

INDEX_FORMAT = 1
# RoutingKit's weights are uint32 and its maximum means "no arc".
_MAX_WEIGHT_MS = 2**32 - 2
# Traffic states whose query objects one thread keeps.
_THREAD_STATES = 4


@dataclass(frozen=True, eq=False)
class CCHIndex:
    """The metric-independent part of a CCH: a contraction order of the core junctions."""

    key: str  # digest of what the order depends on (topology, coordinates, library)
    order: np.ndarray  # int64 core junction ids in the order they are contracted
    built: bool  # computed now (True) or read from the cache (False)
    path: Path | None  # the cache file, when there is a cache


def index_key(
    n_nodes: int, tail: np.ndarray, head: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> str:
    """Digest of everything a contraction order depends on, and of the code making it."""
    h = hashlib.sha256()
    h.update(f"cch-order {INDEX_FORMAT} routingkit_cch {version('routingkit_cch')}".encode())
    h.update(np.int64(n_nodes).tobytes())
    for array, dtype in ((tail, np.int64), (head, np.int64), (lat, np.float64), (lon, np.float64)):
        h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return h.hexdigest()[:16]


def load_or_build_index(
    n_nodes: int,
    tail: np.ndarray,
    head: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    cache_dir: Path | None,
) -> CCHIndex:
    """The contraction order of a graph: from ``cache_dir`` when it holds one for this
    topology, else computed (inertial nested dissection) and saved there.

    Raises ``DataError`` when a cache file does not hold an order of this graph.
    """
    key = index_key(n_nodes, tail, head, lat, lon)
    path = None if cache_dir is None else cache_dir / f"cch-{key}.npz"
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as npz:
            order = npz["order"]
        if order.size != n_nodes or not np.array_equal(np.sort(order), np.arange(n_nodes)):
            raise DataError(f"{path} is not a contraction order of this network; delete it")
        return CCHIndex(key, order.astype(np.int64), built=False, path=path)
    order = np.asarray(
        compute_order_inertial(n_nodes, tail.tolist(), head.tolist(), lat.tolist(), lon.tolist()),
        dtype=np.int64,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, order=order)
        tmp.replace(path)  # atomic: a crashed build never leaves a half-written cache
    return CCHIndex(key, order, built=True, path=path)


@dataclass(frozen=True, eq=False)
class _Customized:
    """One traffic state's weights on the hierarchy."""

    times: TrafficTimes
    weights_ms: np.ndarray  # int64 per core arc
    metric: CCHMetric


class _ThreadQueries:
    """One thread's query objects on one customized metric (they cannot cross threads)."""

    def __init__(self, metric: CCHMetric) -> None:
        self.metric = metric
        self._query: CCHQuery | None = None
        self._to: CCHManyToOne | None = None
        self._sources = np.empty(0, dtype=np.int64)
        self._from: CCHOneToMany | None = None
        self._targets = np.empty(0, dtype=np.int64)

    @property
    def query(self) -> CCHQuery:
        """The point-to-point query (routes), made when first needed: runs that never
        ask for a route (a planner's simulation) do not pay for it each traffic hour."""
        if self._query is None:
            self._query = CCHQuery(self.metric)
        return self._query

    def to_target(self, sources: np.ndarray) -> CCHManyToOne:
        """Many-to-one search with ``sources`` pinned (re-pinned only when they change)."""
        if self._to is None:
            self._to = CCHManyToOne(self.metric, sources.tolist())
        elif not np.array_equal(self._sources, sources):
            self._to.repin_sources(sources.tolist())
        self._sources = sources
        return self._to

    def from_source(self, targets: np.ndarray) -> CCHOneToMany:
        """One-to-many search with ``targets`` pinned (re-pinned only when they change)."""
        if self._from is None:
            self._from = CCHOneToMany(self.metric, targets.tolist())
        elif not np.array_equal(self._targets, targets):
            self._from.repin_targets(targets.tolist())
        self._targets = targets
        return self._from


class CCHEngine(CoreEngine):
    """Road times from a CCH on the core graph: the default engine.

    Counts in whole milliseconds (core weights, and each point's seconds to and from
    the core graph); same answers as ``RoadEngine(..., integer_ms=True)``, same
    interface, much faster queries. ``cache_dir`` holds the contraction order between
    runs (none: computed in memory).
    """

    integer_ms = True

    def __init__(
        self,
        network: CompiledNetwork,
        *,
        snap_max_m: float,
        offroad_speed_kph: float,
        profile: SpeedProfile | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(
            network, snap_max_m=snap_max_m, offroad_speed_kph=offroad_speed_kph, profile=profile
        )
        node = self.core_node
        self.index = load_or_build_index(
            self.n_core,
            self.arc_tail,
            self.arc_head,
            network.node_lat[node],
            network.node_lon[node],
            cache_dir=cache_dir,
        )
        self._cch = CCH(
            self.index.order.tolist(), self.arc_tail.tolist(), self.arc_head.tolist(), False
        )
        self._local = threading.local()
        self.prepare()

    @classmethod
    def from_settings(cls, network: CompiledNetwork, settings: Settings) -> CCHEngine:
        """The engine with the settings' snapping and profile; the order cached under
        ``cache_dir/networks`` beside the compiled networks."""
        return cls(
            network,
            snap_max_m=settings.snap_max_m,
            offroad_speed_kph=settings.offroad_speed_kph,
            profile=profile_from_settings(settings),
            cache_dir=settings.cache_dir / "networks",
        )

    def _customize(self, times: TrafficTimes) -> _Customized:
        weights = times.chain_time_ms()[self.arc_chain]
        if weights.size and int(weights.max()) > _MAX_WEIGHT_MS:
            raise DataError(f"a road takes {weights.max() / 3.6e6:.0f} h: beyond CCH weights")
        return _Customized(times, weights, CCHMetric(self._cch, weights.tolist()))

    def _queries(self, state: _Customized) -> _ThreadQueries:
        """This thread's query objects for a state; the least recent state's are dropped
        here, in the thread that made them."""
        cache: OrderedDict[tuple[float, ...], _ThreadQueries] | None = getattr(
            self._local, "states", None
        )
        if cache is None:
            cache = self._local.states = OrderedDict()
        key = state.times.speed_factors
        queries = cache.get(key)
        if queries is None or queries.metric is not state.metric:
            queries = cache[key] = _ThreadQueries(state.metric)
            if len(cache) > _THREAD_STATES:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return queries

    def _forward(
        self,
        state: _Customized,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        search = self._queries(state).from_source(junctions)
        return _distances(search.distances_from_multi, core, cost, junctions.size)

    def _reverse(
        self,
        state: _Customized,
        core: np.ndarray,
        cost: np.ndarray,
        junctions: np.ndarray,
        cutoff_s: float | None,
    ) -> np.ndarray:
        search = self._queries(state).to_target(junctions)
        return _distances(search.distances_to_multi, core, cost, junctions.size)

    def _path(
        self,
        state: _Customized,
        departures: tuple[np.ndarray, np.ndarray],
        arrivals: tuple[np.ndarray, np.ndarray],
        cutoff_s: float | None,
    ) -> CorePath | None:
        (sources,) = _pairs(*(a[None, :] for a in departures))
        (targets,) = _pairs(*(a[None, :] for a in arrivals))
        result = self._queries(state).query.run_multi(sources, targets)
        nodes, arcs = result.node_path, np.asarray(result.arc_path, dtype=np.int64)
        del result  # RoutingKit: the query cannot run again while a result lives
        if not nodes:
            return None
        return CorePath(
            first=int(nodes[0]),
            last=int(nodes[-1]),
            chains=self.arc_chain[arcs],
            core_s=float(state.weights_ms[arcs].sum()) / 1000.0,
        )


def _pairs(core: np.ndarray, cost: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per point, its valid options as (junction, whole milliseconds) search entries."""
    ok = core >= 0
    ms = np.rint(np.where(ok, cost, 0.0) * 1000.0).astype(np.int64)
    return [
        list(zip(c[k].tolist(), m[k].tolist(), strict=True))
        for c, m, k in zip(core, ms, ok, strict=True)
    ]


def _as_seconds(ms: np.ndarray) -> np.ndarray:
    """RoutingKit's milliseconds (nan where it said unreachable) as seconds, inf unreachable."""
    return np.where(np.isnan(ms), np.inf, ms / 1000.0)


def _distances(
    query: Callable[[list[tuple[int, int]]], list[int | None]],
    core: np.ndarray,
    cost: np.ndarray,
    width: int,
) -> np.ndarray:
    """One pinned CCH query per row of (junctions, costs) virtual edges -> seconds."""
    out = np.empty((core.shape[0], width))
    for i, row in enumerate(_pairs(core, cost)):
        out[i] = np.array(query(row), dtype=np.float64)  # None (unreachable) becomes nan
    return _as_seconds(out)
