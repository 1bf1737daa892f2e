"""Zone classification against the shipped boundaries, with points chosen from the geometry."""

from __future__ import annotations

import json
import math

import numpy as np
import prcoords
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_engine.errors import InvalidInputError, OutsideServiceAreaError
from dispatch_engine.geo.boundaries import Boundaries
from dispatch_engine.geo.crs import SUPPORTED_CRS
from dispatch_engine.geo.zones import (
    BORDER_SLACK_DEG,
    ZONE_GUARANTEES,
    ZoneClassifier,
    require_service_area,
)

M_PER_DEG_LAT = 111_320.0

# SPEC §2 county seats (WGS-84) and the county-level unit each is the seat of. The urban
# core (the peninsula between the Zhen and Wu rivers) belongs to Zhenjiang district.
COUNTY_SEATS = [
    ((24.811, 113.598), "浈江区"),
    ((24.680, 113.606), "曲江区"),
    ((25.128, 113.347), "乐昌市"),
    ((25.117, 114.311), "南雄市"),
    ((25.086, 113.750), "仁化县"),
    ((24.948, 114.061), "始兴县"),
    ((24.350, 114.131), "翁源县"),
    ((24.060, 114.207), "新丰县"),
    ((24.776, 113.276), "乳源瑶族自治县"),
]

# (layer, name) of polygon A, (layer, name) of polygon B, zone expected in A and in B.
BORDERS = [
    (("cities", "韶关市"), ("cities", "清远市"), "shaoguan", "guangdong"),
    (("cities", "韶关市"), ("provinces", "湖南省"), "shaoguan", "national"),
    (("cities", "韶关市"), ("provinces", "江西省"), "shaoguan", "national"),
    (("provinces", "广东省"), ("provinces", "广西壮族自治区"), "guangdong", "national"),
    (("shaoguan_districts", "浈江区"), ("shaoguan_districts", "武江区"), "shaoguan", "shaoguan"),
]
LEVEL_OF_LAYER = {"provinces": "province", "cities": "city", "shaoguan_districts": "district"}


def polygon(boundaries: Boundaries, layer: str, name: str) -> shapely.Geometry:
    return getattr(boundaries, layer).by_name(name)


def border_crossings(
    a: shapely.Geometry, b: shapely.Geometry, *, offset_m: float, limit: int | None = None
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """``((lat, lon) in a, (lat, lon) in b)``: points ``offset_m`` either side of the vertices
    of a lying on b's border, along the border's normal there.

    Plain shapely containment decides the sides (no index, no tie-break, no slack); a vertex
    is kept only if each of its two points lies in its own polygon and not in the other.
    ``limit`` pairs are returned, spread evenly along the border.
    """
    shapely.prepare([a, b])
    rings = shapely.get_rings(shapely.get_parts(a))
    vertices, tangents = [], []
    for ring in rings:
        xy = shapely.get_coordinates(ring)[:-1]
        vertices.append(xy)
        tangents.append(np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0))
    xy, tangent = np.concatenate(vertices), np.concatenate(tangents)
    on_border = shapely.dwithin(b, shapely.points(xy), 1e-4)
    xy, tangent = xy[on_border], tangent[on_border]
    # Work in local metres (longitude shrinks with latitude) so the normal is truly normal.
    shrink = np.cos(np.radians(xy[:, 1]))
    east, north = tangent[:, 0] * shrink, tangent[:, 1]
    length = np.hypot(east, north)
    step_deg = offset_m / M_PER_DEG_LAT
    normal = np.column_stack([-north / length / shrink, east / length]) * step_deg
    plus, minus = shapely.points(xy + normal), shapely.points(xy - normal)
    in_a_plus, in_b_plus = shapely.contains(a, plus), shapely.contains(b, plus)
    in_a_minus, in_b_minus = shapely.contains(a, minus), shapely.contains(b, minus)
    a_side_plus = in_a_plus & ~in_b_plus & in_b_minus & ~in_a_minus
    a_side_minus = in_a_minus & ~in_b_minus & in_b_plus & ~in_a_plus
    pairs = []
    for i in np.flatnonzero(a_side_plus | a_side_minus):
        p, m = (xy[i] + normal[i]), (xy[i] - normal[i])
        inside_a, inside_b = (p, m) if a_side_plus[i] else (m, p)
        pairs.append(((inside_a[1], inside_a[0]), (inside_b[1], inside_b[0])))
    if limit is not None and len(pairs) > limit:
        pairs = [pairs[int(k)] for k in np.linspace(0, len(pairs) - 1, limit)]
    return pairs


