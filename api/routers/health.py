"""Liveness (no key) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import Reading, ServicesDep
from api.errors import error_body
from api.metrics import CONTENT_TYPE
from api.schemas.common import ERROR_RESPONSES, ErrorOut

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"model": ErrorOut, "description": "Database down."}})
def healthz(services: ServicesDep) -> JSONResponse:
    """The server runs and its database answers (503 when it does not)."""
    if services.database_ok():
        return JSONResponse({"status": "ok"})
    return JSONResponse(
        error_body("database_unavailable", "the database does not answer"), status_code=503
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}},
        401: ERROR_RESPONSES[401],
        403: ERROR_RESPONSES[403],
    },
)
def metrics(caller: Reading, services: ServicesDep) -> Response:
    """Requests, latencies, assignments and escalations (breaches), Prometheus text."""
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
