"""Fixtures of the simulation tests: the test grid as a router, zones, small demand files."""

from __future__ import annotations

import pytest
import yaml

from dispatch_engine.geo.boundaries import load_boundaries
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import EstimateEngine, RoadEngine
from dispatch_engine.network.router import Router
from tests.simulation.factories import demand_document


@pytest.fixture(scope="session")
def grid_router(grid_graph) -> Router:
    """Exact road times on the 8x8 test grid around the Shaoguan urban core."""
    road = RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)
    return Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))


@pytest.fixture(scope="session")
def classifier(settings) -> ZoneClassifier:
    return ZoneClassifier.from_settings(settings)


@pytest.fixture(scope="session")
def boundaries(settings):
    return load_boundaries(settings.data_dir, cache_dir=settings.cache_dir)


@pytest.fixture
def demand_file(tmp_path):
    """The small demand of ``demand_document()`` written as YAML."""
    path = tmp_path / "demand.yaml"
    path.write_text(yaml.safe_dump(demand_document(), allow_unicode=True), encoding="utf-8")
    return path