@pytest.fixture(scope="module")
def district_vertices(boundaries: Boundaries) -> np.ndarray:
    """(lat, lon) of every vertex of Shaoguan's district polygons: inner and outer borders."""
    return shapely.get_coordinates(boundaries.shaoguan_districts.geometries)[:, ::-1]


def test_zone_guarantees_follow_the_spec_table():
    """The four zones carry SPEC §2's call and on-scene minutes."""
    table = {z: (g.call_minutes, g.arrival_minutes) for z, g in ZONE_GUARANTEES.items()}
    assert table == {
        "shaoguan": (5, 15),
        "guangdong": (5, 30),
        "national": (5, 60),
        "outside": (None, None),
    }


@pytest.mark.parametrize(("seat", "district"), COUNTY_SEATS)
def test_county_seats_are_in_their_district(zone_classifier, seat, district):
    """Each SPEC §2 county seat is in Shaoguan, in its own county-level unit, with 5/15 min."""
    result = zone_classifier.classify(*seat)
    assert (result.zone, result.province, result.city, result.district) == (
        "shaoguan",
        "广东省",
        "韶关市",
        district,
    )
    assert (result.call_minutes, result.arrival_minutes) == (5, 15)


@pytest.mark.parametrize(("side_a", "side_b", "zone_a", "zone_b"), BORDERS)
def test_points_either_side_of_a_border_land_on_their_side(
    boundaries, zone_classifier, side_a, side_b, zone_a, zone_b
):
    """Points 200 m either side of border vertices get the unit and zone of their own side."""
    a, b = polygon(boundaries, *side_a), polygon(boundaries, *side_b)
    pairs = border_crossings(a, b, offset_m=200.0, limit=8)
    assert len(pairs) == 8
    for in_a, in_b in pairs:
        for point, (layer, name), zone in ((in_a, side_a, zone_a), (in_b, side_b, zone_b)):
            result = zone_classifier.classify(*point)
            assert getattr(result, LEVEL_OF_LAYER[layer]) == name, point
            assert result.zone == zone, point


@pytest.mark.parametrize(
    ("crs", "forward"), [("gcj02", prcoords.wgs_gcj), ("bd09", prcoords.wgs_bd)]
)
def test_offset_input_near_a_border_lands_on_its_true_side(
    boundaries, zone_classifier, crs, forward
):
    """A Shaoguan point 100 m from Jiangxi whose GCJ-02/BD-09 numbers lie in Jiangxi is Shaoguan."""
    shaoguan, jiangxi = boundaries.shaoguan(), boundaries.provinces.by_name("江西省")
    for in_shaoguan, _ in border_crossings(shaoguan, jiangxi, offset_m=100.0):
        shifted = forward(prcoords.Coords(*in_shaoguan))
        if jiangxi.contains(shapely.Point(shifted.lon, shifted.lat)):
            break
    else:
        pytest.fail(f"no Shaoguan border point whose {crs} coordinates fall in Jiangxi")
    assert zone_classifier.classify(shifted.lat, shifted.lon).province == "江西省"
    converted = zone_classifier.classify(shifted.lat, shifted.lon, crs=crs)
    assert (converted.zone, converted.city) == ("shaoguan", "韶关市")
    assert math.dist((converted.lat, converted.lon), in_shaoguan) < 1e-5


def test_point_in_an_overlap_goes_to_the_unit_it_is_deeper_inside(boundaries, zone_classifier):
    """Where two simplified district outlines overlap, the point goes to the deeper one."""
    names = ("浈江区", "武江区")
    a, b = (boundaries.shaoguan_districts.by_name(n) for n in names)
    overlap = max(shapely.get_parts(a.intersection(b)), key=lambda part: part.area)
    point = overlap.point_on_surface()
    depths = [shapely.distance(shapely.boundary(g), point) for g in (a, b)]
    assert depths[0] != depths[1]
    expected = names[int(np.argmax(depths))]
    assert zone_classifier.classify(point.y, point.x).district == expected


def points_between(
    a: shapely.Geometry, b: shapely.Geometry, keep, *, wanted: int = 5
) -> list[shapely.Point]:
    """Points on the short segments across the a|b border (1 m apart) for which ``keep`` holds."""
    found: list[shapely.Point] = []
    for in_a, in_b in border_crossings(a, b, offset_m=60.0):
        t = np.linspace(0.0, 1.0, 121)[:, None]
        lat_lon = np.asarray(in_a) * (1 - t) + np.asarray(in_b) * t
        points = shapely.points(lat_lon[:, 1], lat_lon[:, 0])
        found.extend(points[keep(points)])
        if len(found) >= wanted:
            break
    return found


