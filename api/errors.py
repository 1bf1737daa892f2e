"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``.

The core's exception tree maps to 4xx (bad input 422, unknown record 404, a conflict with
stored state 409); FastAPI's validation errors name the first bad field by its dotted path
in the body or query. Anything unexpected is a logged 500 without internals in the body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.auth import Forbidden, Unauthorized
from dispatch_engine.errors import (
    ConflictError,
    DataError,
    DispatchEngineError,
    ExternalServiceError,
    NotFoundError,
)

logger = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides.
STATUS_OF: tuple[tuple[type[DispatchEngineError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (DataError, 503),  # configured data missing (e.g. no holiday calendar for a year)
    (ExternalServiceError, 502),
    (DispatchEngineError, 422),  # InvalidInputError and its subclasses
)
# Where FastAPI puts a parameter; not part of the field name a client knows.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _respond(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _field_of(location: tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or None


async def _core_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DispatchEngineError)
    status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
    if status >= 500:
        logger.error("%s: %s", type(exc).__name__, exc)
    return _respond(status, exc.code, exc.message, exc.field)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        return _respond(422, "invalid_input", message, "body")
    return _respond(422, "invalid_input", message, _field_of(tuple(first.get("loc", ()))))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    # FastAPI's only 400 is a body it cannot parse (not UTF-8, not JSON at all).
    field = "body" if exc.status_code == 400 else None
    return _respond(exc.status_code, code, str(exc.detail), field)


async def _unauthorized(_: Request, exc: Exception) -> JSONResponse:
    return _respond(401, "unauthorized", str(exc), "X-API-Key")


async def _forbidden(_: Request, exc: Exception) -> JSONResponse:
    return _respond(403, "forbidden", str(exc), "X-API-Key")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error")
    return _respond(500, "internal", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(DispatchEngineError, _core_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(Exception, _unexpected)
