"""Charts and map files of a run: written, non-empty, and the reach areas make sense."""

from __future__ import annotations

import numpy as np
import shapely

from dispatch_engine.simulation import maps, plots
from dispatch_engine.simulation.report import Outcome
from tests.fleet.factories import make_base

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def outcomes(n=40):
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        eta = float("nan") if k % 10 == 0 else float(rng.uniform(2, 70))
        district = "浈江区" if k % 2 else "武江区"
        rows.append(
            Outcome(
                f"I{k}",
                24.81 + rng.normal(0, 0.005),
                113.59 + rng.normal(0, 0.005),
                "shaoguan" if k % 5 else "guangdong",
                district,
                eta,
                eta <= 15,
                False,
            )
        )
    return rows


def test_charts_are_written_as_png(tmp_path):
    """ETA histogram, district shares and the fleet curve are non-empty PNG files."""
    rows = outcomes()
    districts = {
        "浈江区": {"incidents": 12, "share_met": 0.5},
        "武江区": {"incidents": 0, "share_met": None},
    }
    paths = [
        plots.plot_eta_by_zone(rows, tmp_path / "eta.png", note="SYNTHETIC"),
        plots.plot_share_by_district(districts, tmp_path / "districts.png", target=0.95),
        plots.plot_fleet_curve(
            [4, 2, 8], [0.5, 0.3, 0.9], tmp_path / "curve.png", target=0.8, minutes=15, smallest=8
        ),
    ]
    for path in paths:
        assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 5000


def test_reach_area_holds_the_base_and_grows_with_minutes(grid_router):
    """A base on a road lies in its own reach; 10 minutes reach farther than 2."""
    net = grid_router.road.network
    base = make_base(id="B1", lat=float(net.node_lat[100]), lon=float(net.node_lon[100]))
    small = maps.reach_areas(grid_router, [base], minutes=2)["B1"]
    large = maps.reach_areas(grid_router, [base], minutes=10)["B1"]
    assert shapely.intersects_xy(shapely.buffer(small, 0.001), base.lon, base.lat)
    assert large.area > small.area > 0


def test_map_has_every_layer(grid_router, tmp_path):
    """The HTML map carries the bases, the reach layer and the met / missed / unserved layers."""
    base = make_base(id="B1")
    path = maps.write_map(
        tmp_path / "map.html",
        bases=[base],
        vehicles_at={"B1": 3},
        rows=outcomes(),
        reach=maps.reach_areas(grid_router, [base]),
        note="SYNTHETIC network",
    )
    html = path.read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "15-minute reach" in html
    for layer in ("incidents met", "incidents missed", "incidents unserved", "bases"):
        assert layer in html
    assert "SYNTHETIC network" in html
