"""``dispatch-engine simulate`` and ``dispatch-engine fleet-size``: the planner's questions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dispatch_engine.commands.common import (
    JsonOption,
    NetworkOption,
    cli_errors,
    err,
    out,
    print_json,
    progress,
    settings_for,
)
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.locate.inputs import read_sites_csv
from dispatch_engine.settings import Settings, fleet_path
from dispatch_engine.simulation import plots
from dispatch_engine.simulation.demand import default_demand_path
from dispatch_engine.simulation.runs import (
    RunInputs,
    Scenario,
    file_record,
    prepare,
    summary_of,
    write_config,
    write_outputs,
)
from dispatch_engine.simulation.scenarios import (
    SCENARIOS,
    guarantees,
    policy_named,
    prepare_scenario,
    scenario_named,
    simulate_policy,
)
from dispatch_engine.simulation.sizing import SizingPoint, fleet_size
from dispatch_engine.simulation.split import usable_cores
from dispatch_engine.wiring import build_router

FleetOption = Annotated[
    Path | None, typer.Option("--fleet", help="Fleet YAML (default: the shipped fleet).")
]
DemandOption = Annotated[
    Path | None, typer.Option("--demand", help="Demand YAML (default: data/demand/shaoguan.yaml).")
]
ReplayOption = Annotated[
    Path | None,
    typer.Option(
        "--replay", help="CSV of past incidents (id,reported_at,lat,lon[,needs,injured,crs])."
    ),
]
StartOption = Annotated[str, typer.Option("--start", help="First simulated day (YYYY-MM-DD).")]
SeedOption = Annotated[
    int, typer.Option("--seed", help="Random seed: the same seed repeats a run.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Processes sharing each run, same result as one (default: the usable cores).",
    ),
]
INTERRUPTED_EXIT = 130  # the shell's code for a run stopped by Ctrl-C
DEFAULT_CANDIDATES = Path("planning") / "candidate_sites_synthetic.csv"


def _inputs(
    settings: Settings,
    fleet: Path | None,
    demand: Path | None,
    replay: Path | None,
    start: str,
    days: int | None,
    seed: int,
) -> RunInputs:
    if demand is not None and replay is not None:
        raise InvalidInputError("give --demand or --replay, not both", field="replay")
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise InvalidInputError(f"expected YYYY-MM-DD, got '{start}'", field="start") from None
    if days is not None and days < 1:
        raise InvalidInputError(f"needs at least 1 day, got {days}", field="days")
    return RunInputs(
        fleet=fleet or fleet_path(settings),
        demand=demand or default_demand_path(settings),
        replay=replay,
        start=first,
        days=days,
        seed=seed,
    )


def _scenario(settings: Settings, inputs: RunInputs) -> Scenario:
    router = build_router(settings, progress=progress)
    scenario = prepare(settings, inputs, router)
    progress(
        f"{len(scenario.incidents):,} incidents from {scenario.period[0]:%Y-%m-%d} "
        f"to {scenario.period[1]:%Y-%m-%d}"
    )
    return scenario


@cli_errors
def simulate_command(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for summary.json, charts, map, config.")
    ],
    fleet: FleetOption = None,
    demand: DemandOption = None,
    replay: ReplayOption = None,
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days to simulate (default 7; a replay: all of it)."),
    ] = None,
    start: StartOption = "2026-03-02",
    seed: SeedOption = 1,
    with_map: Annotated[bool, typer.Option("--map/--no-map", help="Write the HTML map.")] = True,
    scenario_name: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help=f"A standard guarantee scenario ({', '.join(SCENARIOS)}) from --start, "
            "changing the --fleet and --demand given (no --days, no --replay).",
        ),
    ] = None,
    workers: WorkersOption = None,
    policy_name: Annotated[
        str,
        typer.Option(
            "--policy",
            help="optimizer (production) or a baseline: greedy_road, straight_line.",
        ),
    ] = "optimizer",
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Coverage simulation: incidents through the production dispatcher, then the report."""
    settings = settings_for(network)
    policy = policy_named(policy_name)
    inputs = _inputs(settings, fleet, demand, replay, start, days, seed)
    extra: dict = {"policy": policy.name}
    if scenario_name is None:
        scenario = _scenario(settings, inputs)
    else:
        spec = scenario_named(scenario_name)
        prepared = prepare_scenario(
            settings, inputs, build_router(settings, progress=progress), spec
        )
        scenario = prepared.run
        extra["scenario"] = prepared.facts()
        progress(f"scenario {spec.name}: {len(scenario.incidents):,} incidents")
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("incidents", total=len(scenario.incidents))
        result = simulate_policy(
            scenario,
            policy,
            progress=lambda n: bar.update(task, completed=n),
            workers=workers or usable_cores(),
        )
    summary = {**summary_of(scenario, result), **extra, "guarantees": guarantees([result])}
    written = write_outputs(out_dir, scenario, result, summary, with_map=with_map)
    written["config"] = write_config(out_dir, scenario, command="simulate", extra=extra)
    if as_json:
        print_json({**summary, "outputs": {k: str(v) for k, v in written.items()}})
    else:
        _print_summary(summary)
        out.print("wrote " + ", ".join(str(p) for p in written.values()))
    if result.interrupted:
        err.print(
            f"interrupted at {result.end:%Y-%m-%d %H:%M}: the report covers the incidents so far"
        )
        raise typer.Exit(INTERRUPTED_EXIT)


