"""The discrete-event engine over the production dispatcher, on the test grid."""

from __future__ import annotations

from collections import defaultdict
from datetime import time, timedelta

import numpy as np
import pytest

from dispatch_engine.dispatch.model import AssignmentStatus, EventType, IncidentStatus
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import ALL_WEEK, Shift, VehicleKind
from dispatch_engine.simulation.demand import generate_requests, load_demand, script
from dispatch_engine.simulation.des import BaseTrips, shift_starts
from tests.fleet.factories import make_fleet, make_vehicle
from tests.simulation.factories import MONDAY, grid_fleet, request, run, scripted

SURVEY, FLATBED, CRANE = VehicleKind.SURVEY, VehicleKind.TOW_FLATBED, VehicleKind.TOW_CRANE


def node(router, i):
    net = router.road.network
    return float(net.node_lat[i]), float(net.node_lon[i])


def busy_demand(grid_router, boundaries, demand_file, seed, days=2):
    demand = load_demand(demand_file)
    rng = np.random.default_rng(seed)
    requests = generate_requests(
        demand, grid_router.road.network, boundaries, rng, start=MONDAY.date(), days=days
    )
    return script(requests, demand.response, rng)


def test_no_vehicle_is_in_two_jobs_at_once(grid_router, classifier, boundaries, demand_file):
    """Under queueing (2 cars, ~30 incidents), each vehicle's jobs never overlap in time."""
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=4)
    fleet = grid_fleet(grid_router, (SURVEY, SURVEY, FLATBED))
    dispatcher, result = run(grid_router, classifier, fleet, incidents)
    jobs = defaultdict(list)
    for incident in result.incidents:
        ended = {
            e.vehicle_id: e.at
            for e in dispatcher.store.events(incident.id)
            if e.type in (EventType.DONE, EventType.DECLINED)
        }
        for a in incident.assignments:
            jobs[a.vehicle_id].append((a.assigned_at, ended[a.vehicle_id]))
    assert sum(len(j) for j in jobs.values()) > len(incidents)  # survey and tows, some declines
    for spans in jobs.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end
    busy = defaultdict(list)
    for job in result.busy:
        busy[job.vehicle_id].append((job.start, job.end))
    assert {v: sorted(s) for v, s in busy.items()} == {v: sorted(s) for v, s in jobs.items()}


def test_every_incident_is_served_or_reported_unserved(
    grid_router, classifier, boundaries, demand_file
):
    """All reported incidents come back closed; the unserved are exactly those never reached."""
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=5)
    fleet = grid_fleet(grid_router, (SURVEY, FLATBED))
    _, result = run(grid_router, classifier, fleet, incidents)
    assert [i.id for i in result.incidents] == [s.request.id for s in incidents]
    assert all(
        i.status in (IncidentStatus.DONE, IncidentStatus.CANCELLED) for i in result.incidents
    )
    reached = {i.id for i in result.incidents if i.arrived_at is not None}
    unserved = {i.id for i in result.unserved()}
    assert reached.isdisjoint(unserved) and reached | unserved == {s.request.id for s in incidents}
    assert not result.interrupted


def test_same_seed_same_run(grid_router, classifier, boundaries, demand_file):
    """Two runs with one seed agree on every decision; another seed gives other incidents."""
    fleet = grid_fleet(grid_router, (SURVEY, SURVEY, FLATBED))

    def decisions(seed):
        _, result = run(
            grid_router, classifier, fleet, busy_demand(grid_router, boundaries, demand_file, seed)
        )
        return [
            (i.id, i.arrived_at, tuple((a.vehicle_id, a.eta_s) for a in i.assignments))
            for i in result.incidents
        ]

    assert decisions(7) == decisions(7)
    assert decisions(7) != decisions(8)


def test_waiting_incident_gets_the_vehicle_when_it_frees(grid_router, classifier):
    """With one car, the second of two simultaneous incidents is assigned when the first is done."""
    fleet = grid_fleet(grid_router, (SURVEY,))
    first = scripted(
        request(1, MONDAY + timedelta(hours=10), *node(grid_router, 5)), on_scene_min=20
    )
    second = scripted(request(2, MONDAY + timedelta(hours=10), *node(grid_router, 200)))
    _, result = run(grid_router, classifier, fleet, [first, second])
    a, b = result.incidents
    done_first = a.arrived_at + timedelta(minutes=20)
    assert b.assignments[0].assigned_at == pytest.approx(done_first, abs=timedelta(milliseconds=1))
    assert b.arrived_at > done_first and b.status == IncidentStatus.DONE


