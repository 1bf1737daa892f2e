"""Standard guarantee scenarios: the days a planner or an auditor tests the promises on.

Each scenario changes a base demand and fleet (the shipped files by default) for a period
starting on a chosen day, draws its incidents from a seed, and runs them through the
production dispatcher under a :class:`~dispatch_engine.dispatch.rank.DispatchPolicy`:

``normal_week``
    seven days of the base demand with the base fleet;
``storm``
    a day on which a rainstorm adds, in four afternoon hours, four days' worth of
    incidents in Shaoguan, most of them natural-disaster claims. Those are triaged by
    the claims rules (SPEC §6: survey waived unless someone is injured); a waived claim
    gets a flatbed when the car is stalled in the water, and is otherwise assessed from
    photos with no vehicle sent. The desk is overloaded, so the owner's call takes longer;
``away``
    a day when the bureau's cars travel: ten times the usual incidents elsewhere in
    Guangdong and out of province (served by partner branches), half the usual in Shaoguan;
``thin_night``
    20:00 to 08:00 with half of the own night-shift survey cars on duty (picked evenly
    over the id order, so spread over the bases); the day shift serves what still waits
    at 08:00.

All rates, shares and delays here are synthetic planning assumptions, stated in the
specs below, not measured claims data.

Policies (``dispatch-engine simulate --policy``): ``optimizer`` is production. A report is
served at once by the nearest free vehicle by road; incidents that find none wait, and
whenever vehicles free up (a job done, a car home, a decline, a shift start) every
waiting incident is assigned jointly by the OR-tools surge optimizer (most guarantees
met, injury cases first, then least total ETA). We chose this over batching reports in a
short window because a window delays every report, also the lone ones, by its length,
while joint assignment of the queue costs nothing when nobody waits; and since each
reassignment of the queue hands every vehicle a waiting incident could use to one of
them (a maximum matching), a report that arrives while others wait would get the same
vehicle from a joint assignment as from nearest-by-road. So for a lone incident the
optimizer is nearest-by-road, and it differs where incidents compete for few vehicles:
storms, thin nights, shift changes. The baselines serve reports the same way and the
queue one incident at a time (injury cases first, then earliest deadline), each taking
its nearest free vehicle by road (``greedy_road``) or as the crow flies
(``straight_line``, which still drives, and is measured, by road).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from dispatch_engine.claims.triage import (
    AccidentType,
    DisasterKind,
    TriageFacts,
    decide_waiver,
)
from dispatch_engine.dispatch.model import TOW_KINDS, IncidentRequest
from dispatch_engine.dispatch.rank import POLICIES, DispatchPolicy
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.fleet.model import SHANGHAI_TZ, Fleet, VehicleKind
from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.geo.zones import ZONE_GUARANTEES, ZoneClassifier
from dispatch_engine.network.router import Router
from dispatch_engine.settings import Settings
from dispatch_engine.simulation.demand import (
    Demand,
    DistrictRate,
    Duration,
    LogNormal,
    generate_requests,
    load_demand,
    script,
)
from dispatch_engine.simulation.des import BaseTrips, SimIncident, SimulationResult
from dispatch_engine.simulation.report import ZONES, outcomes
from dispatch_engine.simulation.runs import RunInputs, Scenario, dispatcher_for
from dispatch_engine.simulation.split import simulate_split

ARRIVAL_THRESHOLDS_MIN = (15, 30, 60)
_NIGHT_PROBE_HOURS = (2, 12)  # a night-shift car is on shift at 02:00 and off at 12:00


@dataclass(frozen=True)
class Burst:
    """Extra incidents in Shaoguan within a few hours of the first day (a storm).

    ``shaoguan_incidents`` is the expected count (Poisson, spread over the districts as
    the base demand is); a share ``natural_disaster_share`` of them are natural-disaster
    claims of kind ``disaster``; of those the triage waives, ``disaster_tow_share`` need
    a flatbed and the rest are assessed from photos (no vehicle). Every incident reported
    inside the burst has the owner's call after ``call_after`` (the desk is overloaded).
    """

    start_hour: int
    hours: int
    shaoguan_incidents: float
    natural_disaster_share: float
    disaster_tow_share: float
    call_after: Duration
    disaster: DisasterKind = DisasterKind.RAINSTORM


@dataclass(frozen=True)
class ScenarioSpec:
    """A scenario: the period, and how it changes the base demand and fleet.

    The period starts at local hour ``start_hour`` of the start day and lasts ``hours``.
    ``shaoguan_factor`` multiplies every district's rate; ``guangdong_per_day`` and
    ``national_per_day`` replace the base rates when given; ``night_survey_share`` of the
    own night-shift survey cars stay on duty (the others are taken out of the fleet).
    """

    name: str
    title: str
    start_hour: int = 0
    hours: int = 24
    shaoguan_factor: float = 1.0
    guangdong_per_day: float | None = None
    national_per_day: float | None = None
    night_survey_share: float = 1.0
    burst: Burst | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < 24 or self.hours < 1:
            raise InvalidInputError(
                f"needs 0 <= start_hour < 24 and hours >= 1, got {self.start_hour}, {self.hours}",
                field="start_hour",
            )
        burst = self.burst
        if burst is not None and not (
            self.start_hour <= burst.start_hour
            and burst.start_hour + burst.hours <= min(24, self.start_hour + self.hours)
        ):
            raise InvalidInputError(
                "a burst must lie within the period's first day", field="burst.start_hour"
            )


NORMAL_WEEK = ScenarioSpec("normal_week", "A normal week", hours=7 * 24)
STORM = ScenarioSpec(
    "storm",
    "Storm day: 4 days' incidents in 4 hours, 70% natural-disaster claims",
    burst=Burst(
        start_hour=14,
        hours=4,
        shaoguan_incidents=200.0,
        natural_disaster_share=0.7,
        disaster_tow_share=0.4,
        call_after=LogNormal(median_min=3.0, sigma=0.5),
    ),
)
AWAY = ScenarioSpec(
    "away",
    "Cars away: 10x incidents elsewhere in Guangdong and out of province",
    shaoguan_factor=0.5,
    guangdong_per_day=60.0,
    national_per_day=30.0,
)
THIN_NIGHT = ScenarioSpec(
    "thin_night",
    "Night shift 20:00-08:00 with half the night survey cars",
    start_hour=20,
    hours=12,
    night_survey_share=0.5,
)
SCENARIOS = {s.name: s for s in (NORMAL_WEEK, STORM, AWAY, THIN_NIGHT)}


def scenario_named(name: str) -> ScenarioSpec:
    """The standard scenario called ``name``.

    Raises
    ------
    InvalidInputError
        Naming ``scenario`` and listing the known names.
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown scenario {name!r} (one of {', '.join(SCENARIOS)})", field="scenario"
        ) from None


