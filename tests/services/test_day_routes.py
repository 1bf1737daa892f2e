"""Day plans: every rule holds on the returned plan, tiny plans are optimal, and nothing is
dropped without a reason."""

from __future__ import annotations

from datetime import time

import numpy as np
import pytest

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import ALL_WEEK, Shift, VehicleKind, VehicleStatus
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import RoadEngine
from dispatch_engine.services.day_routes import (
    UNREACHABLE_S,
    build_day_problem,
    clock_text,
    solve_day,
    solver_seconds,
    technicians_on,
)
from dispatch_engine.services.facilities import ServiceKind
from tests.fleet.factories import make_fleet, make_vehicle
from tests.services.checks import brute_force, check_plan
from tests.services.factories import (
    DAY,
    at,
    hours,
    make_appointment,
    make_facility,
    make_technician,
    matrix_problem,
)

FAST_S = 0.3  # search budget for tiny instances


def random_instance(seed: int):
    """1-2 technicians, 1-2 appointments, random asymmetric minutes between 2 bases,
    the cars' places and 2 facilities; windows loose enough that most fit."""
    rng = np.random.default_rng(seed)
    n_tech, n_jobs = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    n_loc = 2 + n_jobs + 2
    minutes = rng.integers(3, 40, (n_loc, n_loc)).astype(float)
    np.fill_diagonal(minutes, 0)
    technicians = [
        (
            make_technician(
                id=f"T{t}",
                shift_start_s=hours(8),
                shift_end_s=hours(float(rng.choice([12, 14, 18]))),
            ),
            t,
        )
        for t in range(n_tech)
    ]
    facilities = [
        make_facility(id="IS-1", closes=time(17, 30)),
        make_facility(id="IS-2", opens=time(9, 0), closes=time(12, 0)),
    ]
    jobs = []
    for k in range(n_jobs):
        start = 8 + float(rng.integers(0, 8)) / 2
        appointment = make_appointment(
            id=f"AP-{k}",
            plate=f"粤F100{k}警",
            collect_from=at(f"{int(start):02d}:{int(start % 1 * 60):02d}"),
            collect_until=at(f"{int(start) + int(rng.integers(1, 3)):02d}:00"),
            service_min=int(rng.integers(20, 70)),
        )
        facility = int(rng.integers(0, 2))
        jobs.append((appointment, 2 + k, facilities[facility], 2 + n_jobs + facility))
    return matrix_problem(minutes.tolist(), technicians, jobs)


@pytest.mark.parametrize("seed", range(8))
def test_tiny_plans_equal_brute_force(seed):
    """On 1-2 technicians and 1-2 appointments the plan serves as many and travels as little
    as the best of all assignments and visit orders."""
    problem = random_instance(seed)
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    served = sum(len(r.appointment_ids) for r in plan.routes)
    assert (served, plan.travel_s) == brute_force(problem)


def two_cars_one_station(**second):
    """Base 0, cars at 1 and 3, one station at 2 (symmetric minutes)."""
    minutes = [[0, 10, 20, 15], [10, 0, 12, 9], [20, 12, 0, 7], [15, 9, 7, 0]]
    first = make_appointment(id="AP-1")
    other = make_appointment(**({"id": "AP-2", "plate": "粤F1235警"} | second))
    station = make_facility()
    return minutes, [(first, 1, station, 2), (other, 3, station, 2)]


def test_a_technician_drops_one_car_and_collects_another_while_the_first_is_inspected():
    """Interleaving legs is used when it saves travel, and the plan keeps every rule."""
    minutes, jobs = two_cars_one_station(collect_from=at("09:00"), collect_until=at("11:00"))
    problem = matrix_problem(minutes, [(make_technician(), 0)], jobs)
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    kinds = [(s.kind.value, s.appointment_id) for s in plan.routes[0].stops[1:-1]]
    assert kinds.index(("collect", "AP-2")) < kinds.index(("fetch", "AP-1")) or kinds.index(
        ("collect", "AP-1")
    ) < kinds.index(("fetch", "AP-2"))
    assert (2, plan.travel_s) == brute_force(problem)


def test_overlapping_appointments_that_do_not_fit_together_are_reported():
    """One technician, two tight windows at once: one is served, the other reported as not
    fitting together (brute force agrees only one fits)."""
    minutes, jobs = two_cars_one_station(collect_from=at("09:00"), collect_until=at("09:05"))
    first = jobs[0][0]
    jobs[0] = (make_appointment(id=first.id, collect_until=at("09:05")), *jobs[0][1:])
    problem = matrix_problem(minutes, [(make_technician(shift_end_s=hours(11)), 0)], jobs)
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    assert brute_force(problem)[0] == 1 and len(plan.unplanned) == 1
    assert "not together with the other appointments" in plan.unplanned[0].reason
    assert "09:00–09:05" in plan.unplanned[0].reason


