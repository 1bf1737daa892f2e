"""Shared fixtures for the claims tests: the default calendar and the example override."""

from __future__ import annotations

import pytest

from dispatch_engine.claims.calendar import BusinessCalendar, load_calendar_overrides
from dispatch_engine.settings import REPO_DATA_DIR

EXAMPLE_OVERRIDES = REPO_DATA_DIR / "calendar" / "overrides.example.yaml"


@pytest.fixture(scope="session")
def calendar() -> BusinessCalendar:
    """Default hours (09-12, 13-18), library holidays only."""
    return BusinessCalendar()


@pytest.fixture(scope="session")
def calendar_2027() -> BusinessCalendar:
    """Default hours plus the shipped example override for 2027."""
    return BusinessCalendar(overrides=load_calendar_overrides(EXAMPLE_OVERRIDES))
