"""The shared dispatch hot path made fast for the simulation, against plain references.

Each speed-up (fleet columns, incremental locating, row ranking, surge exclusions) must
give exactly what the straightforward computation gives.
"""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

import numpy as np
import pytest

from dispatch_engine.dispatch.model import EventType, IncidentStatus
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.rank import (
    FleetLocator,
    SiteEtas,
    locate_points,
    rank,
    rank_rows,
)
from dispatch_engine.dispatch.service import DISPATCHABLE, Dispatcher
from dispatch_engine.fleet.model import ALL_WEEK, Fleet, Shift, VehicleKind, VehicleStatus
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.fleet.factories import make_fleet, make_vehicle
from tests.simulation.factories import MONDAY, request

SHIFTS = (
    (Shift(ALL_WEEK, time(0), time(0)),),
    (Shift(ALL_WEEK, time(8), time(20)),),
    (Shift(ALL_WEEK, time(20), time(8)),),
    (Shift(frozenset(range(5)), time(8, 30), time(17, 30)),),
)
SKILLS = (frozenset(), frozenset({"injury_case"}), frozenset({"injury_case", "heavy_vehicle"}))


def random_fleet(router, rng, n=60) -> Fleet:
    net = router.road.network
    nodes = rng.choice(net.n_nodes, n)
    vehicles = [
        make_vehicle(
            id=f"V{i:03d}",
            kind=list(VehicleKind)[int(rng.integers(4))],
            status=list(VehicleStatus)[int(rng.integers(5))],
            skills=SKILLS[int(rng.integers(3))],
            shifts=SHIFTS[int(rng.integers(4))],
            lat=float(net.node_lat[nodes[i]]) + rng.normal(0, 0.0003),
            lon=float(net.node_lon[nodes[i]]) + rng.normal(0, 0.0003),
            # a few far-away partner-branch cars with coarse positions
            position_is_estimate=i % 10 == 0,
        )
        for i in range(n)
    ]
    return make_fleet(*vehicles)


def test_available_equals_a_plain_filter(grid_router):
    """Column filtering gives the vehicles a loop over kind, status, skills and shift gives."""
    rng = np.random.default_rng(1)
    fleet = random_fleet(grid_router, rng)
    for hours in range(0, 24 * 7, 5):
        at = MONDAY + timedelta(hours=hours, minutes=17)
        for kind in VehicleKind:
            for skills in SKILLS:
                expected = tuple(
                    v
                    for v in fleet.vehicles
                    if v.kind == kind
                    and v.status in DISPATCHABLE
                    and skills <= v.skills
                    and v.on_shift(at)
                )
                assert fleet.available(kind, skills, at, statuses=DISPATCHABLE) == expected
    assert fleet.available(VehicleKind.SURVEY, {"no_such_skill"}, MONDAY).__len__() == 0


def test_status_updates_keep_the_fleet_consistent(grid_router):
    """A fleet updated vehicle by vehicle answers like one built from scratch."""
    rng = np.random.default_rng(2)
    fleet = random_fleet(grid_router, rng)
    for _ in range(40):
        vehicle = fleet.vehicles[int(rng.integers(len(fleet.vehicles)))]
        fleet = fleet.with_vehicle(
            dataclasses.replace(
                vehicle, status=list(VehicleStatus)[int(rng.integers(5))], lat=vehicle.lat + 1e-4
            )
        )
    rebuilt = Fleet(fleet.bases, fleet.vehicles)
    at = MONDAY + timedelta(hours=9)
    for kind in VehicleKind:
        assert fleet.available(kind, (), at, statuses=DISPATCHABLE) == rebuilt.available(
            kind, (), at, statuses=DISPATCHABLE
        )
    assert [fleet.row(v.id) for v in fleet.vehicles] == list(range(len(fleet.vehicles)))


