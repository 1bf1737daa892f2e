"""Builders for simulation tests: demand documents, fleets on the test grid, scripted incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dispatch_engine.dispatch.model import IncidentRequest
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.model import SHANGHAI_TZ, Fleet, VehicleKind
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.router import Router
from dispatch_engine.simulation.des import SimIncident, SimulationResult, simulate
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.fleet.factories import make_fleet, make_vehicle

MONDAY = datetime(2026, 3, 2, tzinfo=SHANGHAI_TZ)


def demand_document(**overrides: Any) -> dict[str, Any]:
    """A valid demand file for the test grid (which lies in 浈江区 and 武江区): no
    incidents outside Shaoguan, fixed durations."""
    flat = [1.0] * 24
    document: dict[str, Any] = {
        "name": "test demand",
        "synthetic": True,
        "districts": [
            {"name": "浈江区", "incidents_per_day": 12.0},
            {"name": "武江区", "incidents_per_day": 4.0},
        ],
        "guangdong_per_day": 0.0,
        "national_per_day": 0.0,
        "day_factor": {d: 1.0 for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "hourly": {"weekday": flat, "saturday": flat, "sunday": flat},
        "traffic_weight": {"primary": 2.0},
        "mix": {"injured_share": 0.1, "tow_flatbed_share": 0.2, "tow_crane_share": 0.0},
        "response": {
            "call_after_min": {"distribution": "uniform", "low_min": 0.5, "high_min": 4.5},
            "decline_share": 0.1,
            "on_scene_min": {
                kind: {"distribution": "fixed", "minutes": 20}
                for kind in ("survey", "tow_flatbed", "tow_crane", "repair")
            },
        },
    }
    return document | overrides


def grid_fleet(router: Router, kinds: tuple[VehicleKind, ...], **overrides: Any) -> Fleet:
    """One vehicle per kind, at well-spread nodes of the grid, with the injury skill."""
    net = router.road.network
    vehicles = [
        make_vehicle(
            id=f"V{i}",
            kind=kind,
            lat=float(net.node_lat[i * 37 % net.n_nodes]),
            lon=float(net.node_lon[i * 37 % net.n_nodes]),
            skills=frozenset({"injury_case"}),
            **overrides,
        )
        for i, kind in enumerate(kinds)
    ]
    return make_fleet(*vehicles)


def request(k: int, at: datetime, lat: float, lon: float, **overrides: Any) -> IncidentRequest:
    fields: dict[str, Any] = {"id": f"T{k:03d}", "lat": lat, "lon": lon, "reported_at": at}
    return IncidentRequest(**(fields | overrides))


def scripted(
    req: IncidentRequest, *, on_scene_min: float = 20.0, declines: bool = False
) -> SimIncident:
    """An incident whose vehicles work ``on_scene_min`` and whose first driver may decline."""
    n = len(req.needs)
    return SimIncident(req, 60.0, (on_scene_min * 60.0,) * n, (declines,) + (False,) * (n - 1))


def run(
    router: Router,
    classifier: ZoneClassifier,
    fleet: Fleet,
    incidents: list[SimIncident],
    **kwargs: Any,
) -> tuple[Dispatcher, SimulationResult]:
    start = incidents[0].request.reported_at if incidents else MONDAY
    clock = ManualClock(start - timedelta(minutes=1))
    dispatcher = Dispatcher(
        store=MemoryDispatchStore(fleet), router=router, classifier=classifier, clock=clock
    )
    return dispatcher, simulate(dispatcher, clock, incidents, **kwargs)
