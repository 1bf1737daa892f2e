"""The run report against numbers recomputed from the dispatcher's own records."""

from __future__ import annotations

from datetime import time, timedelta

import numpy as np
import pytest
import yaml

from dispatch_engine.dispatch.model import EventType
from dispatch_engine.fleet.model import ALL_WEEK, Shift, VehicleKind
from dispatch_engine.simulation.demand import generate_requests, load_demand, script
from dispatch_engine.simulation.report import on_shift_s, share_within, summarize
from tests.fleet.factories import make_vehicle
from tests.simulation.factories import MONDAY, demand_document, grid_fleet, run


def test_on_shift_time_within_a_period():
    """Day shifts give 12 h a day; a night shift is counted across the week's end."""
    day = make_vehicle(shifts=(Shift(ALL_WEEK, time(8), time(20)),))
    assert on_shift_s(day, MONDAY, MONDAY + timedelta(days=2)) == 24 * 3600
    night = make_vehicle(shifts=(Shift(ALL_WEEK, time(20), time(8)),))
    sunday = MONDAY + timedelta(days=6)
    # Sunday 00-08 and 20-24, then Monday 00-08 of the next week
    assert on_shift_s(night, sunday, sunday + timedelta(hours=36)) == 20 * 3600


@pytest.fixture(scope="module")
def simulated(grid_router, classifier, boundaries, tmp_path_factory):
    path = tmp_path_factory.mktemp("demand") / "demand.yaml"
    path.write_text(yaml.safe_dump(demand_document(), allow_unicode=True), encoding="utf-8")
    demand = load_demand(path)
    rng = np.random.default_rng(21)
    requests = generate_requests(
        demand, grid_router.road.network, boundaries, rng, start=MONDAY.date(), days=2
    )
    fleet = grid_fleet(
        grid_router, (VehicleKind.SURVEY, VehicleKind.SURVEY, VehicleKind.TOW_FLATBED)
    )
    dispatcher, result = run(grid_router, classifier, fleet, script(requests, demand.response, rng))
    period = (MONDAY, MONDAY + timedelta(days=2))
    summary = summarize(
        result, fleet, period=period, base_zone={b.id: "shaoguan" for b in fleet.bases}
    )
    return dispatcher, result, fleet, period, summary


def test_shares_and_percentiles_equal_a_recount(simulated):
    """Share met and ETA percentiles per zone equal a recount from the stored incidents."""
    _, result, _, _, summary = simulated
    incidents = [i for i in result.incidents if i.zone.zone == "shaoguan"]
    met = [i.arrived_at is not None and i.arrived_at <= i.arrival_due_at for i in incidents]
    etas = [
        (i.arrived_at - i.request.reported_at).total_seconds() / 60
        for i in incidents
        if i.arrived_at
    ]
    row = summary["zones"]["shaoguan"]
    assert row["incidents"] == len(incidents) == summary["run"]["incidents"]
    assert row["share_met"] == pytest.approx(np.mean(met), abs=1e-4)
    assert row["eta_min_p90"] == pytest.approx(np.percentile(etas, 90), abs=0.05)
    assert share_within(result, 15) == pytest.approx(np.mean(met))  # 15 min is the guarantee here
    assert sum(r["incidents"] for r in summary["districts"].values()) == len(incidents)


def test_utilisation_equals_job_time_over_shift_time(simulated):
    """A vehicle's utilisation is its assigned-to-done time over its on-shift time."""
    dispatcher, result, fleet, period, summary = simulated
    busy = 0.0
    for incident in result.incidents:
        ended = {
            e.vehicle_id: e.at
            for e in dispatcher.store.events(incident.id)
            if e.type in (EventType.DONE, EventType.DECLINED)
        }
        for a in incident.assignments:
            if a.kind == VehicleKind.TOW_FLATBED:
                end = min(ended[a.vehicle_id], period[1])
                busy += max((end - max(a.assigned_at, period[0])).total_seconds(), 0)
    assert summary["own_vehicle_kinds"]["tow_flatbed"]["utilisation"] == pytest.approx(
        busy / (2 * 86400), abs=1e-4
    )
    assert 0 < summary["zones"]["shaoguan"]["utilisation"] < 1