def policy_named(name: str) -> DispatchPolicy:
    """The dispatch policy called ``name``.

    Raises
    ------
    InvalidInputError
        Naming ``policy`` and listing the known names.
    """
    try:
        return POLICIES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown policy {name!r} (one of {', '.join(POLICIES)})", field="policy"
        ) from None


@dataclass(frozen=True, eq=False)
class PreparedScenario:
    """A scenario's incidents and fleet, ready to run under any policy.

    ``natural_disaster`` counts the natural-disaster claims drawn, ``remote_assessed``
    those of them waived and assessed from photos: they are not dispatch incidents.
    """

    spec: ScenarioSpec
    run: Scenario
    natural_disaster: int
    remote_assessed: int

    def facts(self) -> dict:
        """What was drawn: the spec, the period, the incidents by zone and kind."""
        by_zone: dict[str, int] = defaultdict(int)
        for zone in self.run.classifier.classify_many(
            [s.request.lat for s in self.run.incidents],
            [s.request.lon for s in self.run.incidents],
        ).zone:
            by_zone[str(zone)] += 1
        requests = [s.request for s in self.run.incidents]
        return {
            "spec": dataclasses.asdict(self.spec),
            "period": [t.isoformat() for t in self.run.period],
            "seed": self.run.inputs.seed,
            "incidents": len(requests),
            "incidents_by_zone": dict(sorted(by_zone.items())),
            "needing_tow": sum(bool(TOW_KINDS.intersection(r.needs)) for r in requests),
            "injured": sum(r.injured for r in requests),
            "natural_disaster_claims": self.natural_disaster,
            "remote_assessed_not_dispatched": self.remote_assessed,
            "own_vehicles": sum(v.branch is None for v in self.run.fleet.vehicles),
        }


