"""Surge assignment: lexicographic optimality against brute force, no double booking, baseline."""

from __future__ import annotations

from itertools import combinations, permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dispatch_engine.dispatch.surge import (
    SurgeAssignment,
    SurgeProblem,
    assign_greedy,
    assign_jointly,
)
from dispatch_engine.errors import InvalidInputError

INF = np.inf


def make_problem(eta_s, deadline_s, injury=None, **ids) -> SurgeProblem:
    """A problem from nested lists; no injuries unless given."""
    deadline_s = np.asarray(deadline_s, dtype=float)
    if injury is None:
        injury = np.zeros(deadline_s.size, dtype=bool)
    return SurgeProblem(np.asarray(eta_s, dtype=float), deadline_s, np.asarray(injury), **ids)


@st.composite
def problems(draw, *, max_incidents: int, max_vehicles: int, eta_scale_s: float = 1.0):
    """Random instances with whole-second ETAs (so totals compare exactly) and unservable pairs."""
    n_incidents = draw(st.integers(0, max_incidents))
    n_vehicles = draw(st.integers(0, max_vehicles))
    eta_s = draw(
        arrays(
            np.float64,
            (n_incidents, n_vehicles),
            elements=st.one_of(st.integers(60, 1800).map(float), st.just(INF)),
        )
    )
    deadline_s = draw(arrays(np.float64, n_incidents, elements=st.integers(-60, 1800).map(float)))
    injury = draw(arrays(np.bool_, n_incidents))
    return SurgeProblem(eta_s * eta_scale_s, deadline_s * eta_scale_s, injury)


def all_assignments(problem: SurgeProblem):
    """Every way to give distinct servable vehicles to some incidents: (rows, columns) pairs."""
    n_incidents, n_vehicles = problem.eta_s.shape
    finite = np.isfinite(problem.eta_s).tolist()
    for k in range(min(n_incidents, n_vehicles) + 1):
        for rows in combinations(range(n_incidents), k):
            for cols in permutations(range(n_vehicles), k):
                if all(finite[i][v] for i, v in zip(rows, cols, strict=True)):
                    yield rows, cols


def objective(problem: SurgeProblem, rows, cols) -> tuple[int, int, int, float]:
    """The lexicographic objective as a tuple to maximise."""
    eta = problem.eta_s.tolist()
    meets = [eta[i][v] <= problem.deadline_s[i] for i, v in zip(rows, cols, strict=True)]
    injury_met = sum(m and bool(problem.injury[i]) for i, m in zip(rows, meets, strict=True))
    total_s = sum(eta[i][v] for i, v in zip(rows, cols, strict=True))
    return injury_met, sum(meets), len(rows), -total_s


def key(result: SurgeAssignment) -> tuple[int, int, int, float]:
    """A solver result's objective, comparable with :func:`objective`."""
    return result.met_injury_count, result.met_count, result.assigned_count, -result.total_eta_s


def assert_consistent(problem: SurgeProblem, result: SurgeAssignment) -> None:
    """No vehicle twice, only servable pairs, and the summary matches the assignment."""
    vehicle_of = result.vehicle_of
    assigned = np.flatnonzero(vehicle_of >= 0)
    assert vehicle_of.shape == (problem.eta_s.shape[0],)
    assert np.unique(vehicle_of[assigned]).size == assigned.size
    assert np.all(vehicle_of < problem.eta_s.shape[1])
    eta_s = problem.eta_s[assigned, vehicle_of[assigned]]
    assert np.all(np.isfinite(eta_s))
    expected_meets = np.zeros(vehicle_of.size, dtype=bool)
    expected_meets[assigned] = eta_s <= problem.deadline_s[assigned]
    np.testing.assert_array_equal(result.meets, expected_meets)
    assert result.met_count == expected_meets.sum()
    assert result.met_injury_count == (expected_meets & problem.injury).sum()
    assert result.assigned_count == assigned.size
    assert result.total_eta_s == pytest.approx(eta_s.sum())


@settings(max_examples=100, deadline=None)
@given(problems(max_incidents=6, max_vehicles=5))
def test_joint_equals_brute_force(problem):
    """On small instances the joint assignment attains the brute-force lexicographic optimum."""
    best = max(objective(problem, rows, cols) for rows, cols in all_assignments(problem))
    assert key(assign_jointly(problem)) == best


@settings(max_examples=60, deadline=None)
@given(problems(max_incidents=6, max_vehicles=5))
def test_injury_priority_never_costs_a_guarantee(problem):
    """Meeting injury cases first still meets as many guarantees as ignoring injuries would."""
    most_met = max(objective(problem, rows, cols)[1] for rows, cols in all_assignments(problem))
    assert assign_jointly(problem).met_count == most_met


