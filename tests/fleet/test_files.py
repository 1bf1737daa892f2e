"""Loading fleet files: the shipped Shaoguan fleet, the partner network, and bad files."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.files import SHAOGUAN_DISTRICTS, load_fleet
from dispatch_engine.fleet.model import SHANGHAI_TZ, Fleet, VehicleKind
from dispatch_engine.geo.boundaries import (
    GUANGDONG_PROVINCE,
    SHAOGUAN_CITY,
    Boundaries,
    load_boundaries,
)
from dispatch_engine.settings import REPO_DATA_DIR
from tests.fleet.factories import fleet_document, write_fleet_file

SHIPPED = REPO_DATA_DIR / "fleet" / "shaoguan.yaml"
BUILD_SCRIPT = REPO_DATA_DIR.parent / "scripts" / "build_fleet.py"
WEEK_HOURS = [datetime(2025, 6, 2, tzinfo=SHANGHAI_TZ) + timedelta(hours=h) for h in range(168)]


@pytest.fixture(scope="module")
def shipped() -> Fleet:
    return load_fleet(SHIPPED)


@pytest.fixture(scope="module")
def boundaries() -> Boundaries:
    return load_boundaries(REPO_DATA_DIR)


def own_survey_cars(fleet: Fleet, district: str) -> list:
    return [
        v
        for v in fleet.vehicles
        if v.kind == VehicleKind.SURVEY
        and v.branch is None
        and fleet.base(v.base_id).district == district
    ]


# --- the shipped file -------------------------------------------------------------------


def test_shipped_file_is_what_the_build_script_generates() -> None:
    """data/fleet/shaoguan.yaml is byte-identical to a fresh run of scripts/build_fleet.py."""
    spec = importlib.util.spec_from_file_location("build_fleet", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.build_text() == SHIPPED.read_text(encoding="utf-8")


def test_shaoguan_districts_match_boundary_data(boundaries: Boundaries) -> None:
    """The ten district names used for coverage are those of the boundary layer."""
    assert set(SHAOGUAN_DISTRICTS) == set(boundaries.shaoguan_districts.names())


def test_shipped_fleet_has_realistic_own_fleet(shipped: Fleet) -> None:
    """The own fleet has 24–30 survey cars, a few flatbeds, two heavy cranes and repair vans."""
    own = [v for v in shipped.vehicles if v.branch is None]
    count = {kind: sum(v.kind == kind for v in own) for kind in VehicleKind}
    assert 24 <= count[VehicleKind.SURVEY] <= 30
    assert 3 <= count[VehicleKind.TOW_FLATBED] <= 8
    assert count[VehicleKind.TOW_CRANE] == 2
    assert all("heavy_vehicle" in v.skills for v in own if v.kind == VehicleKind.TOW_CRANE)
    assert count[VehicleKind.REPAIR] >= 2


def test_own_bases_lie_in_their_districts(shipped: Fleet, boundaries: Boundaries) -> None:
    """Every own base's coordinates fall inside the polygon of the district it names."""
    own_bases = [b for b in shipped.bases if b.district in SHAOGUAN_DISTRICTS]
    assert {b.district for b in own_bases} == set(SHAOGUAN_DISTRICTS)
    for base in own_bases:
        polygon = boundaries.shaoguan_districts.by_name(base.district)
        assert polygon.contains(shapely.Point(base.lon, base.lat)), base.id


def test_own_vehicles_have_symmetric_partners_of_same_kind(shipped: Fleet) -> None:
    """Each own vehicle's A/B partner is another vehicle of its kind and shifts, naming it back."""
    for vehicle in (v for v in shipped.vehicles if v.branch is None):
        partner = shipped.partner_of(vehicle.id)
        assert partner is not None and partner.id != vehicle.id
        assert partner.kind == vehicle.kind and partner.shifts == vehicle.shifts
        assert partner.partner_id == vehicle.id


@pytest.mark.parametrize("skills", [(), ("injury_case",)], ids=["any", "injury_case"])
def test_every_district_has_a_survey_car_every_hour(shipped: Fleet, skills: tuple) -> None:
    """Hour by hour over a week, every district has an own (injury-trained) survey car on shift."""
    for district in SHAOGUAN_DISTRICTS:
        cars = [v for v in own_survey_cars(shipped, district) if set(skills) <= v.skills]
        for hour in WEEK_HOURS:
            assert any(car.on_shift(hour) for car in cars), (district, hour)


