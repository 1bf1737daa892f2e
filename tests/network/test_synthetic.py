"""The synthetic Shaoguan network: schema, determinism, connectivity, geography, recipe errors."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
import yaml
from pyproj import Geod

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.geo.boundaries import Boundaries, load_boundaries
from dispatch_engine.network.schema import validate_graph
from dispatch_engine.network.sources.synthetic import (
    GRAPH_NAME,
    HIGHWAYS,
    SyntheticRecipe,
    build_synthetic_graph,
    load_recipe,
)
from dispatch_engine.settings import REPO_DATA_DIR

RECIPE_PATH = REPO_DATA_DIR / "network" / "shaoguan_synthetic.yaml"
WGS84 = Geod(ellps="WGS84")


def small(recipe: SyntheticRecipe) -> SyntheticRecipe:
    """The shipped geography (seats, corridors, terrain) with ~10k instead of ~150k nodes."""
    shapes = recipe.shapes.model_copy(
        update={
            name: shape.model_copy(update={"segment_m": shape.segment_m * 4})
            for name, shape in recipe.shapes
        }
    )
    seats = [
        seat.model_copy(
            update={"grid_radius_m": min(seat.grid_radius_m, 1500.0), "grid_spacing_m": 300.0}
        )
        for seat in recipe.seats
    ]
    return recipe.model_copy(
        update={
            "seats": seats,
            "shapes": shapes,
            "townships": recipe.townships.model_copy(update={"area_per_township_km2": 500.0}),
            "villages": recipe.villages.model_copy(
                update={"density_lowland_per_km2": 0.08, "density_mountain_per_km2": 0.04}
            ),
        }
    )


@pytest.fixture(scope="module")
def boundaries() -> Boundaries:
    """The shipped WGS-84 boundaries."""
    return load_boundaries(REPO_DATA_DIR)


@pytest.fixture(scope="module")
def recipe() -> SyntheticRecipe:
    """The shipped recipe, scaled down."""
    return small(load_recipe(RECIPE_PATH))


@pytest.fixture(scope="module")
def graph(recipe: SyntheticRecipe, boundaries: Boundaries) -> nx.MultiDiGraph:
    """The scaled-down synthetic network (built once per module)."""
    return build_synthetic_graph(recipe, boundaries)


def coordinates(graph: nx.MultiDiGraph) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes indexed by node id."""
    nodes = sorted(graph.nodes(data=True))
    return np.array([d["x"] for _, d in nodes]), np.array([d["y"] for _, d in nodes])


def test_same_recipe_gives_identical_graph(graph, recipe, boundaries):
    """Building twice gives the same node ids, coordinates, edges, attributes and order."""
    again = build_synthetic_graph(recipe, boundaries)
    assert graph.graph == again.graph
    assert list(graph.nodes(data=True)) == list(again.nodes(data=True))
    assert list(graph.edges(keys=True, data=True)) == list(again.edges(keys=True, data=True))


def test_another_seed_gives_another_graph(graph, recipe, boundaries):
    """The seed drives the random parts (so the determinism test is not vacuous)."""
    other = build_synthetic_graph(recipe.model_copy(update={"seed": recipe.seed + 1}), boundaries)
    assert list(other.nodes(data=True)) != list(graph.nodes(data=True))


def test_graph_follows_the_network_schema(graph, recipe):
    """Schema attributes, labelled synthetic, ids 0..N-1, straight two-way edges."""
    validate_graph(graph)
    assert graph.graph["crs"] == "epsg:4326"
    assert graph.graph["synthetic"] is True
    assert graph.graph["name"] == GRAPH_NAME and "SYNTHETIC" in graph.graph["name"]
    assert graph.graph["recipe_sha256"] == recipe.sha256()
    assert sorted(graph.nodes) == list(range(graph.number_of_nodes()))
    for _, _, data in graph.edges(data=True):
        assert data["highway"] in HIGHWAYS
        assert data["oneway"] is False
        assert "geometry" not in data
        assert data["length"] > 0