@pytest.mark.parametrize(
    ("overrides", "technician", "facility", "expected"),
    [
        (
            {"collect_from": at("07:00"), "collect_until": at("08:05")},
            {},
            {},
            "the collect window closes at 08:05, but T1 (shift from 08:00 at base 1) "
            "arrives at 08:10 at the earliest",
        ),
        (
            {"collect_from": at("17:00"), "collect_until": at("17:10")},
            {},
            {},
            "test station closes at 17:30, before the inspection (60 min) is done "
            "(18:22 at the earliest)",
        ),
        (
            {"collect_from": at("16:00"), "collect_until": at("17:00")},
            {},
            {"closes": time(16, 0)},
            "test station closes at 16:00, before the car can get there (16:17 at the earliest)",
        ),
        (
            {"return_by": at("10:00")},
            {},
            {},
            "the car cannot be back by 10:00 (10:39 at the earliest)",
        ),
        (
            {},
            {"shift_end_s": hours(10)},
            {},
            "the shift of T1 ends at 10:00, before the technician is back at base 1 "
            "(10:54 at the earliest)",
        ),
    ],
)
def test_impossible_alone_names_the_window_or_shift(overrides, technician, facility, expected):
    """An appointment no technician can serve even alone is reported with the first window or
    shift its earliest timing misses, and the times."""
    minutes = [[0, 10, 20], [10, 0, 12], [20, 12, 0]]
    problem = matrix_problem(
        minutes,
        [(make_technician(**technician), 0)],
        [(make_appointment(**overrides), 1, make_facility(**facility), 2)],
    )
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    assert [u.appointment_id for u in plan.unplanned] == ["AP-1"]
    assert plan.unplanned[0].reason == "fits no technician's day even alone: " + expected
    assert brute_force(problem)[0] == 0


def test_reason_comes_from_the_technician_who_gets_furthest():
    """With two technicians, the reason is the one of the technician who comes closest."""
    minutes = [[0, 10, 20, 90], [10, 0, 12, 90], [20, 12, 0, 90], [90, 90, 90, 0]]
    near, far = make_technician(id="T1", shift_end_s=hours(10)), make_technician(id="T2")
    job = (make_appointment(collect_until=at("09:20")), 1, make_facility(), 2)
    problem = matrix_problem(minutes, [(far, 3), (near, 0)], [job])
    reason = solve_day(problem, time_limit_s=FAST_S).unplanned[0].reason
    assert "the shift of T1 ends at 10:00" in reason  # T2 misses the collect window


def test_unreachable_place_and_no_technician_are_reasons():
    """No road between base and car, or nobody on shift, is said as such."""
    minutes = [[0, np.inf, 20], [np.inf, 0, 12], [20, 12, 0]]
    jobs = [(make_appointment(), 1, make_facility(), 2)]
    plan = solve_day(matrix_problem(minutes, [(make_technician(), 0)], jobs), time_limit_s=FAST_S)
    assert plan.unplanned[0].reason.endswith("no road from base 1 to test police station")
    nobody = solve_day(matrix_problem(minutes, [], jobs), time_limit_s=FAST_S)
    assert (
        nobody.routes == ()
        and "no technician (repair crew) is on shift on 2026-03-02" in nobody.unplanned[0].reason
    )


def test_facility_opening_later_than_the_car_arrives_makes_the_technician_wait():
    """A car collected before the station opens is dropped at opening, and the plan stays valid."""
    minutes = [[0, 10, 20], [10, 0, 12], [20, 12, 0]]
    problem = matrix_problem(
        minutes,
        [(make_technician(), 0)],
        [
            (
                make_appointment(collect_from=at("08:00"), collect_until=at("08:20")),
                1,
                make_facility(opens=time(9, 0)),
                2,
            )
        ],
    )
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    drop = plan.routes[0].stops[2]
    assert (drop.kind.value, clock_text(drop.arrival_s), clock_text(drop.start_s)) == (
        "drop",
        "08:27",
        "09:00",
    )


def test_solver_seconds_round_up_and_mark_unreachable():
    """Float seconds become whole seconds rounded up; inf becomes the unusable sentinel."""
    out = solver_seconds(np.array([[0.0, 10.2], [np.inf, 7.0]]))
    assert out.tolist() == [[0, 11], [UNREACHABLE_S, 7]] and out.dtype == np.int64


