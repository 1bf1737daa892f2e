"""Coverage simulation speed and base placement (issue 6).

Simulation: a year of Shaoguan incidents through the production dispatcher.

A year of incidents at the shipped demand's rate (about 48 a day in Shaoguan, 9 more
elsewhere) is drawn on the embedded network and run through the production
``Dispatcher`` (the settings' road engine, the shipped fleet with its shifts) by the
discrete-event engine. ``incidents_per_s`` counts incidents over the wall time of the
run itself, which includes classifying and snapping every incident site in one batch
(``Dispatcher.expect_sites``); building the road engine (``router_s``) and drawing the
incidents with every traffic state of the week prepared (``prepare_s``) are reported
apart. The run is split over the machine's cores (``split.py``: processes hand over at
quiet moments, so the result is exactly one process's); the same year is then run in
one process (``one_process``), and ``same_as_one_process`` checks the two results match.

Placement: MCLP on 2,000 demand points x 300 candidate sites (``locate_mclp.py``).
"""

from __future__ import annotations

import time
from datetime import date

from benchmarks import locate_mclp
from benchmarks.common import write_result
from dispatch_engine.settings import fleet_path, load_settings
from dispatch_engine.simulation.demand import default_demand_path
from dispatch_engine.simulation.des import SimulationResult
from dispatch_engine.simulation.runs import RunInputs, prepare, simulate_fleet, summary_of
from dispatch_engine.simulation.split import usable_cores
from dispatch_engine.wiring import build_router

DAYS = 365
SEED = 1
START = date(2026, 1, 5)  # a Monday


def main() -> None:
    settings = load_settings()
    started = time.perf_counter()
    router = build_router(settings, progress=print)
    router_s = time.perf_counter() - started
    inputs = RunInputs(
        fleet=fleet_path(settings),
        demand=default_demand_path(settings),
        replay=None,
        start=START,
        days=DAYS,
        seed=SEED,
    )
    started = time.perf_counter()
    scenario = prepare(settings, inputs, router)
    prepare_s = time.perf_counter() - started
    print(f"{len(scenario.incidents):,} incidents over {DAYS} days", flush=True)
    workers = usable_cores()
    result = simulate_fleet(scenario, workers=workers)
    alone = simulate_fleet(scenario)
    summary = summary_of(scenario, result)
    shaoguan = summary["zones"]["shaoguan"]
    payload = {
        "network": scenario.router.road.network.meta.get("name"),
        "synthetic": scenario.router.road.network.synthetic,
        "engine": settings.engine,
        "days": DAYS,
        "seed": SEED,
        "incidents": len(scenario.incidents),
        "events": result.events,
        "simulate_s": round(result.wall_s, 2),
        "incidents_per_s": round(len(scenario.incidents) / result.wall_s, 1),
        "events_per_s": round(result.events / result.wall_s, 1),
        "workers": workers,
        "stretches": result.stretches,
        "one_process": {
            "simulate_s": round(alone.wall_s, 2),
            "incidents_per_s": round(len(scenario.incidents) / alone.wall_s, 1),
        },
        "same_as_one_process": same_run(result, alone),
        "prepare_s": round(prepare_s, 2),
        "router_s": round(router_s, 2),
        "shaoguan_share_met": shaoguan["share_met"],
        "shaoguan_eta_min_p50": shaoguan["eta_min_p50"],
        "handed_off": summary["run"]["handed_off"],
        "unserved": summary["run"]["unserved"],
        "targets": {"incidents_per_s": 2000, "mclp_solve_s": 60},
    }
    mclp = locate_mclp.measure(settings, router.road)
    payload |= {key: mclp.pop(key) for key in ("mclp_solve_s", "mclp_proven_optimal", "greedy_gap")}
    payload["mclp_details"] = mclp
    for key, value in payload.items():
        print(f"{key:24s} {value}")
    write_result("simulation", payload)


def same_run(a: SimulationResult, b: SimulationResult) -> bool:
    """Same incidents (compared as text: an unmeasured route length is nan, never equal
    to itself), jobs, hand-offs, events and end."""
    return repr(a.incidents) == repr(b.incidents) and (a.busy, a.handed_off, a.events, a.end) == (
        b.busy,
        b.handed_off,
        b.events,
        b.end,
    )


if __name__ == "__main__":
    main()
