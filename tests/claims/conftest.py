"""Shared fixtures for the claims tests: the calendars, a clock, the dispatch stand-in, and
the claims services on both databases (fixtures from ``tests/store/databases.py``)."""

from __future__ import annotations

import pytest

from dispatch_engine.claims.calendar import BusinessCalendar, load_calendar_overrides
from dispatch_engine.claims.complaints import ComplaintsService
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.settings import REPO_DATA_DIR
from tests.claims.factories import FakeDispatch, FixedClock, at
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
def clock() -> FixedClock:
    """Tuesday 2025-09-30 10:05, five minutes after the default report time."""
    return FixedClock(at("2025-09-30 10:05"))


@pytest.fixture
def dispatch() -> FakeDispatch:
    """The in-memory dispatch stand-in."""
    return FakeDispatch()


@pytest.fixture
def service(store, clock, calendar, dispatch) -> ClaimsService:  # noqa: F811
    """The claims service on the test database."""
    return ClaimsService(store, clock=clock, calendar=calendar, dispatch=dispatch)


@pytest.fixture
def complaints(store, clock, calendar) -> ComplaintsService:  # noqa: F811
    """The complaints service on the test database."""
    return ComplaintsService(store, clock=clock, calendar=calendar)
