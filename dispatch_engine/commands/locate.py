"""``dispatch-engine plan-bases``: where to base the cars (MCLP, p-median, LSCP; SPEC §7)."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatch_engine.commands.common import (
    JsonOption,
    NetworkOption,
    cli_errors,
    out,
    parse_local_time,
    print_json,
    progress,
    settings_for,
)
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.locate.inputs import (
    read_cost_matrix_csv,
    read_demand_csv,
    read_sites_csv,
    road_cost_matrix,
)
from dispatch_engine.locate.models import (
    CostMatrix,
    MaximalCovering,
    Placement,
    PMedian,
    SetCovering,
)
from dispatch_engine.wiring import build_router


class ModelName(StrEnum):
    MCLP = "mclp"
    PMEDIAN = "pmedian"
    LSCP = "lscp"


OBJECTIVE_MEANS = {
    ModelName.MCLP: "covered demand weight",
    ModelName.PMEDIAN: "demand-weighted minutes to the nearest site",
    ModelName.LSCP: "sites",
}


def _cost_matrix(
    demand: Path | None,
    candidates: Path | None,
    costs: Path | None,
    weights: Path | None,
    network: str | None,
    at: str | None,
) -> tuple[CostMatrix, str, bool]:
    """The matrix the options select, what its times come from, and whether that is synthetic."""
    if costs is not None:
        if at is not None:
            raise InvalidInputError("--at sets road times; a cost matrix has its own", field="at")
        if demand is not None or candidates is not None:
            raise InvalidInputError(
                "give either --costs (with optional --weights) or --demand and --candidates, "
                "not both",
                field="costs",
            )
        return read_cost_matrix_csv(costs, weights_path=weights), f"cost matrix {costs}", False
    if weights is not None:
        raise InvalidInputError(
            "--weights goes with --costs; a demand CSV carries its own weight column",
            field="weights",
        )
    if demand is None or candidates is None:
        raise InvalidInputError(
            "give --demand CSV and --candidates CSV (road travel times), or --costs CSV",
            field="demand" if demand is None else "candidates",
        )
    moment = None if at is None else parse_local_time(at, field="at")
    # Read both files before loading the network, so a bad CSV fails at once.
    places, sites = read_demand_csv(demand), read_sites_csv(candidates)
    road = build_router(settings_for(network), progress=progress).road
    progress(f"road travel times: {len(sites)} sites x {len(places)} demand points")
    meta = road.network.meta
    traffic = "free flow" if moment is None else f"traffic of {moment.isoformat()}"
    return (
        road_cost_matrix(road, places, sites, at=moment),
        f"road network {meta.get('name', 'unnamed')}, {traffic}",
        bool(meta.get("synthetic", False)),
    )


def _check_facilities(model: ModelName, facilities: int | None) -> None:
    if model is ModelName.LSCP and facilities is not None:
        raise InvalidInputError(
            "lscp finds the number of sites itself; drop --facilities", field="facilities"
        )
    if model is not ModelName.LSCP and facilities is None:
        raise InvalidInputError(
            f"{model.value} needs --facilities P, the number of sites to open", field="facilities"
        )


def _solve(
    model: ModelName, costs: CostMatrix, facilities: int | None, minutes: float, time_limit_s: float
) -> Placement:
    if model is ModelName.LSCP:
        return SetCovering(costs, within_min=minutes).solve(time_limit_s=time_limit_s)
    assert facilities is not None  # _check_facilities ran first
    if model is ModelName.MCLP:
        built: MaximalCovering | PMedian = MaximalCovering(
            costs, facilities=facilities, within_min=minutes
        )
    else:
        built = PMedian(costs, facilities=facilities)
    return built.solve(time_limit_s=time_limit_s)


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def placement_json(
    model: ModelName, placement: Placement, minutes: float, source: str, synthetic: bool
) -> dict:
    """The answer as ``--json`` prints it."""
    return {
        "model": model.value,
        "sites": list(placement.site_ids),
        "facilities": len(placement.site_ids),
        "minutes": minutes,
        "objective": round(placement.objective, 4),
        "objective_means": OBJECTIVE_MEANS[model],
        "covered_share": round(placement.covered_share(minutes), 4),
        "mean_minutes": _finite(placement.mean_min(), 2),
        "proven_optimal": placement.proven_optimal,
        "gap": _finite(placement.gap, 6),
        "method": placement.method,
        "solve_s": round(placement.solve_s, 3),
        "served_weight": {k: round(v, 4) for k, v in placement.served_weight().items()},
        "demand_points": placement.costs.n_demand,
        "candidate_sites": placement.costs.n_sites,
        "travel_times": source,
        "synthetic": synthetic,
    }


@cli_errors
def plan_bases(
    model: Annotated[
        ModelName,
        typer.Option(
            case_sensitive=False,
            help="mclp: cover the most demand within --minutes with --facilities sites; "
            "pmedian: least demand-weighted travel time with --facilities sites; "
            "lscp: fewest sites covering all demand within --minutes.",
        ),
    ],
    facilities: Annotated[
        int | None, typer.Option(help="Number of sites to open, P (mclp, pmedian).")
    ] = None,
    minutes: Annotated[
        float,
        typer.Option(
            help="Coverage standard T in minutes (mclp, lscp); the covered share is reported at it."
        ),
    ] = 15.0,
    demand: Annotated[
        Path | None, typer.Option(help="Demand points CSV: id,lat,lon,weight (WGS-84).")
    ] = None,
    candidates: Annotated[
        Path | None, typer.Option(help="Candidate sites CSV: id,lat,lon (WGS-84).")
    ] = None,
    costs: Annotated[
        Path | None,
        typer.Option(help="Your own matrix instead: rows demand ids, columns site ids, minutes."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights for --costs: id,weight (default: all 1).")
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            help="Solver limit in seconds; on reaching it the best placement found is "
            "reported as not proven optimal (large p-median instances need it)."
        ),
    ] = 60.0,
    at: Annotated[
        str | None,
        typer.Option(
            help="Road times with the traffic of this local time, ISO (e.g. 2026-03-02T08:00); "
            "default free flow."
        ),
    ] = None,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Choose base sites: chosen site ids, objective, covered share, proven optimal or not."""
    _check_facilities(model, facilities)
    matrix, source, synthetic = _cost_matrix(demand, candidates, costs, weights, network, at)
    placement = _solve(model, matrix, facilities, minutes, time_limit)
    payload = placement_json(model, placement, minutes, source, synthetic)
    if as_json:
        print_json(payload)
        return
    gap = "no bound yet" if payload["gap"] is None else f"gap {placement.gap:.2%}"
    proof = "proven optimal" if placement.proven_optimal else f"NOT proven optimal ({gap})"
    out.print(
        f"{model.value}: {payload['facilities']} sites, {proof}, {placement.solve_s:.2f} s "
        f"({placement.method})"
    )
    out.print(
        f"objective ({payload['objective_means']}): {payload['objective']}; "
        f"covered within {minutes:g} min: {payload['covered_share']:.1%} of demand weight; "
        f"weighted mean {payload['mean_minutes']} min"
    )
    out.print(f"travel times: {source}")
    table = Table("site", "demand weight nearest to it")
    for site, served in payload["served_weight"].items():
        table.add_row(site, f"{served:g}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command("plan-bases")(plan_bases)
