"""Generate ``data/fleet/shaoguan.yaml``: the insurer's Shaoguan fleet and its partner network.

Why a script: the fleet file is data people edit, but its first version has to be
consistent (24 h survey coverage of every district, A/B partners on the same shift at
a neighbouring base, one partner branch per prefecture-level city of the boundary
data), which is easier to get right once in code than by hand. The output is
deterministic; rerun after changing the tables below.

The own fleet is a plausible placement, not the insurer's real depots: bases at the
county seats of SPEC §2, with a second base in each urban-core district (浈江区,
武江区, 曲江区) where most incidents happen. Survey cars work day (08:00–20:00) and
night (20:00–08:00) shifts so every district is covered around the clock, with
weekday office-hours reinforcements in the city; tow trucks and cranes in the core
are on call around the clock.

Partner branches sit at each city's centre from ``data/boundaries/cities.geojson.gz``:
two surveyors in Guangdong cities and provincial capitals (adcode ``xx0100``), one
elsewhere; every Guangdong branch also has a partner flatbed for the free tow.

Run: ``.venv/bin/python scripts/build_fleet.py``
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import networkx as nx
import pyproj
import shapely
import yaml

from dispatch_engine.fleet.files import SHAOGUAN_DISTRICTS, load_fleet
from dispatch_engine.fleet.model import VehicleKind
from dispatch_engine.geo.boundaries import GUANGDONG_PROVINCE, SHAOGUAN_CITY, load_boundaries
from dispatch_engine.settings import load_settings

OUT_PATH = Path(__file__).resolve().parent.parent / "data" / "fleet" / "shaoguan.yaml"

ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SHIFTS = {
    "day": {"days": ALL_WEEK, "start": "08:00", "end": "20:00"},
    "night": {"days": ALL_WEEK, "start": "20:00", "end": "08:00"},
    "office": {"days": ALL_WEEK[:5], "start": "08:30", "end": "17:30"},
    "around_the_clock": {"days": ALL_WEEK, "start": "00:00", "end": "00:00"},
}

# id, name, district, lat, lon (WGS-84). County bases at the county seats of SPEC §2.
BASES = [
    ("ZJ1", "浈江城区基地", "浈江区", 24.811, 113.598),
    ("ZJ2", "浈江北部基地", "浈江区", 24.930, 113.600),
    ("WJ1", "武江西河基地", "武江区", 24.800, 113.575),
    ("WJ2", "武江西南基地", "武江区", 24.680, 113.420),
    ("QJ1", "曲江马坝基地", "曲江区", 24.680, 113.606),
    ("QJ2", "曲江南部基地", "曲江区", 24.560, 113.730),
    ("LC", "乐昌基地", "乐昌市", 25.128, 113.347),
    ("NX", "南雄基地", "南雄市", 25.117, 114.311),
    ("RH", "仁化基地", "仁化县", 25.086, 113.750),
    ("SX", "始兴基地", "始兴县", 24.948, 114.061),
    ("WY", "翁源基地", "翁源县", 24.350, 114.131),
    ("XF", "新丰基地", "新丰县", 24.060, 114.207),
    ("RY", "乳源基地", "乳源瑶族自治县", 24.776, 113.276),
]
COUNTY_BASES = ["LC", "NX", "RH", "SX", "WY", "XF", "RY"]

SURVEY, FLATBED, CRANE, REPAIR = (
    VehicleKind.SURVEY,
    VehicleKind.TOW_FLATBED,
    VehicleKind.TOW_CRANE,
    VehicleKind.REPAIR,
)
# (base, kind, shift, skills). Each district keeps an injury-trained surveyor on every
# shift; heavy-vehicle surveyors sit near the G4/G45 expressways; office-hours cars
# handle new-energy vehicles.
ROSTER: list[tuple[str, VehicleKind, str, list[str]]] = [
    ("ZJ1", SURVEY, "day", ["injury_case"]),
    ("ZJ1", SURVEY, "day", ["heavy_vehicle"]),
    ("ZJ1", SURVEY, "night", ["injury_case", "heavy_vehicle"]),
    ("ZJ1", SURVEY, "office", ["new_energy"]),
    ("ZJ2", SURVEY, "day", []),
    ("WJ1", SURVEY, "day", ["injury_case"]),
    ("WJ1", SURVEY, "night", ["injury_case"]),
    ("WJ1", SURVEY, "office", ["new_energy"]),
    ("WJ2", SURVEY, "day", []),
    ("QJ1", SURVEY, "day", ["injury_case", "heavy_vehicle"]),
    ("QJ1", SURVEY, "night", ["injury_case", "heavy_vehicle"]),
    ("QJ2", SURVEY, "day", []),
    *[(base, SURVEY, "day", ["injury_case"]) for base in COUNTY_BASES],
    *[(base, SURVEY, "night", ["injury_case"]) for base in COUNTY_BASES],
    ("LC", SURVEY, "day", ["heavy_vehicle"]),
    ("WY", SURVEY, "day", ["heavy_vehicle"]),
    ("ZJ1", FLATBED, "around_the_clock", []),
    ("QJ1", FLATBED, "around_the_clock", []),
    ("WJ1", FLATBED, "day", []),
    ("LC", FLATBED, "day", []),
    ("NX", FLATBED, "day", []),
    ("WY", FLATBED, "day", []),
    ("ZJ1", CRANE, "around_the_clock", ["heavy_vehicle"]),
    ("QJ1", CRANE, "around_the_clock", ["heavy_vehicle"]),
    ("ZJ1", REPAIR, "day", ["new_energy"]),
    ("WJ1", REPAIR, "day", ["new_energy"]),
    ("QJ1", REPAIR, "day", []),
    ("LC", REPAIR, "day", []),
]
KIND_CODE = {SURVEY: "SV", FLATBED: "TF", CRANE: "TC", REPAIR: "RP"}
# Pairing within one base is the last resort: a backup at the same depot is out of
# reach exactly when the depot's area is busy.
SAME_BASE_PENALTY_M = 1_000_000.0
WGS84 = pyproj.Geod(ellps="WGS84")
BRANCH_SHIFTS = ["around_the_clock"]
BRANCH_SKILLS = ["injury_case"]


def _check_bases_in_districts() -> None:
    """Refuse a base whose coordinates are outside the district it is filed under."""
    districts = load_boundaries(load_settings().data_dir).shaoguan_districts
    for base_id, _, district, lat, lon in BASES:
        if not districts.by_name(district).contains(shapely.Point(lon, lat)):
            raise SystemExit(f"base {base_id} ({lat}, {lon}) is outside {district}")


def _vehicles() -> list[dict]:
    """The own fleet with ids ``<kind code>-<base>-<n>`` and A/B partners."""
    counters: Counter[tuple[str, VehicleKind]] = Counter()
    vehicles = []
    for base, kind, shift, skills in ROSTER:
        counters[base, kind] += 1
        vehicle = {"id": f"{KIND_CODE[kind]}-{base}-{counters[base, kind]}", "kind": str(kind)}
        vehicle |= {"base_id": base, "shifts": [shift]}
        vehicles.append(vehicle | ({"skills": skills} if skills else {}))
    _pair_partners(vehicles)
    return vehicles


def _pair_partners(vehicles: list[dict]) -> None:
    """Give each vehicle an A/B partner of the same kind and shift at a nearby base.

    A minimum-weight perfect matching on geodesic (not road) distance pairs the
    group; in an odd group the one left over points at its nearest colleague (a
    one-way backup).
    """
    where = {base_id: (lat, lon) for base_id, _, _, lat, lon in BASES}

    def distance_m(a: dict, b: dict) -> float:
        (lat1, lon1), (lat2, lon2) = where[a["base_id"]], where[b["base_id"]]
        same_base = SAME_BASE_PENALTY_M if a["base_id"] == b["base_id"] else 0.0
        return float(WGS84.inv(lon1, lat1, lon2, lat2)[2]) + same_base

    def group(vehicle: dict) -> tuple[str, tuple[str, ...]]:
        return vehicle["kind"], tuple(vehicle["shifts"])

    for _, members in itertools.groupby(sorted(vehicles, key=group), key=group):
        crew = sorted(members, key=lambda v: v["id"])
        graph = nx.Graph()
        for a, b in itertools.combinations(range(len(crew)), 2):
            graph.add_edge(a, b, weight=distance_m(crew[a], crew[b]))
        for a, b in sorted(nx.min_weight_matching(graph)):
            crew[a]["partner_id"], crew[b]["partner_id"] = crew[b]["id"], crew[a]["id"]
        for vehicle in crew:
            if "partner_id" not in vehicle:
                others = [v for v in crew if v is not vehicle]
                vehicle["partner_id"] = min(others, key=lambda v: distance_m(vehicle, v))["id"]


def _branches() -> list[dict]:
    """One partner branch per mainland prefecture-level city except Shaoguan, by adcode."""
    cities = load_boundaries(load_settings().data_dir).cities.properties
    branches = []
    for city in sorted(cities, key=lambda c: c["adcode"]):
        if not city["mainland"] or city["name"] == SHAOGUAN_CITY:
            continue
        in_guangdong = city["province"] == GUANGDONG_PROVINCE
        big = in_guangdong or city["adcode"].endswith("0100")
        branch = {
            "city": city["name"],
            "province": city["province"],
            "adcode": city["adcode"],
            "lat": city["centre_lat"],
            "lon": city["centre_lon"],
            "surveyors": 2 if big else 1,
        }
        if in_guangdong:  # free towing inside Guangdong: a partner flatbed in every city
            branch["tow_flatbeds"] = 1
        branches.append(branch)
    return branches


def _flow(mapping: dict) -> str:
    """One record on one line, so the file reads as a table."""
    text = yaml.safe_dump(
        mapping, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6
    )
    return text.strip()


def _render(vehicles: list[dict], branches: list[dict]) -> str:
    """The fleet file text: a header saying how to rebuild it, then the four sections."""
    lines = [
        "# Shaoguan claims fleet: the insurer's own vehicles and its partner-branch network.",
        "# Generated by scripts/build_fleet.py (deterministic); edit the script, then rerun:",
        "#   .venv/bin/python scripts/build_fleet.py",
        "# Coordinates are WGS-84. Own bases are plausible placements at the county seats,",
        "# not real depots. Branch positions are city centres from data/boundaries.",
        "# Shift times are Asia/Shanghai; a shift starts on each listed day and ends at the",
        "# next `end`, so 20:00-08:00 ends the following morning and 00:00-00:00 is 24 h.",
        "",
        "shifts:",
        *[f"  {name}: {_flow(shift)}" for name, shift in SHIFTS.items()],
        "",
        "bases:",
        *[
            "  - " + _flow({"id": i, "name": n, "district": d, "lat": la, "lon": lo})
            for i, n, d, la, lo in BASES
        ],
        "",
        "# ids: <SV survey | TF flatbed | TC crane | RP repair>-<base>-<n>; partner_id: A/B backup",
        "vehicles:",
        *[f"  - {_flow(vehicle)}" for vehicle in vehicles],
        "",
        "# Each branch becomes base PB-<adcode> with survey vehicles PB-<adcode>-<n>.",
        "partner_network:",
        f"  shifts: {_flow(BRANCH_SHIFTS)}",
        f"  skills: {_flow(BRANCH_SKILLS)}",
        "  branches:",
        *[f"    - {_flow(branch)}" for branch in branches],
    ]
    return "\n".join(lines) + "\n"


def build_text() -> str:
    """The whole fleet file, from the tables above and the boundary data."""
    _check_bases_in_districts()
    return _render(_vehicles(), _branches())


def main() -> None:
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUT_PATH.write_text(build_text(), encoding="utf-8")
    fleet = load_fleet(OUT_PATH)  # the same validation every reader applies

    own = [v for v in fleet.vehicles if v.branch is None]
    partners = [v for v in fleet.vehicles if v.branch is not None]
    branches = _branches()
    in_gd = [b for b in branches if b["province"] == GUANGDONG_PROVINCE]
    print(f"wrote {OUT_PATH} ({OUT_PATH.stat().st_size:,} bytes)")
    print(f"own fleet: {len(BASES)} bases, {len(own)} vehicles")
    for kind, count in sorted(Counter(str(v.kind) for v in own).items()):
        print(f"  {kind:<12} {count}")
    print("survey cars per district (day / night / office):")
    for district in SHAOGUAN_DISTRICTS:
        bases = {b.id for b in fleet.bases if b.district == district}
        shifts = Counter(name for base, kind, name, _ in ROSTER if kind == SURVEY and base in bases)
        print(f"  {district:<8} {shifts['day']} / {shifts['night']} / {shifts['office']}")
    print(
        f"partner network: {len(branches)} branches "
        f"({len(in_gd)} in Guangdong, {len(branches) - len(in_gd)} elsewhere), "
        f"{len(partners)} surveyors"
    )
    print("validation passed: ids, bases, A/B partners, 24 h survey coverage of every district")


if __name__ == "__main__":
    main()
