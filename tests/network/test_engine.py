"""The road engine against networkx on the same graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from dispatch_engine.errors import OffNetworkError
from dispatch_engine.network.compile import CompiledNetwork, compile_graph
from dispatch_engine.network.engine import (
    EstimateEngine,
    RoadEngine,
    _same_chain,
    _same_chain_sorted,
    haversine_m,
)

OFFROAD_KPH = 15.0


@pytest.fixture(scope="module")
def network(grid_graph) -> CompiledNetwork:
    return compile_graph(grid_graph)


@pytest.fixture(scope="module")
def engine(network) -> RoadEngine:
    return RoadEngine(network, snap_max_m=2000.0, offroad_speed_kph=OFFROAD_KPH)


def _node_points(graph, nodes):
    return np.array([graph.nodes[n]["y"] for n in nodes]), np.array(
        [graph.nodes[n]["x"] for n in nodes]
    )


def test_compile_contracts_chains(grid_graph, network):
    """Pass-through nodes are contracted: fewer core junctions than nodes, no edge lost."""
    summary = network.summary()
    assert summary["nodes"] == grid_graph.number_of_nodes()
    assert summary["edges"] == grid_graph.number_of_edges()
    assert summary["core_nodes"] < summary["nodes"]
    assert sorted(network.chain_edges.tolist()) == list(range(network.n_edges))


def test_node_to_node_times_equal_networkx(grid_graph, engine):
    """ETAs between graph nodes equal networkx Dijkstra for every pair of a sample (0.01 s)."""
    rng = np.random.default_rng(1)
    nodes = list(grid_graph.nodes)
    origins = [nodes[i] for i in rng.choice(len(nodes), 12, replace=False)]
    targets = [nodes[i] for i in rng.choice(len(nodes), 40, replace=False)]
    o = engine.locate(*_node_points(grid_graph, origins))
    t = engine.locate(*_node_points(grid_graph, targets))
    matrix = engine.many_to_many(o, t)
    for i, src in enumerate(origins):
        ref = nx.single_source_dijkstra_path_length(grid_graph, src, weight="travel_time")
        for j, dst in enumerate(targets):
            assert matrix[i, j] == pytest.approx(ref[dst], abs=0.01)


def test_many_to_one_and_one_to_many_agree_with_matrix(grid_graph, engine):
    """The three query shapes give the same numbers for the same points."""
    rng = np.random.default_rng(2)
    lat = rng.uniform(24.801, 24.826, 30)
    lon = rng.uniform(113.581, 113.606, 30)
    pts = engine.locate(lat, lon)
    matrix = engine.many_to_many(pts, pts)
    for j in (0, 7, 19):
        np.testing.assert_allclose(engine.many_to_one(pts, pts.take([j])), matrix[:, j], atol=1e-6)
        np.testing.assert_allclose(engine.one_to_many(pts.take([j]), pts), matrix[j, :], atol=1e-6)
    assert np.all(np.diag(matrix) >= 0)


def _split_reference(graph, network, engine, lat, lon):
    """Insert each snapped point into a copy of the graph as a node splitting its segment."""
    ref = graph.copy()
    snapped = engine.locate(lat, lon)
    ids = []
    for i in range(len(lat)):
        point = shapely.Point(snapped.snapped_lon[i], snapped.snapped_lat[i])
        best = None
        for u, v, _data in graph.edges(data=True):
            seg = shapely.LineString(
                [
                    (graph.nodes[u]["x"], graph.nodes[u]["y"]),
                    (graph.nodes[v]["x"], graph.nodes[v]["y"]),
                ]
            )
            d = seg.distance(point)
            if best is None or d < best[0]:
                best = (d, u, v, seg.project(point, normalized=True))
        _, u, v, f = best
        new = ("p", i)
        ref.add_node(new)
        offroad_s = snapped.offroad_m[i] / (OFFROAD_KPH / 3.6)
        for a, b, frac in ((u, v, f), (v, u, 1 - f)):
            if ref.has_edge(a, b):
                tt = min(d["travel_time"] for d in graph[a][b].values())
                ref.add_edge(a, new, travel_time=frac * tt + offroad_s)
                ref.add_edge(new, b, travel_time=(1 - frac) * tt + offroad_s)
        ids.append(new)
    return ref, ids, snapped


def test_points_off_nodes_equal_networkx_with_split_edges(grid_graph, network, engine):
    """Mid-edge, off-road points: times equal networkx on a graph with the points inserted."""
    rng = np.random.default_rng(3)
    lat = rng.uniform(24.801, 24.826, 10)
    lon = rng.uniform(113.581, 113.606, 10)
    ref, ids, snapped = _split_reference(grid_graph, network, engine, lat, lon)
    matrix = engine.many_to_many(snapped, snapped)
    for i, src in enumerate(ids):
        lengths = nx.single_source_dijkstra_path_length(ref, src, weight="travel_time")
        for j, dst in enumerate(ids):
            if i != j:
                # the reference adds each point's off-road leg on the edges touching it
                assert matrix[i, j] == pytest.approx(lengths[dst], abs=0.01)


def test_route_matches_time_and_is_a_real_path(grid_graph, network, engine):
    """A route's time equals the matrix, its nodes form a path in the graph, its length adds up."""
    rng = np.random.default_rng(4)
    lat = rng.uniform(24.801, 24.826, 8)
    lon = rng.uniform(113.581, 113.606, 8)
    pts = engine.locate(lat, lon)
    matrix = engine.many_to_many(pts, pts)
    for i in range(4):
        j = 7 - i
        route = engine.route(pts.take([i]), pts.take([j]))
        assert route.seconds == pytest.approx(matrix[i, j], abs=1e-6)
        assert not route.estimate
        for u, v in zip(route.nodes[:-1], route.nodes[1:], strict=False):
            assert grid_graph.has_edge(u, v)
        inner = sum(
            min(d["length"] for d in grid_graph[u][v].values())
            for u, v in zip(route.nodes[1:-2], route.nodes[2:-1], strict=False)
        )
        assert route.meters >= inner - 1e-3
        assert route.geometry[0] == pytest.approx((lat[i], lon[i]))
        assert route.geometry[-1] == pytest.approx((lat[j], lon[j]))