def test_one_branch_per_other_mainland_city(shipped: Fleet, boundaries: Boundaries) -> None:
    """Partner branches are exactly the mainland cities of the boundary data except Shaoguan."""
    cities = [
        c for c in boundaries.cities.properties if c["mainland"] and c["name"] != SHAOGUAN_CITY
    ]
    branches = {v.branch for v in shipped.vehicles if v.branch is not None}
    assert branches == {c["name"] for c in cities}
    in_guangdong = {c["name"] for c in cities if c["province"] == GUANGDONG_PROVINCE}
    gd_cities = [p for p in boundaries.cities.properties if p["province"] == GUANGDONG_PROVINCE]
    assert len(in_guangdong) == len(gd_cities) - 1
    assert len(branches - in_guangdong) == len(cities) - len(in_guangdong)


def test_branch_surveyors_sit_at_city_centres(shipped: Fleet, boundaries: Boundaries) -> None:
    """Branch surveyors: 1–2 per city, at its centre, flagged estimate, on shift all week;
    a partner flatbed in every Guangdong city and none elsewhere."""
    centres = {c["name"]: (c["centre_lat"], c["centre_lon"]) for c in boundaries.cities.properties}
    province = {c["name"]: c["province"] for c in boundaries.cities.properties}
    per_branch: dict[str, int] = {}
    tows: dict[str, int] = {}
    for vehicle in (v for v in shipped.vehicles if v.branch is not None):
        assert vehicle.position_is_estimate
        assert (vehicle.lat, vehicle.lon) == centres[vehicle.branch]
        assert all(vehicle.on_shift(hour) for hour in WEEK_HOURS[::7])
        counts = per_branch if vehicle.kind == VehicleKind.SURVEY else tows
        assert vehicle.kind in (VehicleKind.SURVEY, VehicleKind.TOW_FLATBED)
        counts[vehicle.branch] = counts.get(vehicle.branch, 0) + 1
    assert set(per_branch.values()) <= {1, 2}
    assert set(tows.values()) == {1}
    assert {province[city] for city in tows} == {GUANGDONG_PROVINCE}
    assert (
        len(tows)
        == sum(1 for c in boundaries.cities.properties if c["province"] == GUANGDONG_PROVINCE) - 1
    )


# --- the partner network section --------------------------------------------------------


def test_branches_expand_to_partnered_surveyors(tmp_path: Path) -> None:
    """A two-surveyor branch yields two mutual partners; a one-surveyor branch, one car alone."""
    document = fleet_document()
    document["partner_network"] = {
        "shifts": ["around_the_clock"],
        "skills": ["injury_case"],
        "branches": [
            {"city": "广州市", "province": "广东省", "adcode": "440100", "lat": 23.1, "lon": 113.3,
             "surveyors": 2},
            {"city": "唐山市", "province": "河北省", "adcode": "130200", "lat": 39.7, "lon": 118.3,
             "surveyors": 1},
        ],
    }  # fmt: skip
    fleet = load_fleet(write_fleet_file(tmp_path, document))
    assert fleet.partner_of("PB-440100-1").id == "PB-440100-2"
    assert fleet.partner_of("PB-440100-2").id == "PB-440100-1"
    assert fleet.partner_of("PB-130200-1") is None
    tangshan = fleet.vehicle("PB-130200-1")
    assert (tangshan.branch, tangshan.lat, tangshan.position_is_estimate) == ("唐山市", 39.7, True)
    assert tangshan.skills == {"injury_case"}
    assert fleet.base("PB-130200").district == "唐山市"


def test_vehicle_position_defaults_to_base(tmp_path: Path) -> None:
    """A vehicle without lat/lon is at its base; one with them is where they say."""
    document = fleet_document()
    document["bases"][0] |= {"lat": 24.9, "lon": 113.6}
    document["vehicles"][1] |= {"lat": 24.7, "lon": 113.5}
    fleet = load_fleet(write_fleet_file(tmp_path, document))
    assert (fleet.vehicle("SV-0").lat, fleet.vehicle("SV-0").lon) == (24.9, 113.6)
    assert (fleet.vehicle("SV-1").lat, fleet.vehicle("SV-1").lon) == (24.7, 113.5)


