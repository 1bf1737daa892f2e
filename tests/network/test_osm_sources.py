"""OpenStreetMap sources: PBF, OSM XML, osmnx GraphML and the cached osmnx download."""

from __future__ import annotations

import shutil
import socket
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyrosm
import pytest
from shapely.geometry import Point, Polygon, box

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.network.schema import ROAD_CLASS_SPEED_KPH, validate_graph
from dispatch_engine.network.sources.osm import save_graphml
from dispatch_engine.network.sources.osm_file import graph_from_osm_file
from dispatch_engine.network.sources.osmnx_download import (
    cache_path,
    graph_from_place,
    graph_from_polygon,
)

DATA = Path(__file__).resolve().parents[1] / "data"
OSM_XML = DATA / "osm_extract_small.osm"
GRAPHML = DATA / "osm_extract_small.graphml"
PBF = Path(pyrosm.get_data("test_pbf"))


@pytest.fixture(scope="module")
def pbf_graph() -> nx.MultiDiGraph:
    """pyrosm's test extract read through graph_from_osm_file."""
    return graph_from_osm_file(PBF)


@pytest.fixture(scope="module")
def xml_graph() -> nx.MultiDiGraph:
    """The OSM XML fixture read through graph_from_osm_file."""
    # written by osmnx's save_graph_xml with all_oneway set, as osmnx requires for
    # reading it back; osmnx still warns about any XML file it generated
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The XML file you are loading appears")
        return graph_from_osm_file(OSM_XML)


@pytest.fixture(scope="module")
def graphml_graph() -> nx.MultiDiGraph:
    """The simplified osmnx GraphML fixture read through graph_from_osm_file."""
    return graph_from_osm_file(GRAPHML)


@pytest.fixture
def offline_osmnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point osmnx at a closed local port, so any request it makes fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"
    monkeypatch.setattr(ox.settings, "nominatim_url", url)
    monkeypatch.setattr(ox.settings, "overpass_url", url)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "use_cache", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 2)
    # osmnx pins the Overpass host by replacing socket.getaddrinfo; restore it afterwards
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)


def assert_network(graph: nx.MultiDiGraph) -> None:
    """The schema holds, in WGS-84, strongly connected, straight edges, consistent times."""
    validate_graph(graph)
    assert graph.graph["crs"] == "epsg:4326"
    assert nx.is_strongly_connected(graph)
    edges = [data for *_, data in graph.edges(data=True)]
    assert all(isinstance(e["highway"], str) for e in edges)
    assert all(len(e["geometry"].coords) == 2 for e in edges if "geometry" in e)
    length_m = np.array([e["length"] for e in edges])
    speed_kph = np.array([e["speed_kph"] for e in edges])
    travel_time_s = np.array([e["travel_time"] for e in edges])
    np.testing.assert_allclose(travel_time_s, length_m / (speed_kph / 3.6), rtol=1e-9)


def test_pbf_gives_a_valid_network(pbf_graph):
    """The PBF extract yields a schema-valid, strongly connected WGS-84 network."""
    assert_network(pbf_graph)
    assert pbf_graph.number_of_nodes() > 500


def test_pbf_keeps_exactly_pyrosms_largest_strong_component(pbf_graph):
    """Nodes are the OSM node ids of the largest strongly connected component of pyrosm's graph."""
    osm = pyrosm.OSM(str(PBF))
    nodes, edges = osm.get_network(network_type="driving", nodes=True)
    reference = osm.to_graph(nodes, edges, graph_type="networkx", simplify=False)
    largest = max(nx.strongly_connected_components(reference), key=len)
    assert set(pbf_graph.nodes) == largest


def test_pbf_lengths_are_metres_between_node_positions(pbf_graph):
    """Each edge's length is the great-circle distance in metres between its two nodes."""
    ends = np.array(
        [
            [pbf_graph.nodes[n][axis] for n in (u, v) for axis in ("y", "x")]
            for u, v in pbf_graph.edges()
        ]
    )
    chord_m = ox.distance.great_circle(ends[:, 0], ends[:, 1], ends[:, 2], ends[:, 3])
    length_m = np.array([data["length"] for *_, data in pbf_graph.edges(data=True)])
    np.testing.assert_allclose(length_m, chord_m, atol=0.01)
    assert length_m.sum() > 50_000