def test_every_road_is_two_way(graph):
    """Each directed edge has its reverse with the same length and class."""
    forward = sorted((u, v, d["length"], d["highway"]) for u, v, d in graph.edges(data=True))
    backward = sorted((v, u, d["length"], d["highway"]) for u, v, d in graph.edges(data=True))
    assert forward == backward


def test_strongly_connected(graph):
    """Every node can reach every other (networkx)."""
    assert nx.is_strongly_connected(graph)


def test_nodes_and_segments_inside_shaoguan(graph, boundaries):
    """Every node lies strictly inside the boundary and no segment leaves it (shapely)."""
    outline = boundaries.shaoguan()
    shapely.prepare(outline)
    lon, lat = coordinates(graph)
    assert shapely.contains_xy(outline, lon, lat).all()
    u, v = np.array([(u, v) for u, v in graph.edges() if u < v]).T
    segments = shapely.linestrings(np.stack([np.c_[lon[u], lat[u]], np.c_[lon[v], lat[v]]], axis=1))
    assert shapely.contains(outline, segments).all()


def test_length_is_the_segment_distance_and_time_is_length_over_speed(graph):
    """length matches the WGS-84 geodesic (pyproj) within 0.5 %; travel_time == length / speed."""
    lon, lat = coordinates(graph)
    u, v, data = zip(*graph.edges(data=True), strict=True)
    length_m = np.array([d["length"] for d in data])
    _, _, geodesic_m = WGS84.inv(lon[list(u)], lat[list(u)], lon[list(v)], lat[list(v)])
    np.testing.assert_allclose(length_m, geodesic_m, rtol=5e-3)
    speed_mps = np.array([d["speed_kph"] for d in data]) / 3.6
    np.testing.assert_allclose([d["travel_time"] for d in data], length_m / speed_mps, rtol=1e-12)


def test_speeds_follow_the_recipe_and_every_class_is_present(graph, recipe):
    """Each class is built, with the recipe's speed; expressways run at ~100 km/h."""
    speeds = {(d["highway"], d["speed_kph"]) for _, _, d in graph.edges(data=True)}
    assert speeds == {(h, getattr(recipe.speeds_kph, h)) for h in HIGHWAYS}
    assert 90 <= recipe.speeds_kph.motorway <= 120


def test_expressways_are_entered_only_through_links(graph):
    """A node on an expressway has only motorway or motorway_link edges; links exist."""
    fast = {"motorway", "motorway_link"}
    on_motorway = {u for u, _, d in graph.edges(data=True) if d["highway"] == "motorway"}
    assert on_motorway
    for node in on_motorway:
        assert {d["highway"] for _, _, d in graph.out_edges(node, data=True)} <= fast
    links = [(u, v) for u, v, d in graph.edges(data=True) if d["highway"] == "motorway_link"]
    touching_surface = [
        node
        for u, v in links
        for node in (u, v)
        if any(d["highway"] not in fast for _, _, d in graph.out_edges(node, data=True))
    ]
    assert len(touching_surface) >= 10  # one per interchange at least


def test_every_seat_has_a_street_grid(graph, recipe):
    """A node sits on each county seat and its grid fills the seat's radius."""
    lon, lat = coordinates(graph)
    for seat in recipe.seats:
        _, _, distance_m = WGS84.inv(
            np.full(lon.size, seat.lon), np.full(lat.size, seat.lat), lon, lat
        )
        assert distance_m.min() < 1.0, seat.name
        grid_nodes = (distance_m < seat.grid_radius_m).sum()
        assert grid_nodes >= 0.5 * np.pi * (seat.grid_radius_m / seat.grid_spacing_m) ** 2, (
            seat.name
        )


def test_seat_to_seat_roads_have_the_designed_circuity(graph, recipe):
    """Shortest road distance / great-circle between seats lies in the recipe's circuity range."""
    lon, lat = coordinates(graph)
    nearest = {}
    for seat in recipe.seats:
        _, _, distance_m = WGS84.inv(
            np.full(lon.size, seat.lon), np.full(lat.size, seat.lat), lon, lat
        )
        nearest[seat.name] = int(np.argmin(distance_m))
    bent = [shape for name, shape in recipe.shapes if name != "motorway_link"]
    low = min(shape.circuity_lowland for shape in bent)
    high = max(shape.circuity_mountain for shape in bent)
    for a, b in combinations(recipe.seats, 2):
        road_m = nx.shortest_path_length(graph, nearest[a.name], nearest[b.name], weight="length")
        _, _, straight_m = WGS84.inv(
            lon[nearest[a.name]], lat[nearest[a.name]], lon[nearest[b.name]], lat[nearest[b.name]]
        )
        assert low <= road_m / straight_m <= high, (a.name, b.name, road_m / straight_m)