@pytest.mark.parametrize(
    ("layer", "name_a", "name_b"),
    [("provinces", "广东省", "广西壮族自治区"), ("shaoguan_districts", "浈江区", "武江区")],
)
def test_point_in_a_gap_between_outlines_goes_to_the_nearer_unit(
    boundaries, zone_classifier, layer, name_a, name_b
):
    """A point in a sliver between two simplified outlines gets the nearer unit, not nothing."""
    a, b = polygon(boundaries, layer, name_a), polygon(boundaries, layer, name_b)
    gaps = points_between(a, b, lambda p: ~shapely.intersects(a, p) & ~shapely.intersects(b, p))
    assert gaps, f"no gap between {name_a} and {name_b}"
    for point in gaps:
        expected = name_a if a.distance(point) <= b.distance(point) else name_b
        result = zone_classifier.classify(point.y, point.x)
        assert getattr(result, LEVEL_OF_LAYER[layer]) == expected


def test_province_land_outside_every_city_outline_keeps_province_and_nearest_city(
    boundaries, zone_classifier
):
    """A point inside Guangdong's outline but in no city outline is Guangdong, nearest city."""
    guangdong, hunan = (
        boundaries.provinces.by_name("广东省"),
        boundaries.provinces.by_name("湖南省"),
    )
    cities = boundaries.cities.geometries
    in_guangdong = [p["province"] == "广东省" for p in boundaries.cities.properties]

    def in_province_only(points: np.ndarray) -> np.ndarray:
        in_any_city = shapely.intersects(cities[:, None], points[None, :]).any(axis=0)
        return shapely.intersects(guangdong, points) & ~in_any_city

    slivers = points_between(boundaries.shaoguan(), hunan, in_province_only)
    assert slivers, "no Guangdong point outside every city outline near Hunan"
    names = np.array(boundaries.cities.names())[in_guangdong]
    for point in slivers:
        nearest = names[np.argmin(shapely.distance(cities[in_guangdong], point))]
        result = zone_classifier.classify(point.y, point.x)
        assert (result.province, result.city) == ("广东省", nearest)
        assert result.zone == ("shaoguan" if nearest == "韶关市" else "guangdong")


@pytest.mark.parametrize(
    ("lat", "lon", "zone", "province", "city"),
    [
        (23.1291, 113.2644, "guangdong", "广东省", "广州市"),
        (28.2282, 112.9388, "national", "湖南省", "长沙市"),
        (39.9042, 116.4074, "national", "北京市", "北京市"),
        (20.0440, 110.1999, "national", "海南省", "海口市"),
    ],
)
def test_points_elsewhere_in_the_mainland(zone_classifier, lat, lon, zone, province, city):
    """Cities outside Shaoguan get their province, city, zone and no district."""
    result = zone_classifier.classify(lat, lon)
    assert (result.zone, result.province, result.city, result.district) == (
        zone,
        province,
        city,
        None,
    )
    assert result.arrival_minutes == ZONE_GUARANTEES[zone].arrival_minutes


@pytest.mark.parametrize(
    ("lat", "lon", "province", "message"),
    [
        (21.0000, 114.5000, None, "not on mainland China land"),  # South China Sea
        (22.3193, 114.1694, "香港特别行政区", "is in 香港特别行政区"),
        (22.1987, 113.5439, "澳门特别行政区", "is in 澳门特别行政区"),
        (25.0330, 121.5654, "台湾省", "is in 台湾省"),
        (21.0278, 105.8342, None, "not on mainland China land"),  # Hanoi
    ],
)
def test_outside_the_mainland_is_outside_and_rejected(zone_classifier, lat, lon, province, message):
    """Sea, Hong Kong, Macau, Taiwan and abroad are zone outside; requiring service says where."""
    result = zone_classifier.classify(lat, lon)
    assert (result.zone, result.province, result.call_minutes, result.arrival_minutes) == (
        "outside",
        province,
        None,
        None,
    )
    with pytest.raises(OutsideServiceAreaError) as info:
        require_service_area(result)
    assert info.value.field == "location"
    assert message in info.value.message
    assert f"{lat:.5f},{lon:.5f}" in info.value.message


def test_require_service_area_passes_mainland_results_through(zone_classifier):
    """A result inside the service area is returned unchanged."""
    result = zone_classifier.classify(24.811, 113.598)
    assert require_service_area(result) is result


def test_result_serialises_to_json(zone_classifier):
    """to_dict gives every field, JSON-ready, with the WGS-84 point that was classified."""
    result = zone_classifier.classify(24.811, 113.598)
    assert json.loads(json.dumps(result.to_dict(), ensure_ascii=False)) == {
        "zone": "shaoguan",
        "province": "广东省",
        "city": "韶关市",
        "district": "浈江区",
        "call_minutes": 5,
        "arrival_minutes": 15,
        "lat": 24.811,
        "lon": 113.598,
    }


