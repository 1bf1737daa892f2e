"""Independent references for day plans: a plan checker and a brute-force optimum.

Neither uses the planner's own timing code: both re-time stops from the problem's
travel matrix (rounded up to whole seconds, as the planner promises).
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime

import numpy as np

from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.services.day_routes import DayPlan, DayProblem, StopKind

DAY_END_S = 86_400


def _seconds(problem: DayProblem, when: datetime) -> int:
    midnight = datetime.combine(problem.day, datetime.min.time(), tzinfo=SHANGHAI_TZ)
    return int((when - midnight).total_seconds())


def whole_seconds(problem: DayProblem) -> np.ndarray:
    finite = np.isfinite(problem.travel_s)
    return np.where(finite, np.ceil(np.where(finite, problem.travel_s, 0)), 10**9).astype(np.int64)


def windows(problem: DayProblem, job: int) -> dict[StopKind, tuple[int, int]]:
    """Earliest and latest start of each visit of a job, from the appointment and facility."""
    j = problem.jobs[job]
    a, f = j.appointment, j.facility
    opens = f.opens.hour * 3600 + f.opens.minute * 60
    closes = f.closes.hour * 3600 + f.closes.minute * 60
    back_by = DAY_END_S if a.return_by is None else _seconds(problem, a.return_by)
    return {
        StopKind.COLLECT: (_seconds(problem, a.collect_from), _seconds(problem, a.collect_until)),
        StopKind.DROP: (opens, closes),
        StopKind.FETCH: (opens, closes),
        StopKind.RETURN: (0, back_by),
    }


def check_plan(plan: DayPlan, problem: DayProblem) -> None:
    """Assert every rule of a day plan, re-timing each stop from the matrix."""
    travel = whole_seconds(problem)
    h = problem.handover_s
    job_of = {j.appointment.id: k for k, j in enumerate(problem.jobs)}
    assert [r.technician_id for r in plan.routes] == [t.id for t in problem.technicians]
    seen: dict[str, list[tuple[str, StopKind]]] = {}
    for tech, route in enumerate(plan.routes):
        technician = problem.technicians[tech]
        base = problem.technician_locations[tech]
        stops = route.stops
        assert stops[0].kind is StopKind.START and stops[-1].kind is StopKind.END
        assert stops[0].departure_s >= technician.shift_start_s, "leaves before the shift"
        assert stops[-1].arrival_s <= technician.shift_end_s, "back after the shift"
        drop_start: dict[int, int] = {}
        holding: tuple[int, StopKind] | None = None
        here = base
        for before, stop in zip(stops[:-1], stops[1:], strict=True):
            if stop.kind is StopKind.END:
                there = base
            else:
                k = job_of[stop.appointment_id]
                j = problem.jobs[k]
                there = (
                    j.facility_location
                    if stop.kind in (StopKind.DROP, StopKind.FETCH)
                    else j.place_location
                )
            assert stop.travel_s == travel[here, there]
            assert stop.arrival_s == before.departure_s + travel[here, there]
            assert stop.start_s >= stop.arrival_s
            here = there
            if stop.kind is StopKind.END:
                assert holding is None, "back at base with a customer's car"
                continue
            assert stop.departure_s == stop.start_s + h
            low, high = windows(problem, k)[stop.kind]
            assert low <= stop.start_s <= high, (
                f"{stop.kind} of {stop.appointment_id} outside its window"
            )
            # one car at a time: a collect is followed by its drop, a fetch by its return
            if holding is not None:
                assert (k, stop.kind) == holding, "drove two cars at once"
                holding = None
            elif stop.kind is StopKind.COLLECT:
                holding = (k, StopKind.DROP)
            elif stop.kind is StopKind.FETCH:
                holding = (k, StopKind.RETURN)
            else:
                raise AssertionError(f"{stop.kind} without the car")
            if stop.kind is StopKind.DROP:
                drop_start[k] = stop.start_s
            if stop.kind is StopKind.FETCH:
                service_s = problem.jobs[k].appointment.service_min * 60
                assert stop.start_s >= drop_start[k] + h + service_s, (
                    "fetched before the work is done"
                )
            seen.setdefault(stop.appointment_id, []).append((route.technician_id, stop.kind))
        assert route.travel_s == sum(s.travel_s for s in stops)
    order = [StopKind.COLLECT, StopKind.DROP, StopKind.FETCH, StopKind.RETURN]
    for appointment_id, visits in seen.items():
        assert [kind for _, kind in visits] == order, f"{appointment_id} visits out of order"
        assert len({tech for tech, _ in visits}) == 1, f"{appointment_id} split between technicians"
    unplanned = [u.appointment_id for u in plan.unplanned]
    assert len(unplanned) == len(set(unplanned))
    everyone = {j.appointment.id for j in problem.jobs} | {
        u.appointment_id for u in problem.unplannable
    }
    assert set(seen) | set(unplanned) == everyone and not set(seen) & set(unplanned)
    assert plan.travel_s == sum(r.travel_s for r in plan.routes)


def _best_route(problem: DayProblem, tech: int, jobs: tuple[int, ...]) -> float:
    """Least travel of one technician serving ``jobs``, over every order of the visits."""
    travel = whole_seconds(problem)
    h = problem.handover_s
    technician, base = problem.technicians[tech], problem.technician_locations[tech]
    limits = {k: windows(problem, k) for k in jobs}
    best = math.inf
    for order in itertools.permutations([(k, kind) for k in jobs for kind in limits[k]]):
        clock, here, total, drop_start, ok = technician.shift_start_s, base, 0, {}, True
        done: set[tuple[int, StopKind]] = set()
        for position, (k, kind) in enumerate(order):
            need = {
                StopKind.DROP: StopKind.COLLECT,
                StopKind.FETCH: StopKind.DROP,
                StopKind.RETURN: StopKind.FETCH,
            }
            if kind in need and (k, need[kind]) not in done:
                ok = False
                break
            if kind in (StopKind.COLLECT, StopKind.FETCH):
                follow = StopKind.DROP if kind is StopKind.COLLECT else StopKind.RETURN
                if position + 1 == len(order) or order[position + 1] != (k, follow):
                    ok = False
                    break
            j = problem.jobs[k]
            there = (
                j.facility_location if kind in (StopKind.DROP, StopKind.FETCH) else j.place_location
            )
            start = max(clock + travel[here, there], limits[k][kind][0])
            if kind is StopKind.FETCH:
                start = max(start, drop_start[k] + h + j.appointment.service_min * 60)
            if kind is StopKind.DROP:
                drop_start[k] = start
            if start > limits[k][kind][1]:
                ok = False
                break
            total += travel[here, there]
            clock, here = start + h, there
            done.add((k, kind))
        if ok and clock + travel[here, base] <= technician.shift_end_s:
            best = min(best, total + travel[here, base])
    return best


def brute_force(problem: DayProblem) -> tuple[int, float]:
    """(most appointments served, least total travel seconds among such plans)."""
    n_tech, n_jobs = len(problem.technicians), len(problem.jobs)
    best = (0, 0.0)
    for assignment in itertools.product(range(n_tech + 1), repeat=n_jobs):  # n_tech: not served
        total = 0.0
        for tech in range(n_tech):
            total += _best_route(
                problem, tech, tuple(k for k in range(n_jobs) if assignment[k] == tech)
            )
        served = sum(1 for a in assignment if a < n_tech)
        if math.isfinite(total) and (served, -total) > (best[0], -best[1]):
            best = (served, total)
    return best
