"""What every CLI command shares: error handling, JSON output, common options."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from dispatch_engine.errors import DispatchEngineError, InvalidInputError
from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.geo.crs import SUPPORTED_CRS
from dispatch_engine.settings import Settings, load_settings

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
CrsOption = Annotated[
    str, typer.Option("--crs", help=f"Input coordinate system: {', '.join(SUPPORTED_CRS)}.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite file or postgresql:// DSN (default: $DISPATCH_DB_URL, else a SQLite file "
        "in the user's data directory).",
    ),
]
NetworkOption = Annotated[
    str | None, typer.Option("--network", help="'embedded' or a compiled .npz (default: settings).")
]


def cli_errors(func: F) -> F:
    """One line on stderr and exit code 2 for every error the core raises on purpose."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DispatchEngineError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def settings_for(network: str | None = None) -> Settings:
    """Settings from the environment, with ``--network`` overriding when given."""
    return load_settings(network=network) if network else load_settings()


def progress(message: str) -> None:
    """Progress lines go to stderr so ``--json`` output stays clean."""
    err.print(f"[dim]{message}[/dim]")


def print_json(payload: dict) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, default=str))


def parse_lat_lon(text: str, field: str) -> tuple[float, float]:
    """``"24.81,113.60"`` -> (24.81, 113.60), naming ``field`` when malformed."""
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInputError(
            f"expected LAT,LON (e.g. 24.81,113.60), got '{text}'", field=field
        ) from None
    return lat, lon


def parse_local_time(text: str, *, field: str) -> datetime:
    """ISO 8601 time; without an offset it is Asia/Shanghai local time (e.g. 2025-09-30T10:00)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"expected an ISO time like 2025-09-30T10:00, got '{text}'", field=field
        ) from None
    return moment.replace(tzinfo=SHANGHAI_TZ) if moment.tzinfo is None else moment


def time_or_now(text: str | None, *, field: str) -> datetime:
    """:func:`parse_local_time`, or now (Asia/Shanghai) when the option was not given."""
    return parse_local_time(text, field=field) if text else datetime.now(SHANGHAI_TZ)