def test_route_meters_is_the_route_length(network, engine):
    """The length alone equals the full route's, across junctions and along one road."""
    rng = np.random.default_rng(6)
    lat = rng.uniform(24.801, 24.826, 6)
    lon = rng.uniform(113.581, 113.606, 6)
    # and two points on one road, a quarter and three quarters along its first edge
    u, v = int(network.edge_tail[0]), int(network.edge_head[0])
    for t in (0.25, 0.75):
        lat = np.append(lat, network.node_lat[u] + t * (network.node_lat[v] - network.node_lat[u]))
        lon = np.append(lon, network.node_lon[u] + t * (network.node_lon[v] - network.node_lon[u]))
    pts = engine.locate(lat, lon)
    for i in range(len(lat)):
        for j in range(len(lat)):
            route = engine.route(pts.take([i]), pts.take([j]))
            assert engine.route_meters(pts.take([i]), pts.take([j])) == route.meters


def test_cutoff_hides_far_targets_only(grid_graph, engine):
    """With a cutoff, times above it become inf and the rest are unchanged."""
    rng = np.random.default_rng(5)
    pts = engine.locate(rng.uniform(24.801, 24.826, 20), rng.uniform(113.581, 113.606, 20))
    full = engine.many_to_many(pts, pts)
    cutoff = float(np.median(full))
    cut = engine.many_to_many(pts, pts, cutoff_s=cutoff)
    np.testing.assert_array_equal(np.isinf(cut), full > cutoff)
    np.testing.assert_allclose(cut[full <= cutoff], full[full <= cutoff])


def test_snap_picks_the_nearest_segment(grid_graph, engine):
    """Snapping finds the segment a brute-force distance scan finds (in degrees-scaled metres)."""
    rng = np.random.default_rng(6)
    lat = rng.uniform(24.801, 24.826, 15)
    lon = rng.uniform(113.581, 113.606, 15)
    snapped = engine.locate(lat, lon)
    for i in range(15):
        best = min(
            haversine_m(lat[i], lon[i], *_closest_on_segment(grid_graph, u, v, lat[i], lon[i]))
            for u, v in grid_graph.edges()
        )
        assert snapped.offroad_m[i] == pytest.approx(best, rel=0.01, abs=0.5)


def _closest_on_segment(graph, u, v, lat, lon):
    k = np.cos(np.radians(lat))
    ax, ay = graph.nodes[u]["x"] * k, graph.nodes[u]["y"]
    bx, by = graph.nodes[v]["x"] * k, graph.nodes[v]["y"]
    px, py = lon * k, lat
    t = np.clip(
        ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1
    )
    return ay + t * (by - ay), (ax + t * (bx - ax)) / k


