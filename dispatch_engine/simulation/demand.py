"""Where and when incidents happen, and how each one unfolds: the simulation's input.

A *demand file* (YAML; ``data/demand/shaoguan.yaml`` is the shipped default) gives:

``districts``
    incidents per day in each Shaoguan county-level unit (``name``, ``incidents_per_day``;
    ``population_10k`` and ``weighted_road_km`` may document where the rate came from);
``guangdong_per_day``, ``national_per_day``
    incidents of the insured cars elsewhere in Guangdong and elsewhere in mainland China,
    served by the partner branches (near a Guangdong city / a provincial capital);
``day_factor`` (``mon`` .. ``sun``) and ``hourly`` (``weekday``, ``saturday``, ``sunday``:
    24 relative weights each)
    the rhythm of the week; the rate of district *d* in hour *h* of the week is
    ``incidents_per_day[d] / 24 * factor[h]`` where ``factor`` has mean 1 over the week;
``traffic_weight``
    accidents per km of road by road class (relative): inside a district, incidents fall
    on its roads in proportion to length x this weight;
``mix``
    the share of incidents with injured people and the share needing a flatbed or a crane;
``response``
    how incidents unfold: the delay of the owner's call, the share of first drivers who
    decline, the on-scene time of each vehicle kind (distributions in minutes: ``fixed``
    ``minutes``; ``uniform`` ``low_min, high_min``; ``triangular`` ``low_min, mode_min,
    high_min``; ``lognormal`` ``median_min, sigma``).

Incidents arrive as a Poisson process per district and hour of the week
(:func:`generate_requests`), or are replayed from a CSV of past incidents
(:func:`load_replay`); :func:`script` then draws each incident's course. Everything
random comes from the one ``numpy`` Generator passed in, in a fixed order, so a seed
repeats a run exactly.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import shapely
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatch_engine.dispatch.model import IncidentRequest
from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.fleet.files import SHAOGUAN_DISTRICTS
from dispatch_engine.fleet.model import SHANGHAI_TZ, Skill, VehicleKind, second_of_week
from dispatch_engine.geo.boundaries import GUANGDONG_PROVINCE, SHAOGUAN_CITY, Boundaries
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.settings import Settings
from dispatch_engine.simulation.des import SimIncident

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_PER_WEEK = 168
ELSEWHERE_SPREAD_DEG = 0.02  # incidents elsewhere fall within a few km of a city centre


def default_demand_path(settings: Settings) -> Path:
    """The shipped demand file of the settings' data folder."""
    return settings.data_dir / "demand" / "shaoguan.yaml"


# -- durations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    minutes: float

    def sample_s(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.minutes * 60.0)


@dataclass(frozen=True)
class Uniform:
    low_min: float
    high_min: float

    def sample_s(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low_min, self.high_min, size) * 60.0


