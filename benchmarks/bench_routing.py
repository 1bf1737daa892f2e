"""Routing and zone speed on the embedded network (issue: foundation, section 5).

Many-to-one (500 random vehicle positions -> one incident) with the road engine and
with networkx as the baseline, a 500 x 2,000 matrix, loading the compiled network, and
the zone classifier's batch throughput.
"""

from __future__ import annotations

import time

import networkx as nx
import numpy as np

from benchmarks.common import timed_ms, write_result
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network import store
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.engine import RoadEngine
from dispatch_engine.settings import load_settings

SEED = 20261126
VEHICLES = 500
INCIDENTS = 60
NETWORKX_INCIDENTS = 5


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
    m2o_ms = np.array(
        [
            timed_ms(lambda i=i: engine.many_to_one(vehicles, incidents.take([i])), 1)[0]
            for i in range(INCIDENTS)
        ]
    )
    cutoff_ms = np.array(
        [
            timed_ms(
                lambda i=i: engine.many_to_one(vehicles, incidents.take([i]), cutoff_s=1800), 1
            )[0]
            for i in range(INCIDENTS)
        ]
    )

    graph = network.to_graph()
    reverse = graph.reverse(copy=False)
    osmid = network.node_osmid
    vehicle_nodes = [int(osmid[n]) for n in rng.choice(network.n_nodes, VEHICLES, replace=False)]
    nx_ms = []
    for _i in range(NETWORKX_INCIDENTS):
        target = int(osmid[rng.integers(network.n_nodes)])

        def networkx_many_to_one(target=target) -> list[float]:
            lengths = nx.single_source_dijkstra_path_length(reverse, target, weight="travel_time")
            return [lengths.get(v, np.inf) for v in vehicle_nodes]

        nx_ms.append(timed_ms(networkx_many_to_one, 1)[0])
    nx_ms = np.array(nx_ms)

    sources = engine.locate(*random_points(500))
    targets = engine.locate(*random_points(2000))
    start = time.perf_counter()
    matrix = engine.many_to_many(sources, targets)
    matrix_s = time.perf_counter() - start

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
        "zone_points_per_s": round(zone_points_per_s),
        "targets": {
            "many_to_one_ms_median": 10,
            "speedup_vs_networkx": 50,
            "matrix_500x2000_s": 5,
            "zone_points_per_s": 50_000,
            "compiled_load_s": 2,
        },
    }
    for key, value in result.items():
        print(f"{key:40s} {value}")
    write_result("routing", result)


if __name__ == "__main__":
    main()