def prepare_scenario(
    settings: Settings, inputs: RunInputs, router: Router, spec: ScenarioSpec
) -> PreparedScenario:
    """Draw the scenario's incidents from ``inputs.seed`` over its period from ``inputs.start``.

    ``inputs.fleet`` and ``inputs.demand`` are the base the scenario changes;
    ``inputs.days`` and ``inputs.replay`` must be unset (the scenario fixes its period
    and draws its incidents).

    Raises
    ------
    InvalidInputError
        ``days`` or ``replay`` given, or a bad fleet or demand file.
    """
    if inputs.days is not None or inputs.replay is not None:
        raise InvalidInputError(
            "a scenario fixes its own period and incidents: drop --days and --replay",
            field="scenario",
        )
    demand = load_demand(inputs.demand)
    fleet = _thin_night(load_fleet(inputs.fleet), spec, inputs)
    rng = np.random.default_rng(inputs.seed)
    boundaries = load_boundaries(settings.data_dir, cache_dir=settings.cache_dir)
    day = datetime(inputs.start.year, inputs.start.month, inputs.start.day, tzinfo=SHANGHAI_TZ)
    start = day + timedelta(hours=spec.start_hour)
    end = start + timedelta(hours=spec.hours)

    def draw(rates: Demand, days: int) -> list[IncidentRequest]:
        return generate_requests(
            rates, router.road.network, boundaries, rng, start=inputs.start, days=days
        )

    days = math.ceil((spec.start_hour + spec.hours) / 24)
    requests = [r for r in draw(_rates(demand, spec), days) if start <= r.reported_at < end]
    disaster = remote = 0
    calm, stormy, stormy_response = requests, [], demand.response
    if spec.burst is not None:
        burst = spec.burst
        extra, disaster, remote = _triaged(draw(_burst_rates(demand, burst), 1), burst, rng)
        first, last = (
            day + timedelta(hours=h) for h in (burst.start_hour, burst.start_hour + burst.hours)
        )
        stormy = [r for r in requests if first <= r.reported_at < last] + extra
        calm = [r for r in requests if not first <= r.reported_at < last]
        stormy_response = dataclasses.replace(demand.response, call_after=burst.call_after)
    incidents = script(calm, demand.response, rng) + script(stormy, stormy_response, rng)
    return PreparedScenario(
        spec=spec,
        run=Scenario(
            inputs=inputs,
            settings=settings,
            router=router,
            classifier=ZoneClassifier.from_settings(settings),
            fleet=fleet,
            demand=demand,
            incidents=_numbered(incidents, spec.name),
            period=(start, end),
        ),
        natural_disaster=disaster,
        remote_assessed=remote,
    )


def _rates(demand: Demand, spec: ScenarioSpec) -> Demand:
    return dataclasses.replace(
        demand,
        districts=tuple(
            DistrictRate(d.name, d.incidents_per_day * spec.shaoguan_factor)
            for d in demand.districts
        ),
        guangdong_per_day=demand.guangdong_per_day
        if spec.guangdong_per_day is None
        else spec.guangdong_per_day,
        national_per_day=demand.national_per_day
        if spec.national_per_day is None
        else spec.national_per_day,
    )


def _burst_rates(demand: Demand, burst: Burst) -> Demand:
    """One day's rates putting ``burst.shaoguan_incidents`` into the burst's hours only."""
    total = sum(d.incidents_per_day for d in demand.districts)
    if total <= 0:
        raise InvalidInputError(
            "a storm spreads its incidents like the base demand's districts, which are all 0",
            field="districts",
        )
    hours = tuple(
        1.0 if burst.start_hour <= h < burst.start_hour + burst.hours else 0.0 for h in range(24)
    )
    scale = burst.shaoguan_incidents / total
    return dataclasses.replace(
        demand,
        districts=tuple(
            DistrictRate(d.name, d.incidents_per_day * scale) for d in demand.districts
        ),
        guangdong_per_day=0.0,
        national_per_day=0.0,
        day_factor=(1.0,) * 7,
        hourly=(hours, hours, hours),
    )


def _triaged(
    requests: list[IncidentRequest], burst: Burst, rng: np.random.Generator
) -> tuple[list[IncidentRequest], int, int]:
    """The burst's incidents after triage: (dispatch incidents, disaster claims, remote).

    A natural-disaster claim the claims rules waive needs no survey car: a flatbed when
    the car is stalled, else nothing (assessed from photos, not dispatched).
    """
    disaster = rng.random(len(requests)) < burst.natural_disaster_share
    towed = rng.random(len(requests)) < burst.disaster_tow_share
    kept, remote = [], 0
    for request, is_disaster, needs_tow in zip(requests, disaster, towed, strict=True):
        if is_disaster and _waived(request, burst.disaster):
            if not needs_tow:
                remote += 1
                continue
            request = dataclasses.replace(request, needs=(VehicleKind.TOW_FLATBED,))
        kept.append(request)
    return kept, int(disaster.sum()), remote


def _waived(request: IncidentRequest, disaster: DisasterKind) -> bool:
    facts = TriageFacts(
        accident_type=AccidentType.NATURAL_DISASTER,
        vehicle_damage_estimate=Decimal(0),  # the disaster rule does not read the amount
        injured=request.injured,
        third_party_injury=False,
        third_party_property_loss=False,
        disaster=disaster,
    )
    return decide_waiver(facts).waived