@dataclass(frozen=True)
class Triangular:
    low_min: float
    mode_min: float
    high_min: float

    def sample_s(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.triangular(self.low_min, self.mode_min, self.high_min, size) * 60.0


@dataclass(frozen=True)
class LogNormal:
    """Right-skewed like real service times: half below ``median_min``, a long tail."""

    median_min: float
    sigma: float

    def sample_s(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(math.log(self.median_min), self.sigma, size) * 60.0


Duration = Fixed | Uniform | Triangular | LogNormal


@dataclass(frozen=True)
class Mix:
    """Shares of incidents with injured people, needing a flatbed, needing a crane."""

    injured_share: float
    tow_flatbed_share: float
    tow_crane_share: float


@dataclass(frozen=True)
class Response:
    """How an incident unfolds once reported."""

    call_after: Duration
    decline_share: float
    on_scene: tuple[tuple[VehicleKind, Duration], ...]

    def on_scene_of(self, kind: VehicleKind) -> Duration:
        return dict(self.on_scene)[kind]


@dataclass(frozen=True)
class DistrictRate:
    name: str
    incidents_per_day: float


@dataclass(frozen=True)
class Demand:
    """A validated demand file (see the module docstring)."""

    name: str
    synthetic: bool
    districts: tuple[DistrictRate, ...]
    guangdong_per_day: float
    national_per_day: float
    day_factor: tuple[float, ...]  # Monday first
    hourly: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # weekday, sat, sun
    traffic_weight: tuple[tuple[str, float], ...]
    mix: Mix
    response: Response
    document: dict = field(default_factory=dict, compare=False, repr=False)  # the file, resolved

    def week_factor(self) -> np.ndarray:
        """Rate multiplier per hour of the week (Monday 00-01 first), mean 1."""
        day = np.array(self.day_factor) / np.mean(self.day_factor)
        profiles = [np.array(p) / np.sum(p) * 24 for p in self.hourly]
        return np.concatenate([day[d] * profiles[0 if d < 5 else d - 4] for d in range(7)])

    def per_day(self) -> float:
        """Mean incidents per day, all zones."""
        shaoguan = sum(d.incidents_per_day for d in self.districts)
        return shaoguan + self.guangdong_per_day + self.national_per_day


# -- the file --------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _FixedIn(_In):
    distribution: Literal["fixed"]
    minutes: float = Field(gt=0)

    def domain(self) -> Duration:
        return Fixed(self.minutes)


class _UniformIn(_In):
    distribution: Literal["uniform"]
    low_min: float = Field(ge=0)
    high_min: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> _UniformIn:
        if self.low_min >= self.high_min:
            raise ValueError(f"low_min {self.low_min} must be below high_min {self.high_min}")
        return self

    def domain(self) -> Duration:
        return Uniform(self.low_min, self.high_min)


class _TriangularIn(_In):
    distribution: Literal["triangular"]
    low_min: float = Field(ge=0)
    mode_min: float = Field(ge=0)
    high_min: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> _TriangularIn:
        if not self.low_min <= self.mode_min <= self.high_min or self.low_min == self.high_min:
            raise ValueError("needs low_min <= mode_min <= high_min and low_min < high_min")
        return self

    def domain(self) -> Duration:
        return Triangular(self.low_min, self.mode_min, self.high_min)


class _LogNormalIn(_In):
    distribution: Literal["lognormal"]
    median_min: float = Field(gt=0)
    sigma: float = Field(ge=0, le=3)

    def domain(self) -> Duration:
        return LogNormal(self.median_min, self.sigma)


_DurationIn = Annotated[
    _FixedIn | _UniformIn | _TriangularIn | _LogNormalIn, Field(discriminator="distribution")
]
_Share = Annotated[float, Field(ge=0, le=1)]
_Profile = Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]


class _DistrictIn(_In):
    name: Literal[SHAOGUAN_DISTRICTS]  # type: ignore[valid-type]
    incidents_per_day: float = Field(ge=0)
    population_10k: float | None = Field(None, ge=0)
    weighted_road_km: float | None = Field(None, ge=0)


class _HourlyIn(_In):
    weekday: _Profile
    saturday: _Profile
    sunday: _Profile

    @model_validator(mode="after")
    def _not_empty(self) -> _HourlyIn:
        for name in ("weekday", "saturday", "sunday"):
            if sum(getattr(self, name)) <= 0:
                raise ValueError(f"{name} needs a positive weight in some hour")
        return self


class _MixIn(_In):
    injured_share: _Share
    tow_flatbed_share: _Share
    tow_crane_share: _Share

    @model_validator(mode="after")
    def _at_most_one(self) -> _MixIn:
        if self.tow_flatbed_share + self.tow_crane_share > 1:
            raise ValueError("tow_flatbed_share + tow_crane_share must not exceed 1")
        return self


class _ResponseIn(_In):
    call_after_min: _DurationIn
    decline_share: _Share
    on_scene_min: dict[VehicleKind, _DurationIn]

    @model_validator(mode="after")
    def _every_kind(self) -> _ResponseIn:
        missing = [str(k) for k in VehicleKind if k not in self.on_scene_min]
        if missing:
            raise ValueError(f"on_scene_min lacks {', '.join(missing)}")
        return self


class _DemandIn(_In):
    name: str
    synthetic: bool
    districts: list[_DistrictIn] = Field(min_length=1)
    guangdong_per_day: float = Field(ge=0)
    national_per_day: float = Field(ge=0)
    day_factor: dict[Literal[WEEKDAYS], Annotated[float, Field(gt=0)]]  # type: ignore[valid-type]
    hourly: _HourlyIn
    traffic_weight: dict[str, Annotated[float, Field(ge=0)]]
    mix: _MixIn
    response: _ResponseIn

    @field_validator("day_factor")
    @classmethod
    def _every_day(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [d for d in WEEKDAYS if d not in value]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        return value

    @field_validator("districts")
    @classmethod
    def _once_each(cls, value: list[_DistrictIn]) -> list[_DistrictIn]:
        names = [d.name for d in value]
        if len(set(names)) != len(names):
            raise ValueError("each district may appear once")
        return value

    @model_validator(mode="after")
    def _some_incidents(self) -> _DemandIn:
        shaoguan = sum(d.incidents_per_day for d in self.districts)
        if shaoguan + self.guangdong_per_day + self.national_per_day <= 0:
            raise ValueError("no incidents at all: every rate is 0")
        return self


def load_demand(path: Path) -> Demand:
    """Read and validate a demand file, reporting every problem at once.

    Raises
    ------
    InvalidInputError
        Missing file, bad YAML, or values out of range; ``field`` names the first bad
        field (e.g. ``districts.2.incidents_per_day``) and the message lists all.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read demand file {path}: {exc.strerror}", field="demand"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path} is not valid YAML: {exc}", field="demand") from None
    try:
        parsed = _DemandIn.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]) or "demand", e["msg"]) for e in exc.errors()
        ]
        listing = "; ".join(f"{where}: {msg}" for where, msg in problems)
        raise InvalidInputError(f"{path.name}: {listing}", field=problems[0][0]) from None
    response = parsed.response
    return Demand(
        name=parsed.name,
        synthetic=parsed.synthetic,
        districts=tuple(DistrictRate(d.name, d.incidents_per_day) for d in parsed.districts),
        guangdong_per_day=parsed.guangdong_per_day,
        national_per_day=parsed.national_per_day,
        day_factor=tuple(parsed.day_factor[d] for d in WEEKDAYS),
        hourly=(
            tuple(parsed.hourly.weekday),
            tuple(parsed.hourly.saturday),
            tuple(parsed.hourly.sunday),
        ),
        traffic_weight=tuple(sorted(parsed.traffic_weight.items())),
        mix=Mix(parsed.mix.injured_share, parsed.mix.tow_flatbed_share, parsed.mix.tow_crane_share),
        response=Response(
            call_after=response.call_after_min.domain(),
            decline_share=response.decline_share,
            on_scene=tuple((k, response.on_scene_min[k].domain()) for k in VehicleKind),
        ),
        document=parsed.model_dump(mode="json"),
    )


# -- where incidents fall --------------------------------------------------------------


def road_points(
    network: CompiledNetwork,
    rng: np.random.Generator,
    count: int,
    traffic_weight: Sequence[tuple[str, float]],
    *,
    edges: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points on roads, in proportion to road length x the class's traffic weight.

    ``edges`` restricts the draw to some edges (a district's); classes missing from
    ``traffic_weight`` weigh 1. Returns (lat, lon) arrays.
    """
    weight_of = dict(traffic_weight)
    class_weight = np.array([weight_of.get(c, 1.0) for c in network.road_classes])
    pool = np.arange(network.n_edges) if edges is None else edges
    weight = network.edge_length_m[pool] * class_weight[network.edge_class[pool]]
    if weight.sum() <= 0:
        raise DataError("no road with a positive traffic weight to place incidents on")
    chosen = pool[rng.choice(pool.size, count, p=weight / weight.sum())]
    along = rng.random(count)
    tail, head = network.edge_tail[chosen], network.edge_head[chosen]
    lat = network.node_lat[tail] + along * (network.node_lat[head] - network.node_lat[tail])
    lon = network.node_lon[tail] + along * (network.node_lon[head] - network.node_lon[tail])
    return lat, lon


def district_edges(
    network: CompiledNetwork, boundaries: Boundaries, names: Sequence[str]
) -> list[np.ndarray]:
    """The edges whose midpoint lies in each named Shaoguan district."""
    layer = boundaries.shaoguan_districts
    tail, head = network.edge_tail, network.edge_head
    lat = (network.node_lat[tail] + network.node_lat[head]) / 2
    lon = (network.node_lon[tail] + network.node_lon[head]) / 2
    found = []
    for name in names:
        outline = layer.by_name(name)
        box = shapely.bounds(outline)
        near = np.flatnonzero((lon >= box[0]) & (lat >= box[1]) & (lon <= box[2]) & (lat <= box[3]))
        found.append(near[shapely.contains_xy(outline, lon[near], lat[near])])
    return found


def elsewhere_points(
    boundaries: Boundaries,
    rng: np.random.Generator,
    guangdong: int,
    national: int,
    *,
    replace: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Points near Guangdong city centres (not Shaoguan) and near provincial capitals.

    Each point lies inside its city's outline (a draw that falls outside, e.g. into the
    sea, is replaced by the centre itself), so it is always in the service area.
    """
    cities = boundaries.cities
    pools = (
        [
            i
            for i, c in enumerate(cities.properties)
            if c["province"] == GUANGDONG_PROVINCE and c["name"] != SHAOGUAN_CITY
        ],
        [
            i
            for i, c in enumerate(cities.properties)
            if c["mainland"]
            and c["province"] != GUANGDONG_PROVINCE
            and str(c["adcode"]).endswith("0100")
        ],
    )
    lat, lon = [], []
    for pool, count in zip(pools, (guangdong, national), strict=True):
        picked = np.asarray(pool)[rng.choice(len(pool), count, replace=replace)]
        centre_lat = np.array(
            [cities.properties[i]["centre_lat"] for i in picked], dtype=np.float64
        )
        centre_lon = np.array(
            [cities.properties[i]["centre_lon"] for i in picked], dtype=np.float64
        )
        la = centre_lat + rng.normal(0, ELSEWHERE_SPREAD_DEG, count)
        lo = centre_lon + rng.normal(0, ELSEWHERE_SPREAD_DEG, count)
        inside = (
            shapely.contains_xy(cities.geometries[picked], lo, la) if count else np.ones(0, bool)
        )
        lat.append(np.where(inside, la, centre_lat))
        lon.append(np.where(inside, lo, centre_lon))
    return np.concatenate(lat), np.concatenate(lon)


# -- incidents -------------------------------------------------------------------------


def generate_requests(
    demand: Demand,
    network: CompiledNetwork,
    boundaries: Boundaries,
    rng: np.random.Generator,
    *,
    start: date,
    days: int,
) -> list[IncidentRequest]:
    """Poisson incidents over ``days`` days from local midnight of ``start``, sorted by time.

    In each hour of the week each district's count is Poisson with that hour's rate;
    times are uniform inside the hour, places on the district's roads (see
    :func:`road_points`). Ids are ``SIM-000001`` ... in time order.

    Raises
    ------
    InvalidInputError
        ``days`` below 1.
    DataError
        A district with incidents has no road of the network.
    """
    if days < 1:
        raise InvalidInputError(f"needs at least 1 day, got {days}", field="days")
    origin = datetime(start.year, start.month, start.day, tzinfo=SHANGHAI_TZ)
    hours = days * 24
    hour_of_week = (second_of_week(origin) // 3600 + np.arange(hours)) % HOURS_PER_WEEK
    factor = demand.week_factor()[hour_of_week]
    district_rate = np.array([d.incidents_per_day for d in demand.districts]) / 24
    counts = rng.poisson(factor[:, None] * district_rate[None, :])
    edges = district_edges(network, boundaries, [d.name for d in demand.districts])
    lat, lon, hour = [], [], []
    for j, district in enumerate(demand.districts):
        n = int(counts[:, j].sum())
        if n == 0:
            continue
        if edges[j].size == 0:
            raise DataError(f"district {district.name} has incidents but no road of the network")
        la, lo = road_points(network, rng, n, demand.traffic_weight, edges=edges[j])
        lat.append(la)
        lon.append(lo)
        hour.append(np.repeat(np.arange(hours), counts[:, j]))
    away = [
        rng.poisson(factor * rate / 24)
        for rate in (demand.guangdong_per_day, demand.national_per_day)
    ]
    la, lo = elsewhere_points(boundaries, rng, int(away[0].sum()), int(away[1].sum()))
    lat.append(la)
    lon.append(lo)
    hour += [np.repeat(np.arange(hours), a) for a in away]
    lat_a, lon_a, hour_a = np.concatenate(lat), np.concatenate(lon), np.concatenate(hour)
    seconds = hour_a * 3600.0 + rng.uniform(0, 3600, hour_a.size)
    order = np.argsort(seconds, kind="stable")
    injured = rng.random(order.size) < demand.mix.injured_share
    roll = rng.random(order.size)
    requests = []
    for k, row in enumerate(order):
        requests.append(
            IncidentRequest(
                id=f"SIM-{k + 1:06d}",
                lat=float(lat_a[row]),
                lon=float(lon_a[row]),
                reported_at=origin + timedelta(seconds=float(seconds[row])),
                needs=_needs(float(roll[k]), demand.mix),
                injured=bool(injured[k]),
                skills=frozenset({Skill.INJURY_CASE.value}) if injured[k] else frozenset(),
            )
        )
    return requests


def _needs(roll: float, mix: Mix) -> tuple[VehicleKind, ...]:
    if roll < mix.tow_crane_share:
        return (VehicleKind.SURVEY, VehicleKind.TOW_CRANE)
    if roll < mix.tow_crane_share + mix.tow_flatbed_share:
        return (VehicleKind.SURVEY, VehicleKind.TOW_FLATBED)
    return (VehicleKind.SURVEY,)


def script(
    requests: Sequence[IncidentRequest], response: Response, rng: np.random.Generator
) -> list[SimIncident]:
    """Draw each incident's course (call delay, on-scene times, declines), in request order."""
    n = len(requests)
    call_s = response.call_after.sample_s(rng, n)
    on_scene = {kind: duration.sample_s(rng, n) for kind, duration in response.on_scene}
    declines = rng.random((n, len(VehicleKind))) < response.decline_share
    return [
        SimIncident(
            request=r,
            call_after_s=float(call_s[k]),
            on_scene_s=tuple(float(on_scene[kind][k]) for kind in r.needs),
            declines=tuple(bool(declines[k, j]) for j in range(len(r.needs))),
        )
        for k, r in enumerate(requests)
    ]


# -- replays ---------------------------------------------------------------------------

REPLAY_COLUMNS = ("id", "reported_at", "lat", "lon")


class _ReplayRowIn(_In):
    id: str = Field(min_length=1)
    reported_at: datetime
    lat: float
    lon: float
    needs: str = "survey"
    injured: bool = False
    crs: str = "wgs84"


def load_replay(path: Path) -> list[IncidentRequest]:
    """Past incidents from a CSV, sorted by report time then id.

    Columns ``id, reported_at, lat, lon`` and optionally ``needs`` (vehicle kinds joined
    by ``;``, default ``survey``), ``injured`` (true/false) and ``crs`` (``wgs84``,
    ``gcj02``, ``bd09``). ``reported_at`` is ISO 8601; without an offset it is Asia/Shanghai.

    Raises
    ------
    InvalidInputError
        Missing file or columns, or bad rows: every bad row is listed with its line, and
        ``field`` names the first bad column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read replay file {path}: {exc.strerror}", field="replay"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REPLAY_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInputError(
            f"{path.name} lacks the column(s) {', '.join(missing)}", field="replay"
        )
    requests: list[IncidentRequest] = []
    problems: list[tuple[int, str, str]] = []
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        try:
            request = _replay_request(row)
        except ValidationError as exc:
            problems += [(line, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            continue
        except InvalidInputError as exc:
            problems.append((line, exc.field or "row", exc.message))
            continue
        if request.id in first_line:
            message = f"repeated id {request.id!r} (first on line {first_line[request.id]})"
            problems.append((line, "id", message))
        first_line.setdefault(request.id, line)
        requests.append(request)
    if problems:
        listing = "; ".join(f"line {line}, {where}: {msg}" for line, where, msg in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise InvalidInputError(f"{path.name}: {listing}{more}", field=problems[0][1])
    if not requests:
        raise InvalidInputError(f"{path.name} has no incident rows", field="replay")
    return sorted(requests, key=lambda r: (r.reported_at, r.id))


def _replay_request(row: dict[str, str]) -> IncidentRequest:
    given = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
    parsed = _ReplayRowIn.model_validate(given)
    reported_at = parsed.reported_at
    if reported_at.tzinfo is None:
        reported_at = reported_at.replace(tzinfo=SHANGHAI_TZ)
    lat, lon = to_wgs84(parsed.lat, parsed.lon, parsed.crs)
    needs: list[VehicleKind] = []
    for part in filter(None, (p.strip() for p in parsed.needs.split(";"))):
        try:
            needs.append(VehicleKind(part))
        except ValueError:
            allowed = ", ".join(k.value for k in VehicleKind)
            raise InvalidInputError(
                f"unknown vehicle kind {part!r} (one of {allowed})", field="needs"
            ) from None
    if not needs:
        raise InvalidInputError("at least one vehicle kind is needed", field="needs")
    return IncidentRequest(
        id=parsed.id,
        lat=lat,
        lon=lon,
        reported_at=reported_at,
        needs=tuple(dict.fromkeys(needs)),
        injured=parsed.injured,
        skills=frozenset({Skill.INJURY_CASE.value}) if parsed.injured else frozenset(),
    )
