"""A planning run end to end: inputs resolved and hashed, incidents, simulation, outputs.

The CLI stays thin: it parses options into :class:`RunInputs`, calls :func:`prepare`,
:func:`simulate_fleet` and :func:`write_outputs`. Every output folder gets
``config.json``: the resolved inputs (every option, the demand model as parsed, the
settings that change answers) and the SHA-256 of each input file, so a result can be
traced to exactly what produced it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.rescue import load_repair_shops
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.fleet.model import SHANGHAI_TZ, Fleet
from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.router import Router
from dispatch_engine.network.store import EMBEDDED_RECIPE, embedded_network_path
from dispatch_engine.settings import Settings, repair_shops_path
from dispatch_engine.simulation import maps, plots
from dispatch_engine.simulation.demand import (
    Demand,
    generate_requests,
    load_demand,
    load_replay,
    script,
)
from dispatch_engine.simulation.des import SimIncident, SimulationResult
from dispatch_engine.simulation.report import outcomes, summarize
from dispatch_engine.simulation.split import simulate_split
from dispatch_engine.store.memory import MemoryDispatchStore


@dataclass(frozen=True)
class RunInputs:
    """What a planner chose: files, period and seed (``days`` None: the whole replay)."""

    fleet: Path
    demand: Path
    replay: Path | None
    start: date
    days: int | None
    seed: int


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything a run needs, prepared once; fleets to compare can be swapped in."""

    inputs: RunInputs
    settings: Settings
    router: Router
    classifier: ZoneClassifier
    fleet: Fleet
    demand: Demand
    incidents: tuple[SimIncident, ...]
    period: tuple[datetime, datetime]  # [start, end) the incidents were drawn for


def prepare(settings: Settings, inputs: RunInputs, router: Router) -> Scenario:
    """Load the fleet and demand, and draw (or replay) the incidents with their course.

    Raises
    ------
    InvalidInputError
        A bad fleet, demand or replay file, or ``days`` below 1.
    """
    fleet = load_fleet(inputs.fleet)
    demand = load_demand(inputs.demand)
    rng = np.random.default_rng(inputs.seed)
    boundaries = load_boundaries(settings.data_dir, cache_dir=settings.cache_dir)
    if inputs.replay is None:
        days = 7 if inputs.days is None else inputs.days
        requests = generate_requests(
            demand, router.road.network, boundaries, rng, start=inputs.start, days=days
        )
        start = datetime(
            inputs.start.year, inputs.start.month, inputs.start.day, tzinfo=SHANGHAI_TZ
        )
        period = (start, start + timedelta(days=days))
    else:
        requests = load_replay(inputs.replay)
        first = requests[0].reported_at.astimezone(SHANGHAI_TZ)
        start = first.replace(hour=0, minute=0, second=0, microsecond=0)
        if inputs.days is not None:
            requests = [r for r in requests if r.reported_at < start + timedelta(days=inputs.days)]
        last = requests[-1].reported_at.astimezone(SHANGHAI_TZ)
        period = (
            start,
            last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
        )
    router.road.prepare_week()  # a run of days meets most hours of the week's traffic
    return Scenario(
        inputs=inputs,
        settings=settings,
        router=router,
        classifier=ZoneClassifier.from_settings(settings),
        fleet=fleet,
        demand=demand,
        incidents=tuple(script(requests, demand.response, rng)),
        period=period,
    )


def dispatcher_for(scenario: Scenario, fleet: Fleet) -> tuple[Dispatcher, ManualClock]:
    """A production dispatcher over ``fleet`` with a fresh in-memory store and manual clock."""
    settings = scenario.settings
    clock = ManualClock(scenario.period[0])
    dispatcher = Dispatcher(
        store=MemoryDispatchStore(fleet),
        router=scenario.router,
        classifier=scenario.classifier,
        clock=clock,
        repair_shops=load_repair_shops(repair_shops_path(settings)),
        horizon_s=settings.dispatch_horizon_min * 60.0,
        route_lengths=False,  # the report reads ETAs, never route lengths
    )
    return dispatcher, clock