@settings(max_examples=25, deadline=None)
@given(problems(max_incidents=5, max_vehicles=4, eta_scale_s=1e12))
def test_levels_stay_exact_when_etas_force_coarse_units(problem):
    """ETAs of 10^14 s and more coarsen the ETA unit but keep levels 1-3 exact."""
    best = max(objective(problem, rows, cols) for rows, cols in all_assignments(problem))
    result = key(assign_jointly(problem))
    assert result[:3] == best[:3]
    assert result[3] == pytest.approx(best[3], rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(problems(max_incidents=40, max_vehicles=30))
def test_never_double_books_and_beats_greedy(problem):
    """Neither solver books a vehicle twice, and the joint one is never worse than greedy."""
    joint = assign_jointly(problem)
    greedy = assign_greedy(problem)
    assert_consistent(problem, joint)
    assert_consistent(problem, greedy)
    assert key(joint) >= key(greedy)


def test_joint_meets_more_than_greedy_nearest_first():
    """Greedy sends A's nearest car and leaves B late; swapping the cars meets both."""
    problem = make_problem([[300, 600], [600, 1200]], [900, 900])
    greedy = assign_greedy(problem)
    joint = assign_jointly(problem)
    assert greedy.vehicle_of.tolist() == [0, 1]
    assert greedy.met_count == 1
    assert joint.vehicle_of.tolist() == [1, 0]
    assert joint.met_count == 2


def test_injury_case_gets_the_only_car_over_a_nearer_incident():
    """With one car for two meetable incidents, the injury case wins though it is farther."""
    problem = make_problem([[300], [800]], [900, 900], injury=[False, True])
    joint = assign_jointly(problem)
    assert joint.vehicle_of.tolist() == [-1, 0]
    assert (joint.met_count, joint.met_injury_count) == (1, 1)


def test_one_more_guarantee_outweighs_more_assignments_and_less_eta():
    """Meeting A and B beats serving all three late-and-near, though that totals less ETA."""
    problem = make_problem(
        [[50, INF, 60], [60, 1000, INF], [INF, 60, INF]],
        [50, 1000, -1],  # C's deadline has passed
    )
    joint = assign_jointly(problem)
    assert joint.vehicle_of.tolist() == [0, 1, -1]
    assert (joint.met_count, joint.assigned_count, joint.total_eta_s) == (2, 2, 1050.0)


def test_late_incident_still_gets_a_free_vehicle():
    """An incident no car can reach in time is assigned anyway while a car is free."""
    problem = make_problem([[300, 1500], [INF, 2000]], [900, 900])
    joint = assign_jointly(problem)
    assert joint.vehicle_of.tolist() == [0, 1]
    assert joint.meets.tolist() == [True, False]


def test_greedy_takes_injury_cases_before_earlier_deadlines():
    """The baseline serves an injury case first even when another deadline is earlier."""
    problem = make_problem([[200], [200]], [300, 900], injury=[False, True])
    assert assign_greedy(problem).vehicle_of.tolist() == [-1, 0]


@pytest.mark.parametrize("shape", [(3, 4), (0, 4), (3, 0), (0, 0)])
def test_nothing_servable_leaves_everything_unassigned(shape):
    """All-inf (or empty) matrices give every incident -1, not an error."""
    problem = make_problem(np.full(shape, INF), np.full(shape[0], 900.0))
    for result in (assign_jointly(problem), assign_greedy(problem)):
        assert result.vehicle_of.tolist() == [-1] * shape[0]
        assert (result.met_count, result.assigned_count, result.total_eta_s) == (0, 0, 0.0)


def test_problem_keeps_a_read_only_copy():
    """Changing the caller's array later does not change the problem, which is immutable."""
    eta_s = np.array([[300.0]])
    problem = make_problem(eta_s, [900])
    eta_s[0, 0] = INF
    assert problem.eta_s[0, 0] == 300.0
    with pytest.raises(ValueError):
        problem.eta_s[0, 0] = 1.0


@pytest.mark.parametrize(
    ("eta_s", "deadline_s", "injury", "ids", "field", "fragment"),
    [
        ([300.0, 600.0], [900], [False], {}, "eta_s", "2-D"),
        ([[300.0, np.nan]], [900], [False], {"vehicle_ids": ["S1", "S2"]}, "eta_s", "'S2'"),
        ([[300.0, -1.0]], [900], [False], {"incident_ids": ["R7"]}, "eta_s", "'R7'"),
        ([[300.0]], [900, 900], [False], {}, "deadline_s", "one deadline per incident"),
        ([[300.0]], [np.nan], [False], {}, "deadline_s", "NaN"),
        ([[300.0]], [900], [1], {}, "injury", "Booleans"),
        ([[300.0]], [900], [False, True], {}, "injury", "Booleans"),
        ([[300.0]], [900], [False], {"incident_ids": ["a", "b"]}, "incident_ids", "2 ids"),
        ([[300.0, 1.0]], [900], [False], {"vehicle_ids": ["v", "v"]}, "vehicle_ids", "unique"),
    ],
)
def test_bad_input_names_the_field(eta_s, deadline_s, injury, ids, field, fragment):
    """Each malformed input raises InvalidInputError naming the field and the reason."""
    with pytest.raises(InvalidInputError) as caught:
        SurgeProblem(np.array(eta_s), np.array(deadline_s), np.array(injury), **ids)
    assert caught.value.field == field
    assert fragment in caught.value.message
