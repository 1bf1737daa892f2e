"""``simulate`` and ``fleet-size`` end to end on the test grid (a Typer app with ``register``)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from dispatch_engine.commands import simulate
from dispatch_engine.network.compile import compile_graph
from tests.fleet.factories import fleet_document, write_fleet_file

runner = CliRunner()
app = typer.Typer()
simulate.register(app)


@pytest.fixture()
def grid_files(tmp_path, grid_graph, monkeypatch, demand_file):
    """The test grid selected as network, a small fleet file and the small demand file."""
    network = tmp_path / "grid.npz"
    compile_graph(grid_graph).save(network)
    monkeypatch.setenv("DISPATCH_NETWORK", str(network))
    return write_fleet_file(tmp_path, fleet_document()), demand_file


def simulate_args(fleet, demand, out, *extra):
    return [
        "simulate",
        "--fleet",
        str(fleet),
        "--demand",
        str(demand),
        "--days",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_simulate_writes_every_output(grid_files, tmp_path):
    """summary.json, config.json with input hashes, two PNG charts and the map are written."""
    fleet, demand = grid_files
    out = tmp_path / "run"
    result = runner.invoke(app, simulate_args(fleet, demand, out, "--seed", "4"))
    assert result.exit_code == 0, result.output
    for name in (
        "summary.json",
        "config.json",
        "eta_by_zone.png",
        "share_met_by_district.png",
        "map.html",
    ):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["zones"]["shaoguan"]["incidents"] == summary["run"]["incidents"] > 0
    assert set(summary["districts"]) >= {"浈江区"}
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert len(config["input_files"]["fleet"]["sha256"]) == 64 and config["inputs"]["seed"] == 4
    assert "Guarantee met" in result.stdout


def test_simulate_json_repeats_with_the_seed(grid_files, tmp_path):
    """--json prints one object; the same seed gives the same zones and districts."""
    fleet, demand = grid_files
    runs = [
        runner.invoke(app, simulate_args(fleet, demand, tmp_path / f"r{k}", "--json", "--no-map"))
        for k in range(2)
    ]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first["zones"] == second["zones"] and first["districts"] == second["districts"]
    assert not (tmp_path / "r0" / "map.html").exists()


def test_simulate_replays_a_csv(grid_files, tmp_path):
    """--replay runs past incidents; each row is one incident of the report."""
    fleet, _ = grid_files
    past = tmp_path / "past.csv"
    past.write_text(
        "id,reported_at,lat,lon,needs\nA,2026-03-02T09:00:00,24.812,113.590,survey\n"
        "B,2026-03-02T09:05:00,24.820,113.600,survey;tow_flatbed\n",
        encoding="utf-8",
    )
    args = [
        "simulate",
        "--fleet",
        str(fleet),
        "--replay",
        str(past),
        "--out",
        str(tmp_path / "o"),
        "--json",
        "--no-map",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["incidents"] == 2


def test_simulate_bad_options_are_one_line_exit_2(grid_files, tmp_path):
    """--demand with --replay, or a bad date, is one line naming the option and exit code 2."""
    fleet, demand = grid_files
    both = runner.invoke(app, simulate_args(fleet, demand, tmp_path / "x", "--replay", str(demand)))
    assert both.exit_code == 2 and both.stderr.startswith("error: replay:")
    bad_date = runner.invoke(app, simulate_args(fleet, demand, tmp_path / "x", "--start", "March"))
    assert bad_date.exit_code == 2 and "start:" in bad_date.stderr


def test_fleet_size_writes_the_curve(grid_files, tmp_path, grid_router):
    """fleet-size prints the table and writes fleet_size.json, its chart and config.json."""
    fleet, demand = grid_files
    net = grid_router.road.network
    sites = tmp_path / "sites.csv"
    rows = [f"N{i},{net.node_lat[i]},{net.node_lon[i]}" for i in range(0, net.n_nodes, 41)]
    sites.write_text("id,lat,lon\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "size"
    args = [
        "fleet-size",
        "--target",
        "0.6",
        "--minutes",
        "5",
        "--fleet",
        str(fleet),
        "--demand",
        str(demand),
        "--candidates",
        str(sites),
        "--days",
        "1",
        "--min-cars",
        "1",
        "--max-cars",
        "4",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "fleet_size.json").read_text(encoding="utf-8"))
    assert [p["cars"] for p in payload["curve"]] == sorted(p["cars"] for p in payload["curve"])
    assert (out / "fleet_size.png").stat().st_size > 0 and (out / "config.json").exists()
    assert "cars" in result.stdout


def test_ctrl_c_writes_the_partial_report(grid_files, tmp_path, monkeypatch):
    """Ctrl-C during the run still writes the report of the incidents so far, exit code 130."""
    from dispatch_engine.simulation import des

    report = des.EventLoop._report

    def interrupted_at_the_fourth(run, at_s, k, vehicle_id):
        if k == 3:
            raise KeyboardInterrupt
        report(run, at_s, k, vehicle_id)

    monkeypatch.setattr(des.EventLoop, "_report", interrupted_at_the_fourth)
    fleet, demand = grid_files
    result = runner.invoke(
        app, simulate_args(fleet, demand, tmp_path / "cut", "--json", "--no-map")
    )
    assert result.exit_code == 130
    summary = json.loads(result.stdout)
    assert summary["run"]["interrupted"] and summary["run"]["incidents"] == 3
    assert (tmp_path / "cut" / "summary.json").exists()


def test_simulate_on_several_processes_reports_the_same(grid_files, tmp_path):
    """--workers splits the run (40 days, ~640 incidents, two stretches): the summary is
    the one-process summary; --workers 0 is refused in one line."""
    fleet, demand = grid_files
    summaries = []
    for workers, processes in (("1", 1), ("2", 2)):
        args = simulate_args(fleet, demand, tmp_path / workers, "--json", "--no-map")
        args[args.index("--days") + 1] = "40"
        result = runner.invoke(app, [*args, "--workers", workers])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        summary.pop("outputs")
        assert all(summary["run"].pop(k) > 0 for k in ("wall_s", "incidents_per_s"))
        assert summary["run"].pop("processes") == processes
        summaries.append(summary)
    assert summaries[0] == summaries[1]
    zero = runner.invoke(app, simulate_args(fleet, demand, tmp_path / "x", "--workers", "0"))
    assert zero.exit_code == 2 and "--workers" in zero.stderr
