"""Assemble the core from settings: the one place that picks implementations.

The CLI, the API and the simulation all build their dispatcher here, so they run the
same code with the same data.
"""

from __future__ import annotations

from dispatch_engine.dispatch.ports import Clock, DispatchStore, SystemClock
from dispatch_engine.dispatch.rescue import load_repair_shops
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network import store as network_store
from dispatch_engine.network.router import Router
from dispatch_engine.settings import Settings, fleet_path, repair_shops_path
from dispatch_engine.store.memory import MemoryDispatchStore


def build_router(
    settings: Settings, *, progress: network_store.Progress = network_store.quiet
) -> Router:
    """Road engine over the selected network plus the estimate fallback."""
    return Router.from_settings(network_store.load_network(settings, progress=progress), settings)


def build_dispatcher(
    settings: Settings,
    *,
    store: DispatchStore | None = None,
    clock: Clock | None = None,
    router: Router | None = None,
    progress: network_store.Progress = network_store.quiet,
) -> Dispatcher:
    """A dispatcher over the configured network, fleet and repair shops.

    Without a ``store`` it keeps state in memory, starting from the fleet file.
    """
    return Dispatcher(
        store=store or MemoryDispatchStore(load_fleet(fleet_path(settings))),
        router=router or build_router(settings, progress=progress),
        classifier=ZoneClassifier.from_settings(settings),
        clock=clock or SystemClock(),
        repair_shops=load_repair_shops(repair_shops_path(settings)),
        horizon_s=settings.dispatch_horizon_min * 60.0,
    )