# --- bad files --------------------------------------------------------------------------


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    """1-based number of the ``occurrence``-th line containing ``needle``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[occurrence]


def dumped(mutate: Callable[[dict[str, Any]], None]) -> str:
    document = fleet_document()
    mutate(document)
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _set(path: tuple, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path
        node = document
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _delete(section: str, index: int, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document[section][index].pop(key)


def _duplicate_vehicle(document: dict[str, Any]) -> None:
    document["vehicles"].append(dict(document["vehicles"][0]))


def _two_branches_same_city(document: dict[str, Any]) -> None:
    branch = {"city": "广州市", "province": "广东省", "adcode": "440100", "lat": 23.1, "lon": 113.3}
    document["partner_network"] = {
        "shifts": ["around_the_clock"],
        "branches": [branch | {"surveyors": 2}, branch | {"surveyors": 1}],
    }


BAD_FILES = {
    # name: (file text, field, (needle, occurrence) of the line to report)
    "unknown kind": (
        dumped(_set(("vehicles", 2, "kind"), "helicopter")),
        "vehicles[2].kind",
        ("kind: helicopter", 0),
    ),
    "missing field": (
        dumped(_delete("vehicles", 2, "base_id")),
        "vehicles[2].base_id",
        ("- id: SV-2", 0),
    ),
    "duplicate id": (dumped(_duplicate_vehicle), "vehicles[10].id", ("- id: SV-0", 1)),
    "partner pointing to nowhere": (
        dumped(_set(("vehicles", 2, "partner_id"), "SV-99")),
        "vehicles[2].partner_id",
        ("partner_id: SV-99", 0),
    ),
    "latitude out of range": (
        dumped(_set(("bases", 1, "lat"), 95.0)),
        "bases[1].lat",
        ("lat: 95.0", 0),
    ),
    "coverage gap": (
        dumped(_set(("vehicles", 7, "shifts"), ["day"])),
        "vehicles",
        ("vehicles:", 0),
    ),
    "unknown shift name": (
        dumped(_set(("vehicles", 4, "shifts"), ["dya"])),
        "vehicles[4].shifts[0]",
        ("- dya", 0),
    ),
    "base that does not exist": (
        dumped(_set(("vehicles", 3, "base_id"), "B99")),
        "vehicles[3].base_id",
        ("base_id: B99", 0),
    ),
    "own vehicle without partner": (
        dumped(_delete("vehicles", 5, "partner_id")),
        "vehicles[5].partner_id",
        ("- id: SV-5", 0),
    ),
    "unknown field": (
        dumped(_set(("vehicles", 6, "partner"), "SV-7")),
        "vehicles[6].partner",
        ("partner: SV-7", 0),
    ),
    "district outside Shaoguan": (
        dumped(_set(("bases", 9, "district"), "广州市")),
        "bases[9].district",
        ("district: 广州市", 0),
    ),
    "branch listed twice": (
        dumped(_two_branches_same_city),
        "partner_network.branches[1]",
        ("- city: 广州市", 1),
    ),
    "unquoted time read as a number": (
        dumped(lambda d: None).replace("end: '20:00'", "end: 20:00"),
        "shifts.day.end",
        ("end: 20:00", 0),
    ),
    "repeated key": (
        dumped(lambda d: None).replace("  kind: survey\n", "  kind: survey\n  kind: survey\n", 1),
        "vehicles[0].kind",
        ("kind: survey", 1),
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_file_names_field_and_line(tmp_path: Path, case: str) -> None:
    """Each kind of bad fleet file raises InvalidInputError naming the field and its line."""
    text, field, (needle, occurrence) = BAD_FILES[case]
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_fleet(path)
    assert f"line {line_of(text, needle, occurrence)}, {field}:" in caught.value.message
    # ``field`` names the first problem listed (a change may cause several).
    assert f", {caught.value.field}:" in caught.value.message.splitlines()[1]


def test_coverage_gap_names_district_and_hours(tmp_path: Path) -> None:
    """A district whose only survey car works days is reported with its nights, Sunday's whole."""
    text = dumped(_set(("vehicles", 7, "shifts"), ["day"]))
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match="翁源县 .*mon 20:00–tue 08:00") as caught:
        load_fleet(path)
    assert caught.value.message.count("20:00–") == 7
    assert "sun 20:00–mon 08:00" in caught.value.message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Two unrelated cross-check problems are both listed, each with its own line."""

    def two_problems(document: dict[str, Any]) -> None:
        document["vehicles"][2]["partner_id"] = "SV-98"
        document["vehicles"][8]["partner_id"] = "SV-99"

    text = dumped(two_problems)
    path = write_fleet_file(tmp_path, yaml.safe_load(text))
    with pytest.raises(InvalidInputError, match="2 problems") as caught:
        load_fleet(path)
    for needle in ("SV-98", "SV-99"):
        assert f"line {line_of(text, f'partner_id: {needle}')}," in caught.value.message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    """A file that is not YAML is refused with the line of the syntax error."""
    path = tmp_path / "fleet.yaml"
    path.write_text("shifts:\n  day: {days: [mon\nbases: []\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"line \d+: not valid YAML") as caught:
        load_fleet(path)
    assert caught.value.field == "path"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A fleet path that does not exist is an input error naming the path."""
    with pytest.raises(InvalidInputError, match="not found") as caught:
        load_fleet(tmp_path / "nope.yaml")
    assert caught.value.field == "path"
