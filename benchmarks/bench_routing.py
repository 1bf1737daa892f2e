"""Routing and zone speed on the embedded network (issues: foundation section 5, CCH).

Many-to-one (500 random vehicle positions -> one incident) with the Dijkstra engine,
the CCH engine and networkx as the baseline, a 500 x 2,000 matrix, loading the compiled
network, building and customizing the CCH, re-pinning a moved fleet, and the zone
classifier's batch throughput.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import networkx as nx
import numpy as np

from benchmarks.common import timed_ms, write_result
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network import store
from dispatch_engine.network.cch import CCHEngine
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.engine import RoadEngine
from dispatch_engine.network.profiles import profile_from_settings
from dispatch_engine.settings import load_settings

SEED = 20261126
VEHICLES = 500
INCIDENTS = 60
NETWORKX_INCIDENTS = 5
MOVES = 10
CUSTOMIZATIONS = 10
# a Monday in the morning peak
PEAK = datetime(2026, 3, 2, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def main() -> None:
    settings = load_settings()
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    network = store.build_embedded(settings, progress=print)
    build_or_load_s = time.perf_counter() - start
    path = store.embedded_network_path(settings)
    load_ms = timed_ms(lambda: CompiledNetwork.load(path), 3)
    start = time.perf_counter()
    engine = RoadEngine.from_settings(network, settings)
    engine_init_s = time.perf_counter() - start

    def random_points(k: int):
        nodes = rng.choice(network.n_nodes, k, replace=False)
        # a little off the node, as GPS positions are
        jitter = rng.normal(0, 0.0002, (2, k))
        return network.node_lat[nodes] + jitter[0], network.node_lon[nodes] + jitter[1]

    vehicles = engine.locate(*random_points(VEHICLES))
    incidents = engine.locate(*random_points(INCIDENTS))

    def many_to_one(i: int, cutoff_s: float | None = None) -> np.ndarray:
        return engine.many_to_one(vehicles, incidents.take([i]), cutoff_s=cutoff_s)

    m2o_ms = np.array([timed_ms(partial(many_to_one, i), 1)[0] for i in range(INCIDENTS)])
    cutoff_ms = np.array(
        [timed_ms(partial(many_to_one, i, cutoff_s=1800), 1)[0] for i in range(INCIDENTS)]
    )

    graph = network.to_graph()
    reverse = graph.reverse(copy=False)
    osmid = network.node_osmid
    vehicle_nodes = [int(osmid[n]) for n in rng.choice(network.n_nodes, VEHICLES, replace=False)]
    nx_ms: list[float] = []
    for _i in range(NETWORKX_INCIDENTS):
        target = int(osmid[rng.integers(network.n_nodes)])

        def networkx_many_to_one(target=target) -> list[float]:
            lengths = nx.single_source_dijkstra_path_length(reverse, target, weight="travel_time")
            return [lengths.get(v, np.inf) for v in vehicle_nodes]

        nx_ms.append(timed_ms(networkx_many_to_one, 1)[0])

    sources = engine.locate(*random_points(500))
    targets = engine.locate(*random_points(2000))
    start = time.perf_counter()
    matrix = engine.many_to_many(sources, targets)
    matrix_s = time.perf_counter() - start

    cch = measure_cch(settings, network, vehicles, incidents, sources, targets, random_points)
    dijkstra_m2o = np.stack(
        [engine.many_to_one(vehicles, incidents.take([i])) for i in range(INCIDENTS)]
    )
    cch_diff_s = max(
        float(np.max(np.abs(cch.pop("m2o_times") - dijkstra_m2o))),
        float(np.max(np.abs(cch.pop("matrix") - matrix))),
    )

    classifier = ZoneClassifier.from_settings(settings)
    lats = rng.uniform(20.0, 27.0, 100_000)
    lons = rng.uniform(108.0, 118.0, 100_000)
    classifier.classify_many(lats[:1000], lons[:1000])  # warm-up
    start = time.perf_counter()
    classifier.classify_many(lats, lons)
    zone_points_per_s = lats.size / (time.perf_counter() - start)

    result = {
        "network": network.meta.get("name"),
        "synthetic": network.synthetic,
        "nodes": network.n_nodes,
        "edges": network.n_edges,
        "core_nodes": engine.n_core,
        "core_edges": network.n_chains,
        "build_or_load_s": round(build_or_load_s, 2),
        "compiled_load_s_median": round(float(np.median(load_ms)) / 1000, 3),
        "engine_init_s": round(engine_init_s, 2),
        "many_to_one_ms_median": round(float(np.median(m2o_ms)), 2),
        "many_to_one_ms_p99": round(float(np.percentile(m2o_ms, 99)), 2),
        "many_to_one_cutoff_30min_ms_median": round(float(np.median(cutoff_ms)), 2),
        "networkx_many_to_one_ms_median": round(float(np.median(nx_ms)), 1),
        "speedup_vs_networkx": round(float(np.median(nx_ms) / np.median(m2o_ms)), 1),
        "matrix_500x2000_s": round(matrix_s, 2),
        "matrix_reachable_share": round(float(np.isfinite(matrix).mean()), 4),
        **{key: value for key, value in cch.items() if key != "m2o_ms"},
        "cch_speedup_vs_networkx": round(float(np.median(nx_ms) / np.median(cch["m2o_ms"])), 1),
        "cch_max_abs_diff_vs_dijkstra_s": round(cch_diff_s, 4),
        "zone_points_per_s": round(zone_points_per_s),
        "targets": {
            "many_to_one_ms_median": 10,
            "speedup_vs_networkx": 50,
            "matrix_500x2000_s": 5,
            "zone_points_per_s": 50_000,
            "compiled_load_s": 2,
            "cch_many_to_one_ms_median": 3,
            "cch_speedup_vs_networkx": 150,
            "cch_matrix_500x2000_s": 1,
            "cch_customize_s": 0.2,
            "cch_build_s": 20,
        },
    }
    for key, value in result.items():
        print(f"{key:40s} {value}")
    write_result("routing", result)


def measure_cch(settings, network, vehicles, incidents, sources, targets, random_points) -> dict:
    """The CCH engine on the same points: build, customize, queries, a moving fleet."""
    profile = profile_from_settings(settings)
    start = time.perf_counter()
    CCHEngine(
        network,
        snap_max_m=settings.snap_max_m,
        offroad_speed_kph=settings.offroad_speed_kph,
        profile=profile,
    )  # no cache: the order is computed
    build_s = time.perf_counter() - start
    CCHEngine.from_settings(network, settings)  # make sure the order is cached
    start = time.perf_counter()
    cch = CCHEngine.from_settings(network, settings)
    init_s = time.perf_counter() - start

    cch.prepare(at=PEAK)  # the first hour off free flow also sets up the profile's arrays
    seen = {tuple(cch.traffic.speed_factors(None)), tuple(cch.traffic.speed_factors(PEAK))}
    customize_s: list[float] = []
    for hour in range(1, 168):  # each new traffic state is one customization
        at = PEAK + timedelta(hours=hour)
        key = tuple(cch.traffic.speed_factors(at))
        if key not in seen and len(customize_s) < CUSTOMIZATIONS:
            seen.add(key)
            customize_s.append(timed_ms(partial(cch.prepare, at=at), 1)[0] / 1000)

    m2o_times = []
    m2o_ms = []
    for i in range(INCIDENTS):
        start = time.perf_counter()
        m2o_times.append(cch.many_to_one(vehicles, incidents.take([i])))
        m2o_ms.append((time.perf_counter() - start) * 1000)

    def many_to_one_at_peak(i: int) -> np.ndarray:
        return cch.many_to_one(vehicles, incidents.take([i]), at=PEAK)

    peak_ms = [timed_ms(partial(many_to_one_at_peak, i), 1)[0] for i in range(INCIDENTS)]

    # the whole fleet moves: locate 500 new positions; the next query re-pins the fleet's
    # junctions in the search (its surcharge over the same query once pinned)
    locate_ms, repin_ms = [], []
    for move in range(MOVES):
        start = time.perf_counter()
        moved = cch.locate(*random_points(VEHICLES))
        located = time.perf_counter()
        cch.many_to_one(moved, incidents.take([move]))
        first = time.perf_counter()
        cch.many_to_one(moved, incidents.take([move]))
        pinned = time.perf_counter()
        locate_ms.append((located - start) * 1000)
        repin_ms.append(((located - start) + (first - located) - (pinned - first)) * 1000)

    matrix = cch.many_to_many(sources, targets)
    matrix_s = float(np.median(timed_ms(lambda: cch.many_to_many(sources, targets), 3))) / 1000
    return {
        "cch_build_s": round(build_s, 2),
        "cch_engine_init_cached_s": round(init_s, 2),
        "cch_customize_s": round(float(np.median(customize_s)), 3),
        "cch_many_to_one_ms_median": round(float(np.median(m2o_ms)), 2),
        "cch_many_to_one_ms_p99": round(float(np.percentile(m2o_ms, 99)), 2),
        "cch_many_to_one_peak_ms_median": round(float(np.median(peak_ms)), 2),
        "cch_matrix_500x2000_s": round(matrix_s, 2),
        "repin_500_ms": round(float(np.median(repin_ms)), 2),
        "repin_500_locate_ms": round(float(np.median(locate_ms)), 2),
        "m2o_ms": m2o_ms,
        "m2o_times": np.stack(m2o_times),
        "matrix": matrix,
    }


if __name__ == "__main__":
    main()
