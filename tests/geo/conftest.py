"""Geography fixtures: the shipped boundaries and one classifier, loaded once per session."""

from __future__ import annotations

import pytest

from dispatch_engine.geo.boundaries import Boundaries, load_boundaries
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.settings import Settings


@pytest.fixture(scope="session")
def boundaries(settings: Settings) -> Boundaries:
    """The WGS-84 boundary layers of ``data/boundaries`` (parsed once into the cache dir)."""
    return load_boundaries(settings.data_dir, cache_dir=settings.cache_dir)


@pytest.fixture(scope="session")
def zone_classifier(boundaries: Boundaries) -> ZoneClassifier:
    """A classifier over the shipped boundaries."""
    return ZoneClassifier(boundaries)
