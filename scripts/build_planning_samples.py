"""Generate ``data/planning/``: sample demand points and candidate base sites for ``plan-bases``.

Why a script: base placement needs a demand layer (where incidents happen, how often) and
a set of places a base could go. Neither exists for Shaoguan's police fleet, so both are
**synthetic**, derived deterministically from the embedded synthetic road network:

``demand_synthetic.csv`` (``id,lat,lon,weight``)
    Incidents happen where traffic is: each directed road edge carries an exposure of
    its length (km) times its class's relative accident rate (``DayPlan.traffic_weight``,
    the same table the replayed day draws incidents from). Exposure is summed over
    2 km x 2 km cells; the 2,000 busiest cells become demand points, placed at the road
    node of the cell nearest to its exposure-weighted centre (so every point is on the
    network). ``weight`` is expected incidents per year: the replayed day's Shaoguan rate
    (``DayPlan.shaoguan`` per day x 365) shared in proportion to exposure. Cells left out
    are the quietest; the share of exposure they hold is printed.
``candidate_sites_synthetic.csv`` (``id,lat,lon``)
    The 13 existing own bases of ``data/fleet/shaoguan.yaml`` (their ids), plus one site
    per 7.5 km x 7.5 km cell for the busiest cells up to 300 sites in all, at the node of
    a trunk/primary/secondary/tertiary road nearest to the cell's exposure-weighted
    centre (a depot needs an ordinary road, not an expressway), or any non-expressway
    node when the cell has none. Ids ``S001``... in order of cell exposure.

Run: ``.venv/bin/python scripts/build_planning_samples.py`` (deterministic; no RNG).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from pyproj import Transformer

from dispatch_engine.fleet.files import BRANCH_ID_PREFIX, load_fleet
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.snap import utm_crs_for
from dispatch_engine.network.store import load_network
from dispatch_engine.settings import fleet_path, load_settings
from dispatch_engine.simulation.day import DayPlan

OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "planning"
DEMAND_CELL_M = 2000.0
DEMAND_POINTS = 2000
SITE_CELL_M = 7500.0
CANDIDATE_SITES = 300
DAYS_PER_YEAR = 365
SITE_ROAD_CLASSES = ("trunk", "primary", "secondary", "tertiary")
EXPRESSWAY_CLASSES = ("motorway", "motorway_link")


def edge_exposure(network: CompiledNetwork) -> np.ndarray:
    """Relative accident exposure of each edge: length (km) x the class's accident rate."""
    weight_of = dict(DayPlan().traffic_weight)
    class_weight = np.array([weight_of.get(c, 1.0) for c in network.road_classes])
    return network.edge_length_m / 1000.0 * class_weight[network.edge_class]


def cell_key(x_m: np.ndarray, y_m: np.ndarray, size_m: float) -> np.ndarray:
    """One integer per square cell of side ``size_m`` (UTM metres span far less than 1e6 cells)."""
    return np.floor(x_m / size_m).astype(np.int64) * 1_000_003 + np.floor(y_m / size_m).astype(
        np.int64
    )


