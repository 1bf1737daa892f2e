"""straighten: curved osmnx edges become chains of straight edges, travel times unchanged."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
from shapely.geometry import LineString

from dispatch_engine.network.schema import DEFAULT_SPEED_KPH, ROAD_CLASS_SPEED_KPH
from dispatch_engine.network.straighten import straighten

GRAPHML = Path(__file__).resolve().parents[1] / "data" / "osm_extract_small.graphml"


@pytest.fixture(scope="module")
def simplified() -> nx.MultiDiGraph:
    """The simplified osmnx fixture (curved edges) with osmnx speeds and travel times."""
    graph = ox.load_graphml(GRAPHML)
    ox.routing.add_edge_speeds(graph, hwy_speeds=ROAD_CLASS_SPEED_KPH, fallback=DEFAULT_SPEED_KPH)
    return ox.routing.add_edge_travel_times(graph)


@pytest.fixture(scope="module")
def straightened(simplified: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """The fixture after straighten."""
    return straighten(simplified)


def _curve_graph(*, two_way: bool) -> nx.MultiDiGraph:
    """Nodes 5 and 10**10 joined by a road curving through two vertices."""
    graph = nx.MultiDiGraph(crs="epsg:4326")
    graph.add_node(5, x=113.600, y=24.800)
    graph.add_node(10**10, x=113.610, y=24.800)
    line = LineString([(113.600, 24.800), (113.603, 24.802), (113.607, 24.802), (113.610, 24.800)])
    attrs = {"highway": "tertiary", "speed_kph": 45.0, "osmid": 77, "name": "Curve Rd"}
    graph.add_edge(
        5, 10**10, geometry=line, length=1200.0, travel_time=96.0, oneway=not two_way, **attrs
    )
    if two_way:
        reverse = LineString(line.coords[::-1])
        graph.add_edge(
            10**10, 5, geometry=reverse, length=1200.0, travel_time=96.0, oneway=False, **attrs
        )
    return graph


def test_travel_times_between_original_nodes_are_unchanged(simplified, straightened):
    """Shortest travel times between all original node pairs are those before straightening."""
    before = dict(nx.all_pairs_dijkstra_path_length(simplified, weight="travel_time"))
    after = dict(nx.all_pairs_dijkstra_path_length(straightened, weight="travel_time"))
    pairs = [(s, t) for s in before for t in before[s]]
    assert len(pairs) > 300
    for s, t in pairs:
        assert after[s][t] == pytest.approx(before[s][t], rel=1e-9, abs=1e-9)


def test_every_edge_is_the_straight_segment_between_its_nodes(straightened):
    """No edge keeps a geometry, and each length is the great-circle distance of its ends."""
    assert all("geometry" not in data for *_, data in straightened.edges(data=True))
    ends = np.array(
        [
            [straightened.nodes[n][axis] for n in (u, v) for axis in ("y", "x")]
            for u, v in straightened.edges()
        ]
    )
    chord_m = ox.distance.great_circle(ends[:, 0], ends[:, 1], ends[:, 2], ends[:, 3])
    length_m = np.array([data["length"] for *_, data in straightened.edges(data=True)])
    np.testing.assert_allclose(length_m, chord_m, rtol=1e-9, atol=1e-6)


def test_two_way_roads_of_the_fixture_share_their_new_nodes(simplified, straightened):
    """One new node per vertex of each road, not per direction of it."""
    chains = set()
    for u, v, data in simplified.edges(data=True):
        if "geometry" in data:
            interior = tuple(data["geometry"].coords)[1:-1]
            chains.add(min((u, v, interior), (v, u, interior[::-1]), key=repr))
    expected_new = sum(len(interior) for *_, interior in chains)
    assert expected_new > 50
    assert straightened.number_of_nodes() - simplified.number_of_nodes() == expected_new


def test_two_way_curve_becomes_one_chain_used_both_ways():
    """Both directions of a curved two-way road run through the same two new nodes."""
    result = straighten(_curve_graph(two_way=True))
    new_nodes = set(result.nodes) - {5, 10**10}
    assert len(new_nodes) == 2
    assert result.number_of_edges() == 6
    assert all(result.has_edge(v, u) for u, v in result.edges())
    assert nx.shortest_path(result, 5, 10**10) == nx.shortest_path(result, 10**10, 5)[::-1]


def test_new_nodes_get_fresh_ids_and_vertex_coordinates():
    """New ids lie above the largest existing id and sit at the line's interior vertices."""
    result = straighten(_curve_graph(two_way=False))
    path = nx.shortest_path(result, 5, 10**10)
    assert path[1:-1] == [10**10 + 1, 10**10 + 2]
    coords = [(result.nodes[n]["x"], result.nodes[n]["y"]) for n in path]
    assert coords == [(113.600, 24.800), (113.603, 24.802), (113.607, 24.802), (113.610, 24.800)]


def test_pieces_split_length_and_time_and_copy_the_rest():
    """Pieces split length and travel time by their length and keep every other attribute."""
    result = straighten(_curve_graph(two_way=False))
    pieces = [
        result.edges[u, v, 0] for u, v in nx.utils.pairwise(nx.shortest_path(result, 5, 10**10))
    ]
    assert sum(p["length"] for p in pieces) == pytest.approx(1200.0)
    assert sum(p["travel_time"] for p in pieces) == pytest.approx(96.0)
    for piece in pieces:
        assert piece["travel_time"] == pytest.approx(piece["length"] / 1200.0 * 96.0)
        assert {k: piece[k] for k in ("highway", "speed_kph", "osmid", "oneway", "name")} == {
            "highway": "tertiary",
            "speed_kph": 45.0,
            "osmid": 77,
            "oneway": True,
            "name": "Curve Rd",
        }
        assert "geometry" not in piece
    # the middle vertex pair is ~404 m apart, the outer pieces ~371 m: proportional, not equal
    assert pieces[1]["length"] > pieces[0]["length"]


def test_straight_edges_are_kept_and_input_is_not_modified():
    """Edges without interior vertices stay as they are and the input graph is left untouched."""
    graph = _curve_graph(two_way=False)
    graph.add_edge(10**10, 5, length=1000.0, travel_time=80.0, highway="primary", speed_kph=45.0)
    graph.add_edge(
        5,
        10**10,
        geometry=LineString([(113.600, 24.800), (113.610, 24.800)]),
        length=1000.0,
        travel_time=80.0,
        highway="primary",
        speed_kph=45.0,
    )
    result = straighten(graph)
    assert graph.number_of_edges() == 3 and graph.number_of_nodes() == 2
    assert result.edges[10**10, 5, 0] == graph.edges[10**10, 5, 0]
    assert result.number_of_nodes() == 4
    assert result.number_of_edges() == 3 + 2
