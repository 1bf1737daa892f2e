"""``dispatch-engine serve`` (the HTTP API) and ``dispatch-engine keys create``."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from api.auth import Role
from dispatch_engine.commands.common import DbOption, cli_errors, err, progress
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.settings import Settings, database_target, load_settings
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from dispatch_engine.store.migrate import upgrade

keys_app = typer.Typer(
    help="API keys (stored hashed; each key is shown once).", no_args_is_help=True
)


def _settings(db: str | None, fleet: Path | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if db:
        overrides["db_url"] = db
    if fleet:
        overrides["fleet_file"] = fleet
    return load_settings(**overrides)


def masked_log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the application's loggers, through the PII masking filter
    (phone and ID numbers never reach a log whole, SPEC §8)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"pii": {"()": "dispatch_engine.claims.pii.PiiMaskingFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["pii"]
    for name in ("api", "dispatch_engine"):
        config["loggers"][name] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@cli_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    db: DbOption = None,
    fleet: Annotated[
        Path | None, typer.Option(help="Fleet YAML (default: the shipped Shaoguan fleet).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the port, each with its own listening socket "
            "(one per core uses them all: each process runs Python under its own lock).",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (migrates the database and seeds the vehicles first)."""
    import uvicorn

    from api.main import create_app
    from api.transport import NoDelayHttpToolsProtocol

    settings = _settings(db, fleet)
    target = database_target(settings)
    progress(f"database {target}" + (f", {workers} worker processes" if workers > 1 else ""))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": masked_log_config(),
        "access_log": False,
        "http": NoDelayHttpToolsProtocol,
        "loop": "uvloop",
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Migrate once here, so the workers start on an up-to-date schema together; each
    # worker builds its own app from the environment (uvicorn imports the factory).
    engine = make_engine(target)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    os.environ["DISPATCH_DB_URL"] = target
    if fleet is not None:
        os.environ["DISPATCH_FLEET_FILE"] = str(fleet.resolve())
    from api.workers import run_workers

    run_workers(workers, host=host, port=port, options=options)


@cli_errors
def create_key(
    role: Annotated[str, typer.Option(help="dispatcher, claims, planner or admin.")],
    db: DbOption = None,
    label: Annotated[str, typer.Option(help="Whose key this is (kept with the key).")] = "",
) -> None:
    """Create an API key for ROLE and print it once (only its hash is stored)."""
    if role not in {r.value for r in Role}:
        raise InvalidInputError(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}", field="role"
        )
    engine = make_engine(database_target(_settings(db)))
    try:
        upgrade(engine)
        key, plain = SqlApiKeys(engine).create(role, label=label[:100])
    finally:
        engine.dispose()
    err.print(f"key {key.id} ({role}) created; it is shown only now:")
    typer.echo(plain)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    keys_app.command("create")(create_key)
    app.add_typer(keys_app, name="keys")
