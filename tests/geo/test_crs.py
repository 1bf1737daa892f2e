"""Coordinate conversion to WGS-84 and coordinate validation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.crs import SUPPORTED_CRS, to_wgs84, to_wgs84_many, validate_lat_lon

# Published test vectors of implementations independent of prcoords: (WGS-84, GCJ-02) from
# eviltransform (github.com/googollee/eviltransform) and (BD-09, GCJ-02) from the README of
# coordtransform (github.com/wandergis/coordtransform).
WGS_GCJ_PUBLISHED = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]
BD_GCJ_PUBLISHED = ((39.915, 116.404), (39.90865673957631, 116.39762729119315))  # Beijing

china_lat = st.floats(18.0, 53.0)
china_lon = st.floats(74.0, 134.0)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return prcoords.Coords(*a).distance(prcoords.Coords(*b))


@pytest.mark.parametrize(("wgs", "gcj"), WGS_GCJ_PUBLISHED)
def test_gcj02_published_pairs_convert_to_their_wgs84(wgs, gcj):
    """GCJ-02 points of a published reference table come back to their WGS-84 within 0.5 m."""
    assert distance_m(to_wgs84(*gcj, crs="gcj02"), wgs) < 0.5


def test_bd09_published_pair_converts_like_its_gcj02():
    """A published BD-09 point and its published GCJ-02 twin give one WGS-84 point (< 0.5 m)."""
    bd, gcj = BD_GCJ_PUBLISHED
    assert distance_m(to_wgs84(*bd, crs="bd09"), to_wgs84(*gcj, crs="gcj02")) < 0.5


@settings(max_examples=200, deadline=None)
@given(lat=china_lat, lon=china_lon)
def test_gcj02_round_trip_within_half_a_metre(lat, lon):
    """WGS-84 → GCJ-02 (prcoords' forward function) → to_wgs84 returns within 0.5 m."""
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    assert distance_m(to_wgs84(gcj.lat, gcj.lon, crs="gcj02"), (lat, lon)) < 0.5


@settings(max_examples=200, deadline=None)
@given(lat=china_lat, lon=china_lon)
def test_bd09_round_trip_within_half_a_metre(lat, lon):
    """WGS-84 → BD-09 (prcoords' forward function) → to_wgs84 returns within 0.5 m."""
    bd = prcoords.wgs_bd(prcoords.Coords(lat, lon))
    assert distance_m(to_wgs84(bd.lat, bd.lon, crs="bd09"), (lat, lon)) < 0.5


def test_wgs84_is_returned_unchanged():
    """WGS-84 input is the identity."""
    assert to_wgs84(24.811, 113.598) == (24.811, 113.598)


@pytest.mark.parametrize("crs", SUPPORTED_CRS)
def test_points_outside_china_are_not_shifted(crs):
    """Outside China the apps serve WGS-84, so no offset is removed and no warning is raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_wgs84(48.8566, 2.3522, crs=crs) == (48.8566, 2.3522)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("WGS84", "wgs84"),
        ("wgs-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("GCJ-02", "gcj02"),
        ("gcj_02", "gcj02"),
        (" BD09 ", "bd09"),
    ],
)
def test_crs_names_ignore_case_dashes_and_the_epsg_alias(alias, canonical):
    """Spelling variants of a crs give the same conversion as its canonical name."""
    assert to_wgs84(24.8, 113.6, crs=alias) == to_wgs84(24.8, 113.6, crs=canonical)


@pytest.mark.parametrize("crs", ["utm50n", "cgcs2000", ""])
def test_unknown_crs_is_rejected_naming_the_supported_ones(crs):
    """An unknown crs raises InvalidInputError on field crs listing wgs84, gcj02, bd09."""
    with pytest.raises(InvalidInputError) as info:
        to_wgs84(24.8, 113.6, crs=crs)
    assert info.value.field == "crs"
    assert "wgs84, gcj02, bd09" in info.value.message


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [
        (90.5, 113.6, "lat"),
        (-91.0, 113.6, "lat"),
        (24.8, 180.01, "lon"),
        (24.8, -181.0, "lon"),
        (math.nan, 113.6, "lat"),
        (24.8, math.inf, "lon"),
        ("north", 113.6, "lat"),
    ],
)
def test_bad_coordinates_are_rejected_naming_the_field(lat, lon, field):
    """Out-of-range, non-finite or non-numeric degrees raise InvalidInputError on that field."""
    with pytest.raises(InvalidInputError) as info:
        validate_lat_lon(lat, lon)
    assert info.value.field == field
    with pytest.raises(InvalidInputError):
        to_wgs84(lat, lon, crs="gcj02")


def test_range_limits_themselves_are_valid():
    """The poles and the antimeridian are accepted."""
    validate_lat_lon(90.0, 180.0)
    validate_lat_lon(-90.0, -180.0)


@settings(max_examples=30, deadline=None)
@given(
    points=st.lists(st.tuples(china_lat, china_lon), max_size=20),
    crs=st.sampled_from(SUPPORTED_CRS),
)
def test_many_agrees_with_one_at_a_time(points, crs):
    """to_wgs84_many gives exactly what to_wgs84 gives point by point."""
    lats, lons = to_wgs84_many([p[0] for p in points], [p[1] for p in points], crs=crs)
    expected = [to_wgs84(lat, lon, crs=crs) for lat, lon in points]
    assert list(zip(lats.tolist(), lons.tolist(), strict=True)) == expected


@pytest.mark.parametrize(
    ("lats", "lons", "field", "index"),
    [
        ([24.0, 25.0, 95.0], [113.0, 113.0, 113.0], "lat", 2),
        ([24.0, 25.0], [113.0, np.nan], "lon", 1),
    ],
)
def test_many_names_the_first_bad_index(lats, lons, field, index):
    """A bad value in a batch is reported with its field and index."""
    with pytest.raises(InvalidInputError) as info:
        to_wgs84_many(lats, lons, crs="gcj02")
    assert info.value.field == field
    assert f"index {index}" in info.value.message


def test_many_rejects_unequal_lengths():
    """Latitude and longitude arrays of different lengths are an input error."""
    with pytest.raises(InvalidInputError) as info:
        to_wgs84_many([24.0, 25.0], [113.0])
    assert info.value.field == "lon"
