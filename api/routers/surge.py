"""Surge: the joint assignment of every open, unassigned incident (SPEC §5)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Dispatching, ServicesDep
from api.schemas.common import ERROR_RESPONSES
from api.schemas.incidents import SurgeOut

router = APIRouter(prefix="/v1/surge", tags=["incidents"], responses=ERROR_RESPONSES)


@router.post("", response_model=SurgeOut)
def surge(caller: Dispatching, services: ServicesDep) -> SurgeOut:
    """Assign the missing vehicles of all open incidents jointly (OR-tools): first the most
    guarantees met (injury cases first), then the least total ETA; never one vehicle twice.
    """
    return SurgeOut.of(services.surge(caller=caller))
