"""Surge assignment (SPEC §5): many open incidents assigned jointly to one kind of vehicle.

The solver is a pure function of matrices; the caller builds one :class:`SurgeProblem` per
vehicle kind (an incident needing a survey car and a tow truck appears in two problems)
with ``inf`` wherever a vehicle cannot serve an incident (wrong skills, off shift,
unreachable).

Objective, lexicographic:

1. the number of injury incidents whose vehicle arrives by the deadline (``eta <= deadline``);
2. the number of all incidents that do;
3. the number of incidents assigned at all. This level is our decision, not the SPEC's: a
   dispatcher expects every incident to get some vehicle while one is free, even a late one;
4. the total ETA of the assigned pairs (minimised).

A vehicle serves at most one incident and an incident gets at most one vehicle.

Formulation
-----------
This is a bipartite assignment, so it is solved as a min-cost flow with OR-tools'
``SimpleMinCostFlow`` (cost-scaling push-relabel): exact, polynomial, and well under a second
on 2,000 incidents x 500 vehicles. CP-SAT or a MIP would also be exact but build a million
Boolean variables for what the flow solves directly; ``linear_sum_assignment`` wants a
perfect matching of the smaller side, which "leave an incident unassigned" does not fit.

Network: every incident has supply 1 and two ways to pass it to the sink, through a vehicle
(one arc per *finite* ETA, capacity 1; each vehicle's arc to the sink has capacity 1) or
through its own "unassigned" arc. An arc through a vehicle earns a reward, and its cost is
``max_cost - reward`` (the unassigned arc costs ``max_cost``), so minimum cost is maximum
total reward with only non-negative costs. For a pair with ETA ``q`` (integer units, see
:func:`_eta_units`)::

    reward = meet * (1 + injury) * [eta <= deadline] + assign - q

Why these weights keep the levels in order (``m`` = most pairs any assignment can hold,
``q_max`` = the largest ETA in units):

* ``assign = m * q_max + 1``: one more assigned incident (+``assign``) outweighs any change
  of the total ETA, which lies in ``[0, m * q_max]``.
* ``meet = m * assign + 1``: the levels-3-and-4 part of an assignment's reward,
  ``assign * assigned - total_q``, lies in ``[0, m * assign]``, below one ``meet``.
* Levels 1 and 2 share one level with weight 2 for an injury incident met and 1 for any
  other incident met. That is exact, not an approximation: the sets of incidents that can
  meet their deadlines *together* are the independent sets of a transversal matroid (over
  the "meets" arcs), so a maximum-weight such set for positive weights is a basis (as many
  incidents met as possible) and, among bases, the weights favour exactly the ones with the
  most injury incidents; both levels are optimal at once. Hence injury priority never costs
  a guarantee that could otherwise be met, and the largest arc cost is
  ``2 * meet + assign`` (about ``2 m^2 q_max``) instead of the ``m^3 q_max`` of a third
  separate level.

Overflow: OR-tools multiplies every cost by ``n + 1`` (``n`` nodes) and its node potentials
fall by at most about ``n`` times that during the solve (Goldberg and Tarjan's bound for
cost scaling), so the weights are required to satisfy ``max_cost * (n + 1) * (n + 2) <=
2^63 - 1``, checked in exact integer arithmetic. ETAs are counted in deciseconds; when an
instance is so large or its ETAs so long that this would fail, the ETA unit is coarsened
(levels 1-3 stay exact because "meets" compares the float seconds; only the tie-breaking
total ETA loses resolution). For 2,000 x 500 the unit stays at a decisecond unless ETAs
exceed about three days.

No candidate pruning: keeping only each incident's k nearest vehicles plus those that meet
its deadline keeps levels 1 and 2 but can lose level 3 (and 4) unless k reaches the number
of vehicles, so every finite arc is kept; the benchmark shows that is fast enough.

No time limit: the flow solver is exact and polynomial and cannot be stopped part-way, so
a ``time_limit_s`` argument would be ignored; speed is measured in
``benchmarks/bench_surge_solver.py`` instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow

from dispatch_engine.errors import InvalidInputError

SOLVER_JOINT = "ortools_min_cost_flow"
SOLVER_GREEDY = "greedy_nearest_first"
DECISECONDS_PER_S = 10
INT64_MAX = int(np.iinfo(np.int64).max)


def _label(ids: tuple[str, ...] | None, index: int, what: str) -> str:
    return f"{what} {ids[index]!r}" if ids is not None else f"{what} #{index}"


def _ids(value: Sequence[str] | None, expected: int, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    ids = tuple(str(item) for item in value)
    if len(ids) != expected:
        raise InvalidInputError(f"has {len(ids)} ids for {expected} rows/columns", field=field)
    if len(set(ids)) != len(ids):
        raise InvalidInputError("ids must be unique", field=field)
    return ids


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


@dataclass(frozen=True, eq=False)
class SurgeProblem:
    """Open incidents x free vehicles of one kind, as the joint assignment sees them.

    Parameters
    ----------
    eta_s : array (incidents, vehicles) of float seconds
        Road ETA of each vehicle to each incident; ``inf`` where the vehicle cannot serve
        the incident (wrong kind or skills, off shift, unreachable).
    deadline_s : array (incidents,) of float seconds
        Time from now until each incident's arrival deadline; negative when already past.
    injury : array (incidents,) of bool
        Whether anyone is injured: those guarantees are met first.
    incident_ids, vehicle_ids : sequences of str, optional
        Names used in error messages.

    Raises
    ------
    InvalidInputError
        Naming the field: a wrong shape, a NaN, a negative ETA, an ``injury`` that is not
        Boolean, or ids of the wrong length or repeated.
    """

    eta_s: np.ndarray
    deadline_s: np.ndarray
    injury: np.ndarray
    incident_ids: tuple[str, ...] | None = None
    vehicle_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Private read-only copies: the caller's arrays may change, the problem must not.
        eta_s = np.array(self.eta_s, dtype=np.float64)
        if eta_s.ndim != 2:
            raise InvalidInputError(
                f"must be a 2-D incidents x vehicles matrix, got shape {eta_s.shape}",
                field="eta_s",
            )
        n_incidents, n_vehicles = eta_s.shape
        incident_ids = _ids(self.incident_ids, n_incidents, "incident_ids")
        vehicle_ids = _ids(self.vehicle_ids, n_vehicles, "vehicle_ids")
        bad = np.argwhere(np.isnan(eta_s) | (eta_s < 0))
        if bad.size:
            i, v = (int(k) for k in bad[0])
            raise InvalidInputError(
                f"must be a non-negative number of seconds or inf, got {eta_s[i, v]} for "
                f"{_label(incident_ids, i, 'incident')} and {_label(vehicle_ids, v, 'vehicle')}",
                field="eta_s",
            )
        deadline_s = np.array(self.deadline_s, dtype=np.float64)
        if deadline_s.shape != (n_incidents,):
            raise InvalidInputError(
                f"needs one deadline per incident ({n_incidents}), got shape {deadline_s.shape}",
                field="deadline_s",
            )
        missing = np.flatnonzero(np.isnan(deadline_s))
        if missing.size:
            raise InvalidInputError(
                f"is NaN for {_label(incident_ids, int(missing[0]), 'incident')}",
                field="deadline_s",
            )
        injury = np.array(self.injury)
        if injury.dtype != np.bool_ or injury.shape != (n_incidents,):
            raise InvalidInputError(
                f"must be {n_incidents} Booleans, one per incident, got {injury.dtype} "
                f"of shape {injury.shape}",
                field="injury",
            )
        object.__setattr__(self, "eta_s", _frozen(eta_s))
        object.__setattr__(self, "deadline_s", _frozen(deadline_s))
        object.__setattr__(self, "injury", _frozen(injury))
        object.__setattr__(self, "incident_ids", incident_ids)
        object.__setattr__(self, "vehicle_ids", vehicle_ids)


@dataclass(frozen=True, eq=False)
class SurgeAssignment:
    """Who goes where, and how many guarantees that meets.

    ``vehicle_of[i]`` is the column of the vehicle sent to incident ``i`` or -1;
    ``meets[i]`` says whether that vehicle arrives by the deadline (False when unassigned).
    ``total_eta_s`` sums the ETAs of the assigned pairs; ``solver`` names the algorithm and
    ``wall_s`` is the time it took, in seconds.
    """

    vehicle_of: np.ndarray
    meets: np.ndarray
    met_count: int
    met_injury_count: int
    total_eta_s: float
    assigned_count: int
    solver: str
    wall_s: float


def _summarise(
    problem: SurgeProblem, vehicle_of: np.ndarray, solver: str, started: float
) -> SurgeAssignment:
    assigned = np.flatnonzero(vehicle_of >= 0)
    eta_s = problem.eta_s[assigned, vehicle_of[assigned]]
    meets = np.zeros(vehicle_of.size, dtype=bool)
    meets[assigned] = eta_s <= problem.deadline_s[assigned]
    return SurgeAssignment(
        vehicle_of=_frozen(vehicle_of),
        meets=_frozen(meets),
        met_count=int(meets.sum()),
        met_injury_count=int((meets & problem.injury).sum()),
        total_eta_s=float(eta_s.sum()),
        assigned_count=int(assigned.size),
        solver=solver,
        wall_s=time.perf_counter() - started,
    )


def _eta_units(eta_s: np.ndarray | float, unit_ds: int) -> np.ndarray:
    """The one place seconds become integers: ETA in units of ``unit_ds`` deciseconds."""
    return np.rint(np.asarray(eta_s) * DECISECONDS_PER_S / unit_ds).astype(np.int64)


@dataclass(frozen=True)
class _Weights:
    unit_ds: int  # deciseconds per integer ETA unit
    assign: int  # reward for assigning an incident at all
    meet: int  # reward per guarantee met (twice for an injury incident)
    max_cost: int  # largest arc cost; every arc cost lies in [0, max_cost]


def _weights(max_eta_s: float, *, max_pairs: int, n_nodes: int) -> _Weights:
    """Weights that keep the objective's levels apart and OR-tools' arithmetic in int64.

    See the module docstring for why ``assign`` and ``meet`` separate the levels; with
    ``q`` the largest ETA in units, ``max_cost = (2m + 1)(m q + 1) + 2``, and
    ``max_cost * (n + 1)(n + 2)`` must fit in int64. The ETA unit is the smallest whole
    number of deciseconds for which it does.
    """
    budget = INT64_MAX // ((n_nodes + 1) * (n_nodes + 2))
    max_units = ((budget - 2) // (2 * max_pairs + 1) - 1) // max_pairs
    if max_units < 1:
        raise InvalidInputError(
            f"a surge of {max_pairs} assignable pairs over {n_nodes} flow nodes is too large "
            "for exact 64-bit weights; split it (by district or vehicle kind)",
            field="eta_s",
        )
    unit_ds = max(1, math.ceil(max_eta_s * DECISECONDS_PER_S / max_units))
    q_max = int(_eta_units(max_eta_s, unit_ds))
    assign = max_pairs * q_max + 1
    meet = max_pairs * assign + 1
    weights = _Weights(unit_ds=unit_ds, assign=assign, meet=meet, max_cost=2 * meet + assign)
    # Implied by the choice of max_units; kept as the proof's executable check.
    assert weights.max_cost * (n_nodes + 1) * (n_nodes + 2) <= INT64_MAX, weights
    return weights


def assign_jointly(problem: SurgeProblem) -> SurgeAssignment:
    """Assign all incidents at once, lexicographically best (see the module docstring).

    Maximises, in order, the injury guarantees met, all guarantees met, and the number of
    incidents assigned at all (our decision: a dispatcher expects every incident to get a
    vehicle while one is free), then minimises the total ETA of the assigned pairs. Exact,
    by a min-cost flow over every finite ETA.

    Parameters
    ----------
    problem : SurgeProblem
        ETAs, deadlines and injury flags of one vehicle kind.

    Returns
    -------
    SurgeAssignment
        ``solver == "ortools_min_cost_flow"``. An instance without any finite ETA yields
        every incident unassigned, not an error.

    Raises
    ------
    InvalidInputError
        ``eta_s``: the instance is too large for exact 64-bit weights (far beyond a city
        surge: many thousands of assignable pairs).
    """
    started = time.perf_counter()
    n_incidents, n_vehicles = problem.eta_s.shape
    vehicle_of = np.full(n_incidents, -1, dtype=np.int64)
    incident, vehicle = np.nonzero(np.isfinite(problem.eta_s))
    if incident.size == 0:  # no finite ETA: nothing to weigh, nothing to assign
        return _summarise(problem, vehicle_of, SOLVER_JOINT, started)

    eta_s = problem.eta_s[incident, vehicle]
    n_nodes = n_incidents + n_vehicles + 1
    weights = _weights(
        float(eta_s.max()),
        max_pairs=min(np.unique(incident).size, np.unique(vehicle).size),
        n_nodes=n_nodes,
    )
    meets = eta_s <= problem.deadline_s[incident]
    guarantees = meets * (1 + problem.injury[incident].astype(np.int64))
    reward = weights.meet * guarantees + weights.assign - _eta_units(eta_s, weights.unit_ds)

    # Nodes: incidents 0..I-1, vehicles I..I+V-1, the sink I+V.
    sink = n_incidents + n_vehicles
    incidents = np.arange(n_incidents)
    vehicles = n_incidents + np.arange(n_vehicles)
    tails = np.concatenate([incident, vehicles, incidents]).astype(np.int32)
    heads = np.concatenate(
        [
            n_incidents + vehicle,
            np.full(n_vehicles + n_incidents, sink),
        ]
    ).astype(np.int32)
    costs = np.concatenate(
        [
            weights.max_cost - reward,
            np.zeros(n_vehicles, dtype=np.int64),  # vehicle -> sink
            np.full(n_incidents, weights.max_cost, dtype=np.int64),  # incident unassigned
        ]
    )
    flow = SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, np.ones(tails.size, np.int64), costs)
    flow.set_nodes_supplies(
        np.append(incidents, sink).astype(np.int32),
        np.append(np.ones(n_incidents, np.int64), -n_incidents),
    )
    status = flow.solve()
    if status != SimpleMinCostFlow.OPTIMAL:
        # Feasible by construction (every incident may stay unassigned) and the weights
        # are checked against overflow, so any other status is a bug, not bad input.
        raise RuntimeError(f"min-cost flow ended with status {status!r}")
    used = flow.flows(np.arange(incident.size)) > 0
    vehicle_of[incident[used]] = vehicle[used]
    return _summarise(problem, vehicle_of, SOLVER_JOINT, started)


def assign_greedy(
    problem: SurgeProblem, *, preference: np.ndarray | None = None
) -> SurgeAssignment:
    """Nearest-first, one incident at a time: what dispatchers do without the optimiser.

    Incidents are taken injury cases first, then by earliest deadline, then by row; each
    takes its nearest free vehicle (lowest column on a tie), or stays unassigned when no
    free vehicle can reach it. The baseline the joint assignment is measured against.

    Parameters
    ----------
    problem : SurgeProblem
        ETAs, deadlines and injury flags of one vehicle kind.
    preference : array (incidents, vehicles), optional
        What "nearest" means, lower first (default: the ETA), e.g. straight-line metres;
        only vehicles with a finite ETA are candidates, and the result reports ETAs.

    Returns
    -------
    SurgeAssignment
        ``solver == "greedy_nearest_first"``.
    """
    started = time.perf_counter()
    n_incidents, n_vehicles = problem.eta_s.shape
    vehicle_of = np.full(n_incidents, -1, dtype=np.int64)
    order = np.lexsort((np.arange(n_incidents), problem.deadline_s, ~problem.injury))
    if preference is not None and np.shape(preference) != problem.eta_s.shape:
        raise InvalidInputError(
            f"must be shaped like eta_s {problem.eta_s.shape}, got {np.shape(preference)}",
            field="preference",
        )
    key = (
        problem.eta_s
        if preference is None
        else np.where(np.isfinite(problem.eta_s), preference, np.inf)
    )
    free = np.ones(n_vehicles, dtype=bool)
    for i in order if n_vehicles else ():
        row = np.where(free, key[i], np.inf)
        nearest = int(np.argmin(row))
        if np.isfinite(row[nearest]):
            vehicle_of[i] = nearest
            free[nearest] = False
    return _summarise(problem, vehicle_of, SOLVER_GREEDY, started)
