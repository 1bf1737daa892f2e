"""Where value-added services take the cars: inspection stations and car-wash partners.

The shipped list is ``data/services/facilities.yaml`` (synthetic positions, marked so).
Opening hours are daily local Asia/Shanghai times: a car is handed over and fetched
between ``opens`` and ``closes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch_engine.datafiles import read_yaml_model
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.settings import Settings


class ServiceKind(StrEnum):
    """The value-added services of SPEC §6 that a technician serves on a planned route."""

    INSPECTION = "inspection"  # free annual-inspection delivery (代送检)
    CAR_WASH = "car_wash"  # free car wash at a partner


@dataclass(frozen=True)
class Facility:
    """An inspection station or car-wash partner; ``synthetic`` when not a real place."""

    id: str
    kind: ServiceKind
    name: str
    district: str
    lat: float
    lon: float
    opens: time
    closes: time
    synthetic: bool


class _FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    kind: ServiceKind
    name: str = Field(min_length=1)
    district: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    opens: time
    closes: time
    synthetic: bool

    @model_validator(mode="after")
    def _open_before_close(self) -> _FacilityIn:
        if self.closes <= self.opens:
            raise ValueError(f"closes {self.closes} is not after opens {self.opens}")
        return self


class _FacilitiesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    facilities: list[_FacilityIn] = Field(min_length=1)


def facilities_path(settings: Settings) -> Path:
    """The shipped facilities file under the settings' data directory."""
    return settings.data_dir / "services" / "facilities.yaml"


def load_facilities(path: Path) -> tuple[Facility, ...]:
    """Read and validate a facilities file, in id order.

    Raises
    ------
    DataError
        If the file cannot be read.
    InvalidInputError
        On the first bad field (named by its path) or a repeated id.
    """
    parsed = read_yaml_model(path, _FacilitiesIn)
    seen: set[str] = set()
    for index, facility in enumerate(parsed.facilities):
        if facility.id in seen:
            raise InvalidInputError(f"duplicate id {facility.id!r}", field=f"facilities.{index}.id")
        seen.add(facility.id)
    return tuple(
        sorted((Facility(**f.model_dump()) for f in parsed.facilities), key=lambda f: f.id)
    )
