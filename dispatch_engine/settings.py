"""Runtime settings, read once from the environment (prefix ``DISPATCH_``) and passed in.

Nothing reads the environment at import time: call :func:`load_settings` at the edge
(CLI, API start-up, tests) and hand the result down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class Settings(BaseSettings):
    """Where data lives and the physical constants of travel-time estimates."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", frozen=True)

    data_dir: Path = Field(REPO_DATA_DIR, description="Embedded defaults (boundaries, recipes).")
    cache_dir: Path = Field(
        Path(platformdirs.user_cache_dir("shaoguan-dispatch")),
        description="Built networks and compiled arrays are cached here.",
    )
    network: str = Field(
        "embedded",
        description="'embedded' (the synthetic Shaoguan default) or the path of a compiled .npz.",
    )
    engine: Literal["cch", "dijkstra"] = Field(
        "cch",
        description="Road travel-time engine: 'cch' (customizable contraction hierarchy, fast) "
        "or 'dijkstra' (the reference, and the fallback).",
    )
    speed_profile: str = Field(
        "default",
        description="Time-of-day speeds: 'default' (data/network/speed_profiles.yaml), 'none' "
        "(free flow at every hour) or the path of a profile YAML.",
    )
    fleet_file: Path | None = Field(
        None, description="Fleet YAML; default data/fleet/shaoguan.yaml."
    )
    repair_shops_file: Path | None = Field(
        None, description="Designated repair shops YAML; default data/rescue/repair_shops.yaml."
    )
    dispatch_horizon_min: float = Field(
        180.0,
        gt=0,
        description="Vehicles farther than this (ETA) are not sent; local rescue is arranged.",
    )
    snap_max_m: float = Field(
        2000.0, gt=0, description="Farther than this from a road is an error."
    )
    offroad_speed_kph: float = Field(
        15.0, gt=0, description="Speed of the leg between a point and its snapped road position."
    )
    estimate_detour_factor: float = Field(
        1.35, ge=1.0, description="Road distance / great-circle distance outside the network."
    )
    estimate_speed_kph: float = Field(
        65.0, gt=0, description="Mean speed of trips estimated outside the network."
    )
    db_url: str | None = Field(
        None,
        description="Database of the API: a SQLite file path or a postgresql:// DSN; default "
        "a SQLite file in the user's data directory (see database_target).",
    )
    calendar_file: Path | None = Field(
        None,
        description="Holiday override file for years chinese-calendar does not cover "
        "(format: data/calendar/overrides.example.yaml); claims deadlines need it from 2027.",
    )
    escalation_check_s: float = Field(
        30.0,
        ge=0,
        description="The API server checks call and arrival deadlines this often (0: never).",
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]


def fleet_path(settings: Settings) -> Path:
    """The fleet file the settings select."""
    return settings.fleet_file or settings.data_dir / "fleet" / "shaoguan.yaml"


def database_target(settings: Settings) -> str:
    """The API's database: ``db_url``, else ``dispatch.sqlite3`` in the user's data directory."""
    if settings.db_url:
        return settings.db_url
    return str(Path(platformdirs.user_data_dir("shaoguan-dispatch")) / "dispatch.sqlite3")


def repair_shops_path(settings: Settings) -> Path:
    """The designated repair shops file the settings select."""
    return settings.repair_shops_file or settings.data_dir / "rescue" / "repair_shops.yaml"