def _numbered(incidents: list[SimIncident], prefix: str) -> tuple[SimIncident, ...]:
    """In report order, with ids ``<prefix>-000001`` ... (base and burst draws share ids)."""
    ordered = sorted(incidents, key=lambda s: (s.request.reported_at, s.request.id))
    return tuple(
        dataclasses.replace(
            s, request=dataclasses.replace(s.request, id=f"{prefix.upper()}-{k + 1:06d}")
        )
        for k, s in enumerate(ordered)
    )


def _thin_night(fleet: Fleet, spec: ScenarioSpec, inputs: RunInputs) -> Fleet:
    """``fleet`` without the night-shift survey cars the scenario takes off duty."""
    if spec.night_survey_share >= 1.0:
        return fleet
    day = datetime(inputs.start.year, inputs.start.month, inputs.start.day, tzinfo=SHANGHAI_TZ)
    on, off = (day + timedelta(hours=h) for h in _NIGHT_PROBE_HOURS)
    night = [
        v
        for v in fleet.vehicles  # id order
        if v.kind == VehicleKind.SURVEY
        and v.branch is None
        and v.on_shift(on)
        and not v.on_shift(off)
    ]
    keep = round(spec.night_survey_share * len(night))
    kept = (
        {night[int(i)].id for i in np.round(np.linspace(0, len(night) - 1, keep))}
        if keep
        else set()
    )
    dropped = {v.id for v in night} - kept
    vehicles = [
        v if v.partner_id not in dropped else dataclasses.replace(v, partner_id=None)
        for v in fleet.vehicles
        if v.id not in dropped
    ]
    return Fleet(fleet.bases, tuple(vehicles))


def simulate_policy(
    scenario: Scenario,
    policy: DispatchPolicy,
    *,
    trips: BaseTrips | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> SimulationResult:
    """Run a scenario's incidents through the production dispatcher under ``policy``.

    ``trips`` (built when omitted) may be shared by runs of the same scenario: it only
    caches road times between its incidents and its fleet's bases. ``workers`` processes
    share the run (``split.py``; same result).
    """
    dispatcher, clock = dispatcher_for(scenario, scenario.fleet)
    return simulate_split(
        dispatcher.with_policy(policy),
        clock,
        scenario.incidents,
        workers=workers,
        trips=trips or BaseTrips(scenario.router, scenario.fleet, scenario.incidents),
        until=scenario.period[1] + timedelta(days=1),
        progress=progress,
    )


def guarantees(results: Sequence[SimulationResult]) -> dict[str, dict]:
    """Per zone and over all zones, pooled over ``results`` (e.g. several seeds).

    ``calls_within_5_min``: owners phoned by the call deadline; ``within_<m>_min``:
    incidents whose first vehicle was on scene within ``m`` minutes of the report;
    ``met``: on scene by the zone's own deadline (15 / 30 / 60 min); ETA percentiles in
    minutes over the incidents reached (waiting included). Unserved incidents count as
    missing every deadline.
    """
    rows: dict[str, list[tuple[bool, float, bool, bool]]] = defaultdict(list)
    for result in results:
        handed = set(result.handed_off)
        for incident, outcome in zip(result.incidents, outcomes(result), strict=True):
            called = incident.called_at is not None and incident.called_at <= incident.call_due_at
            row = (called, outcome.eta_min, outcome.met, incident.id in handed)
            rows[outcome.zone].append(row)
            rows["all"].append(row)
    return {zone: _guarantee_row(rows[zone], zone) for zone in (*ZONES, "all") if rows.get(zone)}


def _guarantee_row(rows: list[tuple[bool, float, bool, bool]], zone: str) -> dict:
    called = np.array([r[0] for r in rows])
    eta = np.array([r[1] for r in rows], dtype=np.float64)
    met = np.array([r[2] for r in rows])
    reached = np.nan_to_num(eta, nan=np.inf)
    served = eta[~np.isnan(eta)]

    def percentile(q: float) -> float | None:
        return round(float(np.percentile(served, q)), 1) if served.size else None

    return {
        "guarantee_min": ZONE_GUARANTEES[zone].arrival_minutes if zone in ZONES else None,
        "incidents": len(rows),
        "calls_within_5_min": round(float(called.mean()), 4),
        **{
            f"within_{m}_min": round(float(np.mean(reached <= m)), 4)
            for m in ARRIVAL_THRESHOLDS_MIN
        },
        "met": int(met.sum()),
        "share_met": round(float(met.mean()), 4),
        "unserved": int(np.isnan(eta).sum()),
        "handed_off": sum(r[3] for r in rows),
        "eta_min_p50": percentile(50),
        "eta_min_p90": percentile(90),
        "eta_min_p99": percentile(99),
    }
