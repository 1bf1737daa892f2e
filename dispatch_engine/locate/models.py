"""Location models for base placement (SPEC §7): where should P survey cars be based?

Every model has one life cycle (after spopt): **build** it from a :class:`CostMatrix`
(demand points x candidate sites: travel minutes and demand weights) and its
parameters, **solve** it, **inspect** the :class:`Placement` it returns. Geometry never
enters a model: road travel times or a planner's own matrix become a ``CostMatrix``
first (``locate/inputs.py``). A model checks its parameters and its feasibility when it
is built and rejects impossible input with the numbers in the message, before a solver
runs.

A site *covers* a demand point when its travel time is at most ``within_min``
(inclusive, like the dispatch guarantee ``eta <= deadline``).

Solver
------
All three models are small mixed-integer programs, solved exactly by SCIP through
OR-tools' ``model_builder``, from sparse matrices assembled with numpy (no Python loop
over matrix cells). SCIP rather than CP-SAT, from measurements on this 2-core machine
with the 2,000 x 300 Shaoguan MCLP of ``benchmarks/locate_mclp.py``:

* the LP relaxations of these models are tight (MCLP and p-median roots are often
  integral or nearly so), which LP-based branch and bound exploits directly: SCIP proves
  the MCLP (T = 15 min, P = 12) optimal in about 0.2 s;
* CP-SAT with its default portfolio (as many workers as cores, here 2) did not close
  the gap of the same instance in 120 s (its bound stayed at 96 % covered against the
  optimum's 56 %: a portfolio that small runs without CP-SAT's full-LP workers); one
  worker with ``linearization_level: 2`` matched SCIP, but the answer would then hinge
  on tuned parameters;
* SCIP takes the float weights and minutes as given, so "optimal" is about the
  planner's numbers, not about an integer-scaled copy of them;
* SCIP runs single-threaded and deterministically: the same input gives the same sites.

Both gap limits are set to zero, so "optimal" means no remaining gap (within SCIP's
numerical tolerances).

Time limit: ``solve(time_limit_s=...)`` stops there with the best solution found,
``proven_optimal=False`` and the solver's bound (``Placement.gap``). The greedy
placement (:meth:`greedy`) is the solver's starting hint and the answer whenever the
solver has nothing better when it stops, so a solve is never worse than greedy.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder as mb

from dispatch_engine.errors import InvalidInputError

SOLVER = "scip"
SCIP_PARAMETERS = "limits/gap = 0\nlimits/absgap = 0"
DEFAULT_TIME_LIMIT_S = 60.0


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


def _unique_ids(values: Sequence[str], what: str, field: str) -> tuple[str, ...]:
    ids = tuple(str(v) for v in values)
    if any(not i for i in ids):
        raise InvalidInputError(f"every {what} needs a non-empty id", field=field)
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    if duplicates:
        raise InvalidInputError(f"{what} id '{duplicates[0]}' appears more than once", field=field)
    return ids


def _sparse(
    shape: tuple[int, int], *blocks: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> sp.csr_matrix:
    """A CSR matrix from blocks of (rows, columns, values) triplets."""
    rows, cols, vals = (np.concatenate(part) for part in zip(*blocks, strict=True))
    return sp.csr_matrix((vals, (rows, cols)), shape=shape)


@dataclass(frozen=True, eq=False)
class CostMatrix:
    """Travel minutes from each candidate site to each demand point, and the demand's weights.

    Parameters
    ----------
    travel_min : array (demand, sites) of float minutes
        Time for a vehicle based at the site to reach the demand point; ``inf`` where it
        cannot (unreachable, or left out by the planner). Copied and made read-only.
    demand_ids, site_ids : sequences of str
        Unique non-empty names of the rows and columns.
    weights : array (demand,) of float
        How much each demand point counts (e.g. expected incidents per year), ``>= 0``
        with a positive total.

    Raises
    ------
    InvalidInputError
        Shapes that do not match, negative or NaN minutes, duplicate ids, negative or
        non-finite weights, or weights summing to zero (``field`` ``costs`` or ``weights``).
    """

    travel_min: np.ndarray
    demand_ids: tuple[str, ...]
    site_ids: tuple[str, ...]
    weights: np.ndarray

    def __post_init__(self) -> None:
        travel = np.array(self.travel_min, dtype=np.float64)
        demand_ids = _unique_ids(self.demand_ids, "demand point", "costs")
        site_ids = _unique_ids(self.site_ids, "candidate site", "costs")
        if travel.shape != (len(demand_ids), len(site_ids)) or travel.size == 0:
            raise InvalidInputError(
                f"travel times have shape {travel.shape}; expected "
                f"({len(demand_ids)} demand points, {len(site_ids)} sites), both at least 1",
                field="costs",
            )
        bad = np.isnan(travel) | (travel < 0)
        if bad.any():
            i, j = (int(k[0]) for k in np.nonzero(bad))
            raise InvalidInputError(
                f"travel time from site '{site_ids[j]}' to demand point '{demand_ids[i]}' is "
                f"{travel[i, j]}; minutes must be >= 0 (inf for unreachable)",
                field="costs",
            )
        weights = np.array(self.weights, dtype=np.float64)
        if weights.shape != (len(demand_ids),):
            raise InvalidInputError(
                f"{weights.size} weights for {len(demand_ids)} demand points", field="weights"
            )
        bad_weight = ~np.isfinite(weights) | (weights < 0)
        if bad_weight.any():
            i = int(np.flatnonzero(bad_weight)[0])
            raise InvalidInputError(
                f"demand point '{demand_ids[i]}' has weight {weights[i]}; "
                "weights must be finite and >= 0",
                field="weights",
            )
        if weights.sum() <= 0:
            raise InvalidInputError(
                "all demand weights are 0: nothing to place bases for", field="weights"
            )
        object.__setattr__(self, "travel_min", _frozen(travel))
        object.__setattr__(self, "demand_ids", demand_ids)
        object.__setattr__(self, "site_ids", site_ids)
        object.__setattr__(self, "weights", _frozen(weights))

    @property
    def n_demand(self) -> int:
        return len(self.demand_ids)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)


@dataclass(frozen=True, eq=False)
class Placement:
    """Chosen sites and how they serve the demand: what ``solve`` and ``greedy`` return.

    Attributes
    ----------
    model : str
        ``mclp``, ``pmedian`` or ``lscp``.
    method : str
        ``scip`` (the exact solver's answer) or ``greedy``.
    site_ids : tuple of str
        The chosen sites, in the matrix's column order.
    objective : float
        The model's objective for these sites, computed from the matrix: covered demand
        weight (MCLP, maximised), demand-weighted travel minutes to the nearest chosen
        site (p-median, minimised), number of sites (LSCP, minimised).
    bound : float
        The best bound on the optimum the solver proved (equal to ``objective`` when
        proven optimal); ``nan`` when there is none (greedy).
    proven_optimal : bool
        Whether the solver proved no placement is better.
    solve_s : float
        Wall-clock seconds of the whole solve (model build, greedy hint, solver).
    nearest_min : array (demand,) of float
        Minutes from the nearest chosen site to each demand point (``inf`` if none reaches it).
    assigned : array (demand,) of int
        Index into ``site_ids`` of that nearest site (``-1`` if none reaches it).
    costs : CostMatrix
        The matrix the placement was computed on.
    """

    model: str
    method: str
    site_ids: tuple[str, ...]
    objective: float
    bound: float
    proven_optimal: bool
    solve_s: float
    nearest_min: np.ndarray
    assigned: np.ndarray
    costs: CostMatrix

    @property
    def gap(self) -> float:
        """Relative distance between the objective and the proven bound (0 when optimal)."""
        if self.proven_optimal:
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-12)

    def covered_share(self, within_min: float) -> float:
        """Share of the demand weight within ``within_min`` minutes of a chosen site."""
        weights = self.costs.weights
        return float(weights[self.nearest_min <= within_min].sum() / weights.sum())

    def mean_min(self) -> float:
        """Demand-weighted mean minutes to the nearest chosen site (``inf`` if any is unreached)."""
        weights = self.costs.weights
        reached = weights > 0
        return float((weights[reached] * self.nearest_min[reached]).sum() / weights.sum())

    def served_weight(self) -> dict[str, float]:
        """Demand weight each chosen site is nearest to (what its base would mostly serve)."""
        totals = np.bincount(
            self.assigned[self.assigned >= 0],
            weights=self.costs.weights[self.assigned >= 0],
            minlength=len(self.site_ids),
        )
        return {site: float(w) for site, w in zip(self.site_ids, totals, strict=True)}


@dataclass(frozen=True)
class _Mip:
    """A location MIP in solver-neutral sparse form. Variables ``0..n_sites-1`` are the
    binary "site open" variables; the rest are continuous in ``[0, var_ub]``."""

    objective: np.ndarray
    var_ub: np.ndarray
    n_sites: int
    matrix: sp.csr_matrix
    row_lb: np.ndarray
    row_ub: np.ndarray
    maximize: bool
    offset: float = 0.0


def _greedy_sites(penalty: np.ndarray, unserved: np.ndarray, count: int | None) -> np.ndarray:
    """Open sites one at a time, each time the one that lowers the total penalty most.

    ``penalty[i, j]`` is demand point i's cost when j is its best open site and
    ``unserved[i]`` its cost with no site; stops after ``count`` sites, or (``None``)
    when the total reaches 0. Ties go to the lowest column, so the result is repeatable.
    """
    current = unserved.astype(np.float64).copy()
    chosen: list[int] = []
    is_open = np.zeros(penalty.shape[1], dtype=bool)
    while (len(chosen) < count) if count is not None else (current.sum() > 0 and not is_open.all()):
        totals = np.minimum(current[:, None], penalty).sum(axis=0)
        totals[is_open] = np.inf
        best = int(np.argmin(totals))
        chosen.append(best)
        is_open[best] = True
        current = np.minimum(current, penalty[:, best])
    return np.array(sorted(chosen), dtype=np.int64)


def _solve_mip(
    mip: _Mip, *, hint: np.ndarray, time_limit_s: float
) -> tuple[str, np.ndarray | None, float]:
    """Solve with SCIP; returns (status name, open-site mask or None, best bound)."""
    model = mb.Model()
    n_vars = mip.objective.size
    # OR-tools' type stub misspells these float64 arrays' type, hence the ignore.
    model.helper.fill_model_from_sparse_data(
        np.zeros(n_vars),  # type: ignore[arg-type]
        mip.var_ub.astype(np.float64),  # type: ignore[arg-type]
        mip.objective.astype(np.float64),  # type: ignore[arg-type]
        mip.row_lb.astype(np.float64),  # type: ignore[arg-type]
        mip.row_ub.astype(np.float64),  # type: ignore[arg-type]
        mip.matrix.astype(np.float64).tocsr(),
    )
    for j in range(mip.n_sites):
        model.helper.set_var_integrality(j, True)
    model.helper.set_maximize(mip.maximize)
    model.helper.set_objective_offset(mip.offset)
    hinted = np.zeros(mip.n_sites, dtype=bool)
    hinted[hint] = True
    for j in range(mip.n_sites):
        model.add_hint(model.var_from_index(j), float(hinted[j]))
    solver = mb.Solver(SOLVER)
    solver.set_time_limit_in_seconds(time_limit_s)
    solver.set_solver_specific_parameters(SCIP_PARAMETERS)
    status = solver.solve(model)
    if status == mb.SolveStatus.INFEASIBLE:
        return "infeasible", None, math.nan
    if status not in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE, mb.SolveStatus.NOT_SOLVED):
        raise RuntimeError(f"SCIP failed on a location model: {status.name}")
    reported = solver.best_objective_bound  # pandas NA when the solver stopped without one
    bound = float(reported) if isinstance(reported, float | int) else math.nan
    if status == mb.SolveStatus.NOT_SOLVED:  # time limit before a first solution
        return "not_solved", None, bound
    is_open = np.array([solver.value(model.var_from_index(j)) > 0.5 for j in range(mip.n_sites)])
    return ("optimal" if status == mb.SolveStatus.OPTIMAL else "feasible"), is_open, bound


class _LocationModel:
    """The life cycle the three models share; each supplies its MIP, greedy rule and objective."""

    name: ClassVar[str]
    maximize: ClassVar[bool] = False
    costs: CostMatrix

    def solve(self, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> Placement:
        """Solve exactly with SCIP, stopping at ``time_limit_s`` with the best found.

        Parameters
        ----------
        time_limit_s : float
            Wall-clock limit of the solver, seconds (> 0). On reaching it the best
            placement found is returned with ``proven_optimal=False``.

        Returns
        -------
        Placement

        Raises
        ------
        InvalidInputError
            ``time_limit_s`` not positive; a p-median whose unreachable pairs leave no
            set of P sites reaching every demand point.
        """
        if not time_limit_s > 0 or not math.isfinite(time_limit_s):
            raise InvalidInputError(
                f"must be a positive number of seconds, got {time_limit_s}", field="time_limit_s"
            )
        start = time.perf_counter()
        greedy = self._greedy_open()
        status, is_open, bound = _solve_mip(self._mip(), hint=greedy, time_limit_s=time_limit_s)
        if status == "infeasible":
            raise InvalidInputError(self._infeasible_message(), field="costs")
        elapsed = time.perf_counter() - start
        fallback = self._placement(
            greedy, method="greedy", bound=bound, proven=False, solve_s=elapsed
        )
        if is_open is None:
            return fallback
        found = self._placement(
            np.flatnonzero(is_open),
            method=SOLVER,
            bound=bound,
            proven=status == "optimal",
            solve_s=elapsed,
        )
        if not found.proven_optimal and self._better(fallback.objective, found.objective):
            return fallback
        return found

    def greedy(self) -> Placement:
        """The greedy placement: open, one at a time, the site that improves the objective most.

        A baseline (the benchmark's gap is measured against it) and the solver's hint;
        never proven optimal.
        """
        start = time.perf_counter()
        sites = self._greedy_open()
        return self._placement(
            sites,
            method="greedy",
            bound=math.nan,
            proven=False,
            solve_s=time.perf_counter() - start,
        )

    # -- what each model supplies ----------------------------------------------------

    def _mip(self) -> _Mip:
        raise NotImplementedError

    def _greedy_open(self) -> np.ndarray:
        raise NotImplementedError

    def _objective(self, nearest_min: np.ndarray, n_open: int) -> float:
        raise NotImplementedError

    def _infeasible_message(self) -> str:
        return "the solver found no feasible placement"

    # -- shared ----------------------------------------------------------------------

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def _placement(
        self, sites: np.ndarray, *, method: str, bound: float, proven: bool, solve_s: float
    ) -> Placement:
        costs = self.costs
        sites = np.asarray(sites, dtype=np.int64)
        travel = costs.travel_min[:, sites]  # every model opens at least one site
        assigned = np.argmin(travel, axis=1)
        nearest = travel[np.arange(costs.n_demand), assigned]
        assigned = np.where(np.isfinite(nearest), assigned, -1)
        return Placement(
            model=self.name,
            method=method,
            site_ids=tuple(costs.site_ids[j] for j in sites),
            objective=self._objective(nearest, int(sites.size)),
            bound=bound,
            proven_optimal=proven,
            solve_s=solve_s,
            nearest_min=_frozen(nearest),
            assigned=_frozen(assigned),
            costs=costs,
        )


def _check_facilities(facilities: int, costs: CostMatrix) -> None:
    if not 1 <= facilities <= costs.n_sites:
        raise InvalidInputError(
            f"P = {facilities} sites to open, but there are {costs.n_sites} candidate sites; "
            f"P must be between 1 and {costs.n_sites}",
            field="facilities",
        )


def _check_within(within_min: float) -> None:
    if not (within_min > 0 and math.isfinite(within_min)):
        raise InvalidInputError(
            f"the coverage time must be a positive number of minutes, got {within_min}",
            field="minutes",
        )


def _cardinality_row(n_sites: int, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets of ``sum_j x_j`` as constraint ``row``."""
    return np.full(n_sites, row), np.arange(n_sites), np.ones(n_sites)


@dataclass(frozen=True, eq=False)
class MaximalCovering(_LocationModel):
    """Maximal covering location problem (MCLP; Church and ReVelle, 1974).

    Open exactly ``P`` sites so that the demand weight within ``T`` minutes of an open
    site is as large as possible: "where should 12 survey cars be based so that most
    incidents are reached within 15 minutes?".

    Formulation, with ``w_i`` the weight of demand point i, ``N_i = {j : t_ij <= T}``
    the sites covering it, ``x_j`` = 1 if site j opens and ``y_i`` = 1 if i is covered::

        maximise    sum_i w_i y_i
        subject to  y_i <= sum_{j in N_i} x_j      for every i with N_i non-empty
                    sum_j x_j = P
                    x_j in {0, 1},  0 <= y_i <= 1

    ``y`` may be continuous: for integral ``x`` the optimum puts every ``y_i`` at 0 or 1.
    Demand points no site covers, or of weight 0, cannot change the objective and are
    left out of the program.

    Parameters
    ----------
    costs : CostMatrix
    facilities : int
        ``P``, between 1 and the number of candidate sites.
    within_min : float
        ``T``, the coverage standard in minutes (> 0).

    Raises
    ------
    InvalidInputError
        ``P`` outside ``1..sites`` (``field="facilities"``) or ``T`` not positive
        (``field="minutes"``).
    """

    name: ClassVar[str] = "mclp"
    maximize: ClassVar[bool] = True
    costs: CostMatrix
    facilities: int
    within_min: float

    def __post_init__(self) -> None:
        _check_facilities(self.facilities, self.costs)
        _check_within(self.within_min)

    def _covers(self) -> np.ndarray:
        return self.costs.travel_min <= self.within_min

    def _mip(self) -> _Mip:
        covers = self._covers()
        keep = np.flatnonzero(covers.any(axis=1) & (self.costs.weights > 0))
        n_sites, n_kept = self.costs.n_sites, keep.size
        demand, site = np.nonzero(covers[keep])
        matrix = _sparse(
            (n_kept + 1, n_sites + n_kept),
            (np.arange(n_kept), n_sites + np.arange(n_kept), np.ones(n_kept)),  # + y_i
            (demand, site, -np.ones(site.size)),  # - x_j for j in N_i
            _cardinality_row(n_sites, n_kept),
        )
        return _Mip(
            objective=np.concatenate([np.zeros(n_sites), self.costs.weights[keep]]),
            var_ub=np.ones(n_sites + n_kept),
            n_sites=n_sites,
            matrix=matrix,
            row_lb=np.concatenate([np.full(n_kept, -np.inf), [self.facilities]]),
            row_ub=np.concatenate([np.zeros(n_kept), [self.facilities]]),
            maximize=True,
        )

    def _greedy_open(self) -> np.ndarray:
        weights = self.costs.weights
        return _greedy_sites(
            np.where(self._covers(), 0.0, weights[:, None]), weights, self.facilities
        )

    def _objective(self, nearest_min: np.ndarray, n_open: int) -> float:
        return float(self.costs.weights[nearest_min <= self.within_min].sum())


@dataclass(frozen=True, eq=False)
class PMedian(_LocationModel):
    """p-median problem (Hakimi, 1964; ReVelle and Swain, 1970).

    Open exactly ``P`` sites so that the demand-weighted travel time from each demand
    point's nearest open site is as small as possible: the mean response time of a
    fleet whose cars wait at ``P`` bases.

    Formulation (the "sorted distances" form of Cornuejols, Nemhauser and Wolsey, 1980,
    tightened by Elloumi, 2010, here chained so it has O(demand x sites) non-zeros): for
    demand point i sort the sites that reach it by time, ``s_i1 .. s_iK`` with times
    ``t_i1 <= .. <= t_iK``; ``u_ik`` = 1 when none of ``s_i1 .. s_ik`` is open::

        minimise    sum_i w_i (t_i1 + sum_{k<K} (t_i,k+1 - t_ik) u_ik)
        subject to  u_i1 + x_{s_i1} >= 1
                    u_ik + x_{s_ik} >= u_i,k-1     k = 2..K
                    u_iK = 0                        (i is served by a site that reaches it)
                    sum_j x_j = P
                    x_j in {0, 1},  0 <= u_ik <= 1

    Summing the chain gives ``u_ik >= 1 - sum_{l<=k} x_{s_il}``, so for integral ``x``
    the optimum sets ``u_ik`` to exactly "no site within ``t_ik``" and the objective to
    ``sum_i w_i min_{j open} t_ij``; the LP relaxation equals that of the classic
    assignment formulation with far fewer constraints. Demand points of weight 0 are left
    out.

    Size: the program has about demand x sites variables. OR-Library pmed1 (100 x 100)
    is proven in under a second; 2,000 x 300 (600,000 variables) does not finish its
    root LP within a minute on a 2-core machine and takes SCIP about 3 GB, so such an
    instance returns the best placement found (at worst greedy's), flagged not proven.

    Parameters
    ----------
    costs : CostMatrix
    facilities : int
        ``P``, between 1 and the number of candidate sites.

    Raises
    ------
    InvalidInputError
        ``P`` outside ``1..sites``, or a demand point of positive weight that no site
        reaches (its travel times are all ``inf``), naming it.
    """

    name: ClassVar[str] = "pmedian"
    costs: CostMatrix
    facilities: int

    def __post_init__(self) -> None:
        _check_facilities(self.facilities, self.costs)
        costs = self.costs
        stranded = (costs.weights > 0) & ~np.isfinite(costs.travel_min).any(axis=1)
        if stranded.any():
            i = int(np.flatnonzero(stranded)[0])
            raise InvalidInputError(
                f"demand point '{costs.demand_ids[i]}' (weight {costs.weights[i]:g}) cannot be "
                f"reached from any candidate site ({int(stranded.sum())} such points); "
                "give it a travel time or weight 0",
                field="costs",
            )

    def _mip(self) -> _Mip:
        costs = self.costs
        keep = np.flatnonzero(costs.weights > 0)
        weights = costs.weights[keep]
        travel = costs.travel_min[keep]
        n_sites = costs.n_sites
        order = np.argsort(travel, axis=1, kind="stable")
        times = np.take_along_axis(travel, order, axis=1)
        reach = np.isfinite(times)  # per row a prefix: unreachable sites sort last
        count = reach.sum(axis=1)
        n_u = int(reach.sum())
        u_id = np.full(reach.shape, -1, dtype=np.int64)
        u_id[reach] = n_sites + np.arange(n_u)
        demand, level = np.nonzero(
            reach
        )  # row-major, so row r of the program is u_id[demand, level]
        rows = np.arange(n_u)
        chained = level > 0
        step = np.zeros(reach.shape)
        step[:, :-1] = np.where(reach[:, 1:], np.diff(np.where(reach, times, 0.0), axis=1), 0.0)
        matrix = _sparse(
            (n_u + 1, n_sites + n_u),
            (rows, u_id[demand, level], np.ones(n_u)),  # + u_ik
            (rows, order[demand, level], np.ones(n_u)),  # + x_{s_ik}
            (
                rows[chained],
                u_id[demand[chained], level[chained] - 1],
                -np.ones(int(chained.sum())),
            ),  # - u_i,k-1
            _cardinality_row(n_sites, n_u),
        )
        var_ub = np.ones(n_sites + n_u)
        var_ub[u_id[np.arange(keep.size), count - 1]] = 0.0  # u_iK = 0
        return _Mip(
            objective=np.concatenate([np.zeros(n_sites), (weights[:, None] * step)[reach]]),
            var_ub=var_ub,
            n_sites=n_sites,
            matrix=matrix,
            row_lb=np.concatenate([np.where(level == 0, 1.0, 0.0), [self.facilities]]),
            row_ub=np.concatenate([np.full(n_u, np.inf), [self.facilities]]),
            maximize=False,
            offset=float((weights * times[:, 0]).sum()),
        )

    def _greedy_open(self) -> np.ndarray:
        costs = self.costs
        weighted = costs.weights[:, None] * np.where(
            np.isfinite(costs.travel_min), costs.travel_min, 0.0
        )
        # Unreachable costs more than any set of reachable pairs, so greedy reaches everyone first.
        unreachable = float(weighted.sum()) + 1.0
        penalty = np.where(
            np.isfinite(costs.travel_min), weighted, unreachable * (costs.weights[:, None] > 0)
        )
        return _greedy_sites(
            penalty, np.where(costs.weights > 0, unreachable, 0.0), self.facilities
        )

    def _objective(self, nearest_min: np.ndarray, n_open: int) -> float:
        weights = self.costs.weights
        return float((weights[weights > 0] * nearest_min[weights > 0]).sum())

    def _infeasible_message(self) -> str:
        return (
            f"no {self.facilities} candidate sites together reach every demand point of positive "
            "weight (some pairs are unreachable); open more sites or fill in the missing times"
        )


@dataclass(frozen=True, eq=False)
class SetCovering(_LocationModel):
    """Location set covering problem (LSCP; Toregas, Swain, ReVelle and Bergman, 1971).

    Open as few sites as possible so that every demand point is within ``T`` minutes of
    one: "how many bases does it take to reach everywhere within 15 minutes?". Every
    demand point counts, whatever its weight (a weight-0 point still has to be covered).

    Formulation, with ``N_i = {j : t_ij <= T}``::

        minimise    sum_j x_j
        subject to  sum_{j in N_i} x_j >= 1      for every demand point i
                    x_j in {0, 1}

    Parameters
    ----------
    costs : CostMatrix
    within_min : float
        ``T``, the coverage standard in minutes (> 0).

    Raises
    ------
    InvalidInputError
        ``T`` not positive, or (before solving) a demand point no site reaches within
        ``T``: the message names it, its nearest site and that site's time, and how many
        points are in the same case (``field="minutes"``).
    """

    name: ClassVar[str] = "lscp"
    costs: CostMatrix
    within_min: float

    def __post_init__(self) -> None:
        _check_within(self.within_min)
        costs = self.costs
        uncovered = ~self._covers().any(axis=1)
        if uncovered.any():
            i = int(np.flatnonzero(uncovered)[0])
            nearest = int(np.argmin(costs.travel_min[i]))
            time_min = costs.travel_min[i, nearest]
            reach = f"{time_min:.1f} min" if math.isfinite(time_min) else "unreachable"
            raise InvalidInputError(
                f"no candidate site reaches demand point '{costs.demand_ids[i]}' within "
                f"{self.within_min:g} min (nearest: site '{costs.site_ids[nearest]}', {reach}); "
                f"{int(uncovered.sum())} of {costs.n_demand} demand points are in this case, "
                "so no set of sites covers everything",
                field="minutes",
            )

    def _covers(self) -> np.ndarray:
        return self.costs.travel_min <= self.within_min

    def _mip(self) -> _Mip:
        n_demand, n_sites = self.costs.n_demand, self.costs.n_sites
        demand, site = np.nonzero(self._covers())
        return _Mip(
            objective=np.ones(n_sites),
            var_ub=np.ones(n_sites),
            n_sites=n_sites,
            matrix=_sparse((n_demand, n_sites), (demand, site, np.ones(site.size))),
            row_lb=np.ones(n_demand),
            row_ub=np.full(n_demand, np.inf),
            maximize=False,
        )

    def _greedy_open(self) -> np.ndarray:
        uncovered = (~self._covers()).astype(np.float64)
        return _greedy_sites(uncovered, np.ones(self.costs.n_demand), None)

    def _objective(self, nearest_min: np.ndarray, n_open: int) -> float:
        return float(n_open)