def test_node_ids_are_spatially_coherent(graph):
    """Ids follow a space-filling curve: the ends of most edges have close ids."""
    gaps = np.array([abs(u - v) for u, v in graph.edges()])
    assert np.median(gaps) <= graph.number_of_nodes() / 100


def test_shipped_recipe_builds_150k_connected_nodes(boundaries):
    """The embedded default has 100k-200k nodes and is strongly connected (builds in a few s)."""
    full = build_synthetic_graph(load_recipe(RECIPE_PATH), boundaries)
    assert 100_000 <= full.number_of_nodes() <= 200_000
    assert nx.is_strongly_connected(full)


def write_recipe(tmp_path: Path, change) -> Path:
    """The shipped recipe with ``change(raw_dict)`` applied, saved as YAML."""
    raw = yaml.safe_load(RECIPE_PATH.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def motorway_through_a_seat(raw: dict) -> None:
    raw["corridors"][0]["anchors"][1] = "Lechang"


def waypoint_named_twice(raw: dict) -> None:
    raw["waypoints"].append(dict(raw["waypoints"][0]))
    raw["waypoints"][-1]["lat"] += 0.01


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda raw: raw["seats"][0].update(lat=95), "seats.0.lat"),
        (lambda raw: raw["grid"].update(colour="red"), "grid.colour"),
        (lambda raw: raw["speeds_kph"].pop("trunk"), "speeds_kph.trunk"),
        (lambda raw: raw["shapes"]["trunk"].update(circuity_mountain=1.0), "shapes.trunk"),
        (
            lambda raw: raw["corridors"][0]["anchors"].__setitem__(1, "Atlantis"),
            "corridors.0.anchors.1",
        ),
        (motorway_through_a_seat, "corridors.0.anchors.1"),
        (waypoint_named_twice, "waypoints.{last}.name"),
    ],
)
def test_bad_recipe_file_names_the_field(tmp_path, change, field):
    """A bad value, unknown key, missing key or bad reference raises naming its field path."""
    path = write_recipe(tmp_path, change)
    last = len(yaml.safe_load(path.read_text(encoding="utf-8"))["waypoints"]) - 1
    with pytest.raises(InvalidInputError) as caught:
        load_recipe(path)
    assert caught.value.field == field.format(last=last)


def test_recipe_that_is_not_yaml_is_rejected(tmp_path):
    """Broken YAML raises InvalidInputError on the recipe; a missing file raises DataError."""
    path = tmp_path / "broken.yaml"
    path.write_text("seats: [\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_recipe(path)
    assert caught.value.field == "recipe"
    with pytest.raises(DataError):
        load_recipe(tmp_path / "missing.yaml")


def test_places_and_legs_outside_the_boundary_are_rejected(recipe, boundaries):
    """A seat outside Shaoguan, or a corridor leg crossing the border, names the field."""
    guangzhou = recipe.seats[0].model_copy(update={"lat": 23.13, "lon": 113.26})
    with pytest.raises(InvalidInputError) as caught:
        build_synthetic_graph(
            recipe.model_copy(update={"seats": [guangzhou, *recipe.seats[1:]]}), boundaries
        )
    assert caught.value.field == "seats.0"

    detour = recipe.corridors[-1].model_copy(update={"anchors": ["Ruyuan", "Xinfeng"]})
    with pytest.raises(InvalidInputError) as caught:
        build_synthetic_graph(
            recipe.model_copy(update={"corridors": [*recipe.corridors, detour]}), boundaries
        )
    assert caught.value.field == f"corridors.{len(recipe.corridors)}.anchors.1"