def _print_summary(summary: dict) -> None:
    run = summary["run"]
    columns = (
        "",
        "incidents",
        "met",
        "unserved",
        "ETA p50",
        "p90",
        "p99",
        "vehicles",
        "utilisation",
    )
    for title, rows in (("zone", summary["zones"]), ("Shaoguan district", summary["districts"])):
        table = Table(title=f"Guarantee met and ETA (minutes) per {title}")
        for column in columns:
            table.add_column(column, justify="left" if not column else "right")
        for name, row in rows.items():
            table.add_row(
                name,
                str(row["incidents"]),
                "-" if row["share_met"] is None else f"{row['share_met']:.1%}",
                str(row["unserved"]),
                *(_minutes(row[k]) for k in ("eta_min_p50", "eta_min_p90", "eta_min_p99")),
                str(row["vehicles"]),
                "-" if row["utilisation"] is None else f"{row['utilisation']:.1%}",
            )
        out.print(table)
    network = summary["network"]
    named = "SYNTHETIC" in network["name"].upper()
    synthetic = " (SYNTHETIC)" if network["synthetic"] and not named else ""
    out.print(
        f"{run['incidents']:,} incidents, {run['events']:,} events in {run['wall_s']} s "
        f"({run['incidents_per_s']} incidents/s, {run['processes']} process"
        f"{'es' if run['processes'] > 1 else ''}) on {network['name']}{synthetic}; "
        f"handed off (no vehicle with the skills in reach): {run['handed_off']}"
    )


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@cli_errors
def fleet_size_command(
    target: Annotated[float, typer.Option("--target", help="Share to reach, e.g. 0.95.")] = 0.95,
    minutes: Annotated[float, typer.Option("--minutes", help="Within this many minutes.")] = 15.0,
    fleet: FleetOption = None,
    demand: DemandOption = None,
    replay: ReplayOption = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates", help="Candidate sites CSV id,lat,lon (default: data/planning)."
        ),
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", help="Days simulated per fleet (default 28).")
    ] = None,
    start: StartOption = "2026-03-02",
    seed: SeedOption = 1,
    min_cars: Annotated[int, typer.Option("--min-cars", help="Smallest fleet tried.")] = 8,
    max_cars: Annotated[int, typer.Option("--max-cars", help="Largest fleet tried.")] = 160,
    workers: WorkersOption = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the curve, table and config.")
    ] = Path("fleet-size"),
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fewest survey cars (placed by MCLP) whose simulated share within --minutes is --target."""
    settings = settings_for(network)
    inputs = _inputs(
        settings,
        fleet,
        demand,
        replay,
        start,
        28 if days is None and replay is None else days,
        seed,
    )
    sites_path = candidates or settings.data_dir / DEFAULT_CANDIDATES
    sites = read_sites_csv(sites_path)
    scenario = _scenario(settings, inputs)

    def report(point: SizingPoint) -> None:
        progress(
            f"{point.cars} cars: {point.share:.1%} within {minutes:g} min "
            f"(MCLP covers {point.covered_share:.1%})"
        )

    sizing = fleet_size(
        scenario,
        sites,
        target=target,
        minutes=minutes,
        min_cars=min_cars,
        max_cars=max_cars,
        on_point=report,
        workers=workers or usable_cores(),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "target": target,
        "minutes": minutes,
        "smallest_cars": sizing.smallest,
        "curve": [
            {
                "cars": p.cars,
                "share_within": round(p.share, 4),
                "mclp_covered_share": round(p.covered_share, 4),
                "mclp_proven_optimal": p.proven_optimal,
                "sites": list(p.sites),
            }
            for p in sizing.points
        ],
    }
    network_summary = scenario.router.road.network.summary()
    note = (
        "embedded SYNTHETIC road network"
        if network_summary["synthetic"]
        else network_summary["name"]
    )
    (out_dir / "fleet_size.json").write_text(
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    )
    plots.plot_fleet_curve(
        [p.cars for p in sizing.points],
        [p.share for p in sizing.points],
        out_dir / "fleet_size.png",
        target=target,
        minutes=minutes,
        smallest=sizing.smallest,
        covered=[p.covered_share for p in sizing.points],
        note=note,
    )
    write_config(
        out_dir,
        scenario,
        command="fleet-size",
        extra={
            "sizing": {
                "target": target,
                "minutes": minutes,
                "min_cars": min_cars,
                "max_cars": max_cars,
            },
            "candidates": file_record(sites_path),
        },
    )
    if as_json:
        print_json(payload)
        return
    table = Table(title=f"Survey cars -> share of Shaoguan incidents within {minutes:g} min")
    for column in ("cars", "simulated share", "MCLP covered share"):
        table.add_column(column, justify="right")
    for p in sizing.points:
        mark = " <- smallest" if p.cars == sizing.smallest else ""
        table.add_row(str(p.cars), f"{p.share:.1%}{mark}", f"{p.covered_share:.1%}")
    out.print(table)
    if sizing.smallest is None:
        out.print(
            f"{target:.0%} within {minutes:g} min is not reached with up to "
            f"{max(p.cars for p in sizing.points)} cars at these candidate sites"
        )
    else:
        out.print(
            f"smallest fleet reaching {target:.0%} within {minutes:g} min: {sizing.smallest} cars"
        )
    names = ("fleet_size.json", "fleet_size.png", "config.json")
    out.print("wrote " + ", ".join(str(out_dir / name) for name in names))


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
    app.command("fleet-size")(fleet_size_command)
