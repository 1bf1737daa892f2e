"""The ``dispatch-engine`` command line: one Typer app assembled from ``commands/``."""

from __future__ import annotations

import typer

from dispatch_engine.commands import (
    api,
    claims,
    dispatch,
    geo,
    letters,
    locate,
    network,
    replay,
    report,
    services,
    simulate,
)

app = typer.Typer(
    help="Shaoguan claims dispatch: zones, road network, travel times.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in (
    geo,
    network,
    dispatch,
    replay,
    simulate,
    claims,
    locate,
    services,
    letters,
    report,
    api,
):
    module.register(app)
