"""Road rescue: where a tow truck takes the car (SPEC §5).

Towing inside Guangdong is free (省内无偿拖车) to the nearest designated repair shop by
road time; an owner who names another destination is towed there, outside the free
promise. Outside Guangdong the partner network's local rules apply, so no free tow is
planned here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dispatch_engine.datafiles import read_yaml_model
from dispatch_engine.geo.zones import ZoneResult
from dispatch_engine.network.router import LocatedPoints, Router, locate_points

FREE_TOW_ZONES = frozenset({"shaoguan", "guangdong"})


class _ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    district: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class _ShopsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shops: list[_ShopIn] = Field(min_length=1)


@dataclass(frozen=True)
class RepairShop:
    id: str
    name: str
    district: str
    lat: float
    lon: float


@dataclass(frozen=True)
class TowPlan:
    """Where the tow goes, how far, and whether it is the free Guangdong tow."""

    destination: str
    lat: float
    lon: float
    seconds: float
    meters: float
    estimate: bool
    free: bool
    reason: str


@dataclass(frozen=True, eq=False)
class ShopSites:
    """The designated repair shops, located on the roads once: every tow asks which is
    nearest, and locating them is most of what a tow plan costs."""

    shops: tuple[RepairShop, ...]
    sites: LocatedPoints

    @classmethod
    def locate(cls, router: Router, shops: tuple[RepairShop, ...]) -> ShopSites:
        lat = np.array([s.lat for s in shops], dtype=np.float64)
        lon = np.array([s.lon for s in shops], dtype=np.float64)
        return cls(shops, locate_points(router, lat, lon))


def load_repair_shops(path: Path) -> tuple[RepairShop, ...]:
    """Read the designated shops; a bad file names the field."""
    parsed = read_yaml_model(path, _ShopsIn)
    return tuple(RepairShop(**s.model_dump()) for s in parsed.shops)


def plan_tow(
    router: Router,
    zone: ZoneResult,
    shops: ShopSites | None,
    *,
    owner_destination: tuple[str, float, float] | None = None,
    route_length: bool = True,
) -> TowPlan | None:
    """The tow destination for an incident at ``zone.lat, zone.lon``.

    ``owner_destination`` is (name, lat, lon) when the owner names one. Returns None
    outside Guangdong without an owner's destination, or without designated shops
    (nothing to plan here). Without
    ``route_length`` the free tow's ``meters`` is NaN and no route is searched (planning
    runs read only where and how long).
    """
    origin = (zone.lat, zone.lon)
    if owner_destination is not None:
        name, lat, lon = owner_destination
        route = router.route(origin, (lat, lon))
        return TowPlan(
            name,
            lat,
            lon,
            route.seconds,
            route.meters,
            route.estimate,
            False,
            "destination named by the owner: not the free tow",
        )
    if zone.zone not in FREE_TOW_ZONES or shops is None:
        return None
    seconds, estimate = router.one_to_many(locate_points(router, *origin), shops.sites)
    nearest = int(np.argmin(seconds))
    shop = shops.shops[nearest]
    reason = "free tow inside Guangdong to the nearest designated repair shop"
    if not route_length:
        seconds_s, is_estimate = float(seconds[nearest]), bool(estimate[nearest])
        return TowPlan(
            shop.name, shop.lat, shop.lon, seconds_s, math.nan, is_estimate, True, reason
        )
    route = router.route(origin, (shop.lat, shop.lon))
    return TowPlan(
        shop.name, shop.lat, shop.lon, route.seconds, route.meters, route.estimate, True, reason
    )
