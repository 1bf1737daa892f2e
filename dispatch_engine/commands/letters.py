"""``dispatch-engine letter``: a claim's written commitment (书面承诺函) as HTML or PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.intake import REPORT_NUMBER_PREFIX, check_number
from dispatch_engine.claims.lifecycle import Claim
from dispatch_engine.commands.common import DbOption, cli_errors, progress, time_or_now
from dispatch_engine.errors import InvalidInputError, NotFoundError
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.reports.letters import LETTER_FORMATS, LetterFormat, claim_zone, render_letter
from dispatch_engine.settings import database_target, load_settings
from dispatch_engine.store.claims_sql import SqlClaimsStore
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.migrate import upgrade


def letter_format(path: Path) -> LetterFormat:
    """The letter format a file name asks for, from its suffix (``.html`` or ``.pdf``).

    Raises
    ------
    InvalidInputError
        ``field="out"`` for any other suffix.
    """
    suffix = path.suffix.lower().removeprefix(".")
    for fmt in LETTER_FORMATS:
        if suffix == fmt:
            return fmt
    raise InvalidInputError(
        f"cannot tell the format of {path.name!r}: end the name in .html or .pdf", field="out"
    )


def read_claim(store: SqlClaimsStore, number: str) -> Claim:
    """The stored claim with report number ``number``.

    Raises
    ------
    InvalidInputError, NotFoundError
        ``field="claim"`` for a malformed or unknown number.
    """
    number = check_number(number, prefix=REPORT_NUMBER_PREFIX, field="claim")
    with store.transaction() as tx:
        try:
            return tx.get_claim(number)
        except NotFoundError as exc:
            raise NotFoundError(f"no claim {number} in the database", field="claim") from exc


@cli_errors
def letter(
    claim: Annotated[str, typer.Option("--claim", help="Report number, e.g. SG-20250930-000001.")],
    out: Annotated[Path, typer.Option("--out", help="File to write: NAME.html or NAME.pdf.")],
    db: DbOption = None,
    issued_at: Annotated[
        str | None,
        typer.Option("--issued-at", help="Issue time printed on the letter, ISO (default: now)."),
    ] = None,
) -> None:
    """Write the claim's commitment letter: tier, deadlines, response guarantees, services."""
    fmt = letter_format(out)
    issued = time_or_now(issued_at, field="issued_at")
    settings = load_settings(db_url=db) if db else load_settings()
    engine = make_engine(database_target(settings))
    try:
        upgrade(engine)
        found = read_claim(SqlClaimsStore(engine), claim)
    finally:
        engine.dispose()
    content = render_letter(
        found,
        zone=claim_zone(found, ZoneClassifier.from_settings(settings)),
        calendar=BusinessCalendar(),
        issued_at=issued,
        fmt=fmt,
    )
    try:
        out.write_bytes(content)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {out}: {exc.strerror}", field="out") from exc
    progress(f"wrote {out} ({fmt}, {len(content):,} bytes)")


def register(app: typer.Typer) -> None:
    app.command()(letter)
