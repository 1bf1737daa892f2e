"""Demand files, Poisson incidents, incident courses and replays of past incidents."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest
import yaml

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import SHANGHAI_TZ, VehicleKind
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.simulation.demand import (
    Fixed,
    LogNormal,
    Response,
    Uniform,
    default_demand_path,
    generate_requests,
    load_demand,
    load_replay,
    script,
)
from tests.simulation.factories import MONDAY as START
from tests.simulation.factories import demand_document, request

MONDAY = date(2026, 3, 2)


def write(tmp_path, document, name="demand.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_demand_is_valid_and_week_factor_has_mean_one(settings):
    """The default file loads; the hour-of-week factor has 168 hours, mean 1, rush above night."""
    demand = load_demand(default_demand_path(settings))
    factor = demand.week_factor()
    assert factor.shape == (168,) and factor.mean() == pytest.approx(1.0)
    assert factor[8] > 3 * factor[3]  # Monday 08-09 against 03-04
    assert len(demand.districts) == 10 and demand.synthetic


def test_poisson_counts_follow_the_rates(grid_router, boundaries, demand_file):
    """Over 60 days the daily count per district averages its rate (within 3 standard errors)."""
    demand = load_demand(demand_file)
    requests = generate_requests(
        demand,
        grid_router.road.network,
        boundaries,
        np.random.default_rng(1),
        start=MONDAY,
        days=60,
    )
    rate = sum(d.incidents_per_day for d in demand.districts)
    assert abs(len(requests) / 60 - rate) < 3 * np.sqrt(rate / 60)
    times = [r.reported_at for r in requests]
    assert times == sorted(times) and times[0] >= datetime(2026, 3, 2, tzinfo=SHANGHAI_TZ)
    assert times[-1] < datetime(2026, 5, 1, tzinfo=SHANGHAI_TZ)
    assert len({r.id for r in requests}) == len(requests)


def test_incidents_follow_the_hourly_profile(grid_router, boundaries, tmp_path):
    """With all weight in hours 8 and 17, every incident falls in those two hours."""
    profile = [0.0] * 24
    profile[8] = profile[17] = 1.0
    path = write(
        tmp_path,
        demand_document(hourly={"weekday": profile, "saturday": profile, "sunday": profile}),
    )
    requests = generate_requests(
        load_demand(path),
        grid_router.road.network,
        boundaries,
        np.random.default_rng(2),
        start=MONDAY,
        days=5,
    )
    assert requests and {r.reported_at.astimezone(SHANGHAI_TZ).hour for r in requests} == {8, 17}


def test_incidents_fall_in_their_district(grid_router, boundaries, classifier, tmp_path):
    """Incidents of a district are drawn on that district's roads."""
    document = demand_document(districts=[{"name": "武江区", "incidents_per_day": 20.0}])
    requests = generate_requests(
        load_demand(write(tmp_path, document)),
        grid_router.road.network,
        boundaries,
        np.random.default_rng(3),
        start=MONDAY,
        days=2,
    )
    districts = classifier.classify_many(
        [r.lat for r in requests], [r.lon for r in requests]
    ).district
    assert np.mean(districts == "武江区") > 0.95  # roads crossing the border may stray a little


def test_elsewhere_incidents_are_in_their_zones(grid_router, boundaries, classifier, tmp_path):
    """Incidents elsewhere lie in Guangdong outside Shaoguan or in other provinces, never at sea."""
    document = demand_document(
        districts=[{"name": "浈江区", "incidents_per_day": 0.0}],
        guangdong_per_day=20.0,
        national_per_day=20.0,
    )
    requests = generate_requests(
        load_demand(write(tmp_path, document)),
        grid_router.road.network,
        boundaries,
        np.random.default_rng(4),
        start=MONDAY,
        days=3,
    )
    zones = classifier.classify_many([r.lat for r in requests], [r.lon for r in requests]).zone
    assert set(zones) == {"guangdong", "national"}


