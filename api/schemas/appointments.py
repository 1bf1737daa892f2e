"""Appointment request and response models (value-added services, issue 8)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import LocationIn, Moment, ShortText, Strict
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.services.appointments import Appointment, AppointmentRequest
from dispatch_engine.services.facilities import ServiceKind


class AppointmentIn(Strict):
    """Book an inspection delivery (代送检) or a car wash for one of the bureau's cars."""

    kind: ServiceKind = Field(examples=["inspection"])
    plate: ShortText = Field(examples=["粤F1234警"])
    place: ShortText = Field(description="Where the car is collected.", examples=["浈江派出所"])
    location: LocationIn
    collect_from: Moment = Field(examples=["2026-03-02T09:00:00+08:00"])
    collect_until: Moment = Field(examples=["2026-03-02T10:00:00+08:00"])
    return_by: Moment | None = Field(None, examples=["2026-03-02T17:00:00+08:00"])
    service_min: int = Field(ge=1, le=8 * 60, description="Minutes at the facility.")
    facility_id: ShortText | None = Field(None, description="A facility; default the nearest.")

    def to_request(self) -> AppointmentRequest:
        lat, lon = to_wgs84(self.location.lat, self.location.lon, self.location.crs)
        return AppointmentRequest(
            kind=self.kind,
            plate=self.plate,
            place=self.place,
            lat=lat,
            lon=lon,
            collect_from=self.collect_from,
            collect_until=self.collect_until,
            service_min=self.service_min,
            return_by=self.return_by,
            facility_id=self.facility_id,
        )


class AppointmentOut(BaseModel):
    id: str
    status: str
    kind: str
    plate: str
    place: str
    lat: float
    lon: float
    collect_from: datetime
    collect_until: datetime
    return_by: datetime | None
    service_min: int
    facility_id: str | None
    booked_at: datetime

    @classmethod
    def of(cls, a: Appointment) -> AppointmentOut:
        return cls(
            id=a.id,
            status=str(a.status),
            kind=str(a.kind),
            plate=a.plate,
            place=a.place,
            lat=a.lat,
            lon=a.lon,
            collect_from=a.collect_from,
            collect_until=a.collect_until,
            return_by=a.return_by,
            service_min=a.service_min,
            facility_id=a.facility_id,
            booked_at=a.booked_at,
        )
