"""Road networks downloaded from OpenStreetMap with osmnx, cached on disk.

A download is slow (minutes for a prefecture) and needs the internet, so each one is
saved once as osmnx GraphML under ``cache_dir``, named by a hash of the query; a later
call with the same query reads that file and never touches the network. The raw
download is what is cached, and normalised on every read, so a change of the
speed table applies without downloading again.

The download is unsimplified (``simplify=False``): each OSM node stays a node with its
OSM id and each edge is already the straight segment between two of them, which is
what the engine needs. Simplifying and then straightening would give back the same
nodes under made-up ids, with per-way tags such as ``maxspeed`` merged into lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import networkx as nx
import osmnx as ox
import requests
import shapely
from shapely.geometry import MultiPolygon, Polygon

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.network.sources.osm import read_osm_graphml

NETWORK_TYPE = "drive"


def graph_from_place(place: str, *, cache_dir: Path) -> nx.MultiDiGraph:
    """The drivable roads inside a place's OpenStreetMap boundary, cached on disk.

    Geocodes ``place`` with Nominatim, downloads its roads from Overpass
    (``network_type="drive"``) and normalises them like every OSM source, keeping the
    largest strongly connected component (see
    :func:`~dispatch_engine.network.sources.osm.normalise_osm_graph`).

    Parameters
    ----------
    place
        A place name OpenStreetMap resolves to an area, e.g. ``"Shaoguan, Guangdong, China"``.
    cache_dir
        Directory of cached downloads (created if missing).

    Raises
    ------
    InvalidInputError
        ``field="place"``: the name is empty, unknown to OpenStreetMap, not an area,
        or its area has no drivable roads.
    DataError
        The download failed (no internet, server error).
    """
    if not place.strip():
        raise InvalidInputError("place name is empty", field="place")
    path = cache_path(place, cache_dir=cache_dir)
    if not path.exists():
        what = f"the boundary of {place!r}"
        with _osm_request(what, field="place"):
            try:
                polygon = ox.geocode_to_gdf(place).union_all()
            except TypeError as error:  # osmnx's signal that the result is not an area
                raise InvalidInputError(
                    f"OpenStreetMap has no area named {place!r}: {error}", field="place"
                ) from error
        _download(polygon, path, what=f"the road network of {place!r}", field="place")
    return read_osm_graphml(path)


def graph_from_polygon(polygon: Polygon | MultiPolygon, *, cache_dir: Path) -> nx.MultiDiGraph:
    """The drivable roads inside a WGS-84 polygon, cached on disk.

    Same download and normalisation as :func:`graph_from_place`, for an area given as
    a shapely (Multi)Polygon in longitude/latitude degrees (e.g. a boundary of
    :mod:`dispatch_engine.geo.boundaries`).

    Raises
    ------
    InvalidInputError
        ``field="polygon"``: not a valid, non-empty (Multi)Polygon in degrees, or no
        drivable roads inside it.
    DataError
        The download failed (no internet, server error).
    """
    _check_polygon(polygon)
    path = cache_path(polygon, cache_dir=cache_dir)
    if not path.exists():
        _download(polygon, path, what="the road network of the polygon", field="polygon")
    return read_osm_graphml(path)


def cache_path(query: str | Polygon | MultiPolygon, *, cache_dir: Path) -> Path:
    """Where the download for a place name or polygon is cached.

    The name is a hash of the query and the download options, so equal queries (the
    same name, or the same polygon whatever its ring start) share one file.
    """
    if isinstance(query, str):
        kind, text = "place", query.strip()
    else:
        kind, text = "polygon", shapely.normalize(query).wkb_hex
    key = f"{kind}|{NETWORK_TYPE}|simplify=False|{text}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"osm_{kind}_{digest}.graphml"


def _download(polygon: Polygon | MultiPolygon, path: Path, *, what: str, field: str) -> None:
    """Download the roads in ``polygon`` and save them at ``path`` as osmnx GraphML."""
    with _osm_request(what, field=field):
        graph = ox.graph_from_polygon(polygon, network_type=NETWORK_TYPE, simplify=False)
    # write then rename, so an interrupted save never leaves a cache file to trust
    partial = path.with_name(path.name + ".part")
    ox.save_graphml(graph, partial)
    partial.replace(path)


@contextmanager
def _osm_request(what: str, *, field: str) -> Iterator[None]:
    """Turn osmnx's network and server failures into errors that say what to do."""
    try:
        yield
    except requests.RequestException as error:
        raise DataError(
            f"could not download {what} from OpenStreetMap (no internet?): {error}"
        ) from error
    except ox._errors.ResponseStatusCodeError as error:
        raise DataError(f"OpenStreetMap servers refused {what}; retry later: {error}") from error
    except ox._errors.InsufficientResponseError as error:
        raise InvalidInputError(
            f"OpenStreetMap returned nothing for {what}: {error}", field=field
        ) from error


def _check_polygon(polygon: object) -> None:
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty:
        raise InvalidInputError("expected a non-empty shapely (Multi)Polygon", field="polygon")
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        raise InvalidInputError(f"polygon is invalid: {reason}", field="polygon")
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidInputError(
            "polygon must be in WGS-84 longitude/latitude degrees", field="polygon"
        )