def busiest_cells(
    network: CompiledNetwork,
    x_m: np.ndarray,
    y_m: np.ndarray,
    size_m: float,
    count: int,
    *,
    preferred: np.ndarray,
    allowed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``count`` busiest cells: (their node, their exposure, share of all exposure kept).

    Each cell is represented by the node nearest to the cell's exposure-weighted centre
    among its ``preferred`` nodes, or among its ``allowed`` ones when it has no preferred
    node; cells with neither are skipped.
    """
    exposure = edge_exposure(network)
    tail, head = network.edge_tail, network.edge_head
    mid_x, mid_y = (x_m[tail] + x_m[head]) / 2, (y_m[tail] + y_m[head]) / 2
    keys, edge_cell = np.unique(cell_key(mid_x, mid_y, size_m), return_inverse=True)
    cell_exposure = np.bincount(edge_cell, weights=exposure, minlength=keys.size)
    centre_x = np.bincount(edge_cell, weights=exposure * mid_x, minlength=keys.size) / cell_exposure
    centre_y = np.bincount(edge_cell, weights=exposure * mid_y, minlength=keys.size) / cell_exposure
    node_cell_key = cell_key(x_m, y_m, size_m)
    node_cell = np.searchsorted(keys, node_cell_key)
    node_cell[
        (node_cell >= keys.size) | (keys[np.minimum(node_cell, keys.size - 1)] != node_cell_key)
    ] = -1
    chosen_nodes, chosen_exposure = [], []
    for cell in np.argsort(-cell_exposure, kind="stable"):
        in_cell = node_cell == cell
        nodes = np.flatnonzero(in_cell & preferred)
        if nodes.size == 0:
            nodes = np.flatnonzero(in_cell & allowed)
        if nodes.size == 0:
            continue
        nearest = nodes[
            np.argmin((x_m[nodes] - centre_x[cell]) ** 2 + (y_m[nodes] - centre_y[cell]) ** 2)
        ]
        chosen_nodes.append(int(nearest))
        chosen_exposure.append(float(cell_exposure[cell]))
        if len(chosen_nodes) == count:
            break
    kept = np.array(chosen_exposure)
    return np.array(chosen_nodes), kept, float(kept.sum() / exposure.sum())


def nodes_on(network: CompiledNetwork, classes: tuple[str, ...]) -> np.ndarray:
    """Mask of nodes that are the tail of an edge of one of ``classes``."""
    wanted = np.isin(np.array(network.road_classes), classes)
    mask = np.zeros(network.n_nodes, dtype=bool)
    mask[network.edge_tail[wanted[network.edge_class]]] = True
    return mask


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    settings = load_settings()
    network = load_network(settings, progress=print)
    to_m = Transformer.from_crs(
        "EPSG:4326",
        utm_crs_for(float(np.median(network.node_lon)), float(np.median(network.node_lat))),
        always_xy=True,
    )
    x_m, y_m = to_m.transform(network.node_lon, network.node_lat)
    total_exposure = float(edge_exposure(network).sum())
    incidents_per_year = DayPlan().shaoguan * DAYS_PER_YEAR

    every_node = np.ones(network.n_nodes, dtype=bool)
    demand_nodes, demand_exposure, kept = busiest_cells(
        network, x_m, y_m, DEMAND_CELL_M, DEMAND_POINTS, preferred=every_node, allowed=every_node
    )
    weights = incidents_per_year * demand_exposure / total_exposure
    write_csv(
        OUT_DIR / "demand_synthetic.csv",
        ["id", "lat", "lon", "weight"],
        [
            [
                f"D{k + 1:04d}",
                round(float(network.node_lat[n]), 6),
                round(float(network.node_lon[n]), 6),
                round(float(w), 2),
            ]
            for k, (n, w) in enumerate(zip(demand_nodes, weights, strict=True))
        ],
    )
    print(f"demand points hold {kept:.1%} of the road exposure; {weights.sum():.0f} incidents/year")

    bases = [
        b for b in load_fleet(fleet_path(settings)).bases if not b.id.startswith(BRANCH_ID_PREFIX)
    ]
    on_main_road = nodes_on(network, SITE_ROAD_CLASSES)
    ordinary = ~nodes_on(network, EXPRESSWAY_CLASSES) | on_main_road
    grid_nodes, _, _ = busiest_cells(
        network,
        x_m,
        y_m,
        SITE_CELL_M,
        CANDIDATE_SITES - len(bases),
        preferred=on_main_road,
        allowed=ordinary,
    )
    write_csv(
        OUT_DIR / "candidate_sites_synthetic.csv",
        ["id", "lat", "lon"],
        [
            *([b.id, b.lat, b.lon] for b in bases),
            *(
                [
                    f"S{k + 1:03d}",
                    round(float(network.node_lat[n]), 6),
                    round(float(network.node_lon[n]), 6),
                ]
                for k, n in enumerate(grid_nodes)
            ),
        ],
    )


if __name__ == "__main__":
    main()
