"""Fleet sizing: the search, the sized fleet, and a small instance end to end."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import numpy as np
import pytest

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.fleet.model import VehicleKind
from dispatch_engine.locate.inputs import Places
from dispatch_engine.settings import fleet_path
from dispatch_engine.simulation.runs import RunInputs, prepare
from dispatch_engine.simulation.sizing import SizingPoint, fleet_size, search, sized_fleet
from tests.fleet.factories import fleet_document, write_fleet_file


def places(*rows):
    """Candidate sites ``(id, lat, lon)`` as the location models read them."""
    return Places(
        ids=tuple(r[0] for r in rows),
        lat=np.array([r[1] for r in rows], dtype=float),
        lon=np.array([r[2] for r in rows], dtype=float),
        weights=np.ones(len(rows)),
    )


def curve(shares):
    def evaluate(cars):
        return SizingPoint(cars, shares(cars), 0.0, True, ())

    return evaluate


@pytest.mark.parametrize("threshold", [1, 5, 6, 13, 40, 64])
def test_search_finds_the_smallest_fleet_of_a_monotone_curve(threshold):
    """For a step curve the search returns exactly the brute-force smallest fleet."""
    result = search(
        curve(lambda n: 1.0 if n >= threshold else n / 100),
        target=0.9,
        minutes=15,
        min_cars=1,
        max_cars=64,
    )
    brute = min(n for n in range(1, 65) if (1.0 if n >= threshold else n / 100) >= 0.9)
    assert result.smallest == brute
    assert [p.cars for p in result.points] == sorted(p.cars for p in result.points)


def test_search_reports_an_unreachable_target():
    """A curve that never reaches the target gives no answer, and tried up to max_cars."""
    result = search(curve(lambda n: 0.5), target=0.9, minutes=15, min_cars=3, max_cars=20)
    assert result.smallest is None and result.points[-1].cars == 20
    with pytest.raises(InvalidInputError):
        search(curve(lambda n: 0.5), target=1.5, minutes=15, min_cars=3, max_cars=20)


def test_sized_fleet_replaces_the_own_survey_cars(settings, classifier):
    """One car per site with the old cars' skills, partnered in a ring; other vehicles stay."""
    fleet = load_fleet(fleet_path(settings))
    sites = places(("ZJ1", 24.811, 113.598), ("NEW", 24.9, 113.7), ("LC", 25.128, 113.347))
    sized = sized_fleet(fleet, sites, ["ZJ1", "NEW", "LC"], classifier)
    own_survey = [v for v in sized.vehicles if v.kind == VehicleKind.SURVEY and v.branch is None]
    assert sorted(v.base_id for v in own_survey) == ["LC", "NEW", "ZJ1"]
    assert all(v.skills >= {"injury_case", "heavy_vehicle", "new_energy"} for v in own_survey)
    assert {v.partner_id for v in own_survey} == {v.id for v in own_survey}
    assert len(sized.vehicles) == len(fleet.vehicles) - 28 + 3
    assert sized.base("NEW").district in {"浈江区", "曲江区", "仁化县"}  # near the urban core


def test_fleet_size_curve_is_monotone_on_a_small_instance(
    settings, grid_router, tmp_path, demand_file
):
    """On the test grid more cars never do clearly worse, and the answer reaches the target."""
    path = write_fleet_file(tmp_path, fleet_document())
    inputs = RunInputs(
        fleet=path, demand=demand_file, replay=None, start=date(2026, 3, 2), days=2, seed=3
    )
    scenario = prepare(settings, inputs, grid_router)
    net = grid_router.road.network
    sites = places(
        *((f"N{i}", net.node_lat[i], net.node_lon[i]) for i in range(0, net.n_nodes, 29))
    )
    result = fleet_size(scenario, sites, target=0.8, minutes=5, min_cars=1, max_cars=8)
    shares = [p.share for p in result.points]
    assert all(b >= a - 0.05 for a, b in pairwise(shares))
    assert result.smallest is not None
    assert next(p.share for p in result.points if p.cars == result.smallest) >= 0.8
    smaller = [p.share for p in result.points if p.cars < result.smallest]
    assert all(s < 0.8 for s in smaller)
