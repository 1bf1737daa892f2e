"""Small named location instances for the tests."""

from __future__ import annotations

import numpy as np

from dispatch_engine.locate.models import CostMatrix


def random_costs(
    seed: int, *, n_demand: int = 9, n_sites: int = 7, unreachable_share: float = 0.1
) -> CostMatrix:
    """Travel minutes uniform in 0-30 with some unreachable pairs, integer weights 0-9."""
    rng = np.random.default_rng(seed)
    travel = np.round(rng.uniform(0.0, 30.0, (n_demand, n_sites)), 1)
    travel[rng.random(travel.shape) < unreachable_share] = np.inf
    weights = rng.integers(0, 10, n_demand).astype(float)
    weights[0] = max(weights[0], 1.0)  # a positive total
    return CostMatrix(
        travel,
        tuple(f"d{i}" for i in range(n_demand)),
        tuple(f"s{j}" for j in range(n_sites)),
        weights,
    )


def line_costs() -> CostMatrix:
    """Four demand points on a road, three candidate sites; times in minutes.

    Site ``b`` alone reaches d1, d2 and d3 within 10 minutes; ``a`` reaches d0 and d1.
    """
    travel = np.array(
        [
            [2.0, 25.0, 40.0],
            [8.0, 9.0, 30.0],
            [20.0, 3.0, 18.0],
            [30.0, 10.0, 12.0],
        ]
    )
    return CostMatrix(
        travel, ("d0", "d1", "d2", "d3"), ("a", "b", "c"), np.array([5.0, 1.0, 3.0, 2.0])
    )
