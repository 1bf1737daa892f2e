"""Fleet sizing: the fewest survey cars, and where, to reach a share within T minutes.

For a number of cars ``P`` the placement is the maximal covering one (MCLP, solved by
``locate/models.py``): the ``P`` candidate sites that reach the most demand within
``T`` minutes by road. Each site gets one survey car on duty around the clock; the
fleet's other vehicles (tow trucks, repair vans, the partner network) stay as they are.
The simulation then runs the same incidents (same seed, so fleets are compared on equal
terms) through the production dispatcher and measures the share of Shaoguan incidents
with a car on scene within ``T`` minutes.

The search doubles ``P`` from ``min_cars`` until the share reaches the target, then
bisects between the last miss and the first hit. It assumes the share grows with the
fleet, which placements and queueing make true in the large but not exactly; every
evaluated point is kept, so the curve shows how far that holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import time

import numpy as np

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import ALL_WEEK, Base, Fleet, Shift, Vehicle, VehicleKind
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.locate.inputs import Places, road_cost_matrix
from dispatch_engine.locate.models import CostMatrix, MaximalCovering
from dispatch_engine.simulation.report import share_within
from dispatch_engine.simulation.runs import Scenario, simulate_fleet

AROUND_THE_CLOCK = Shift(ALL_WEEK, time(0), time(0))
DEMAND_POINTS = 2000  # incident positions the placement weighs (a sample of the demand)
MCLP_TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class SizingPoint:
    """One evaluated fleet: its cars' sites, the share the model covers, the simulated share."""

    cars: int
    share: float  # simulated: Shaoguan incidents with a car on scene within the minutes
    covered_share: float  # MCLP's view: demand within the minutes of a chosen site
    proven_optimal: bool
    sites: tuple[str, ...]


@dataclass(frozen=True)
class SizingResult:
    """The curve (cars -> share, by cars) and the smallest fleet reaching the target."""

    target: float
    minutes: float
    points: tuple[SizingPoint, ...]
    smallest: int | None  # None: not reached with up to ``max_cars`` cars


def sized_fleet(
    fleet: Fleet, sites: Places, chosen: Sequence[str], classifier: ZoneClassifier
) -> Fleet:
    """``fleet`` with its own survey cars replaced by one around-the-clock car per chosen site.

    The cars carry every skill the replaced cars had between them (so injury cases stay
    servable) and are A/B partners in a ring. A site that is a base of the fleet keeps
    that base; others become bases named after the site, in the district they are in.
    """
    row_of = {site_id: i for i, site_id in enumerate(sites.ids)}
    own_survey = [v for v in fleet.vehicles if v.kind == VehicleKind.SURVEY and v.branch is None]
    skills = frozenset(s for v in own_survey for s in v.skills)
    kept = [v for v in fleet.vehicles if v not in own_survey]
    bases = {b.id: b for b in fleet.bases}
    new_rows = [row_of[i] for i in chosen if i not in bases]
    if new_rows:
        lat, lon = sites.lat[new_rows], sites.lon[new_rows]
        zones = classifier.classify_many(lat, lon)
        for k, row in enumerate(new_rows):
            site_id = sites.ids[row]
            district = zones.district[k] or zones.city[k] or ""
            bases[site_id] = Base(
                site_id, f"candidate site {site_id}", district, float(lat[k]), float(lon[k])
            )
    ids = [f"SV-{site_id}" for site_id in sorted(chosen)]
    cars = [
        Vehicle(
            id=car_id,
            kind=VehicleKind.SURVEY,
            base_id=site_id,
            shifts=(AROUND_THE_CLOCK,),
            lat=bases[site_id].lat,
            lon=bases[site_id].lon,
            skills=skills,
            partner_id=ids[(k + 1) % len(ids)] if len(ids) > 1 else None,
        )
        for k, (car_id, site_id) in enumerate(zip(ids, sorted(chosen), strict=True))
    ]
    return Fleet(tuple(bases.values()), (*kept, *cars))


