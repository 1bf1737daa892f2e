"""``plan-bases`` end to end through an in-process Typer app."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dispatch_engine.commands import locate
from dispatch_engine.network.compile import compile_graph

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, so the command keeps its name as with the real CLI."""

    locate.register(app)
    return app


def run(*args: str):
    return runner.invoke(make_app(), ["plan-bases", *map(str, args)])


@pytest.fixture()
def line_matrix(tmp_path):
    """A four-point instance as a planner's cost matrix and weights."""
    costs = tmp_path / "costs.csv"
    costs.write_text("demand_id,a,b,c\nd0,2,25,40\nd1,8,9,30\nd2,20,3,18\nd3,30,10,12\n")
    weights = tmp_path / "weights.csv"
    weights.write_text("id,weight\nd0,5\nd1,1\nd2,3\nd3,3\n")
    return costs, weights


def test_mclp_from_a_cost_matrix_prints_sites_objective_and_share(line_matrix):
    """--json gives the chosen ids, covered weight, covered share and the proof of optimality."""
    costs, weights = line_matrix
    result = run(
        "--model",
        "mclp",
        "--facilities",
        1,
        "--minutes",
        10,
        "--costs",
        costs,
        "--weights",
        weights,
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["sites"] == [
        "b"
    ]  # b reaches d1, d2, d3 (weight 7) within 10 min, a only d0, d1 (6)
    assert payload["objective"] == 7.0
    assert payload["covered_share"] == pytest.approx(7 / 12, abs=1e-4)
    assert payload["proven_optimal"] is True and payload["gap"] == 0.0
    assert payload["demand_points"] == 4 and payload["candidate_sites"] == 3


def test_pmedian_and_lscp_from_a_cost_matrix(line_matrix):
    """p-median minimises weighted minutes; LSCP finds the fewest sites covering all within T."""
    costs, weights = line_matrix
    pmedian = json.loads(
        run(
            "--model",
            "pmedian",
            "--facilities",
            2,
            "--costs",
            costs,
            "--weights",
            weights,
            "--json",
        ).stdout
    )
    assert pmedian["sites"] == ["a", "b"] and pmedian["objective"] == 5 * 2 + 1 * 8 + 3 * 3 + 3 * 10
    lscp = json.loads(run("--model", "lscp", "--minutes", 12, "--costs", costs, "--json").stdout)
    assert lscp["facilities"] == 2 and lscp["covered_share"] == 1.0 and lscp["objective"] == 2


def test_road_network_placement_from_demand_and_candidate_csvs(tmp_path, grid_graph):
    """--demand/--candidates use road times on the chosen network (free flow or --at), saying so."""
    network = tmp_path / "grid.npz"
    compile_graph(grid_graph).save(network)
    rng = np.random.default_rng(5)
    nodes = list(grid_graph.nodes)
    demand_rows = (
        f"D{k},{grid_graph.nodes[n]['y']},{grid_graph.nodes[n]['x']},{k % 4 + 1}\n"
        for k, n in enumerate(rng.choice(nodes, 30, replace=False))
    )
    site_rows = (
        f"S{k},{grid_graph.nodes[n]['y']},{grid_graph.nodes[n]['x']}\n"
        for k, n in enumerate(rng.choice(nodes, 8, replace=False))
    )
    demand, sites = tmp_path / "demand.csv", tmp_path / "sites.csv"
    demand.write_text("id,lat,lon,weight\n" + "".join(demand_rows))
    sites.write_text("id,lat,lon\n" + "".join(site_rows))
    args = ("--model", "mclp", "--facilities", 2, "--minutes", 1, "--demand", demand)
    args += ("--candidates", sites, "--network", network)
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["sites"]) == 2 and set(payload["sites"]) <= {f"S{k}" for k in range(8)}
    assert (
        payload["travel_times"].startswith("road network")
        and "free flow" in payload["travel_times"]
    )
    assert payload["demand_points"] == 30 and payload["proven_optimal"] is True
    assert 0.0 < payload["covered_share"] <= 1.0
    peak = run(*args, "--at", "2026-03-02T08:00", "--json")
    assert peak.exit_code == 0, peak.output
    assert "traffic of 2026-03-02T08:00:00+08:00" in json.loads(peak.stdout)["travel_times"]
    text = run(*args)
    assert text.exit_code == 0 and "proven optimal" in text.stdout


def test_bad_csv_is_one_line_naming_file_row_and_column(tmp_path):
    """A bad cell gives exit code 2 and one line with the file, row and column; no traceback."""
    demand = tmp_path / "demand.csv"
    demand.write_text("id,lat,lon,weight\nA,24.8,113.6,1\nB,24.9,north,1\n")
    sites = tmp_path / "sites.csv"
    sites.write_text("id,lat,lon\nS,24.8,113.6\n")
    result = run("--model", "mclp", "--facilities", 1, "--demand", demand, "--candidates", sites)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"error: demand: {demand} row 3, column 'lon'")


def test_option_mistakes_name_the_option(line_matrix, tmp_path):
    """Missing or misplaced --facilities, mixed inputs, an infeasible LSCP: one-line errors."""
    costs, weights = line_matrix
    cases = [
        (("--model", "pmedian", "--costs", costs), "error: facilities: pmedian needs --facilities"),
        (("--model", "lscp", "--facilities", 2, "--costs", costs), "error: facilities: lscp finds"),
        (
            ("--model", "mclp", "--facilities", 1, "--costs", costs, "--demand", costs),
            "error: costs: give either",
        ),
        (("--model", "mclp", "--facilities", 1), "error: demand: give --demand"),
        (("--model", "lscp", "--costs", costs, "--at", "2026-03-02T08:00"), "error: at: --at sets"),
        (
            ("--model", "lscp", "--minutes", 9, "--costs", costs),
            "error: minutes: no candidate site reaches",
        ),
    ]
    for args, start in cases:
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().startswith(start), result.stderr