@pytest.mark.parametrize(
    ("args", "crs", "field"),
    [
        ((91.0, 113.6), "wgs84", "lat"),
        ((24.8, -181.0), "wgs84", "lon"),
        ((math.nan, 113.6), "wgs84", "lat"),
        ((24.8, math.nan), "gcj02", "lon"),
        ((24.8, 113.6), "utm50n", "crs"),
    ],
)
def test_bad_input_is_rejected_naming_the_field(zone_classifier, args, crs, field):
    """Bad latitude, longitude or crs raises InvalidInputError naming it, one point or many."""
    with pytest.raises(InvalidInputError) as info:
        zone_classifier.classify(*args, crs=crs)
    assert info.value.field == field
    with pytest.raises(InvalidInputError) as info:
        zone_classifier.classify_many([24.8, args[0]], [113.6, args[1]], crs=crs)
    assert info.value.field == field


def test_batch_columns_and_guarantees(zone_classifier):
    """A batch has one row per point, deadlines per zone and NaN where there is no service."""
    batch = zone_classifier.classify_many(
        [24.811, 23.1291, 28.2282, 21.0], [113.598, 113.2644, 112.9388, 114.5]
    )
    assert len(batch) == 4
    assert batch.zone.tolist() == ["shaoguan", "guangdong", "national", "outside"]
    np.testing.assert_array_equal(batch.arrival_minutes, [15, 30, 60, np.nan])
    np.testing.assert_array_equal(batch.call_minutes, [5, 5, 5, np.nan])
    assert len(zone_classifier.classify_many([], [])) == 0


def test_batch_matches_brute_force_point_in_polygon(boundaries, zone_classifier):
    """Away from borders, the indexed batch finds the one province and city containing a point."""
    rng = np.random.default_rng(20250601)
    lat, lon = rng.uniform(20.0, 27.0, 1500), rng.uniform(108.0, 118.0, 1500)
    points = shapely.points(lon, lat)
    batch = zone_classifier.classify_many(lat, lon)
    for layer, level in (("provinces", "province"), ("cities", "city")):
        units = getattr(boundaries, layer)
        geometries = units.geometries[:, None]
        inside = shapely.contains(geometries, points[None, :])
        near = shapely.dwithin(geometries, points[None, :], 2 * BORDER_SLACK_DEG)
        clear = near.sum(axis=0) == inside.sum(axis=0)  # no border within reach
        assert clear.sum() > 1000
        names = np.array([*units.names(), None], dtype=object)
        expected = names[np.where(inside.any(axis=0), inside.argmax(axis=0), -1)]
        np.testing.assert_array_equal(getattr(batch, level)[clear], expected[clear])


@settings(max_examples=40, deadline=None)
@given(
    box=st.lists(st.tuples(st.floats(20.0, 27.0), st.floats(108.0, 118.0)), max_size=8),
    near_border=st.lists(
        st.tuples(st.integers(0, 2**31), st.floats(-1e-3, 1e-3), st.floats(-1e-3, 1e-3)),
        max_size=8,
    ),
    crs=st.sampled_from(SUPPORTED_CRS),
)
def test_batch_agrees_with_one_point_at_a_time(
    zone_classifier: ZoneClassifier, district_vertices, box, near_border, crs
):
    """classify_many gives, point by point, exactly what classify gives (also on borders)."""
    points = list(box)
    for index, dlat, dlon in near_border:
        lat, lon = district_vertices[index % len(district_vertices)]
        points.append((lat + dlat, lon + dlon))
    batch = zone_classifier.classify_many([p[0] for p in points], [p[1] for p in points], crs=crs)
    assert list(batch) == [zone_classifier.classify(lat, lon, crs=crs) for lat, lon in points]


def test_remembered_points_answer_as_classifying_afresh(boundaries, monkeypatch):
    """Pinned and recently classified points (also after eviction, and given in GCJ-02)
    get exactly what the vectorised classification of the same points gives."""
    from dispatch_engine.geo import zones

    monkeypatch.setattr(zones, "_RECENT_POINTS", 4)
    classifier = ZoneClassifier(boundaries)
    rng = np.random.default_rng(8)
    lat, lon = rng.uniform(22.0, 26.5, 12), rng.uniform(110.0, 117.0, 12)
    expected = {crs: classifier.classify_many(lat, lon, crs=crs) for crs in ("wgs84", "gcj02")}
    classifier.pin(lat[:4], lon[:4])
    for i in rng.integers(0, 12, 60):
        for crs, batch in expected.items():
            assert classifier.classify(float(lat[i]), float(lon[i]), crs=crs) == batch[int(i)]
    assert len(classifier._recent) <= 4
