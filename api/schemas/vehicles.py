"""Vehicles: the live fleet and a dispatcher's or driver's update."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import LocationIn, Strict
from dispatch_engine.fleet.model import Vehicle, VehicleKind, VehicleStatus


class VehicleOut(BaseModel):
    id: str
    kind: VehicleKind
    status: VehicleStatus
    lat: float = Field(description="WGS-84.")
    lon: float = Field(description="WGS-84.")
    base_id: str
    partner_id: str | None = Field(description="The A/B backup (AB角).")
    branch: str | None = Field(description="Partner-network city; null for the own fleet.")
    skills: list[str]
    position_is_estimate: bool

    @classmethod
    def of(cls, vehicle: Vehicle) -> VehicleOut:
        return cls(
            id=vehicle.id,
            kind=vehicle.kind,
            status=vehicle.status,
            lat=vehicle.lat,
            lon=vehicle.lon,
            base_id=vehicle.base_id,
            partner_id=vehicle.partner_id,
            branch=vehicle.branch,
            skills=sorted(vehicle.skills),
            position_is_estimate=vehicle.position_is_estimate,
        )


class VehiclePatch(Strict):
    """Change a vehicle's status, its position, or both."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"status": "available", "position": {"lat": 24.8, "lon": 113.6}}]
        }
    }

    status: VehicleStatus | None = None
    position: LocationIn | None = None

    @model_validator(mode="after")
    def _something(self) -> VehiclePatch:
        if self.status is None and self.position is None:
            raise ValueError("give status, position or both")
        return self
