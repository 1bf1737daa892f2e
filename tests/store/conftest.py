"""Store tests run against both databases (see ``databases.py``)."""

import pytest

from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import EstimateEngine, RoadEngine
from dispatch_engine.network.router import Router
from tests.store.databases import engine, postgres_engine, sqlite_template, store  # noqa: F401


@pytest.fixture(scope="module")
def router(grid_graph) -> Router:
    """Road times on the test grid, great-circle estimates off it."""
    road = RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)
    return Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))