def test_same_seed_same_incidents(grid_router, boundaries, demand_file):
    """A seed fixes every incident: place, time, needs, injury."""
    demand = load_demand(demand_file)

    def draw(seed):
        rng = np.random.default_rng(seed)
        return generate_requests(
            demand, grid_router.road.network, boundaries, rng, start=MONDAY, days=3
        )

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_script_draws_each_kind_its_duration():
    """Fixed durations are exact, uniform ones stay in range, and decline shares hold roughly."""
    requests = [
        request(k, START, 24.81, 113.6, needs=(VehicleKind.SURVEY, VehicleKind.TOW_FLATBED))
        for k in range(2000)
    ]
    response = Response(
        call_after=Uniform(1.0, 2.0),
        decline_share=0.25,
        on_scene=(
            (VehicleKind.SURVEY, Fixed(30.0)),
            (VehicleKind.TOW_FLATBED, LogNormal(50.0, 0.0)),
            (VehicleKind.TOW_CRANE, Fixed(1.0)),
            (VehicleKind.REPAIR, Fixed(1.0)),
        ),
    )
    scripted = script(requests, response, np.random.default_rng(5))
    assert all(s.on_scene_s == pytest.approx((1800.0, 3000.0)) for s in scripted)
    assert all(60.0 <= s.call_after_s <= 120.0 for s in scripted)
    assert np.mean([s.declines[0] for s in scripted]) == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"districts": [{"name": "浈江区", "incidents_per_day": -1}]},
            "districts.0.incidents_per_day",
        ),
        ({"districts": [{"name": "香港", "incidents_per_day": 1}]}, "districts.0.name"),
        ({"day_factor": {"mon": 1.0}}, "day_factor"),
        ({"mix": {"injured_share": 0.1, "tow_flatbed_share": 0.8, "tow_crane_share": 0.5}}, "mix"),
    ],
)
def test_bad_demand_files_name_the_field(tmp_path, change, field):
    """Each kind of mistake is refused with the field that holds it."""
    with pytest.raises(InvalidInputError) as caught:
        load_demand(write(tmp_path, demand_document(**change)))
    assert caught.value.field == field


def test_missing_on_scene_kind_and_bad_duration_are_refused(tmp_path):
    """A response without a vehicle kind, or a uniform with low above high, is refused."""
    document = demand_document()
    del document["response"]["on_scene_min"]["repair"]
    with pytest.raises(InvalidInputError, match="repair"):
        load_demand(write(tmp_path, document))
    document = demand_document()
    document["response"]["call_after_min"] = {
        "distribution": "uniform",
        "low_min": 5,
        "high_min": 1,
    }
    with pytest.raises(InvalidInputError, match="low_min"):
        load_demand(write(tmp_path, document))


def test_replay_reads_times_crs_and_needs(tmp_path):
    """Naive times are Asia/Shanghai, GCJ-02 rows are converted, needs and injuries are read."""
    path = tmp_path / "past.csv"
    path.write_text(
        "id,reported_at,lat,lon,needs,injured,crs\n"
        "B,2026-03-02T09:30:00,24.81,113.60,survey;tow_flatbed,true,gcj02\n"
        "A,2026-03-02T08:00:00+08:00,24.80,113.59,,,\n",
        encoding="utf-8",
    )
    first, second = load_replay(path)
    assert first.id == "A" and first.needs == (VehicleKind.SURVEY,) and not first.injured
    assert second.reported_at == datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI_TZ)
    assert (second.lat, second.lon) == pytest.approx(to_wgs84(24.81, 113.60, "gcj02"))
    assert second.needs == (VehicleKind.SURVEY, VehicleKind.TOW_FLATBED) and second.injured
    assert second.skills == frozenset({"injury_case"})


def test_replay_lists_every_bad_row(tmp_path):
    """Bad rows are reported together, each with its line and column."""
    path = tmp_path / "past.csv"
    path.write_text(
        "id,reported_at,lat,lon,needs\n"
        "A,2026-03-02T08:00:00,24.8,113.6,\n"
        "B,yesterday,24.8,113.6,\n"
        "A,2026-03-02T09:00:00,24.8,113.6,helicopter\n"
        "C,2026-03-02T09:00:00,95,113.6,\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError) as caught:
        load_replay(path)
    message = str(caught.value)
    assert (
        "line 3, reported_at" in message and "line 4, needs" in message and "line 5, lat" in message
    )
    assert caught.value.field == "reported_at"
    missing = tmp_path / "short.csv"
    missing.write_text("id,lat,lon\nA,24.8,113.6\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="reported_at"):
        load_replay(missing)
