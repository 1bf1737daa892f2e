"""MCLP, p-median and LSCP against brute force over site subsets and a published optimum."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.locate.models import CostMatrix, MaximalCovering, PMedian, SetCovering
from tests.locate.factories import line_costs, random_costs

PMED1 = Path(__file__).resolve().parent.parent / "data" / "pmed1.txt"
SEEDS = range(6)
T_MIN = 10.0


def subsets(n_sites: int, size: int):
    return (list(s) for s in itertools.combinations(range(n_sites), size))


def nearest(costs: CostMatrix, sites: list[int]) -> np.ndarray:
    return costs.travel_min[:, sites].min(axis=1)


def covered_weight(costs: CostMatrix, sites: list[int], within_min: float) -> float:
    return float(costs.weights[nearest(costs, sites) <= within_min].sum())


def weighted_minutes(costs: CostMatrix, sites: list[int]) -> float:
    positive = costs.weights > 0
    return float((costs.weights[positive] * nearest(costs, sites)[positive]).sum())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("facilities", [1, 3])
def test_mclp_equals_brute_force(seed, facilities):
    """MCLP's covered weight equals the best over all P-subsets, proven, at least greedy's."""
    costs = random_costs(seed)
    best = max(covered_weight(costs, s, T_MIN) for s in subsets(costs.n_sites, facilities))
    model = MaximalCovering(costs, facilities=facilities, within_min=T_MIN)
    placement = model.solve()
    chosen = [costs.site_ids.index(s) for s in placement.site_ids]
    assert placement.proven_optimal and placement.method == "scip"
    assert len(chosen) == facilities
    assert placement.objective == pytest.approx(best)
    assert covered_weight(costs, chosen, T_MIN) == pytest.approx(best)
    assert placement.covered_share(T_MIN) == pytest.approx(best / costs.weights.sum())
    assert model.greedy().objective <= placement.objective + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("facilities", [1, 2, 4])
def test_pmedian_equals_brute_force(seed, facilities):
    """p-median's weighted minutes equal the best over all P-subsets, with unreachable pairs."""
    costs = random_costs(seed)
    best = min(weighted_minutes(costs, s) for s in subsets(costs.n_sites, facilities))
    model = PMedian(costs, facilities=facilities)
    placement = model.solve()
    chosen = [costs.site_ids.index(s) for s in placement.site_ids]
    assert placement.proven_optimal and len(chosen) == facilities
    assert placement.objective == pytest.approx(best)
    assert weighted_minutes(costs, chosen) == pytest.approx(best)
    assert placement.mean_min() == pytest.approx(best / costs.weights.sum())
    assert model.greedy().objective >= placement.objective - 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_equals_brute_force_and_covers_everything(seed):
    """LSCP opens the fewest sites a full cover needs; every demand point is within T of one."""
    costs = random_costs(seed, unreachable_share=0.0)
    within = 15.0
    smallest = next(
        size
        for size in range(1, costs.n_sites + 1)
        if any(np.all(nearest(costs, s) <= within) for s in subsets(costs.n_sites, size))
    )
    placement = SetCovering(costs, within_min=within).solve()
    chosen = [costs.site_ids.index(s) for s in placement.site_ids]
    assert placement.proven_optimal
    assert len(chosen) == smallest == placement.objective
    assert np.all(nearest(costs, chosen) <= within)
    assert placement.covered_share(within) == 1.0
    assert np.all(placement.assigned >= 0)


def test_pmed1_reaches_the_published_optimum():
    """OR-Library pmed1 (100 vertices, p = 5) solves to its published optimum 5819, proven."""
    header, *edges = PMED1.read_text().split("\n")
    n, m, p = (int(v) for v in header.split())
    cost_of = {}
    for line in edges[:m]:
        i, j, c = (int(v) for v in line.split())
        cost_of[(min(i, j) - 1, max(i, j) - 1)] = c  # a repeated edge: the last listing counts
    rows, cols = zip(*cost_of, strict=True)
    graph = csr_matrix((list(cost_of.values()), (rows, cols)), shape=(n, n))
    minutes = shortest_path(graph, directed=False)
    ids = tuple(str(v + 1) for v in range(n))
    placement = PMedian(CostMatrix(minutes, ids, ids, np.ones(n)), facilities=p).solve()
    assert placement.proven_optimal
    assert placement.objective == 5819
    assert len(placement.site_ids) == p


def test_lscp_with_an_unreachable_point_is_rejected_before_solving():
    """A demand point no site reaches within T is named, with its nearest site and that time."""
    costs = line_costs()
    with pytest.raises(InvalidInputError) as err:
        SetCovering(costs, within_min=9.5)
    assert err.value.field == "minutes"
    message = str(err.value)
    assert "'d3'" in message and "site 'b', 10.0 min" in message and "1 of 4" in message