def test_pbf_speeds_come_from_maxspeed_then_road_class(pbf_graph):
    """Edges tagged maxspeed=80 get 80 km/h; untagged edges get their road class's speed."""
    tagged = [d for *_, d in pbf_graph.edges(data=True) if d.get("maxspeed") == "80"]
    untagged = [d for *_, d in pbf_graph.edges(data=True) if d.get("maxspeed") is None]
    assert tagged and untagged
    assert all(d["speed_kph"] == 80.0 for d in tagged)
    assert all(d["speed_kph"] == ROAD_CLASS_SPEED_KPH[d["highway"]] for d in untagged)


def test_osm_xml_gives_a_valid_network_with_osm_ids(xml_graph):
    """The OSM XML fixture yields a valid network whose nodes are OSM ids of the file."""
    assert_network(xml_graph)
    osm_ids = {
        int(line.split('id="')[1].split('"')[0])
        for line in OSM_XML.read_text().splitlines()
        if line.lstrip().startswith("<node ")
    }
    assert set(xml_graph.nodes) <= osm_ids
    assert xml_graph.number_of_nodes() > 50


def test_simplified_graphml_is_straightened_into_a_valid_network(graphml_graph):
    """The curved osmnx GraphML yields a valid network with more nodes than the file has."""
    assert_network(graphml_graph)
    assert graphml_graph.number_of_nodes() > ox.load_graphml(GRAPHML).number_of_nodes()


def test_xml_and_simplified_graphml_agree_on_road_distances(xml_graph, graphml_graph):
    """Road distances between intersections agree between raw XML and simplified GraphML."""
    shared = sorted(set(xml_graph.nodes) & set(graphml_graph.nodes))
    assert len(shared) > 15
    for source in shared:
        from_xml = nx.single_source_dijkstra_path_length(xml_graph, source, weight="length")
        from_graphml = nx.single_source_dijkstra_path_length(graphml_graph, source, weight="length")
        for target in shared:
            assert from_graphml[target] == pytest.approx(from_xml[target], rel=1e-9, abs=1e-6)


def test_projected_graphml_is_reprojected_to_wgs84(tmp_path, graphml_graph):
    """A GraphML saved in UTM comes back in WGS-84 at the original node positions."""
    projected = ox.project_graph(ox.load_graphml(GRAPHML))
    assert projected.graph["crs"] != "epsg:4326"
    ox.save_graphml(projected, tmp_path / "utm.graphml")
    graph = graph_from_osm_file(tmp_path / "utm.graphml")
    assert_network(graph)

    def positions(g: nx.MultiDiGraph) -> np.ndarray:
        return np.array([(d["x"], d["y"]) for _, d in g.nodes(data=True)])

    # new vertex nodes may be numbered in another order: match them by position
    gap_deg = np.abs(positions(graph)[:, None, :] - positions(graphml_graph)[None, :, :]).max(2)
    assert graph.number_of_nodes() == graphml_graph.number_of_nodes()
    assert gap_deg.min(axis=1).max() < 1e-7
    for node in set(ox.load_graphml(GRAPHML).nodes) & set(graphml_graph.nodes):
        for axis in ("x", "y"):
            assert graph.nodes[node][axis] == pytest.approx(
                graphml_graph.nodes[node][axis], abs=1e-7
            )


def test_save_graphml_round_trips_through_osmnx(tmp_path, graphml_graph):
    """A saved network reloads (osmnx, graph_from_osm_file) with the same edges and values."""
    path = tmp_path / "export" / "network.graphml"
    save_graphml(graphml_graph, path)
    reloaded = ox.load_graphml(path)
    assert set(reloaded.edges(keys=True)) == set(graphml_graph.edges(keys=True))
    for u, v, k, data in graphml_graph.edges(keys=True, data=True):
        again = reloaded.edges[u, v, k]
        for attr in ("length", "travel_time", "speed_kph", "highway", "osmid", "oneway"):
            assert again[attr] == data[attr]
    read_back = graph_from_osm_file(path)
    assert set(read_back.edges(keys=True)) == set(graphml_graph.edges(keys=True))


