"""``dispatch-engine network build|info|export`` and ``dispatch-engine eta``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatch_engine.commands.common import (
    CrsOption,
    JsonOption,
    NetworkOption,
    cli_errors,
    out,
    parse_lat_lon,
    print_json,
    progress,
    settings_for,
    time_or_now,
)
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.network import store
from dispatch_engine.network.router import Router
from dispatch_engine.settings import load_settings

network_app = typer.Typer(help="Build, inspect and export road networks.", no_args_is_help=True)


@network_app.command("build")
@cli_errors
def network_build(
    source: Annotated[str, typer.Option(help="'embedded' (synthetic Shaoguan).")] = "embedded",
    osm_file: Annotated[
        Path | None, typer.Option(help="A local .osm.pbf, .osm or osmnx .graphml.")
    ] = None,
    place: Annotated[
        str | None, typer.Option(help="Place name to download with osmnx (internet).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build and cache a compiled network; prints where it is and how to use it."""
    settings = load_settings()
    if osm_file is not None:
        network, path = store.build_from_osm_file(osm_file, progress=progress)
    elif place is not None:
        network, path = store.build_from_place(place, settings, progress=progress)
    elif source == "embedded":
        network, path = (
            store.build_embedded(settings, progress=progress),
            store.embedded_network_path(settings),
        )
    else:
        raise InvalidInputError(
            f"unknown source '{source}'; use --source embedded, --osm-file PATH or --place NAME",
            field="source",
        )
    summary = {**network.summary(), "path": str(path)}
    if as_json:
        print_json(summary)
        return
    print_summary(summary)
    if osm_file is not None or place is not None:
        out.print(f"use it with: --network {path}  (or DISPATCH_NETWORK={path})")


@network_app.command("info")
@cli_errors
def network_info(network: NetworkOption = None, as_json: JsonOption = False) -> None:
    """Summary of the selected network (building the embedded one on first use)."""
    summary = store.load_network(settings_for(network), progress=progress).summary()
    if as_json:
        print_json(summary)
    else:
        print_summary(summary)


@network_app.command("export")
@cli_errors
def network_export(
    graphml: Annotated[
        Path, typer.Option("--graphml", help="Output GraphML file (opens in osmnx/QGIS).")
    ],
    network: NetworkOption = None,
) -> None:
    """Export the selected network as GraphML."""
    from dispatch_engine.network.sources.osm import save_graphml

    compiled = store.load_network(settings_for(network), progress=progress)
    save_graphml(compiled.to_graph(), graphml)
    out.print(f"wrote {graphml} ({compiled.n_nodes:,} nodes, {compiled.n_edges:,} edges)")


def print_summary(summary: dict) -> None:
    """A network summary as a table, labelled SYNTHETIC when it is."""
    synthetic = summary["synthetic"] and "SYNTHETIC" not in summary["name"]
    title = summary["name"] + ("  [SYNTHETIC]" if synthetic else "")
    table = Table(title=title, show_header=False)
    for key in ("source", "nodes", "edges", "core_nodes", "core_edges", "bbox", "path"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    for cls, km in summary["road_km_by_class"].items():
        table.add_row(f"km of {cls}", f"{km:,.1f}")
    out.print(table)


@cli_errors
def eta(
    from_: Annotated[str, typer.Option("--from", help="Origin LAT,LON.")],
    to: Annotated[str, typer.Option("--to", help="Destination LAT,LON.")],
    crs: CrsOption = "wgs84",
    at: Annotated[
        str | None,
        typer.Option(
            help="Departure time, ISO (default now, Asia/Shanghai): picks the speed profile's hour."
        ),
    ] = None,
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fastest road travel time between two points (an estimate off the network)."""
    origin = to_wgs84(*parse_lat_lon(from_, "from"), crs)
    destination = to_wgs84(*parse_lat_lon(to, "to"), crs)
    departure = time_or_now(at, field="at")
    settings = settings_for(network)
    router = Router.from_settings(store.load_network(settings, progress=progress), settings)
    route = router.route(origin, destination, at=departure)
    payload = {
        "seconds": round(route.seconds, 1),
        "meters": round(route.meters, 1),
        "minutes": round(route.seconds / 60, 2),
        "estimate": route.estimate,
        "at": departure.isoformat(),
    }
    if as_json:
        print_json(payload)
    else:
        kind = "estimate (great-circle x detour)" if route.estimate else "road network"
        out.print(
            f"{payload['minutes']} min, {route.meters / 1000:.2f} km ({kind}) at {payload['at']}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")
    app.command()(eta)