def test_facilities_and_minutes_out_of_range_are_rejected_with_the_numbers():
    """P above the number of sites or below 1, and a non-positive T, name the field and values."""
    costs = line_costs()
    for facilities in (0, 4):
        with pytest.raises(
            InvalidInputError, match=f"P = {facilities} .* 3 candidate sites"
        ) as err:
            MaximalCovering(costs, facilities=facilities, within_min=10.0)
        assert err.value.field == "facilities"
    with pytest.raises(InvalidInputError, match="got 0") as err:
        MaximalCovering(costs, facilities=1, within_min=0.0)
    assert err.value.field == "minutes"


def test_pmedian_with_a_stranded_point_is_rejected_before_solving():
    """A weighted demand point with no finite time to any site is named before solving."""
    travel = np.array([[1.0, 2.0], [np.inf, np.inf]])
    costs = CostMatrix(travel, ("near", "stranded"), ("a", "b"), np.array([1.0, 2.0]))
    with pytest.raises(InvalidInputError, match="'stranded'") as err:
        PMedian(costs, facilities=1)
    assert err.value.field == "costs"


def test_pmedian_that_no_p_sites_can_serve_is_rejected():
    """When each site alone reaches one demand point, two sites cannot serve three: an error."""
    travel = np.where(np.eye(3, dtype=bool), 5.0, np.inf)
    costs = CostMatrix(travel, ("d0", "d1", "d2"), ("a", "b", "c"), np.ones(3))
    with pytest.raises(InvalidInputError, match="no 2 candidate sites together reach") as err:
        PMedian(costs, facilities=2).solve()
    assert err.value.field == "costs"


def test_cost_matrix_rejects_bad_numbers_naming_the_pair():
    """Negative or NaN minutes, bad weights and duplicate ids are refused with what was wrong."""
    ids = ("d0", "d1"), ("a", "b")
    with pytest.raises(InvalidInputError, match="site 'b' to demand point 'd1' is -1.0") as err:
        CostMatrix(np.array([[1.0, 2.0], [3.0, -1.0]]), *ids, np.ones(2))
    assert err.value.field == "costs"
    with pytest.raises(InvalidInputError, match="is nan"):
        CostMatrix(np.array([[1.0, np.nan], [3.0, 1.0]]), *ids, np.ones(2))
    with pytest.raises(InvalidInputError, match="'d1' has weight -2.0") as err:
        CostMatrix(np.ones((2, 2)), *ids, np.array([1.0, -2.0]))
    assert err.value.field == "weights"
    with pytest.raises(InvalidInputError, match="all demand weights are 0"):
        CostMatrix(np.ones((2, 2)), *ids, np.zeros(2))
    with pytest.raises(InvalidInputError, match="'a' appears more than once"):
        CostMatrix(np.ones((2, 2)), ("d0", "d1"), ("a", "a"), np.ones(2))
    with pytest.raises(InvalidInputError, match=r"shape \(2, 3\)"):
        CostMatrix(np.ones((2, 3)), *ids, np.ones(2))


def test_placement_reports_nearest_site_and_served_weight():
    """Each demand point is assigned its nearest chosen site; served weight sums per site."""
    costs = line_costs()
    placement = MaximalCovering(costs, facilities=2, within_min=10.0).solve()
    assert placement.site_ids == ("a", "b")
    assert placement.objective == 11.0  # everyone within 10 min
    assert placement.nearest_min.tolist() == [2.0, 8.0, 3.0, 10.0]
    assert [placement.site_ids[k] for k in placement.assigned] == ["a", "a", "b", "b"]
    assert placement.served_weight() == {"a": 6.0, "b": 5.0}
    assert placement.gap == 0.0


def test_time_limit_returns_the_best_found_flagged_unproven():
    """A limit too short to prove anything still returns P sites, unproven, no worse than greedy."""
    costs = random_costs(11, n_demand=300, n_sites=120, unreachable_share=0.0)
    model = PMedian(costs, facilities=10)
    placement = model.solve(time_limit_s=1e-6)
    assert not placement.proven_optimal
    assert len(placement.site_ids) == 10
    assert placement.objective <= model.greedy().objective + 1e-9
    assert placement.objective == pytest.approx(
        weighted_minutes(costs, [costs.site_ids.index(s) for s in placement.site_ids])
    )
    with pytest.raises(InvalidInputError) as err:
        model.solve(time_limit_s=0)
    assert err.value.field == "time_limit_s"
