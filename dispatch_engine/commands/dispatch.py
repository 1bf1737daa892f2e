"""``dispatch-engine assign``: the dispatch decision for one incident, as the API returns it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatch_engine.commands.common import (
    CrsOption,
    JsonOption,
    cli_errors,
    out,
    print_json,
    progress,
    time_or_now,
)
from dispatch_engine.dispatch.model import IncidentRequest
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.views import incident_view
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import VehicleKind
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.settings import load_settings
from dispatch_engine.wiring import build_dispatcher


def parse_needs(text: str) -> tuple[VehicleKind, ...]:
    kinds = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            kinds.append(VehicleKind(part))
        except ValueError:
            allowed = ", ".join(k.value for k in VehicleKind)
            raise InvalidInputError(
                f"unknown vehicle kind '{part}' (one of {allowed})", field="needs"
            ) from None
    if not kinds:
        raise InvalidInputError("at least one vehicle kind is needed", field="needs")
    return tuple(dict.fromkeys(kinds))


@cli_errors
def assign(
    lat: Annotated[float, typer.Option(help="Incident latitude.")],
    lon: Annotated[float, typer.Option(help="Incident longitude.")],
    crs: CrsOption = "wgs84",
    needs: Annotated[str, typer.Option(help="Vehicle kinds, comma-separated.")] = "survey",
    injured: Annotated[
        bool, typer.Option(help="Someone is injured (needs an injury-trained surveyor).")
    ] = False,
    at: Annotated[
        str | None, typer.Option(help="Report time, ISO (default now, Asia/Shanghai).")
    ] = None,
    fleet: Annotated[
        Path | None, typer.Option(help="Fleet YAML (default: the shipped Shaoguan fleet).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Best available vehicle of each needed kind for one incident, by road ETA."""
    reported_at = time_or_now(at, field="at")
    wgs_lat, wgs_lon = to_wgs84(lat, lon, crs)
    settings = load_settings(fleet_file=fleet) if fleet else load_settings()
    dispatcher = build_dispatcher(settings, clock=ManualClock(reported_at), progress=progress)
    incident = dispatcher.dispatch(
        IncidentRequest(
            id="cli",
            lat=wgs_lat,
            lon=wgs_lon,
            reported_at=reported_at,
            needs=parse_needs(needs),
            injured=injured,
            skills=frozenset({"injury_case"}) if injured else frozenset(),
        )
    )
    payload = incident_view(incident)
    if as_json:
        print_json(payload)
        return
    out.print(
        f"zone {payload['zone']} ({payload['city']} {payload['district'] or ''}); "
        f"call by {payload['call_due_at']}, on scene by {payload['arrival_due_at']}"
    )
    table = Table("vehicle", "kind", "ETA min", "km", "guarantee", "estimate")
    for a in payload["assignments"]:
        table.add_row(
            a["vehicle_id"],
            a["kind"],
            f"{a['eta_seconds'] / 60:.1f}",
            f"{a['distance_m'] / 1000:.1f}",
            "met" if a["meets_guarantee"] else "MISSED",
            "yes" if a["estimate"] else "",
        )
    out.print(table)
    for kind in payload["unassigned_kinds"]:
        out.print(f"[red]no {kind} available[/red]")
    for e in payload["escalations"]:
        out.print(f"[yellow]escalation {e['kind']}: {e['detail']}[/yellow]")
    if payload["tow"]:
        out.print(
            f"tow to {payload['tow']['destination']} "
            f"({'free' if payload['tow']['free'] else 'charged'})"
        )


def register(app: typer.Typer) -> None:
    app.command()(assign)
