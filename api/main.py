"""The FastAPI app: ``create_app(settings)`` builds one over the settings' database.

Routers are registered here and only here; the services (database, stores, dispatch core,
claims services) are built once per app and reached through ``api.deps``. While the app
runs, a background thread checks call and arrival deadlines every
``settings.escalation_check_s`` seconds and stores the escalations (SPEC §5).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from api import errors
from api.deps import known_query_only
from api.metrics import MetricsMiddleware
from api.routers import (
    appointments,
    claims,
    complaints,
    health,
    incidents,
    payments,
    reports,
    surge,
    vehicles,
)
from api.services import Services
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.network.router import Router
from dispatch_engine.settings import Settings, load_settings

logger = logging.getLogger(__name__)

# Requests run in at most this many threads per process (anyio's default is 40); the
# rest wait their turn in the event loop. Python runs one thread at a time per process:
# more threads only add GIL hand-offs and let the dispatcher's lock holder wait behind
# them, so under overload answers get slower *and* fewer.
REQUEST_THREADS = 8

ROUTERS = (
    health,
    incidents,
    surge,
    vehicles,
    claims,
    payments,
    complaints,
    reports,
    appointments,
)
DESCRIPTION = """\
Dispatch and claims for the Shaoguan police fleet's motor policy (SPEC §1, §8).

Every request but `GET /healthz` needs an `X-API-Key` header (`dispatch-engine keys create
--role dispatcher|claims|planner|admin`). Errors always have the body
`{"error": {"code", "message", "field"}}`. Times are ISO 8601; answers are in Asia/Shanghai.
"""


def create_app(
    settings: Settings, *, clock: Clock | None = None, router: Router | None = None
) -> FastAPI:
    """An app over the database ``settings`` selects (migrated and seeded on the way).

    Parameters
    ----------
    settings
        Database, network, fleet file, escalation interval.
    clock
        Time of every step; default the system clock.
    router
        A ready travel-time router; default built from the settings.
    """
    services = Services.build(settings, clock=clock, router=router)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        _freeze_startup_objects()
        stop = threading.Event()
        checker = threading.Thread(
            target=_check_escalations,
            args=(services, settings.escalation_check_s, stop),
            name="escalations",
            daemon=True,
        )
        if settings.escalation_check_s > 0:
            checker.start()
        try:
            yield
        finally:
            gc.unfreeze()
            stop.set()
            if checker.is_alive():
                checker.join()
            services.close()

    app = FastAPI(
        title="Shaoguan claims dispatch",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    app.state.services = services
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


def _freeze_startup_objects() -> None:
    """Keep what start-up built (road network, indexes, fleet, compiled statements: some
    450,000 objects) out of the cyclic garbage collector's full collections, which then
    scan only what requests made since. Why: a full collection over them took 130-200 ms,
    during which the process answers nothing (a latency spike for every request in
    flight); after the freeze it takes well under a millisecond. The app's shutdown
    unfreezes them (and start-up's few garbage cycles frozen with them): a process that
    goes on, the test suite, collects them as before."""
    gc.freeze()


def app_from_environment() -> FastAPI:
    """The app over the settings of the ``DISPATCH_*`` environment: what each worker process
    of ``dispatch-engine serve --workers N`` builds (uvicorn imports it by name)."""
    return create_app(load_settings())


def _check_escalations(services: Services, interval_s: float, stop: threading.Event) -> None:
    """Run the deadline check until ``stop``; a failed round is logged and retried."""
    while not stop.wait(interval_s):
        try:
            services.check_escalations()
        except Exception:
            logger.exception("escalation check failed; retrying in %.0f s", interval_s)