def test_point_far_from_roads_is_an_error(engine):
    """A point more than snap_max_m from every road raises OffNetworkError naming location."""
    with pytest.raises(OffNetworkError) as err:
        engine.locate(np.array([24.95]), np.array([113.59]))
    assert err.value.field == "location"
    assert "from any road" in str(err.value)


@pytest.mark.parametrize(
    "n, m, chains", [(1, 1, 4), (7, 1, 4), (1, 9, 4), (12, 15, 4), (400, 1, 300), (3, 500, 300)]
)
def test_same_chain_all_at_once_equals_sort_and_search(n, m, chains):
    """Both ways of finding same-chain pairs agree, with one-way (-1) slots and ties, and
    with a fleet of which only a few vehicles share a chain with the site (many chains)."""
    rng = np.random.default_rng(n * 100 + m)
    origin_chain = rng.integers(-1, chains, (n, 2))
    dest_chain = rng.integers(-1, chains, (m, 2))
    origin_s = rng.integers(0, 5, (n, 2)).astype(float)
    dest_s = rng.integers(0, 5, (m, 2)).astype(float)
    expected = np.full((n, m), np.inf)  # a plain loop over every pair of placements
    for i in range(n):
        for j in range(m):
            for a in range(2):
                for b in range(2):
                    c = origin_chain[i, a]
                    if c >= 0 and c == dest_chain[j, b] and dest_s[j, b] >= origin_s[i, a]:
                        expected[i, j] = min(expected[i, j], dest_s[j, b] - origin_s[i, a])
    args = (origin_chain, origin_s, dest_chain, dest_s)
    np.testing.assert_array_equal(_same_chain(*args), expected)
    np.testing.assert_array_equal(_same_chain_sorted(*args), expected)


def test_remembered_snaps_equal_snapping_afresh(network):
    """Small calls answered from the memo (recent, evicted, pinned; on and off the
    network, repeats within a call) give exactly what the snapper gives."""
    engine = RoadEngine(network, snap_max_m=2000.0, offroad_speed_kph=OFFROAD_KPH)
    engine.snaps.capacity = 5
    rng = np.random.default_rng(11)
    pool_lat = np.append(rng.uniform(24.801, 24.826, 12), 24.95)  # the last is off-network
    pool_lon = np.append(rng.uniform(113.581, 113.606, 12), 113.59)
    engine.pin_locations(pool_lat[:3], pool_lon[:3])
    for _ in range(60):
        pick = rng.integers(0, pool_lat.size, int(rng.integers(1, 5)))
        found, snapped = engine.locate_where_possible(pool_lat[pick], pool_lon[pick])
        ref_found, ref = engine.snapper.snap_where_possible(pool_lat[pick], pool_lon[pick])
        np.testing.assert_array_equal(found, ref_found)
        for name in ref.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(snapped, name), getattr(ref, name))
    assert len(engine.snaps._recent) <= 5
    with pytest.raises(OffNetworkError):
        engine.locate(pool_lat[-1:], pool_lon[-1:])  # remembered as off the network


def test_compiled_network_round_trips_through_npz(tmp_path, grid_graph, network):
    """save/load keeps every array, and to_graph gives back the same edges."""
    path = tmp_path / "net.npz"
    network.save(path)
    loaded = CompiledNetwork.load(path)
    np.testing.assert_array_equal(loaded.edge_head, network.edge_head)
    np.testing.assert_array_equal(loaded.chain_edges, network.chain_edges)
    back = loaded.to_graph()
    assert set(back.edges()) == set(grid_graph.edges())


def test_estimate_engine_is_flagged_and_scales_with_distance():
    """Estimates are great-circle x detour / speed and flagged as estimates."""
    engine = EstimateEngine(detour_factor=1.3, speed_kph=60.0)
    a = engine.locate(np.array([23.13]), np.array([113.26]))  # Guangzhou
    b = engine.locate(np.array([24.81]), np.array([113.60]))  # Shaoguan
    route = engine.route(a, b)
    expected_m = 1.3 * float(haversine_m(23.13, 113.26, 24.81, 113.60))
    assert route.estimate
    assert route.meters == pytest.approx(expected_m)
    assert route.seconds == pytest.approx(expected_m / (60 / 3.6))
