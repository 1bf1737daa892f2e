"""A replayed day through the real dispatcher on a small road graph."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

import numpy as np
import pytest

from dispatch_engine.dispatch.model import EventType, IncidentStatus
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.model import SHANGHAI_TZ, VehicleKind
from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import EstimateEngine, RoadEngine
from dispatch_engine.network.router import Router
from dispatch_engine.simulation.day import DayPlan, replay_day, synthetic_day
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.fleet.factories import make_fleet, make_vehicle

DAY = date(2026, 3, 2)
PLAN = DayPlan(shaoguan=20, guangdong=2, national=1)


@pytest.fixture(scope="module")
def router(grid_graph) -> Router:
    road = RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)
    return Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))


def run_day(router, settings, seed):
    net = router.road.network
    kinds = [VehicleKind.SURVEY] * 4 + [VehicleKind.TOW_FLATBED, VehicleKind.TOW_CRANE]
    vehicles = [
        make_vehicle(
            id=f"V{i}",
            kind=k,
            lat=float(net.node_lat[i * 9]),
            lon=float(net.node_lon[i * 9]),
            skills=frozenset({"injury_case"}),
        )
        for i, k in enumerate(kinds)
    ]
    branches = [
        make_vehicle(
            id=f"PB{i}",
            lat=c["centre_lat"],
            lon=c["centre_lon"],
            branch=c["name"],
            position_is_estimate=True,
            skills=frozenset({"injury_case"}),
        )
        for i, c in enumerate(load_boundaries(settings.data_dir).cities.properties)
        if c["mainland"]
    ]
    clock = ManualClock(datetime(2026, 3, 2, tzinfo=SHANGHAI_TZ))
    dispatcher = Dispatcher(
        store=MemoryDispatchStore(make_fleet(*vehicles, *branches)),
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        clock=clock,
    )
    rng = np.random.default_rng(seed)
    requests = synthetic_day(DAY, net, load_boundaries(settings.data_dir), rng, PLAN)
    return dispatcher, requests, replay_day(dispatcher, clock, requests, rng, PLAN)


def test_replay_is_reproducible_and_ends_every_incident(router, settings):
    """Same seed, same table; every incident ends done, called in time, in its zone."""
    dispatcher, requests, result = run_day(router, settings, seed=5)
    _, _, again = run_day(router, settings, seed=5)
    assert result.by_zone() == again.by_zone()
    assert len(result.incidents) == len(requests) == 23
    assert all(i.status == IncidentStatus.DONE for i in result.incidents)
    table = result.by_zone()
    assert {z: row["incidents"] for z, row in table.items()} == {
        "shaoguan": 20,
        "guangdong": 2,
        "national": 1,
    }
    assert table["shaoguan"]["calls_within_5_min"] == 1.0  # calls come 0.5-4.5 min after the report
    assert table["guangdong"]["estimated_etas"] >= 2


def test_replay_never_double_books(router, settings):
    """Between assignment and done, a vehicle serves one incident only."""
    dispatcher, _, result = run_day(router, settings, seed=9)
    busy = defaultdict(list)
    for incident in result.incidents:
        done_at = {
            e.vehicle_id: e.at
            for e in dispatcher.store.events(incident.id)
            if e.type in (EventType.DONE, EventType.DECLINED, EventType.NO_SHOW)
        }
        for a in incident.assignments:
            busy[a.vehicle_id].append((a.assigned_at, done_at[a.vehicle_id]))
    for spans in busy.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end
