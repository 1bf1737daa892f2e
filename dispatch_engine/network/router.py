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
from dispatch_engine.network.engine import CoreEngine, EstimateEngine, RoadEngine, Route
from dispatch_engine.settings import Settings


def road_engine_from_settings(network: CompiledNetwork, settings: Settings) -> CoreEngine:
    """The road engine ``settings.engine`` names, over ``network``."""
    engine = CCHEngine if settings.engine == "cch" else RoadEngine
    return engine.from_settings(network, settings)


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
        origin: tuple[float, float],
        lat: np.ndarray,
        lon: np.ndarray,
        *,
        at: datetime | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Seconds from one point to many, and which of them are estimates.

        Road times for destinations on the network when the origin is too, the estimate
        for the rest.
        """
        lat, lon = np.atleast_1d(lat), np.atleast_1d(lon)
        seconds = self.fallback.one_to_many(
            self.fallback.locate(*origin), self.fallback.locate(lat, lon)
        )
        estimate = np.ones(lat.size, dtype=bool)
        origin_found, start = self.road.locate_where_possible(origin[0], origin[1])
        found, ends = self.road.locate_where_possible(lat, lon)
        if origin_found[0] and found.any():
            seconds[found] = self.road.one_to_many(start, ends, at=at)
            estimate[found] = False
        return seconds, estimate
