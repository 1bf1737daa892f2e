"""The fleet (SPEC §4): vehicles, bases, shifts and A/B partners, and the fleet file."""

from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.fleet.model import (
    Base,
    Fleet,
    Shift,
    Skill,
    Vehicle,
    VehicleKind,
    VehicleStatus,
)

__all__ = [
    "Base",
    "Fleet",
    "Shift",
    "Skill",
    "Vehicle",
    "VehicleKind",
    "VehicleStatus",
    "load_fleet",
]