def test_night_incident_waits_for_the_morning_shift(grid_router, classifier):
    """A report at 03:00 with only a day-shift car is assigned at 08:00, when the shift starts."""
    fleet = make_fleet(make_vehicle(id="D1", shifts=(Shift(ALL_WEEK, time(8), time(20)),)))
    night = scripted(request(1, MONDAY + timedelta(hours=3), *node(grid_router, 40)))
    _, result = run(grid_router, classifier, fleet, [night])
    (incident,) = result.incidents
    assert incident.assignments[0].assigned_at == MONDAY + timedelta(hours=8)
    assert incident.status == IncidentStatus.DONE


def test_kind_no_vehicle_can_serve_is_handed_off(grid_router, classifier):
    """Without any crane the survey still arrives; the crane part is handed off, not awaited."""
    fleet = grid_fleet(grid_router, (SURVEY, FLATBED))
    needs = (SURVEY, CRANE)
    job = scripted(request(1, MONDAY + timedelta(hours=9), *node(grid_router, 60), needs=needs))
    _, result = run(grid_router, classifier, fleet, [job])
    (incident,) = result.incidents
    assert incident.arrived_at is not None and incident.status == IncidentStatus.CANCELLED
    assert result.handed_off == ("T001",)


def test_a_declined_job_goes_to_another_vehicle(grid_router, classifier):
    """The first driver declines a minute after assignment; another car arrives instead."""
    fleet = grid_fleet(grid_router, (SURVEY, SURVEY))
    job = scripted(request(1, MONDAY + timedelta(hours=9), *node(grid_router, 100)), declines=True)
    _, result = run(grid_router, classifier, fleet, [job])
    (incident,) = result.incidents
    declined, served = incident.assignments
    assert declined.status == AssignmentStatus.DECLINED and served.status == AssignmentStatus.DONE
    assert declined.vehicle_id != served.vehicle_id
    assert served.assigned_at == declined.assigned_at + timedelta(minutes=1)


def test_ctrl_c_stops_with_the_partial_result(grid_router, classifier, boundaries, demand_file):
    """A KeyboardInterrupt during the run returns what was simulated so far, flagged."""
    incidents = busy_demand(grid_router, boundaries, demand_file, seed=3)

    def stop_at_five(reported):
        if reported == 5:
            raise KeyboardInterrupt

    _, result = run(
        grid_router,
        classifier,
        grid_fleet(grid_router, (SURVEY,)),
        incidents,
        progress=stop_at_five,
    )
    assert result.interrupted
    assert [i.id for i in result.incidents] == [s.request.id for s in incidents[:5]]


def test_shift_starts_are_every_start_in_the_period():
    """Day and night shifts over two days start at 08:00 and 20:00 of each day, in order."""
    fleet = make_fleet(
        make_vehicle(id="D", shifts=(Shift(ALL_WEEK, time(8), time(20)),)),
        make_vehicle(id="N", shifts=(Shift(ALL_WEEK, time(20), time(8)),)),
    )
    starts = shift_starts(fleet, MONDAY, MONDAY + timedelta(days=2))
    assert starts == [MONDAY + timedelta(hours=h) for h in (8, 20, 32, 44)]
    # from a moment with a fraction of a second: the same whole-second starts
    later = MONDAY + timedelta(hours=1, microseconds=605165)
    assert shift_starts(fleet, later, MONDAY + timedelta(days=2)) == starts


def test_base_trips_equal_routes(grid_router):
    """Trips home and out equal the router's own routes for the same ends."""
    fleet = grid_fleet(grid_router, (SURVEY,))
    incidents = [scripted(request(k, MONDAY, *node(grid_router, k * 23))) for k in range(1, 6)]
    trips = BaseTrips(grid_router, fleet, incidents)
    base = fleet.bases[0]
    for k, job in enumerate(incidents):
        site = (job.request.lat, job.request.lon)
        assert trips.home_s(k, base.id) == pytest.approx(
            grid_router.route(site, (base.lat, base.lon)).seconds
        )
        assert trips.out_s(base.id, k) == pytest.approx(
            grid_router.route((base.lat, base.lon), site).seconds
        )


def test_unsorted_incidents_are_refused(grid_router, classifier):
    """Incidents out of report order are an input error naming the field."""
    late = scripted(request(1, MONDAY + timedelta(hours=2), *node(grid_router, 1)))
    early = scripted(request(2, MONDAY + timedelta(hours=1), *node(grid_router, 2)))
    with pytest.raises(InvalidInputError) as caught:
        run(grid_router, classifier, grid_fleet(grid_router, (SURVEY,)), [late, early])
    assert caught.value.field == "incidents"