def test_save_graphml_to_an_unwritable_place_is_invalid_input(tmp_path, graphml_graph):
    """Exporting into a path whose parent is a file names the graphml field."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError) as caught:
        save_graphml(graphml_graph, tmp_path / "file" / "network.graphml")
    assert caught.value.field == "graphml"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.osm.pbf", None, "no such file"),
        ("roads.csv", "a,b\n", "unsupported file type"),
        ("garbage.graphml", "not xml", "not a GraphML file saved by osmnx"),
        ("garbage.osm", "not xml", "not a readable OSM XML file"),
        ("garbage.osm.pbf", "not a pbf, just text", "not a readable OSM PBF file"),
        ("plain.graphml", None, "missing"),
        (
            "nodes_only.osm",
            '<osm version="0.6"><node id="1" lat="24.8" lon="113.6"/></osm>',
            "no drivable roads",
        ),
    ],
)
def test_bad_osm_files_are_invalid_input(tmp_path, name, content, reason):
    """Missing, unknown, unreadable or roadless files are InvalidInputError naming the reason."""
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    elif name == "plain.graphml":
        nx.write_graphml(nx.MultiDiGraph([(1, 2)]), path)
    with pytest.raises(InvalidInputError) as caught:
        graph_from_osm_file(path)
    assert caught.value.field == "osm_file"
    assert reason in caught.value.message


def test_place_cache_hit_reads_the_saved_graphml_without_network(
    tmp_path, offline_osmnx, graphml_graph
):
    """A cached place download is read from disk while every osmnx request would fail."""
    shutil.copy(GRAPHML, cache_path("Kouvola, Finland", cache_dir=tmp_path))
    graph = graph_from_place("Kouvola, Finland", cache_dir=tmp_path)
    assert_network(graph)
    assert set(graph.edges(keys=True)) == set(graphml_graph.edges(keys=True))


def test_polygon_cache_hit_reads_the_saved_graphml_without_network(
    tmp_path, offline_osmnx, graphml_graph
):
    """A cached polygon download is found again for the same polygon from another ring start."""
    area = Polygon([(26.94, 60.52), (26.97, 60.52), (26.97, 60.54), (26.94, 60.54)])
    shutil.copy(GRAPHML, cache_path(area, cache_dir=tmp_path))
    same_area = Polygon([(26.97, 60.54), (26.94, 60.54), (26.94, 60.52), (26.97, 60.52)])
    graph = graph_from_polygon(same_area, cache_dir=tmp_path)
    assert set(graph.edges(keys=True)) == set(graphml_graph.edges(keys=True))


def test_cache_paths_differ_by_query(tmp_path):
    """Different places and polygons get different cache files; the same query the same file."""
    paths = {
        cache_path("Shaoguan, China", cache_dir=tmp_path),
        cache_path("Shaoguan, China", cache_dir=tmp_path),
        cache_path("Lechang, China", cache_dir=tmp_path),
        cache_path(box(113.5, 24.7, 113.7, 24.9), cache_dir=tmp_path),
        cache_path(box(113.5, 24.7, 113.7, 25.0), cache_dir=tmp_path),
    }
    assert len(paths) == 4
    assert all(p.parent == tmp_path and p.suffix == ".graphml" for p in paths)


def test_place_download_failure_is_a_clear_data_error(tmp_path, offline_osmnx):
    """An unreachable OpenStreetMap is a DataError saying the download failed; nothing cached."""
    with pytest.raises(DataError) as caught:
        graph_from_place("Shaoguan, China", cache_dir=tmp_path)
    assert "could not download" in caught.value.message
    assert "no internet?" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_polygon_download_failure_is_a_clear_data_error(tmp_path, offline_osmnx):
    """An unreachable Overpass server makes a DataError that says the download failed."""
    with pytest.raises(DataError, match=r"could not download .* \(no internet\?\)"):
        graph_from_polygon(box(113.5, 24.7, 113.7, 24.9), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("polygon", "reason"),
    [
        (Point(113.6, 24.8), "non-empty shapely (Multi)Polygon"),
        (Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "invalid"),
        (box(500_000, 2_700_000, 510_000, 2_710_000), "longitude/latitude"),
    ],
)
def test_bad_polygons_are_invalid_input(tmp_path, polygon, reason):
    """Non-polygons, self-intersecting or projected polygons are refused before any download."""
    with pytest.raises(InvalidInputError) as caught:
        graph_from_polygon(polygon, cache_dir=tmp_path)
    assert caught.value.field == "polygon"
    assert reason in caught.value.message


def test_empty_place_is_invalid_input(tmp_path):
    """A blank place name is refused before any download."""
    with pytest.raises(InvalidInputError) as caught:
        graph_from_place("  ", cache_dir=tmp_path)
    assert caught.value.field == "place"
