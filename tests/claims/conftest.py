"""Shared fixtures for the claims tests: the calendars, a clock, the real dispatcher on the
small test grid, and the claims services on both databases (``tests/store/databases.py``)."""

from __future__ import annotations

import pytest

from dispatch_engine.claims.calendar import BusinessCalendar, load_calendar_overrides
from dispatch_engine.claims.complaints import ComplaintsService
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.claims.settlement import SettlementService
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import EstimateEngine, RoadEngine
from dispatch_engine.network.router import Router
from dispatch_engine.settings import REPO_DATA_DIR
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.claims.factories import at
from tests.fleet.factories import make_fleet, make_vehicle
from tests.store.databases import engine, postgres_engine, sqlite_template, store  # noqa: F401

EXAMPLE_OVERRIDES = REPO_DATA_DIR / "calendar" / "overrides.example.yaml"


@pytest.fixture(scope="session")
def calendar() -> BusinessCalendar:
    """Default hours (09-12, 13-18), library holidays only."""
    return BusinessCalendar()


@pytest.fixture(scope="session")
def calendar_2027() -> BusinessCalendar:
    """Default hours plus the shipped example override for 2027."""
    return BusinessCalendar(overrides=load_calendar_overrides(EXAMPLE_OVERRIDES))


@pytest.fixture
def clock() -> ManualClock:
    """Tuesday 2025-09-30 10:05, five minutes after the default report time."""
    return ManualClock(at("2025-09-30 10:05"))


@pytest.fixture(scope="session")
def router(grid_graph) -> Router:
    """Road times on the test grid around the Shaoguan urban core."""
    road = RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)
    return Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))


@pytest.fixture(scope="session")
def classifier(settings) -> ZoneClassifier:
    """Zones from the embedded boundaries."""
    return ZoneClassifier.from_settings(settings)


@pytest.fixture
def dispatcher(router, classifier, clock) -> Dispatcher:
    """The real dispatch core with two survey cars in the urban core, sharing the clock."""
    fleet = make_fleet(make_vehicle(id="S1"), make_vehicle(id="S2", lat=24.82, lon=113.59))
    return Dispatcher(
        store=MemoryDispatchStore(fleet), router=router, classifier=classifier, clock=clock
    )


@pytest.fixture
def service(store, clock, calendar, dispatcher) -> ClaimsService:  # noqa: F811
    """The claims service on the test database."""
    return ClaimsService(store, clock=clock, calendar=calendar, dispatch=dispatcher)


@pytest.fixture
def settlement(store, clock, calendar) -> SettlementService:  # noqa: F811
    """Approval and payments on the test database."""
    return SettlementService(store, clock=clock, calendar=calendar)


@pytest.fixture
def complaints(store, clock, calendar) -> ComplaintsService:  # noqa: F811
    """The complaints service on the test database."""
    return ComplaintsService(store, clock=clock, calendar=calendar)
