"""Boundary loading and its WKB cache."""

from __future__ import annotations

import pytest
import shapely

from dispatch_engine.errors import DataError
from dispatch_engine.geo.boundaries import _read_layer


def districts_file(settings):
    return settings.data_dir / "boundaries" / "shaoguan_districts.geojson.gz"


def test_cached_layer_equals_the_parsed_geojson(settings, tmp_path):
    """A layer reloaded from the cache has the same properties and exact geometries."""
    parsed = _read_layer(districts_file(settings), None)
    _read_layer(districts_file(settings), tmp_path)
    assert len(list((tmp_path / "boundaries").glob("shaoguan_districts-*.npz"))) == 1
    cached = _read_layer(districts_file(settings), tmp_path)
    assert cached.properties == parsed.properties
    assert shapely.equals_exact(cached.geometries, parsed.geometries, tolerance=0).all()
    assert len(cached.names()) == 10


def test_corrupt_cache_is_a_data_error_naming_the_file(settings, tmp_path):
    """An unreadable cache file raises DataError that says which file to delete."""
    _read_layer(districts_file(settings), tmp_path)
    (cache_file,) = (tmp_path / "boundaries").glob("shaoguan_districts-*.npz")
    cache_file.write_bytes(b"not an npz")
    with pytest.raises(DataError, match=str(cache_file)):
        _read_layer(districts_file(settings), tmp_path)


def test_missing_boundary_file_is_a_data_error(tmp_path):
    """A missing boundary file raises DataError with the rebuild command."""
    with pytest.raises(DataError, match="build_boundaries.py"):
        _read_layer(tmp_path / "provinces.geojson.gz", None)