def test_technicians_are_the_repair_crews_whose_shift_starts_that_day():
    """Repair vehicles on shift that weekday (night shifts past midnight), not off duty."""
    weekdays = Shift(frozenset(range(5)), time(8, 30), time(17, 30))
    night = Shift(ALL_WEEK, time(20), time(8))
    fleet = make_fleet(
        make_vehicle(id="R1", kind=VehicleKind.REPAIR, shifts=(weekdays,)),
        make_vehicle(id="R2", kind=VehicleKind.REPAIR, shifts=(night,)),
        make_vehicle(id="R3", kind=VehicleKind.REPAIR, status=VehicleStatus.OFF_DUTY),
        make_vehicle(id="S1"),
    )
    monday = {t.id: (t.shift_start_s, t.shift_end_s) for t in technicians_on(fleet, DAY)}
    assert monday == {"R1": (hours(8.5), hours(17.5)), "R2": (hours(20), hours(32))}
    sunday = technicians_on(fleet, DAY.replace(day=1))
    assert [t.id for t in sunday] == ["R2"]


# --- on a road network ------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(grid_graph) -> RoadEngine:
    return RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)


def grid_appointments():
    places = [
        (24.805, 113.585),
        (24.820, 113.600),
        (24.812, 113.592),
        (24.826, 113.586),
        (24.803, 113.604),
    ]
    return [
        make_appointment(
            id=f"AP-{k}",
            plate=f"粤F20{k}1警",
            kind=ServiceKind.CAR_WASH if k % 2 else ServiceKind.INSPECTION,
            lat=lat,
            lon=lon,
            collect_from=at(f"{8 + k:02d}:00"),
            collect_until=at(f"{10 + k:02d}:00"),
            service_min=30 if k % 2 else 60,
        )
        for k, (lat, lon) in enumerate(places)
    ]


def grid_facilities():
    return [
        make_facility(id="IS-1", lat=24.825, lon=113.606),
        make_facility(id="IS-2", lat=24.802, lon=113.583),
        make_facility(
            id="CW-1",
            kind=ServiceKind.CAR_WASH,
            lat=24.815,
            lon=113.598,
            opens=time(8),
            closes=time(20),
        ),
    ]


def test_plan_on_a_road_network_keeps_every_rule(engine):
    """Engine times in one matrix, nearest facility by road, and a valid plan for all."""
    technicians = [
        make_technician(id="T1", lat=24.81, lon=113.59),
        make_technician(id="T2", lat=24.82, lon=113.60),
    ]
    problem = build_day_problem(grid_appointments(), grid_facilities(), technicians, engine, DAY)
    plan = solve_day(problem, time_limit_s=1.0)
    check_plan(plan, problem)
    assert plan.unplanned == ()
    for job in problem.jobs:  # the chosen facility is the nearest of its kind, there and back
        here = engine.locate(job.appointment.lat, job.appointment.lon)
        options = [f for f in grid_facilities() if f.kind == job.appointment.kind]
        there = engine.locate(
            np.array([f.lat for f in options]), np.array([f.lon for f in options])
        )
        round_trip = engine.many_to_many(here, there)[0] + engine.many_to_many(there, here)[:, 0]
        assert job.facility.id == options[int(np.argmin(round_trip))].id
        assert problem.travel_s[job.place_location, job.facility_location] == pytest.approx(
            engine.many_to_many(here, engine.locate(job.facility.lat, job.facility.lon))[0, 0]
        )


def test_a_place_off_the_network_is_reported_and_the_rest_planned(engine):
    """An appointment far from every road is unplanned with the reason; others go ahead."""
    far = make_appointment(id="AP-far", plate="粤F9999警", lat=24.95, lon=113.80)
    problem = build_day_problem(
        [*grid_appointments()[:2], far], grid_facilities(), [make_technician()], engine, DAY
    )
    plan = solve_day(problem, time_limit_s=FAST_S)
    check_plan(plan, problem)
    assert [(u.appointment_id, u.reason) for u in plan.unplanned] == [
        ("AP-far", "test police station is too far from any road of the network")
    ]


def test_an_appointment_of_another_day_is_refused(engine):
    """Planning a day with another day's appointment names the field."""
    other = make_appointment(
        collect_from=at("09:00", DAY.replace(day=3)), collect_until=at("10:00", DAY.replace(day=3))
    )
    with pytest.raises(InvalidInputError) as caught:
        build_day_problem([other], grid_facilities(), [make_technician()], engine, DAY)
    assert caught.value.field == "day"
