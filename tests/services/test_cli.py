"""``plan-services`` and ``supplies status`` end to end (in-process Typer runner, a small
compiled network, the shipped facilities and supplies)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from dispatch_engine.commands import services
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.services.appointments import CSV_COLUMNS
from tests.fleet.factories import fleet_document, write_fleet_file

HEADER = ",".join(CSV_COLUMNS) + "\n"
ROWS = (
    "car_wash,粤F1001警,甲所,24.8050,113.5850,,2026-03-02,09:00,11:00,,30,\n"
    "car_wash,粤F1002警,乙所,24.8200,113.6000,,2026-03-02,10:00,12:00,,30,\n"
    "car_wash,粤F1003警,丙所,24.8120,113.5920,,2026-03-02,06:00,06:30,,30,\n"
    "car_wash,粤F1004警,丁所,24.8120,113.5920,,2026-03-03,09:00,10:00,,30,\n"
)

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    services.register(app)
    return app


def run(*args: str):
    return runner.invoke(_app(), list(args))


@pytest.fixture()
def grid_world(tmp_path, grid_graph, monkeypatch):
    """The test grid as the network, a fleet with two day-shift repair crews on it, and a CSV."""
    network = tmp_path / "grid.npz"
    compile_graph(grid_graph).save(network)
    monkeypatch.setenv("DISPATCH_NETWORK", str(network))
    document = fleet_document()
    document["vehicles"] += [
        {
            "id": f"RP-{k}",
            "kind": "repair",
            "base_id": "B0",
            "shifts": ["day"],
            "partner_id": f"RP-{1 - k}",
        }
        for k in range(2)
    ]
    fleet = write_fleet_file(tmp_path, document)
    appointments = tmp_path / "appointments.csv"
    appointments.write_text(HEADER + ROWS, encoding="utf-8")
    return fleet, appointments


def test_plan_services_json_serves_what_fits_and_explains_the_rest(grid_world, tmp_path):
    """--json lists each technician's ordered stops and totals, skips other days, and gives the
    reason for the one that cannot fit; --map writes an HTML map of the routes."""
    fleet, appointments = grid_world
    map_path = tmp_path / "plan.html"
    result = run(
        "plan-services",
        "--date",
        "2026-03-02",
        "--appointments",
        str(appointments),
        "--fleet",
        str(fleet),
        "--json",
        "--map",
        str(map_path),
        "--time-limit",
        "0.3",
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["date"] == "2026-03-02" and plan["served"] == 2
    assert [t["id"] for t in plan["technicians"]] == ["RP-0", "RP-1"]
    served = sorted(a for t in plan["technicians"] for a in t["appointments"])
    assert served == ["AP-000001", "AP-000002"]
    for tech in plan["technicians"]:
        kinds = [s["kind"] for s in tech["stops"]]
        assert kinds[0] == "start" and kinds[-1] == "end"
        assert tech["travel_min"] == pytest.approx(
            sum(s["travel_min"] for s in tech["stops"]), abs=0.2
        )
        assert [s["arrival_at"] for s in tech["stops"]] == sorted(
            s["arrival_at"] for s in tech["stops"]
        )
    assert plan["total_travel_min"] == pytest.approx(
        sum(t["travel_min"] for t in plan["technicians"]), abs=0.2
    )
    [unplanned] = plan["unplanned"]
    assert (
        unplanned["appointment_id"] == "AP-000003"
        and "collect window closes at 06:30" in unplanned["reason"]
    )
    html = map_path.read_text(encoding="utf-8")
    assert "RP-0" in html and "AP-000003" in html and "leaflet" in html.lower()


def test_plan_services_text_shows_tables(grid_world):
    """Without --json the plan prints per technician a table of stops and the reasons."""
    fleet, appointments = grid_world
    result = run(
        "plan-services",
        "--date",
        "2026-03-02",
        "--appointments",
        str(appointments),
        "--fleet",
        str(fleet),
        "--time-limit",
        "0.3",
    )
    assert result.exit_code == 0, result.output
    assert "2 appointments served" in result.stdout and "collect" in result.stdout
    assert "not served AP-000003" in result.stdout


def test_plan_services_bad_input_is_one_line(grid_world, tmp_path):
    """A bad date or a bad CSV cell: one line naming the field, exit code 2."""
    fleet, appointments = grid_world
    bad_date = run("plan-services", "--date", "2026-13-02", "--fleet", str(fleet))
    assert bad_date.exit_code == 2 and bad_date.stderr.startswith("error: date:")
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + ROWS.replace("粤F1002警", "F-2"), encoding="utf-8")
    bad_cell = run(
        "plan-services",
        "--date",
        "2026-03-02",
        "--appointments",
        str(broken),
        "--fleet",
        str(fleet),
    )
    assert bad_cell.exit_code == 2 and bad_cell.stderr.startswith("error: plate: broken.csv line 3")


def test_supplies_status_json_lists_levels_and_overdue_checks():
    """supplies status --json gives every line's level and the checks overdue at --at."""
    result = run("supplies", "status", "--json", "--at", "2026-03-02T09:00")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    levels = {
        (d["base_id"], line["item_id"]): line["level"]
        for d in status["depots"]
        for line in d["lines"]
    }
    assert levels[("NX", "flashlight")] == "urgent" and levels[("WY", "first_aid_kit")] == "reorder"
    assert levels[("QJ1", "jump_starter")] == "ok"
    assert [(c["base_id"], c["check"]) for c in status["overdue_checks"]] == [
        ("QJ1", "performance"),
        ("QJ1", "damage"),
    ]


def test_supplies_status_text_and_bad_time():
    """The table shows the levels; a malformed --at names the field."""
    result = run("supplies", "status", "--at", "2026-03-02T09:00")
    assert (
        result.exit_code == 0
        and "urgent" in result.stdout
        and "overdue performance" in result.stdout
    )
    bad = run("supplies", "status", "--at", "yesterday")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: at:")
