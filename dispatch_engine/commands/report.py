"""``dispatch-engine report``: the month's compliance report (HTML, PDF, JSON) for the bureau."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dispatch_engine.commands.common import DbOption, cli_errors, progress, time_or_now
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.reports.compliance import (
    compliance_figures,
    month_bounds,
    render_html,
    render_pdf,
    report_dict,
)
from dispatch_engine.settings import database_target, load_settings
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.migrate import upgrade


@cli_errors
def report(
    month: Annotated[str, typer.Option("--month", help="Month to report, YYYY-MM (Beijing time).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for compliance-YYYY-MM.*")],
    db: DbOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Judge open deadlines at this ISO time (default: now)."),
    ] = None,
) -> None:
    """Write the month's compliance report: calls, arrivals, assessments, settlements,
    advances and complaints per zone and district, with every breach and its reason."""
    label, _, _ = month_bounds(month)
    judged_at = time_or_now(as_of, field="as_of")
    settings = load_settings(db_url=db) if db else load_settings()
    engine = make_engine(database_target(settings))
    try:
        upgrade(engine)
        figures = compliance_figures(
            engine, label, classifier=ZoneClassifier.from_settings(settings), as_of=judged_at
        )
    finally:
        engine.dispose()
    files = {
        "html": render_html(figures).encode("utf-8"),
        "pdf": render_pdf(figures),
        "json": json.dumps(report_dict(figures), ensure_ascii=False, indent=2).encode("utf-8"),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for suffix, content in files.items():
            (out / f"compliance-{label}.{suffix}").write_bytes(content)
    except OSError as exc:
        raise InvalidInputError(f"cannot write to {out}: {exc.strerror}", field="out") from exc
    progress(
        f"wrote compliance-{label}.html/.pdf/.json to {out} "
        f"({figures.total.incidents} incidents, {figures.total.claims} claims, "
        f"{len(figures.breaches)} breaches)"
    )


def register(app: typer.Typer) -> None:
    app.command()(report)