def test_incremental_locating_equals_locating_afresh(grid_router, monkeypatch):
    """After many moves (and a tiny memory of positions) the fleet is located as from scratch."""
    monkeypatch.setattr(grid_router.road.snaps, "capacity", 3)
    rng = np.random.default_rng(3)
    fleet = random_fleet(grid_router, rng, n=25)
    locator = FleetLocator(grid_router)
    net = grid_router.road.network
    for step in range(30):
        moved = fleet.vehicles[int(rng.integers(len(fleet.vehicles)))]
        node = int(rng.integers(net.n_nodes))
        fleet = fleet.with_vehicle(
            dataclasses.replace(moved, lat=float(net.node_lat[node]), lon=float(net.node_lon[node]))
        )
        if step % 3 == 0:
            locator.locate_site(float(net.node_lat[node]), float(net.node_lon[node]))
        located = locator.locate(fleet.vehicles)
        fresh = FleetLocator(grid_router).locate(fleet.vehicles)
        assert located.ids.tolist() == fresh.ids.tolist()
        assert np.array_equal(located.on_road, fresh.on_road)
        for name in ("chain", "pos_s", "offroad_m", "at_node"):
            assert np.array_equal(getattr(located.snapped, name), getattr(fresh.snapped, name))
        assert np.array_equal(located.points.lat, fresh.points.lat)


def test_row_ranking_equals_rank(grid_router):
    """Ranking rows of the fleet lists the same candidates in the same order as ``rank``."""
    rng = np.random.default_rng(4)
    fleet = random_fleet(grid_router, rng)
    located = FleetLocator(grid_router).locate(fleet.vehicles)
    net = grid_router.road.network
    for node in rng.choice(net.n_nodes, 10):
        lat, lon = float(net.node_lat[node]), float(net.node_lon[node])
        rows = np.flatnonzero(rng.random(len(fleet.vehicles)) < 0.7)
        vehicles = [fleet.vehicles[i] for i in rows]
        for horizon_s in (120.0, np.inf):
            expected = rank(grid_router, located, vehicles, lat, lon, horizon_s=horizon_s)
            etas = SiteEtas.search(
                grid_router, located, locate_points(grid_router, lat, lon), horizon_s=horizon_s
            )
            ranked = list(rank_rows(fleet.vehicles, rows, etas, horizon_s=horizon_s))
            assert ranked == expected


def test_surge_does_not_offer_a_job_back_to_the_driver_who_declined(grid_router, classifier):
    """A waiting incident is not given again to the only car that declined it."""
    clock = ManualClock(MONDAY + timedelta(hours=9))
    fleet = make_fleet(make_vehicle(id="S1", skills=frozenset({"injury_case"})))
    dispatcher = Dispatcher(
        store=MemoryDispatchStore(fleet), router=grid_router, classifier=classifier, clock=clock
    )
    incident = dispatcher.dispatch(request(1, clock.now(), 24.812, 113.59))
    incident = dispatcher.record(incident.id, EventType.DECLINED, vehicle_id="S1")
    assert incident.status == IncidentStatus.OPEN
    report = dispatcher.surge()
    assert report.assigned == 0 and dispatcher.incident(incident.id).status == IncidentStatus.OPEN
    assert dispatcher.store.fleet().vehicle("S1").status == VehicleStatus.AVAILABLE


@pytest.mark.parametrize("seed", [5, 6])
def test_route_lengths_follow_the_nodes(grid_router, grid_graph, seed):
    """A route's length is the sum of the graph's edge lengths along its nodes (plus off-road)."""
    rng = np.random.default_rng(seed)
    net = grid_router.road.network
    nodes = rng.choice(net.n_nodes, 2, replace=False)
    a = grid_router.road.locate(net.node_lat[nodes[:1]], net.node_lon[nodes[:1]])
    b = grid_router.road.locate(net.node_lat[nodes[1:]], net.node_lon[nodes[1:]])
    route = grid_router.road.route(a, b)
    length = sum(
        min(d["length"] for d in grid_graph.get_edge_data(u, v).values())
        for u, v in zip(route.nodes, route.nodes[1:], strict=False)
    )
    assert route.meters == pytest.approx(length + a.offroad_m[0] + b.offroad_m[0], rel=1e-5)
