"""Shared dependencies, declared once as annotated aliases: the app's services, the
caller (from ``X-API-Key``) and the roles each kind of request needs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api.auth import Role, require_role
from api.services import Services
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.store.dispatch_sql import ApiKey

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Create one with `dispatch-engine keys create --role ROLE`.",
)


async def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not take: ``?stauts=open`` is a typo to report,
    not a filter to ignore silently (an app-wide dependency)."""
    if not request.scope["query_string"]:
        return  # most requests (every report) have none: nothing to walk
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        taken = ", ".join(sorted(_query_names(dependant))) or "none"
        raise InvalidInputError(
            f"unknown query parameter {unknown[0]!r}; this endpoint takes: {taken}",
            field=unknown[0],
        )


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


async def _services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(_services)]


async def _caller(services: ServicesDep, key: Annotated[str | None, Security(_api_key)]) -> ApiKey:
    """A recently seen key is answered in the event loop; only a lookup in the database
    goes to a worker thread (each hop costs CPU the dispatch decision needs)."""
    cached = services.auth.cached(key)
    return cached if cached is not None else await run_in_threadpool(services.auth.caller, key)


def _role(*roles: Role) -> Callable[[ApiKey], Coroutine[Any, Any, ApiKey]]:
    allowed = frozenset(roles)

    async def check(caller: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
        return require_role(caller, allowed)

    return check


# Who may do what; admins may do everything.
Dispatching = Annotated[ApiKey, Depends(_role(Role.DISPATCHER))]
Reporting = Annotated[ApiKey, Depends(_role(Role.DISPATCHER, Role.CLAIMS))]
Handling = Annotated[ApiKey, Depends(_role(Role.CLAIMS))]
Reading = Annotated[ApiKey, Depends(_role(Role.DISPATCHER, Role.CLAIMS, Role.PLANNER))]
Administering = Annotated[ApiKey, Depends(_role())]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Repeat a request with the same key to get the first result, not a "
        "second report.",
    ),
]
