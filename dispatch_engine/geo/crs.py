"""Input coordinates in WGS-84, GCJ-02 or BD-09, converted to the WGS-84 the product stores.

GPS and OpenStreetMap give WGS-84; Amap and Tencent apps give GCJ-02 (an obfuscated datum
offset by several hundred metres); Baidu gives BD-09 (GCJ-02 with a further offset). The
conversion uses ``prcoords``' iterative inverses, accurate to well under a metre, because
a point near a border must land on the right side of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import prcoords
from numpy.typing import ArrayLike

from dispatch_engine.errors import InvalidInputError

SUPPORTED_CRS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_ALIASES = {"epsg:4326": "wgs84"}
_INVERSES: dict[str, Callable[[prcoords.Coords], prcoords.Coords]] = {
    "gcj02": prcoords.gcj_wgs_bored,
    "bd09": prcoords.bd_wgs_bored,
}
_LIMITS_DEG = {"lat": 90.0, "lon": 180.0}
_WORDS = {"lat": "latitude", "lon": "longitude"}


def _canonical_crs(crs: str) -> str:
    """``"WGS-84"``, ``"gcj_02"``, ``"EPSG:4326"`` … to one of :data:`SUPPORTED_CRS`."""
    if not isinstance(crs, str):
        raise InvalidInputError(
            f"crs must be a string, one of {', '.join(SUPPORTED_CRS)}", field="crs"
        )
    key = crs.strip().lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in SUPPORTED_CRS:
        raise InvalidInputError(
            f"unknown crs {crs!r}; supported: {', '.join(SUPPORTED_CRS)}", field="crs"
        )
    return key


def _range_message(field: str, value: object) -> str:
    limit = _LIMITS_DEG[field]
    word = _WORDS[field]
    return f"{word} must be a finite number of degrees in [-{limit:g}, {limit:g}], got {value!r}"


def validate_lat_lon(lat: float, lon: float) -> None:
    """Reject a latitude or longitude that is not a finite number of degrees in range.

    Parameters
    ----------
    lat, lon
        Degrees; latitude in [-90, 90], longitude in [-180, 180].

    Raises
    ------
    InvalidInputError
        With ``field`` ``"lat"`` or ``"lon"``, the first one that is bad.
    """
    for field, value in (("lat", lat), ("lon", lon)):
        try:
            degrees = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(_range_message(field, value), field=field) from exc
        if not (math.isfinite(degrees) and abs(degrees) <= _LIMITS_DEG[field]):
            raise InvalidInputError(_range_message(field, value), field=field)


def _convert(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """One validated point in a canonical crs to WGS-84."""
    inverse = _INVERSES.get(crs)
    point = prcoords.Coords(lat, lon)
    # GCJ-02 and BD-09 offsets exist only inside China; elsewhere the apps serve WGS-84.
    if inverse is None or not prcoords.sanity_in_china_p(point):
        return lat, lon
    wgs = inverse(point)
    return wgs.lat, wgs.lon


def to_wgs84(lat: float, lon: float, crs: str = "wgs84") -> tuple[float, float]:
    """Convert one point to WGS-84 so it can be compared with the stored boundaries and roads.

    Parameters
    ----------
    lat, lon
        Degrees in ``crs``.
    crs
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (case and dashes ignored; ``"epsg:4326"`` is
        WGS-84). Points outside China are returned unchanged, as the apps do not offset them.

    Returns
    -------
    tuple of float
        ``(lat, lon)`` in WGS-84 degrees.

    Raises
    ------
    InvalidInputError
        ``field="crs"`` for an unknown crs, ``"lat"``/``"lon"`` for a bad coordinate.
    """
    canonical = _canonical_crs(crs)
    validate_lat_lon(lat, lon)
    return _convert(float(lat), float(lon), canonical)


def _as_degrees(values: ArrayLike, field: str) -> np.ndarray:
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{_WORDS[field]}s must be numbers of degrees ({exc})", field=field
        ) from exc
    if array.ndim != 1:
        raise InvalidInputError(
            f"{_WORDS[field]}s must be one-dimensional, got shape {array.shape}", field=field
        )
    bad = np.flatnonzero(~(np.isfinite(array) & (np.abs(array) <= _LIMITS_DEG[field])))
    if bad.size:
        index = int(bad[0])
        message = _range_message(field, float(array[index]))
        raise InvalidInputError(f"at index {index}: {message}", field=field)
    return array


def to_wgs84_many(
    lats: ArrayLike, lons: ArrayLike, crs: str = "wgs84"
) -> tuple[np.ndarray, np.ndarray]:
    """Convert many points to WGS-84 (see :func:`to_wgs84`).

    Parameters
    ----------
    lats, lons
        Equal-length sequences of degrees in ``crs``.
    crs
        As for :func:`to_wgs84`, shared by every point.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lats, lons)``, new float64 arrays in WGS-84 degrees. ``prcoords`` converts one
        point at a time, so GCJ-02 / BD-09 input costs some microseconds per point.

    Raises
    ------
    InvalidInputError
        As :func:`to_wgs84`; the message names the index of the first bad value. Unequal
        lengths are reported on ``lon``.
    """
    canonical = _canonical_crs(crs)
    lat_deg = _as_degrees(lats, "lat")
    lon_deg = _as_degrees(lons, "lon")
    if lat_deg.shape != lon_deg.shape:
        raise InvalidInputError(
            f"got {lat_deg.size} latitudes but {lon_deg.size} longitudes", field="lon"
        )
    if canonical == "wgs84":
        return lat_deg.copy(), lon_deg.copy()
    converted = [
        _convert(la, lo, canonical)
        for la, lo in zip(lat_deg.tolist(), lon_deg.tolist(), strict=True)
    ]
    out = np.array(converted, dtype=np.float64).reshape(-1, 2)
    return out[:, 0].copy(), out[:, 1].copy()
