"""``dispatch-engine replay-day``: the main job of ``make run``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from dispatch_engine.commands.common import JsonOption, cli_errors, out, print_json, progress
from dispatch_engine.commands.network import print_summary
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.settings import load_settings
from dispatch_engine.simulation.day import replay_day, synthetic_day
from dispatch_engine.wiring import build_dispatcher, build_router


@cli_errors
def replay_day_command(
    day: Annotated[
        str, typer.Option("--date", help="The day to replay (YYYY-MM-DD).")
    ] = "2026-03-02",
    seed: Annotated[int, typer.Option(help="Random seed of the day's incidents.")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Replay a realistic day of incidents through the dispatcher on the embedded default."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise InvalidInputError(f"expected YYYY-MM-DD, got '{day}'", field="date") from None
    settings = load_settings()
    router = build_router(settings, progress=progress)
    clock = ManualClock(datetime(when.year, when.month, when.day, tzinfo=SHANGHAI_TZ))
    dispatcher = build_dispatcher(settings, clock=clock, router=router)
    rng = np.random.default_rng(seed)
    requests = synthetic_day(when, router.road.network, load_boundaries(settings.data_dir), rng)
    progress(f"replaying {len(requests)} incidents of {when} through the dispatcher")
    result = replay_day(dispatcher, clock, requests, rng)
    zones = result.by_zone()
    if as_json:
        print_json(
            {
                "date": str(when),
                "seed": seed,
                "network": router.road.network.summary(),
                "zones": zones,
                "escalations": dict(result.escalations),
            }
        )
        return
    print_summary(router.road.network.summary())
    table = Table(title=f"Guarantees on {when} (seed {seed})")
    # short headers: the table must read in an 80-column terminal
    for column in ("zone", "n", "call ≤5'", "in time", "ETA p50'", "ETA p90'", "est."):
        table.add_column(column, no_wrap=True)
    for zone, row in zones.items():
        table.add_row(
            zone,
            str(row["incidents"]),
            f"{row['calls_within_5_min']:.0%}",
            f"{row['arrivals_within_guarantee']:.0%}",
            str(row["eta_min_p50"]),
            str(row["eta_min_p90"]),
            str(row["estimated_etas"]),
        )
    out.print(table)
    out.print(
        "call ≤5': owner phoned within 5 min; in time: on scene within the zone's guarantee "
        "(15/30/60 min); ETA in minutes; est.: ETAs estimated off the road network"
    )
    escalations = ", ".join(f"{k}: {v}" for k, v in sorted(result.escalations.items())) or "none"
    out.print(f"escalations: {escalations}")


def register(app: typer.Typer) -> None:
    app.command("replay-day")(replay_day_command)
