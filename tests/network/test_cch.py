"""The CCH engine against the Dijkstra reference, networkx and brute force."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import networkx as nx
import numpy as np
import pytest

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.network.cch import CCHEngine
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import RoadEngine
from dispatch_engine.network.profiles import SpeedProfile
from dispatch_engine.network.router import Router
from dispatch_engine.settings import load_settings
from tests.conftest import road_graph

OFFROAD_KPH = 15.0
SHANGHAI = ZoneInfo("Asia/Shanghai")
SAME_S = 1e-6  # both count whole milliseconds; only float summation order differs
# Monday 08:30 (peak), Saturday 12:00, Monday 03:00 (night: free flow)
HOURS = (
    datetime(2026, 3, 2, 8, 30, tzinfo=SHANGHAI),
    datetime(2026, 3, 7, 12, 0, tzinfo=SHANGHAI),
    datetime(2026, 3, 2, 3, 0, tzinfo=SHANGHAI),
)


def _profile() -> SpeedProfile:
    """Residential streets at 50 % speed weekday mornings, primary roads at 80 % on Saturdays."""
    residential = np.ones(168)
    residential[[h for d in range(5) for h in (d * 24 + 7, d * 24 + 8)]] = 0.5
    primary = np.ones(168)
    primary[5 * 24 : 6 * 24] = 0.8
    factors = {"residential": residential, "primary": primary}
    return SpeedProfile(name="test", timezone=SHANGHAI, factors=factors)


def _engines(network, tmp_path=None):
    kwargs = dict(snap_max_m=2000.0, offroad_speed_kph=OFFROAD_KPH, profile=_profile())
    return (
        CCHEngine(network, cache_dir=tmp_path, **kwargs),
        RoadEngine(network, integer_ms=True, **kwargs),
        RoadEngine(network, **kwargs),
    )


@pytest.fixture(scope="module")
def town_graph():
    """A 16x16 street grid: a scaled-down synthetic town with chains and one-way streets."""
    return road_graph(rows=16, cols=16, seed=11)


@pytest.fixture(scope="module", params=["grid", "town", "mixed"])
def case(request, grid_graph, town_graph, mixed_class_graph):
    """(graph, network, CCH engine, integer-ms Dijkstra, float Dijkstra) on each fixture."""
    graph = {"grid": grid_graph, "town": town_graph, "mixed": mixed_class_graph}[request.param]
    network = compile_graph(graph)
    return (graph, network, *_engines(network))


def _random_points(network, rng, k):
    lat0, lat1 = network.node_lat.min(), network.node_lat.max()
    lon0, lon1 = network.node_lon.min(), network.node_lon.max()
    return rng.uniform(lat0, lat1, k), rng.uniform(lon0, lon1, k)


def _node_points(graph, nodes):
    lat = np.array([graph.nodes[n]["y"] for n in nodes])
    lon = np.array([graph.nodes[n]["x"] for n in nodes])
    return lat, lon


@pytest.mark.parametrize("at", [None, *HOURS])
def test_matrix_equals_dijkstra_on_integer_weights(case, at):
    """Random off-road points: CCH equals Dijkstra on the same integer-millisecond weights."""
    _, network, cch, dijkstra_ms, _ = case
    rng = np.random.default_rng(1)
    origins = cch.locate(*_random_points(network, rng, 25))
    destinations = cch.locate(*_random_points(network, rng, 40))
    got = cch.many_to_many(origins, destinations, at=at)
    want = dijkstra_ms.many_to_many(origins, destinations, at=at)
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=SAME_S)
    # more origins than destinations: the searches run from the other side
    np.testing.assert_allclose(
        cch.many_to_many(destinations, origins, at=at),
        dijkstra_ms.many_to_many(destinations, origins, at=at),
        rtol=0,
        atol=SAME_S,
    )


@pytest.mark.parametrize("at", [None, *HOURS])
def test_within_a_tenth_of_a_percent_of_the_float_reference(case, at):
    """Rounding to milliseconds keeps CCH within 0.1 % of float Dijkstra."""
    _, network, cch, _, dijkstra = case
    rng = np.random.default_rng(3)
    pts = cch.locate(*_random_points(network, rng, 40))
    got = cch.many_to_many(pts, pts, at=at)
    want = dijkstra.many_to_many(pts, pts, at=at)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("at", HOURS)
def test_profile_times_equal_networkx_on_slowed_graph(case, at):
    """Under a profile, node-to-node times equal networkx on a graph with edges slowed by class."""
    graph, network, cch, _, _ = case
    factors = dict(zip(network.road_classes, cch.traffic.speed_factors(at), strict=True))
    slowed = nx.DiGraph()
    for u, v, data in graph.edges(data=True):
        time_s = data["travel_time"] / factors[data["highway"]]
        if not slowed.has_edge(u, v) or slowed[u][v]["time_s"] > time_s:
            slowed.add_edge(u, v, time_s=time_s)
    rng = np.random.default_rng(4)
    nodes = list(graph.nodes)
    origins = [nodes[i] for i in rng.choice(len(nodes), 6, replace=False)]
    targets = [nodes[i] for i in rng.choice(len(nodes), 30, replace=False)]  # mid-chain too
    matrix = cch.many_to_many(
        cch.locate(*_node_points(graph, origins)), cch.locate(*_node_points(graph, targets)), at=at
    )
    for i, source in enumerate(origins):
        ref = nx.single_source_dijkstra_path_length(slowed, source, weight="time_s")
        want = np.array([ref[t] for t in targets])
        np.testing.assert_allclose(matrix[i], want, rtol=1e-3, atol=0.01)


def test_peak_hours_slow_only_trips_on_slowed_classes(grid_graph):
    """At the residential peak trips get slower, never faster; at night they are free flow."""
    network = compile_graph(grid_graph)
    cch, _, _ = _engines(network)
    rng = np.random.default_rng(5)
    pts = cch.locate(*_random_points(network, rng, 30))
    free = cch.many_to_many(pts, pts)
    peak = cch.many_to_many(pts, pts, at=HOURS[0])
    night = cch.many_to_many(pts, pts, at=HOURS[2])
    assert np.all(peak >= free - 1e-9) and np.any(peak > free * 1.05)
    np.testing.assert_array_equal(night, free)


def test_query_shapes_agree(case):
    """many-to-one, one-to-many and the matrix give the same numbers for the same points."""
    _, network, cch, _, _ = case
    rng = np.random.default_rng(6)
    pts = cch.locate(*_random_points(network, rng, 30))
    matrix = cch.many_to_many(pts, pts, at=HOURS[0])
    for j in (0, 7, 19):
        np.testing.assert_allclose(
            cch.many_to_one(pts, pts.take([j]), at=HOURS[0]), matrix[:, j], atol=SAME_S
        )
        np.testing.assert_allclose(
            cch.one_to_many(pts.take([j]), pts, at=HOURS[0]), matrix[j, :], atol=SAME_S
        )
    assert np.all(np.diag(matrix) >= 0)


def test_alternating_pinned_sets_stay_correct(case):
    """Switching between fleets (re-pinning) never mixes their answers up."""
    _, network, cch, dijkstra_ms, _ = case
    rng = np.random.default_rng(7)
    fleets = [cch.locate(*_random_points(network, rng, k)) for k in (20, 35)]
    incidents = cch.locate(*_random_points(network, rng, 3))
    for fleet in (*fleets, fleets[0], fleets[1], fleets[0]):
        for j in range(len(incidents)):
            incident = incidents.take([j])
            np.testing.assert_allclose(
                cch.many_to_one(fleet, incident),
                dijkstra_ms.many_to_one(fleet, incident),
                atol=SAME_S,
            )


@pytest.mark.parametrize("at", [None, HOURS[0]])
def test_route_is_a_real_path_with_the_matrix_time(case, at):
    """A route's time equals the matrix, its nodes form a path, its length is Dijkstra's."""
    graph, network, cch, dijkstra_ms, _ = case
    rng = np.random.default_rng(8)
    pts = cch.locate(*_random_points(network, rng, 10))
    matrix = cch.many_to_many(pts, pts, at=at)
    for i in range(5):
        j = 9 - i
        route = cch.route(pts.take([i]), pts.take([j]), at=at)
        reference = dijkstra_ms.route(pts.take([i]), pts.take([j]), at=at)
        assert route.seconds == pytest.approx(matrix[i, j], abs=SAME_S)
        assert route.seconds == pytest.approx(reference.seconds, abs=SAME_S)
        assert route.meters == pytest.approx(reference.meters, rel=1e-9)
        assert cch.route_meters(pts.take([i]), pts.take([j]), at=at) == route.meters
        assert not route.estimate
        for u, v in zip(route.nodes[:-1], route.nodes[1:], strict=False):
            assert graph.has_edge(u, v)


def test_route_beyond_the_cutoff_is_inf(case):
    """A route whose time exceeds the cutoff is inf, one within it is unchanged."""
    _, network, cch, _, _ = case
    rng = np.random.default_rng(9)
    pts = cch.locate(*_random_points(network, rng, 2))
    full = cch.route(pts.take([0]), pts.take([1]))
    assert cch.route(pts.take([0]), pts.take([1]), cutoff_s=full.seconds * 0.9).seconds == np.inf
    within = cch.route(pts.take([0]), pts.take([1]), cutoff_s=full.seconds + 1)
    assert within.seconds == full.seconds and within.nodes == full.nodes
    short = cch.route_meters(pts.take([0]), pts.take([1]), cutoff_s=full.seconds * 0.9)
    assert short == np.inf


def test_cutoff_hides_far_targets_only(case):
    """With a cutoff, times above it become inf and the rest are unchanged."""
    _, network, cch, _, _ = case
    rng = np.random.default_rng(10)
    pts = cch.locate(*_random_points(network, rng, 20))
    full = cch.many_to_many(pts, pts)
    cutoff = float(np.median(full))
    cut = cch.many_to_many(pts, pts, cutoff_s=cutoff)
    np.testing.assert_array_equal(np.isinf(cut), full > cutoff)
    np.testing.assert_array_equal(cut[full <= cutoff], full[full <= cutoff])


@pytest.mark.parametrize("at", [None, HOURS[0]])
def test_reachable_equals_brute_force(case, at):
    """reachable() finds exactly the points a full float-Dijkstra matrix puts within T."""
    _, network, cch, _, dijkstra = case
    rng = np.random.default_rng(11)
    fleet = cch.locate(*_random_points(network, rng, 60))
    incidents = cch.locate(*_random_points(network, rng, 4))
    brute = dijkstra.many_to_many(fleet, incidents, at=at)
    for j in range(len(incidents)):
        times = np.sort(brute[:, j])
        gap = int(np.argmax(np.diff(times[10:50]))) + 10  # a threshold far from any time
        within_s = float((times[gap] + times[gap + 1]) / 2)
        want = np.flatnonzero(brute[:, j] <= within_s)
        for engine in (cch, dijkstra):
            reach = engine.reachable(fleet, incidents.take([j]), within_s=within_s, at=at)
            assert sorted(reach.index.tolist()) == want.tolist()
            assert np.all(np.diff(reach.eta_s) >= 0) and np.all(reach.eta_s <= within_s)
            np.testing.assert_allclose(reach.eta_s, brute[reach.index, j], rtol=1e-3)


def test_reachable_rejects_a_negative_time(grid_graph):
    """A negative time limit is an error naming within_s."""
    network = compile_graph(grid_graph)
    cch, _, _ = _engines(network)
    pts = cch.locate(*_random_points(network, np.random.default_rng(12), 3))
    with pytest.raises(InvalidInputError) as err:
        cch.reachable(pts, pts.take([0]), within_s=-1.0)
    assert err.value.field == "within_s"


def test_naive_time_is_an_error(grid_graph):
    """A query time without a timezone is an error naming at (the peak hour would shift)."""
    network = compile_graph(grid_graph)
    cch, _, _ = _engines(network)
    pts = cch.locate(*_random_points(network, np.random.default_rng(13), 3))
    with pytest.raises(InvalidInputError) as err:
        cch.many_to_one(pts, pts.take([0]), at=datetime(2026, 3, 2, 8, 30))
    assert err.value.field == "at"


def test_empty_point_sets_give_empty_answers(grid_graph):
    """No origins or no destinations: an empty matrix of the right shape, no error."""
    network = compile_graph(grid_graph)
    cch, _, _ = _engines(network)
    pts = cch.locate(*_random_points(network, np.random.default_rng(14), 3))
    assert cch.many_to_many(pts.take([]), pts).shape == (0, 3)
    assert cch.many_to_one(pts.take([]), pts.take([0])).shape == (0,)


def test_queries_from_other_threads(grid_graph):
    """Threads get their own query objects and the same answers as the main thread."""
    network = compile_graph(grid_graph)
    cch, _, _ = _engines(network)
    rng = np.random.default_rng(15)
    fleet = cch.locate(*_random_points(network, rng, 30))
    incidents = cch.locate(*_random_points(network, rng, 8))
    want = [cch.many_to_one(fleet, incidents.take([j]), at=HOURS[0]) for j in range(8)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(
            pool.map(lambda j: cch.many_to_one(fleet, incidents.take([j]), at=HOURS[0]), range(8))
        )
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_index_cached_and_rebuilt_only_when_the_network_changes(tmp_path, grid_graph):
    """The order is cached; new travel times reuse it, a changed topology rebuilds it."""
    network = compile_graph(grid_graph)
    first, _, _ = _engines(network, tmp_path)
    assert first.index.built and first.index.path.exists()
    again, _, _ = _engines(network, tmp_path)
    assert not again.index.built and again.index.key == first.index.key

    slower = grid_graph.copy()
    for _, _, data in slower.edges(data=True):
        data["travel_time"] *= 1.25
    retimed = compile_graph(slower)
    cch, dijkstra_ms, _ = _engines(retimed, tmp_path)
    assert not cch.index.built and cch.index.key == first.index.key
    pts = cch.locate(*_random_points(retimed, np.random.default_rng(16), 20))
    np.testing.assert_allclose(
        cch.many_to_many(pts, pts), dijkstra_ms.many_to_many(pts, pts), atol=SAME_S
    )

    fewer = grid_graph.copy()
    u, v = next((u, v) for u, v in fewer.edges() if fewer.has_edge(v, u))
    fewer.remove_edge(u, v)
    changed, _, _ = _engines(compile_graph(fewer), tmp_path)
    assert changed.index.built and changed.index.key != first.index.key
    assert len(list(tmp_path.glob("cch-*.npz"))) == 2


def test_settings_select_the_engine(tmp_path, grid_graph):
    """engine=cch (the default) gives the CCH engine, engine=dijkstra the reference."""
    network = compile_graph(grid_graph)
    default = load_settings(cache_dir=tmp_path, speed_profile="none")
    assert default.engine == "cch"
    assert isinstance(Router.from_settings(network, default).road, CCHEngine)
    assert list((tmp_path / "networks").glob("cch-*.npz"))
    reference = load_settings(cache_dir=tmp_path, engine="dijkstra")
    road = Router.from_settings(network, reference).road
    assert isinstance(road, RoadEngine) and road.traffic.profile is not None
