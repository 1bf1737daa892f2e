"""Planners' CSV files and road travel times becoming a cost matrix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dispatch_engine.errors import InvalidInputError, OffNetworkError
from dispatch_engine.locate.inputs import (
    Places,
    read_cost_matrix_csv,
    read_demand_csv,
    read_sites_csv,
    road_cost_matrix,
)
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import RoadEngine


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engine(grid_graph) -> RoadEngine:
    return RoadEngine(compile_graph(grid_graph), snap_max_m=500.0, offroad_speed_kph=15.0)


def test_demand_csv_is_read_with_bom_extra_columns_and_blank_lines(tmp_path):
    """Ids, coordinates and weights come through; BOM, extra columns, blank lines are harmless."""
    path = write(
        tmp_path,
        "demand.csv",
        "\ufeffname,id,lat,lon,weight\nx,A,24.8,113.6,2.5\n\ny,B,24.9,113.7,0\n",
    )
    demand = read_demand_csv(path)
    assert demand.ids == ("A", "B")
    assert demand.lat.tolist() == [24.8, 24.9] and demand.lon.tolist() == [113.6, 113.7]
    assert demand.weights.tolist() == [2.5, 0.0]


def test_bad_demand_cell_names_file_row_and_column(tmp_path):
    """A negative weight is named by spreadsheet row and column, with the count of the rest."""
    path = write(
        tmp_path,
        "demand.csv",
        "id,lat,lon,weight\nA,24.8,113.6,1\n\nB,24.9,113.7,-3\nC,95,113.7,1\n",
    )
    with pytest.raises(InvalidInputError) as err:
        read_demand_csv(path)
    assert err.value.field == "demand"
    message = str(err.value)
    assert f"{path} row 4, column 'weight'" in message and "'-3'" in message
    assert "(and 1 more problem in this file)" in message


def test_missing_column_duplicate_id_and_ragged_row_are_named(tmp_path):
    """Missing columns name row 1; a duplicate id names both rows; a short row names its row."""
    missing = write(tmp_path, "sites.csv", "id,lat\nA,24.8\n")
    with pytest.raises(InvalidInputError, match=r"row 1: missing column 'lon'") as err:
        read_sites_csv(missing)
    assert err.value.field == "candidates"
    duplicate = write(tmp_path, "dup.csv", "id,lat,lon\nA,24.8,113.6\nA,24.9,113.7\n")
    with pytest.raises(
        InvalidInputError, match=r"row 3, column 'id': duplicate id 'A' \(first at row 2\)"
    ):
        read_sites_csv(duplicate)
    ragged = write(tmp_path, "ragged.csv", "id,lat,lon\nA,24.8,113.6\nB,24.9\n")
    with pytest.raises(InvalidInputError, match=r"row 3: 2 cells for the header's 3 columns"):
        read_sites_csv(ragged)
    with pytest.raises(InvalidInputError, match="no such file"):
        read_sites_csv(tmp_path / "absent.csv")


def test_cost_matrix_csv_reads_minutes_unreachable_cells_and_weights(tmp_path):
    """Rows demand ids, columns site ids; empty and 'inf' are unreachable; weights align by id."""
    costs = write(tmp_path, "costs.csv", "demand_id,a,b\nd1,3.5,\nd2,inf,12\n")
    weights = write(tmp_path, "weights.csv", "id,weight\nd2,4\nd1,1.5\n")
    matrix = read_cost_matrix_csv(costs, weights_path=weights)
    assert matrix.demand_ids == ("d1", "d2") and matrix.site_ids == ("a", "b")
    assert matrix.travel_min.tolist() == [[3.5, np.inf], [np.inf, 12.0]]
    assert matrix.weights.tolist() == [1.5, 4.0]
    assert read_cost_matrix_csv(costs).weights.tolist() == [1.0, 1.0]


def test_bad_cost_cell_is_named_by_row_and_site_column(tmp_path):
    """A non-number or negative time names the row and the site id heading its column."""
    costs = write(tmp_path, "costs.csv", "demand_id,a,b\nd1,3.5,4\nd2,1,ten\nd3,-2,1\n")
    with pytest.raises(InvalidInputError) as err:
        read_cost_matrix_csv(costs)
    assert err.value.field == "costs"
    assert f"{costs} row 3, column 'b'" in str(err.value) and "'ten'" in str(err.value)
    assert "(and 1 more problem in this file)" in str(err.value)


def test_weights_file_must_match_the_matrix_ids(tmp_path):
    """An unknown id names its weights row; a demand id without weight is named too."""
    costs = write(tmp_path, "costs.csv", "demand_id,a\nd1,3\nd2,4\n")
    unknown = write(tmp_path, "w1.csv", "id,weight\nd1,1\nd2,1\nd9,1\n")
    with pytest.raises(
        InvalidInputError, match=r"row 4, column 'id': 'd9' is not a demand id"
    ) as err:
        read_cost_matrix_csv(costs, weights_path=unknown)
    assert err.value.field == "weights"
    short = write(tmp_path, "w2.csv", "id,weight\nd1,1\n")
    with pytest.raises(
        InvalidInputError, match=r"no weight for demand id 'd2' \(row 3 of the cost matrix\)"
    ):
        read_cost_matrix_csv(costs, weights_path=short)


def test_road_matrix_equals_networkx_from_site_to_demand(grid_graph, engine):
    """Road minutes run site -> demand point and equal networkx Dijkstra (one-way streets too)."""
    rng = np.random.default_rng(3)
    nodes = list(grid_graph.nodes)
    demand_nodes = [nodes[i] for i in rng.choice(len(nodes), 15, replace=False)]
    site_nodes = [nodes[i] for i in rng.choice(len(nodes), 6, replace=False)]

    def places(node_list, prefix):
        return Places(
            ids=tuple(f"{prefix}{n}" for n in node_list),
            lat=np.array([grid_graph.nodes[n]["y"] for n in node_list]),
            lon=np.array([grid_graph.nodes[n]["x"] for n in node_list]),
            weights=np.arange(1.0, len(node_list) + 1),
        )

    matrix = road_cost_matrix(engine, places(demand_nodes, "d"), places(site_nodes, "s"))
    assert matrix.travel_min.shape == (15, 6)
    assert matrix.weights.tolist() == list(np.arange(1.0, 16))
    for j, site in enumerate(site_nodes):
        seconds = nx.single_source_dijkstra_path_length(grid_graph, site, weight="travel_time")
        for i, point in enumerate(demand_nodes):
            assert matrix.travel_min[i, j] == pytest.approx(seconds[point] / 60.0, abs=1e-3)


def test_off_network_point_is_named(engine):
    """A demand point far from every road raises OffNetworkError naming its id and the count."""
    demand = Places(("near", "far"), np.array([24.81, 25.5]), np.array([113.59, 114.5]), np.ones(2))
    sites = Places(("s",), np.array([24.81]), np.array([113.59]), np.ones(1))
    with pytest.raises(
        OffNetworkError, match=r"demand point 'far' at 25.50000,114.50000 .* \(1 of 2"
    ) as err:
        road_cost_matrix(engine, demand, sites)
    assert err.value.field == "demand"
