"""Split runs: several processes, exactly the result of one run (the reference)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.model import VehicleKind
from dispatch_engine.simulation import split as split_module
from dispatch_engine.simulation.des import EventLoop, SimulationResult, simulate
from dispatch_engine.simulation.split import simulate_split, stretch_starts
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.fleet.factories import DAY_SHIFT, make_fleet, make_vehicle
from tests.simulation.factories import MONDAY, grid_fleet, request, scripted
from tests.simulation.test_des import busy_demand

SURVEY, FLATBED = VehicleKind.SURVEY, VehicleKind.TOW_FLATBED


def based_fleet():
    """Vehicles that start at their base (so the run rests whenever all are back home):
    two around the clock, two by day only, a tow truck."""
    return make_fleet(
        make_vehicle(id="S1"),
        make_vehicle(id="S2"),
        make_vehicle(id="D1", shifts=(DAY_SHIFT,)),
        make_vehicle(id="D2", shifts=(DAY_SHIFT,)),
        make_vehicle(id="F1", kind=FLATBED),
    )


def dispatcher_over(router, classifier, fleet, incidents):
    clock = ManualClock(incidents[0].request.reported_at - timedelta(minutes=1))
    store = MemoryDispatchStore(fleet)
    return Dispatcher(store=store, router=router, classifier=classifier, clock=clock), clock


def both_ways(router, classifier, fleet, incidents, **split_options):
    """The one-process run and the split run of the same incidents, on fresh dispatchers."""
    one = simulate(*dispatcher_over(router, classifier, fleet, incidents), incidents)
    split = simulate_split(
        *dispatcher_over(router, classifier, fleet, incidents), incidents, **split_options
    )
    return one, split


def same_run(a: SimulationResult, b: SimulationResult) -> None:
    # repr: an unmeasured route length is nan, which never equals itself
    assert repr(a.incidents) == repr(b.incidents)
    assert a.busy == b.busy
    assert a.handed_off == b.handed_off
    assert (a.start, a.end, a.events, a.interrupted) == (b.start, b.end, b.events, b.interrupted)


@pytest.mark.parametrize(("workers", "batch"), [(2, 200), (3, 200), (2, 5)])
def test_split_run_equals_one_run(
    grid_router, classifier, boundaries, demand_file, workers, batch, monkeypatch
):
    """Ten days on the grid cut into stretches: the joined result is the one run's, byte
    for byte, and it really joins several processes' parts (which send their incidents
    at the end, or in batches as they go)."""
    monkeypatch.setattr(split_module, "_BATCH", batch)
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=5, days=10)
    one, split = both_ways(
        grid_router, classifier, based_fleet(), incidents, workers=workers, min_stretch=30
    )
    assert split.stretches == workers
    same_run(one, split)


def test_fleet_that_never_rests_falls_back_to_one_run(
    grid_router, classifier, boundaries, demand_file
):
    """Vehicles that start away from their base are never all back as they were: no
    handover is safe, so the first process runs to the end alone."""
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=5, days=6)
    fleet = grid_fleet(grid_router, (SURVEY, SURVEY, FLATBED))
    one, split = both_ways(grid_router, classifier, fleet, incidents, workers=2, min_stretch=30)
    assert split.stretches == 1
    same_run(one, split)


def test_short_run_stays_in_one_process(grid_router, classifier, boundaries, demand_file):
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=5, days=2)
    one, split = both_ways(grid_router, classifier, based_fleet(), incidents, workers=4)
    assert split.stretches == 1
    same_run(one, split)


def test_stretches_start_after_the_longest_gap(grid_router):
    """Near each equal share, the report after the longest quiet gap starts a stretch."""
    at = [MONDAY + timedelta(minutes=10 * k) for k in range(100)]
    at[51:] = [t + timedelta(hours=3) for t in at[51:]]  # a 3-hour gap before report 51
    lat, lon = (
        float(grid_router.road.network.node_lat[0]),
        float(grid_router.road.network.node_lon[0]),
    )
    incidents = [scripted(request(k, t, lat, lon)) for k, t in enumerate(at)]
    assert stretch_starts(incidents, 2, min_stretch=10) == [0, 51]
    assert stretch_starts(incidents, 2, min_stretch=60) == [0]  # too short to split


def test_ctrl_c_reports_the_first_stretch_so_far(
    grid_router, classifier, boundaries, demand_file, monkeypatch
):
    """Ctrl-C in a split run: the other processes end, the incidents so far are reported."""
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=5, days=10)
    parent = os.getpid()
    report = EventLoop._report
    seen = []

    def interrupted_at_the_fifth(loop, at_s, k, vehicle_id):
        if os.getpid() == parent:
            seen.append(k)
            if len(seen) == 5:
                raise KeyboardInterrupt
        report(loop, at_s, k, vehicle_id)

    monkeypatch.setattr(EventLoop, "_report", interrupted_at_the_fifth)
    result = simulate_split(
        *dispatcher_over(grid_router, classifier, based_fleet(), incidents),
        incidents,
        workers=2,
        min_stretch=30,
    )
    assert result.interrupted
    assert [i.id for i in result.incidents] == [s.request.id for s in incidents[:4]]
