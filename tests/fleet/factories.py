"""Builders of valid fleet objects and fleet files with overridable defaults.

Reusable by any test that needs vehicles: ``make_fleet(make_vehicle(id="S1", lat=...))``
builds the bases it references, and ``write_fleet_file`` turns ``fleet_document()``
(the smallest valid file: one around-the-clock survey car per Shaoguan district) into
a file for loaders and the CLI.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import yaml

from dispatch_engine.fleet.files import SHAOGUAN_DISTRICTS
from dispatch_engine.fleet.model import (
    ALL_WEEK,
    Base,
    Fleet,
    Shift,
    Vehicle,
    VehicleKind,
)

DAY_SHIFT = Shift(ALL_WEEK, time(8), time(20))
NIGHT_SHIFT = Shift(ALL_WEEK, time(20), time(8))
AROUND_THE_CLOCK = Shift(ALL_WEEK, time(0), time(0))

# Shaoguan urban core (SPEC §2), inside 浈江区.
CORE_LAT, CORE_LON = 24.811, 113.598


def make_base(**overrides: Any) -> Base:
    """A base in the urban core; any field can be overridden."""
    fields: dict[str, Any] = {
        "id": "B1",
        "name": "test base",
        "district": "浈江区",
        "lat": CORE_LAT,
        "lon": CORE_LON,
    }
    return Base(**(fields | overrides))


def make_vehicle(**overrides: Any) -> Vehicle:
    """An available survey car on shift around the clock at base ``B1``."""
    fields: dict[str, Any] = {
        "id": "V1",
        "kind": VehicleKind.SURVEY,
        "base_id": "B1",
        "shifts": (AROUND_THE_CLOCK,),
        "lat": CORE_LAT,
        "lon": CORE_LON,
    }
    return Vehicle(**(fields | overrides))


def make_fleet(*vehicles: Vehicle, bases: tuple[Base, ...] = ()) -> Fleet:
    """A fleet of ``vehicles``, adding a default base for every base id not in ``bases``."""
    known = {base.id for base in bases}
    missing = sorted({v.base_id for v in vehicles} - known)
    return Fleet(tuple(bases) + tuple(make_base(id=base_id) for base_id in missing), vehicles)


def fleet_document() -> dict[str, Any]:
    """The smallest valid fleet file content.

    One base per Shaoguan district (all at the urban core: positions are not checked
    against districts), each with one around-the-clock survey car, paired 0-1, 2-3, ...
    """
    bases = [
        {"id": f"B{i}", "name": f"base {i}", "district": d, "lat": CORE_LAT, "lon": CORE_LON}
        for i, d in enumerate(SHAOGUAN_DISTRICTS)
    ]
    vehicles = [
        {
            "id": f"SV-{i}",
            "kind": "survey",
            "base_id": f"B{i}",
            "shifts": ["around_the_clock"],
            "partner_id": f"SV-{i ^ 1}",
        }
        for i in range(len(SHAOGUAN_DISTRICTS))
    ]
    shifts = {
        "around_the_clock": {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "00:00",
            "end": "00:00",
        },
        "day": {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "08:00",
            "end": "20:00",
        },
    }
    return {"shifts": shifts, "bases": bases, "vehicles": vehicles}


def write_fleet_file(
    directory: Path, document: dict[str, Any], *, name: str = "fleet.yaml"
) -> Path:
    """Write ``document`` as block-style YAML (one key per line) and return its path."""
    path = directory / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
