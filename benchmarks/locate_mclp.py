"""Base placement (issue 6), run by ``bench_simulation``: MCLP, 2,000 x 300 sites, exact vs greedy.

Instance: the synthetic samples of ``data/planning/`` (demand weighted by expected incidents
per year, candidate sites including today's 13 bases), travel times from the road engine on
the embedded synthetic Shaoguan network, ``P = 12`` sites, ``T = 15`` minutes (the Shaoguan
arrival guarantee). ``mclp_solve_s`` is the whole ``MaximalCovering.solve`` (model build,
greedy hint, SCIP), worst of three runs; ``greedy_gap`` is how much more demand weight the
optimum covers than the greedy placement, relative to the optimum. A small sweep over P and
T shows how the solve time moves with the instance.
"""

from __future__ import annotations

import time

from benchmarks.common import timed_ms
from dispatch_engine.locate.inputs import read_demand_csv, read_sites_csv, road_cost_matrix
from dispatch_engine.locate.models import CostMatrix, MaximalCovering
from dispatch_engine.network.engine import CoreEngine
from dispatch_engine.settings import Settings

FACILITIES = 12
WITHIN_MIN = 15.0
TIME_LIMIT_S = 60.0
REPEATS = 3
SWEEP = ((6, 15.0), (24, 15.0), (12, 30.0))


def run_mclp(costs: CostMatrix, facilities: int, within_min: float) -> dict:
    """Solve once for the answer, time the solve, and compare with greedy."""
    model = MaximalCovering(costs, facilities=facilities, within_min=within_min)
    placement = model.solve(time_limit_s=TIME_LIMIT_S)
    solve_ms = timed_ms(lambda: model.solve(time_limit_s=TIME_LIMIT_S), REPEATS)
    greedy = model.greedy()
    return {
        "facilities": facilities,
        "within_min": within_min,
        "solve_s_max": round(float(solve_ms.max()) / 1000, 3),
        "solve_s_runs": [round(float(ms) / 1000, 3) for ms in solve_ms],
        "proven_optimal": placement.proven_optimal,
        "covered_share": round(placement.covered_share(within_min), 4),
        "greedy_covered_share": round(greedy.covered_share(within_min), 4),
        "greedy_gap": round((placement.objective - greedy.objective) / placement.objective, 4),
        "greedy_s": round(greedy.solve_s, 3),
        "sites": list(placement.site_ids),
    }


def measure(settings: Settings, road: CoreEngine) -> dict:
    """The MCLP numbers of issue 6's simulation benchmark (written with it)."""
    planning = settings.data_dir / "planning"
    demand = read_demand_csv(planning / "demand_synthetic.csv")
    sites = read_sites_csv(planning / "candidate_sites_synthetic.csv")
    start = time.perf_counter()
    costs = road_cost_matrix(road, demand, sites)
    matrix_s = time.perf_counter() - start
    main_run = run_mclp(costs, FACILITIES, WITHIN_MIN)
    return {
        "instance": {
            "demand_points": costs.n_demand,
            "candidate_sites": costs.n_sites,
            "facilities": FACILITIES,
            "within_min": WITHIN_MIN,
            "network": road.network.meta.get("name"),
            "synthetic": True,
        },
        "road_matrix_s": round(matrix_s, 3),
        "mclp_solve_s": main_run["solve_s_max"],
        "mclp_proven_optimal": main_run["proven_optimal"],
        "greedy_gap": main_run["greedy_gap"],
        "mclp": main_run,
        "sweep": [run_mclp(costs, p, t) for p, t in SWEEP],
        "solver": "SCIP via OR-tools model_builder, single thread",
        "targets": {"mclp_solve_s_max": 60, "mclp_proven_optimal": True},
    }
