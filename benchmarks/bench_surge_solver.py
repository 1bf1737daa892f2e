"""The surge solver alone (issue 3, surge): 2,000 incidents x 500 vehicles, joint vs greedy.

No road network here (``bench_dispatch`` times the whole surge, travel-time matrix
included): ETAs come from straight-line distance times a road circuity at a mean road
speed, plus a start-up time, so they span minutes (same district) to hours (across the
prefecture) like road ETAs in Shaoguan. A storm puts most incidents near the county seats
(SPEC §2), where the bases are; 5 % of pairs are unservable (skills, shifts); 10 % of
incidents have injuries; each was reported up to 10 minutes ago against its 15-minute
arrival guarantee.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from benchmarks.common import timed_ms, write_result
from dispatch_engine.dispatch.surge import SurgeProblem, assign_greedy, assign_jointly

SEEDS = (1, 2, 3)
INCIDENTS = 2000
VEHICLES = 500
SEATS_LAT_LON = np.array(
    [
        (24.811, 113.598),
        (24.680, 113.606),
        (25.128, 113.347),
        (25.117, 114.311),
        (25.086, 113.750),
        (24.948, 114.061),
        (24.350, 114.131),
        (24.060, 114.207),
        (24.776, 113.276),
    ]
)
KM_PER_DEG_LAT = 111.32
CIRCUITY = 1.3
ROAD_SPEED_KPH = 55.0
START_S = 120.0
GUARANTEE_S = 900.0


def surge_problem(rng: np.random.Generator) -> SurgeProblem:
    """A storm over Shaoguan: incidents and vehicles as planar km around the seats."""
    km_per_deg_lon = KM_PER_DEG_LAT * np.cos(np.radians(SEATS_LAT_LON[:, 0].mean()))
    seats_km = SEATS_LAT_LON * [KM_PER_DEG_LAT, km_per_deg_lon]

    def around_seats(k: int, spread_km: float) -> np.ndarray:
        return seats_km[rng.integers(len(seats_km), size=k)] + rng.normal(0, spread_km, (k, 2))

    rural = rng.random(INCIDENTS) < 0.25
    incidents_km = np.where(
        rural[:, None], around_seats(INCIDENTS, 25.0), around_seats(INCIDENTS, 6.0)
    )
    vehicles_km = around_seats(VEHICLES, 4.0)
    distance_km = np.linalg.norm(incidents_km[:, None, :] - vehicles_km[None, :, :], axis=2)
    eta_s = START_S + distance_km * CIRCUITY / ROAD_SPEED_KPH * 3600.0
    eta_s[rng.random(eta_s.shape) < 0.05] = np.inf
    return SurgeProblem(
        eta_s=eta_s,
        deadline_s=GUARANTEE_S - rng.uniform(0, 600, INCIDENTS),
        injury=rng.random(INCIDENTS) < 0.10,
    )


def main() -> None:
    per_seed: list[dict[str, Any]] = []
    for seed in SEEDS:
        problem = surge_problem(np.random.default_rng(seed))
        joint = assign_jointly(problem)
        greedy = assign_greedy(problem)
        joint_ms = timed_ms(partial(assign_jointly, problem), 3)
        finite = problem.eta_s[np.isfinite(problem.eta_s)]
        per_seed.append(
            {
                "seed": seed,
                "eta_min_p5_p50_p95": [
                    round(float(q) / 60, 1) for q in np.percentile(finite, [5, 50, 95])
                ],
                "joint_s_median": round(float(np.median(joint_ms)) / 1000, 3),
                "greedy_s": round(greedy.wall_s, 3),
                "joint_met": joint.met_count,
                "greedy_met": greedy.met_count,
                "joint_met_injury": joint.met_injury_count,
                "greedy_met_injury": greedy.met_injury_count,
                "joint_assigned": joint.assigned_count,
                "joint_total_eta_h": round(joint.total_eta_s / 3600, 1),
                "greedy_total_eta_h": round(greedy.total_eta_s / 3600, 1),
            }
        )
        print(per_seed[-1])
    result = {
        "incidents": INCIDENTS,
        "vehicles": VEHICLES,
        "surge_solver_2000x500_s_max": max(r["joint_s_median"] for r in per_seed),
        "joint_ge_greedy_every_seed": all(
            (r["joint_met_injury"], r["joint_met"]) >= (r["greedy_met_injury"], r["greedy_met"])
            for r in per_seed
        ),
        "seeds": per_seed,
        "targets": {"surge_solver_2000x500_s_max": 5},
    }
    write_result("surge_solver", result)


if __name__ == "__main__":
    main()