def place(costs: CostMatrix, cars: int, minutes: float) -> tuple[tuple[str, ...], float, bool]:
    """The MCLP sites for ``cars`` cars: (site ids, covered demand share, proven optimal)."""
    placement = MaximalCovering(costs=costs, facilities=cars, within_min=minutes).solve(
        time_limit_s=MCLP_TIME_LIMIT_S
    )
    return placement.site_ids, placement.covered_share(minutes), placement.proven_optimal


def search(
    evaluate: Callable[[int], SizingPoint],
    *,
    target: float,
    minutes: float,
    min_cars: int,
    max_cars: int,
    on_point: Callable[[SizingPoint], None] | None = None,
) -> SizingResult:
    """Double the fleet from ``min_cars`` until ``evaluate`` reaches ``target``, then bisect.

    Raises
    ------
    InvalidInputError
        ``target`` outside (0, 1] or ``min_cars`` not within 1..``max_cars``.
    """
    if not 0 < target <= 1:
        raise InvalidInputError(f"target must be a share in (0, 1], got {target}", field="target")
    if not 1 <= min_cars <= max_cars:
        raise InvalidInputError(
            f"min_cars must be between 1 and max_cars ({max_cars}), got {min_cars}",
            field="min_cars",
        )
    points: dict[int, SizingPoint] = {}

    def share(cars: int) -> float:
        points[cars] = evaluate(cars)
        if on_point is not None:
            on_point(points[cars])
        return points[cars].share

    miss, hit = None, None
    cars = min_cars
    while hit is None:
        if share(cars) >= target:
            hit = cars
        else:
            miss = cars
            if cars >= max_cars:
                break
            cars = min(2 * cars, max_cars)
    if hit is not None and miss is not None:
        while hit - miss > 1:
            middle = (hit + miss) // 2
            if share(middle) >= target:
                hit = middle
            else:
                miss = middle
    return SizingResult(target, minutes, tuple(points[c] for c in sorted(points)), hit)


def fleet_size(
    scenario: Scenario,
    sites: Places,
    *,
    target: float,
    minutes: float,
    min_cars: int,
    max_cars: int,
    on_point: Callable[[SizingPoint], None] | None = None,
    workers: int = 1,
) -> SizingResult:
    """The smallest survey fleet (placed by MCLP) whose simulated share within ``minutes``
    of the Shaoguan incidents reaches ``target`` (see the module docstring); each fleet's
    run on ``workers`` processes.

    The placement weighs the positions of the scenario's Shaoguan incidents (at most
    :data:`DEMAND_POINTS`, evenly spread over the run), i.e. the demand simulated.

    Raises
    ------
    InvalidInputError
        Bad ``target``, ``minutes`` or car counts; the scenario has no Shaoguan incident.
    """
    if not minutes > 0:
        raise InvalidInputError(f"minutes must be positive, got {minutes}", field="minutes")
    lat = np.array([s.request.lat for s in scenario.incidents])
    lon = np.array([s.request.lon for s in scenario.incidents])
    inside = scenario.classifier.classify_many(lat, lon).zone == "shaoguan"
    # points off the roads can never be covered: the placement weighs the others
    on_road, _ = scenario.router.road.locate_where_possible(lat, lon)
    rows = np.flatnonzero(inside & on_road)
    if rows.size == 0:
        raise InvalidInputError(
            "no incident on Shaoguan's roads to size the fleet for", field="demand"
        )
    rows = rows[np.linspace(0, rows.size - 1, min(rows.size, DEMAND_POINTS)).astype(int)]
    demand = Places(
        ids=tuple(f"P{i:05d}" for i in rows),
        lat=lat[rows],
        lon=lon[rows],
        weights=np.ones(rows.size),
    )
    costs = road_cost_matrix(scenario.router.road, demand, sites)

    def evaluate(cars: int) -> SizingPoint:
        chosen, covered, optimal = place(costs, cars, minutes)
        fleet = sized_fleet(scenario.fleet, sites, chosen, scenario.classifier)
        result = simulate_fleet(scenario, fleet, workers=workers)
        return SizingPoint(cars, share_within(result, minutes), covered, optimal, chosen)

    return search(
        evaluate,
        target=target,
        minutes=minutes,
        min_cars=min_cars,
        max_cars=min(max_cars, len(sites)),
        on_point=on_point,
    )
