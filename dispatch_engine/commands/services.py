"""``dispatch-engine plan-services`` (a day of value-added appointments) and
``dispatch-engine supplies status`` (rescue depots' emergency supplies)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dispatch_engine.commands.common import (
    JsonOption,
    cli_errors,
    out,
    print_json,
    progress,
    time_or_now,
)
from dispatch_engine.dispatch.ports import SystemClock
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.services.appointments import (
    AppointmentBook,
    MemoryAppointmentStore,
    read_appointments_csv,
)
from dispatch_engine.services.day_routes import (
    DEFAULT_TIME_LIMIT_S,
    build_day_problem,
    solve_day,
    technicians_on,
)
from dispatch_engine.services.facilities import facilities_path, load_facilities
from dispatch_engine.services.route_map import write_route_map
from dispatch_engine.services.supplies import load_supplies, overdue_checks, supplies_path
from dispatch_engine.services.views import plan_json
from dispatch_engine.settings import fleet_path, load_settings
from dispatch_engine.wiring import build_router

supplies_app = typer.Typer(help="Emergency supplies of the rescue depots.", no_args_is_help=True)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"expected a date like 2026-03-02, got '{text}'", field="date"
        ) from None


@cli_errors
def plan_services(
    day_text: Annotated[str, typer.Option("--date", help="The day to plan, e.g. 2026-03-02.")],
    appointments: Annotated[
        Path | None,
        typer.Option(help="Appointments CSV (default: data/services/appointments.example.csv)."),
    ] = None,
    fleet: Annotated[
        Path | None, typer.Option(help="Fleet YAML; its repair crews are the technicians.")
    ] = None,
    as_json: JsonOption = False,
    map_path: Annotated[
        Path | None, typer.Option("--map", help="Write an HTML map of the routes.")
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.1, help="Seconds of route search.")
    ] = DEFAULT_TIME_LIMIT_S,
) -> None:
    """Plan a day's inspection runs and car washes: technicians on shift, ordered stops."""
    day = _parse_day(day_text)
    settings = load_settings(fleet_file=fleet) if fleet else load_settings()
    facilities = load_facilities(facilities_path(settings))
    book = AppointmentBook(MemoryAppointmentStore(), facilities=facilities, clock=SystemClock())
    source = appointments or settings.data_dir / "services" / "appointments.example.csv"
    for request in read_appointments_csv(source, {f.id: f for f in facilities}):
        book.book(request)
    router = build_router(settings, progress=progress)
    technicians = technicians_on(load_fleet(fleet_path(settings)), day)
    problem = build_day_problem(book.list(day=day), facilities, technicians, router.road, day)
    plan = solve_day(problem, time_limit_s=time_limit)
    if map_path is not None:
        network = router.road.network
        note = (
            "road network: SYNTHETIC (embedded)"
            if network.synthetic
            else f"road network: {network.meta.get('name')}"
        )
        write_route_map(
            plan,
            map_path,
            leg_geometry=lambda a, b: router.route((a.lat, a.lon), (b.lat, b.lon)).geometry,
            note=note,
        )
        progress(f"map written to {map_path}")
    payload = plan_json(plan)
    if as_json:
        print_json(payload)
        return
    out.print(
        f"{payload['date']}: {payload['served']} appointments served, "
        f"total travel {payload['total_travel_min']} min"
    )
    for route, tech in zip(plan.routes, payload["technicians"], strict=True):
        out.print(
            f"\n[bold]{tech['id']}[/bold] from {route.stops[0].place}: "
            f"{len(tech['appointments'])} appointments, travel {tech['travel_min']} min, "
            f"waiting {tech['wait_min']} min, "
            f"{tech['leaves_at'][11:16]}–{tech['back_at'][11:16]}"
        )
        table = Table("#", "arrive", "start", "stop", "car", "place")
        for number, stop in enumerate(tech["stops"]):
            car = "" if stop["plate"] is None else f"{stop['plate']} ({stop['appointment_id']})"
            table.add_row(
                str(number),
                stop["arrival_at"][11:16],
                stop["start_at"][11:16],
                stop["kind"],
                car,
                stop["place"],
            )
        out.print(table)
    for item in payload["unplanned"]:
        out.print(
            f"[red]not served[/red] {item['appointment_id']} {item['plate']}: {item['reason']}",
            highlight=False,
        )


@supplies_app.command("status")
@cli_errors
def supplies_status(
    as_json: JsonOption = False,
    at: Annotated[
        str | None, typer.Option(help="Status at this ISO time (default now, Asia/Shanghai).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="Supplies YAML (default: data/services/supplies.yaml).")
    ] = None,
) -> None:
    """Stock against standard per depot (reorder < 50 %, urgent < 30 %) and overdue checks."""
    now = time_or_now(at, field="at")
    supplies = load_supplies(file or supplies_path(load_settings()))
    depots: list[dict[str, Any]] = [
        {
            "base_id": depot.base_id,
            "name": depot.name,
            "person_in_charge": depot.person.name,
            "lines": [
                {
                    "item_id": line.item_id,
                    "item": supplies.items[line.item_id].name,
                    "category": str(supplies.items[line.item_id].category),
                    "standard": line.standard,
                    "quantity": line.quantity,
                    "percent": round(100 * line.quantity / line.standard, 1),
                    "level": str(line.level),
                }
                for line in depot.lines
            ],
        }
        for depot in supplies.depots
    ]
    overdue: list[dict[str, Any]] = [
        {
            "base_id": check.base_id,
            "depot": check.depot,
            "check": str(check.kind),
            "due_at": check.due_at.isoformat(),
            "last_done_at": None if check.last_done_at is None else check.last_done_at.isoformat(),
        }
        for check in overdue_checks(supplies.depots, now)
    ]
    payload = {"at": now.isoformat(), "depots": depots, "overdue_checks": overdue}
    if as_json:
        print_json(payload)
        return
    table = Table("depot", "item", "stock", "standard", "%", "level")
    for depot in depots:
        for line in depot["lines"]:
            style = {"ok": "", "reorder": "yellow", "urgent": "bold red"}[line["level"]]
            table.add_row(
                depot["name"],
                line["item"],
                str(line["quantity"]),
                str(line["standard"]),
                f"{line['percent']:g}",
                line["level"],
                style=style,
            )
    out.print(table)
    for check in overdue:
        out.print(
            f"[red]overdue[/red] {check['check']} check at {check['depot']} "
            f"(due {check['due_at'][:16]})"
        )


def register(app: typer.Typer) -> None:
    app.command("plan-services")(plan_services)
    app.add_typer(supplies_app, name="supplies")
