"""The ``dispatch-engine`` command line: one Typer app assembled from ``commands/``."""

from __future__ import annotations

import typer

from dispatch_engine.commands import claims, dispatch, geo, network, replay

app = typer.Typer(
    help="Shaoguan claims dispatch: zones, road network, travel times.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for module in (geo, network, dispatch, replay, claims):
    module.register(app)
