"""Vehicles: the live fleet, and status or position updates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Dispatching, Reading, ServicesDep
from api.schemas.common import ERROR_RESPONSES, RECORD_ID
from api.schemas.vehicles import VehicleOut, VehiclePatch
from dispatch_engine.fleet.model import VehicleKind, VehicleStatus

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[VehicleOut])
def list_vehicles(
    caller: Reading,
    services: ServicesDep,
    kind: VehicleKind | None = None,
    status: VehicleStatus | None = None,
) -> list[VehicleOut]:
    """Every vehicle with its live status and position, in id order."""
    return [VehicleOut.of(v) for v in services.vehicles(kind=kind, status=status)]


@router.patch("/{vehicle_id}", response_model=VehicleOut)
def update_vehicle(
    vehicle_id: Annotated[str, Path(pattern=RECORD_ID, examples=["SV-ZJ1-1"])],
    body: VehiclePatch,
    caller: Dispatching,
    services: ServicesDep,
) -> VehicleOut:
    """Set a vehicle's status and/or position (any supported crs; stored as WGS-84)."""
    return VehicleOut.of(services.update_vehicle(vehicle_id, body, caller=caller))