def simulate_fleet(
    scenario: Scenario,
    fleet: Fleet | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> SimulationResult:
    """Run the scenario's incidents against ``fleet`` (default: the scenario's fleet), on
    ``workers`` processes (``split.py``; the same result as one)."""
    fleet = fleet or scenario.fleet
    dispatcher, clock = dispatcher_for(scenario, fleet)
    return simulate_split(
        dispatcher,
        clock,
        scenario.incidents,
        workers=workers,
        until=scenario.period[1] + timedelta(days=1),
        progress=progress,
    )


def base_zones(scenario: Scenario, fleet: Fleet) -> dict[str, str]:
    """The zone of every base (own bases are in Shaoguan, branches wherever they are)."""
    batch = scenario.classifier.classify_many(
        [b.lat for b in fleet.bases], [b.lon for b in fleet.bases]
    )
    return {b.id: str(z) for b, z in zip(fleet.bases, batch.zone, strict=True)}


def summary_of(scenario: Scenario, result: SimulationResult, fleet: Fleet | None = None) -> dict:
    """The run's ``summary.json`` content, with the network it ran on."""
    fleet = fleet or scenario.fleet
    start, end = scenario.period
    # a run stopped early is measured over the time it covered
    period = (start, min(end, result.end)) if result.interrupted else (start, end)
    summary = summarize(result, fleet, period=period, base_zone=base_zones(scenario, fleet))
    summary["network"] = scenario.router.road.network.summary()
    return summary


def write_outputs(
    out: Path,
    scenario: Scenario,
    result: SimulationResult,
    summary: Mapping,
    *,
    with_map: bool = True,
) -> dict[str, Path]:
    """Write summary.json, config.json, the two PNG charts and the HTML map into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = outcomes(result)
    network = scenario.router.road.network
    note = (
        "embedded SYNTHETIC road network"
        if network.synthetic
        else str(network.meta.get("name", ""))
    )
    written = {
        "summary": _write_json(out / "summary.json", summary),
        "config": write_config(out, scenario, command="simulate"),
        "eta_plot": plots.plot_eta_by_zone(rows, out / "eta_by_zone.png", note=note),
        "district_plot": plots.plot_share_by_district(
            summary["districts"], out / "share_met_by_district.png", note=note
        ),
    }
    if with_map:
        bases = [
            b
            for b in scenario.fleet.bases
            if base_zones(scenario, scenario.fleet)[b.id] == "shaoguan"
        ]
        counts: dict[str, int] = {}
        for vehicle in scenario.fleet.vehicles:
            counts[vehicle.base_id] = counts.get(vehicle.base_id, 0) + 1
        written["map"] = maps.write_map(
            out / "map.html",
            bases=bases,
            vehicles_at=counts,
            rows=rows,
            reach=maps.reach_areas(scenario.router, bases),
            note=note,
        )
    return written


def write_config(
    out: Path, scenario: Scenario, *, command: str, extra: Mapping | None = None
) -> Path:
    """``config.json``: the resolved inputs and the SHA-256 of every input file."""
    settings = scenario.settings
    inputs = scenario.inputs
    files = {
        "fleet": inputs.fleet,
        "demand": inputs.demand,
        "replay": inputs.replay,
        "repair_shops": repair_shops_path(settings),
        "network": embedded_network_path(settings)
        if settings.network == "embedded"
        else Path(settings.network),
        "network_recipe": settings.data_dir / EMBEDDED_RECIPE
        if settings.network == "embedded"
        else None,
    }
    config = {
        "command": command,
        "package_version": _package_version(),
        "inputs": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(inputs).items()},
        "period": [scenario.period[0].isoformat(), scenario.period[1].isoformat()],
        "incidents": len(scenario.incidents),
        "demand": scenario.demand.document,
        "settings": settings.model_dump(
            mode="json",
            include={
                "network",
                "engine",
                "speed_profile",
                "dispatch_horizon_min",
                "snap_max_m",
                "offroad_speed_kph",
                "estimate_detour_factor",
                "estimate_speed_kph",
            },
        ),
        "input_files": {
            name: file_record(path) for name, path in files.items() if path is not None
        },
        **(extra or {}),
    }
    return _write_json(out / "config.json", config)


def file_record(path: Path) -> dict:
    """Path and SHA-256 of an input file (read in blocks: networks are tens of MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest()}


def _package_version() -> str:
    try:
        return version("shaoguan-dispatch")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def _write_json(path: Path, payload: Mapping) -> Path:
    path.write_text(
        json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return path
