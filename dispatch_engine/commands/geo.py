"""``dispatch-engine zone``: which zone a location is in and what is promised there."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dispatch_engine.commands.common import CrsOption, JsonOption, cli_errors, out, print_json
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.settings import load_settings


@cli_errors
def zone(
    lat: Annotated[float, typer.Option(help="Latitude in degrees.")],
    lon: Annotated[float, typer.Option(help="Longitude in degrees.")],
    crs: CrsOption = "wgs84",
    as_json: JsonOption = False,
) -> None:
    """Zone, province, city, district and the response guarantees for a location."""
    result = ZoneClassifier.from_settings(load_settings()).classify(lat, lon, crs=crs)
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(show_header=False)
    for key, value in result.to_dict().items():
        table.add_row(key, "—" if value is None else str(value))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(zone)
