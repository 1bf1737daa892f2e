"""Service zones (SPEC §2): which guarantee applies to an incident, decided by its location.

A point is located in three boundary layers, each coarse layer constraining the next:
its province, then a city of that province, then (inside Shaoguan) one of the ten
county-level units. Every layer is an ``STRtree`` of prepared polygons, queried with whole
point arrays: the tree gives bounding-box candidates and ``shapely.intersects_xy`` tests
them in one vectorised call. (``STRtree.query(points, predicate="within")`` would prepare
the points instead of the polygons and is about 70 times slower.)

The polygons were simplified one by one (``scripts/build_boundaries.py``), so neighbours
overlap or leave gaps along shared borders, none wider than :data:`BORDER_SLACK_DEG`. A
point in an overlap goes to the unit it lies deeper inside (ties: the first unit in the
layer); a point in a gap goes to the nearest unit within that slack, so a point on land
always has a province and, where the layer has one, a city.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike

from dispatch_engine.errors import DataError, OutsideServiceAreaError
from dispatch_engine.geo.boundaries import (
    GUANGDONG_PROVINCE,
    SHAOGUAN_CITY,
    Boundaries,
    Layer,
    load_boundaries,
)
from dispatch_engine.geo.crs import to_wgs84, to_wgs84_many
from dispatch_engine.settings import Settings

# Points the classifier remembers besides the pinned ones (the most recently classified).
_RECENT_POINTS = 1024

ZoneName = Literal["shaoguan", "guangdong", "national", "outside"]


@dataclass(frozen=True)
class ZoneGuarantee:
    """What the policy promises in a zone, in minutes from report acceptance (None: no service)."""

    call_minutes: int | None
    arrival_minutes: int | None


ZONE_GUARANTEES: Mapping[str, ZoneGuarantee] = MappingProxyType(
    {
        "shaoguan": ZoneGuarantee(call_minutes=5, arrival_minutes=15),
        "guangdong": ZoneGuarantee(call_minutes=5, arrival_minutes=30),
        "national": ZoneGuarantee(call_minutes=5, arrival_minutes=60),
        "outside": ZoneGuarantee(call_minutes=None, arrival_minutes=None),
    }
)

# Twice the build's simplification tolerance (0.00025°): each simplified outline lies within
# that of the true border, so two neighbours can leave no wider gap (about 55 m N-S).
BORDER_SLACK_DEG = 0.0005


@dataclass(frozen=True)
class ZoneResult:
    """Where a point is and what is promised there; ``lat``/``lon`` are the WGS-84 point used."""

    zone: ZoneName
    province: str | None
    city: str | None
    district: str | None
    call_minutes: int | None
    arrival_minutes: int | None
    lat: float
    lon: float

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict (field name → value)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class ZoneBatch:
    """Columnar result of :meth:`ZoneClassifier.classify_many`; ``batch[i]`` is point ``i``.

    ``zone``, ``province``, ``city`` and ``district`` are object arrays of names (None where
    there is none); ``lat``/``lon`` the WGS-84 degrees classified.
    """

    zone: np.ndarray
    province: np.ndarray
    city: np.ndarray
    district: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.zone)

    def __getitem__(self, index: int) -> ZoneResult:
        zone = self.zone[index]
        guarantee = ZONE_GUARANTEES[zone]
        return ZoneResult(
            zone=zone,
            province=self.province[index],
            city=self.city[index],
            district=self.district[index],
            call_minutes=guarantee.call_minutes,
            arrival_minutes=guarantee.arrival_minutes,
            lat=float(self.lat[index]),
            lon=float(self.lon[index]),
        )

    def __iter__(self) -> Iterator[ZoneResult]:
        return (self[i] for i in range(len(self)))

    @property
    def call_minutes(self) -> np.ndarray:
        """Call deadline per point in minutes, NaN outside the service area."""
        return self._guarantee_column("call_minutes")

    @property
    def arrival_minutes(self) -> np.ndarray:
        """On-scene deadline per point in minutes, NaN outside the service area."""
        return self._guarantee_column("arrival_minutes")

    def _guarantee_column(self, attribute: str) -> np.ndarray:
        column = np.full(len(self), np.nan)
        for zone, guarantee in ZONE_GUARANTEES.items():
            minutes = getattr(guarantee, attribute)
            if minutes is not None:
                column[self.zone == zone] = minutes
        return column


def _best_per_point(point: np.ndarray, unit: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """For each of ``n`` points, the candidate unit of lowest score (ties: lowest index), or -1."""
    order = np.lexsort((unit, score, point))
    point, unit = point[order], unit[order]
    first = np.ones(point.size, dtype=bool)
    first[1:] = point[1:] != point[:-1]
    best = np.full(n, -1, dtype=np.int64)
    best[point[first]] = unit[first]
    return best


class _LayerIndex:
    """One boundary layer, indexed; ``group_of_unit`` ties each unit to a parent unit."""

    def __init__(self, layer: Layer, *, group_of_unit: np.ndarray | None = None) -> None:
        self.geometries = layer.geometries
        shapely.prepare(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        # A trailing None lets index -1 ("not found") map to a missing name.
        self.names = np.array([*layer.names(), None], dtype=object)
        self.group_of_unit = group_of_unit

    def _candidates(
        self, queries: np.ndarray, targets: np.ndarray | None, groups: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(point index, unit index) pairs whose boxes meet, within the point's group if any.

        ``targets[j]`` is the point index of ``queries[j]`` (identity when None).
        """
        query, unit = self.tree.query(queries)
        point = query if targets is None else targets[query]
        if groups is not None and self.group_of_unit is not None:
            same = self.group_of_unit[unit] == groups[point]
            point, unit = point[same], unit[same]
        return point, unit

    def locate(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        points: np.ndarray,
        *,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        """Index of the unit holding each point, -1 where none is within the border slack.

        ``points`` are the shapely points of ``lon``/``lat``; ``groups[i]``, when given, is
        the only parent whose units point ``i`` may fall in.
        """
        n = lat.size
        point, unit = self._candidates(points, None, groups)
        inside = shapely.intersects_xy(self.geometries[unit], lon[point], lat[point])
        point, unit = point[inside], unit[inside]
        depth = np.zeros(point.size)
        overlap = np.bincount(point, minlength=n)[point] > 1
        if overlap.any():
            boundaries = shapely.boundary(self.geometries[unit[overlap]])
            depth[overlap] = shapely.distance(boundaries, points[point[overlap]])
        found = _best_per_point(point, unit, -depth, n)

        missing = np.flatnonzero(found < 0)
        if missing.size:
            slack = BORDER_SLACK_DEG
            boxes = shapely.box(
                lon[missing] - slack,
                lat[missing] - slack,
                lon[missing] + slack,
                lat[missing] + slack,
            )
            point, unit = self._candidates(boxes, missing, groups)
            near = shapely.dwithin(self.geometries[unit], points[point], slack)
            point, unit = point[near], unit[near]
            distance = shapely.distance(self.geometries[unit], points[point])
            found[missing] = _best_per_point(point, unit, distance, n)[missing]
        return found


class ZoneClassifier:
    """Locates points in the boundary layers and assigns the SPEC §2 zone and guarantees."""

    def __init__(self, boundaries: Boundaries) -> None:
        province_names = boundaries.provinces.names()
        index_of_province = {name: i for i, name in enumerate(province_names)}
        needed = {p["province"] for p in boundaries.cities.properties} | {GUANGDONG_PROVINCE}
        missing = sorted(needed - set(province_names))
        if missing:
            raise DataError(f"province layer lacks {missing} (named by the city layer or by zones)")
        if SHAOGUAN_CITY not in boundaries.cities.names():
            raise DataError(f"city layer lacks {SHAOGUAN_CITY}")
        province_of_city = np.array(
            [index_of_province[p["province"]] for p in boundaries.cities.properties]
        )
        self._provinces = _LayerIndex(boundaries.provinces)
        self._cities = _LayerIndex(boundaries.cities, group_of_unit=province_of_city)
        self._districts = _LayerIndex(boundaries.shaoguan_districts)
        self._mainland = np.array([bool(p["mainland"]) for p in boundaries.provinces.properties])
        self._guangdong = index_of_province[GUANGDONG_PROVINCE]
        self._shaoguan = boundaries.cities.names().index(SHAOGUAN_CITY)
        # Points classified before: pinned ones for good (a planner's run knows every site
        # in advance), recent ones while there is room (a report's site is checked before
        # it is filed and again when it is dispatched).
        self._pinned: dict[tuple[float, float], ZoneResult] = {}
        self._recent: OrderedDict[tuple[float, float], ZoneResult] = OrderedDict()
        self._lock = threading.Lock()
        self._geos_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ZoneClassifier:
        """The classifier over the shipped boundaries, parsed once into ``settings.cache_dir``."""
        return cls(load_boundaries(settings.data_dir, cache_dir=settings.cache_dir))

    def classify(self, lat: float, lon: float, *, crs: str = "wgs84") -> ZoneResult:
        """Zone, province, city, district and guarantees of one point.

        Parameters
        ----------
        lat, lon
            Degrees in ``crs``.
        crs
            ``"wgs84"``, ``"gcj02"`` or ``"bd09"``; converted to WGS-84 before locating.

        Returns
        -------
        ZoneResult
            Zone ``"outside"`` (no guarantees) for sea, Hong Kong, Macau, Taiwan and abroad;
            use :func:`require_service_area` to turn that into an error.

        Raises
        ------
        InvalidInputError
            Bad ``lat``, ``lon`` or ``crs`` (the field is named).
        """
        key = to_wgs84(lat, lon, crs)
        with self._lock:
            known = self._pinned.get(key) or self._recent.get(key)
        if known is not None:
            return known
        result = self._classify_wgs84(np.array([key[0]]), np.array([key[1]]))[0]
        with self._lock:
            self._recent[key] = result
            if len(self._recent) > _RECENT_POINTS:
                self._recent.popitem(last=False)
        return result

    def pin(self, lats: ArrayLike, lons: ArrayLike) -> None:
        """Classify WGS-84 points that will be asked about one at a time, all now in one
        vectorised pass, and remember them (a planner's run knows every site in advance)."""
        batch = self.classify_many(lats, lons)
        keys = zip(batch.lat.tolist(), batch.lon.tolist(), strict=True)
        self._pinned.update(zip(keys, batch, strict=True))

    def classify_many(self, lats: ArrayLike, lons: ArrayLike, *, crs: str = "wgs84") -> ZoneBatch:
        """Classify many points at once (vectorised; same answers as :meth:`classify`).

        Parameters
        ----------
        lats, lons
            Equal-length sequences of degrees in ``crs``.
        crs
            Shared by all points, as for :meth:`classify`.

        Returns
        -------
        ZoneBatch
            Columns of names per point; ``batch[i]`` is the :class:`ZoneResult` of point ``i``.

        Raises
        ------
        InvalidInputError
            As :meth:`classify`; the message names the index of the first bad point.
        """
        lat_wgs, lon_wgs = to_wgs84_many(lats, lons, crs)
        return self._classify_wgs84(lat_wgs, lon_wgs)

    def _classify_wgs84(self, lat: np.ndarray, lon: np.ndarray) -> ZoneBatch:
        # GEOS prepared geometries are not safe to query from several threads at once
        # (a server's request threads crashed it): one classification at a time.
        with self._geos_lock:
            return self._classify_locked(lat, lon)

    def _classify_locked(self, lat: np.ndarray, lon: np.ndarray) -> ZoneBatch:
        points = shapely.points(lon, lat)
        province = self._provinces.locate(lat, lon, points)
        city = np.full(lat.size, -1, dtype=np.int64)
        land = np.flatnonzero(province >= 0)
        city[land] = self._cities.locate(lat[land], lon[land], points[land], groups=province[land])
        district = np.full(lat.size, -1, dtype=np.int64)
        in_shaoguan = np.flatnonzero(city == self._shaoguan)
        district[in_shaoguan] = self._districts.locate(
            lat[in_shaoguan], lon[in_shaoguan], points[in_shaoguan]
        )

        mainland = (province >= 0) & self._mainland[province]
        zone = np.full(lat.size, "outside", dtype=object)
        zone[mainland] = "national"
        zone[mainland & (province == self._guangdong)] = "guangdong"
        zone[city == self._shaoguan] = "shaoguan"
        return ZoneBatch(
            zone=zone,
            province=self._provinces.names[province],
            city=self._cities.names[city],
            district=self._districts.names[district],
            lat=lat,
            lon=lon,
        )


def require_service_area(result: ZoneResult) -> ZoneResult:
    """Pass a result inside the service area through; reject one outside it.

    Raises
    ------
    OutsideServiceAreaError
        ``field="location"``, saying where the point is (Hong Kong, Macau, Taiwan, or not on
        mainland land at all).
    """
    if result.zone != "outside":
        return result
    where = f"point {result.lat:.5f},{result.lon:.5f}"
    if result.province is not None:
        message = f"{where} is in {result.province}, outside the mainland service area"
    else:
        message = f"{where} is not on mainland China land (sea or abroad)"
    raise OutsideServiceAreaError(message, field="location")
