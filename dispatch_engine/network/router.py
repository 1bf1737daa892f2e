"""Pick the engine for a trip: exact road times on the network, a flagged estimate off it.

The embedded network covers Shaoguan; a trip with an end elsewhere in Guangdong or in
another province has no road graph here, so it gets the great-circle estimate (SPEC §3).
The road engine is the one the settings select: the CCH engine (default) or the
Dijkstra reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dispatch_engine.errors import OffNetworkError
from dispatch_engine.network.cch import CCHEngine
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.engine import CoreEngine, EstimateEngine, Points, RoadEngine, Route
from dispatch_engine.network.snap import Snapped
from dispatch_engine.settings import Settings


def road_engine_from_settings(network: CompiledNetwork, settings: Settings) -> CoreEngine:
    """The road engine ``settings.engine`` names, over ``network``."""
    engine = CCHEngine if settings.engine == "cch" else RoadEngine
    return engine.from_settings(network, settings)


@dataclass(frozen=True, eq=False)
class LocatedPoints:
    """WGS-84 points located once for every query about them: snapped where near a road."""

    points: Points
    found: np.ndarray  # bool per point: near enough to a road to be snapped
    snapped: Snapped  # the found points, in order

    def take(self, index: int) -> LocatedPoints:
        """One of the points, still located (no second snap)."""
        found = self.found[index : index + 1]
        rows = np.cumsum(self.found)[index : index + 1][found] - 1
        return LocatedPoints(
            self.points.take(slice(index, index + 1)), found, self.snapped.take(rows)
        )


def locate_points(
    router: Router, lat: np.ndarray | float, lon: np.ndarray | float
) -> LocatedPoints:
    """Validate and locate points (incidents) for :func:`eta_matrix` and routes."""
    found, snapped = router.road.locate_where_possible(lat, lon)
    return LocatedPoints(Points(_as_array(lat), _as_array(lon)), found, snapped)


def _as_array(values: np.ndarray | float) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


@dataclass(frozen=True)
class Router:
    """Both engines over one network; ``route`` chooses per trip."""

    road: CoreEngine
    fallback: EstimateEngine

    @classmethod
    def from_settings(cls, network: CompiledNetwork, settings: Settings) -> Router:
        return cls(
            road_engine_from_settings(network, settings), EstimateEngine.from_settings(settings)
        )

    def route(
        self,
        origin: tuple[float, float],
        destination: tuple[float, float],
        *,
        at: datetime | None = None,
    ) -> Route:
        """Fastest road route when both WGS-84 ends snap to the network, else an estimate.

        ``at`` (timezone-aware) is the departure time for the road engine's speed
        profile; without it, free flow.
        """
        try:
            a = self.road.locate(origin[0], origin[1])
            b = self.road.locate(destination[0], destination[1])
        except OffNetworkError:
            return self.fallback.route(
                self.fallback.locate(*origin), self.fallback.locate(*destination)
            )
        return self.road.route(a, b, at=at)

    def one_to_many(
        self,
        origin: LocatedPoints,
        destinations: LocatedPoints,
        *,
        at: datetime | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Seconds from one located point to many, and which of them are estimates.

        Road times for destinations on the network when the origin is too, the estimate
        for the rest. Located ends (:func:`locate_points`) are located once for many
        trips (e.g. to the designated repair shops).
        """
        seconds = self.fallback.one_to_many(origin.points, destinations.points)
        estimate = np.ones(len(destinations.points), dtype=bool)
        if origin.found[0] and destinations.found.any():
            seconds[destinations.found] = self.road.one_to_many(
                origin.snapped, destinations.snapped, at=at
            )
            estimate[destinations.found] = False
        return seconds, estimate
