"""``dispatch-engine deadlines`` and ``dispatch-engine triage``: the claim rules of SPEC §6
answered from the command line, without a database."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.lifecycle import compute_deadlines
from dispatch_engine.claims.tiers import TIERS, check_amount_yuan
from dispatch_engine.claims.triage import AccidentType, DisasterKind, TriageFacts, decide_waiver
from dispatch_engine.commands.common import (
    JsonOption,
    cli_errors,
    out,
    parse_local_time,
    print_json,
)
from dispatch_engine.errors import InvalidInputError


def parse_yuan(text: str, *, field: str) -> Decimal:
    """An amount in yuan as exact Decimal (never a float): >= 0, at most two decimals."""
    try:
        amount = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise InvalidInputError(
            f"expected an amount in yuan like 12000.50, got '{text}'", field=field
        ) from None
    return check_amount_yuan(amount, field=field)


def _print_table(payload: dict[str, object]) -> None:
    table = Table(show_header=False)
    for key, value in payload.items():
        table.add_row(key, "—" if value is None else str(value))
    out.print(table)


@cli_errors
def deadlines(
    reported_at: Annotated[
        str, typer.Option("--reported-at", help="Report time, ISO (local if no offset).")
    ],
    estimate: Annotated[str, typer.Option("--estimate", help="Estimated loss, yuan.")],
    documents_complete_at: Annotated[
        str | None,
        typer.Option("--documents-complete-at", help="When the documents were complete, ISO."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Loss tier and the assessment / settlement deadlines of a claim (Asia/Shanghai)."""
    amount = parse_yuan(estimate, field="estimate")
    result = compute_deadlines(
        amount,
        reported_at=parse_local_time(reported_at, field="reported_at"),
        documents_complete_at=None
        if documents_complete_at is None
        else parse_local_time(documents_complete_at, field="documents_complete_at"),
        calendar=BusinessCalendar(),
    )
    tier = TIERS[result.tier - 1]
    payload = {
        "tier": result.tier,
        "assessment_due": result.assessment_due.isoformat(),
        "settlement_due": None
        if result.settlement_due is None
        else result.settlement_due.isoformat(),
        "assessment_rule": tier.assessment.label,
        "settlement_rule": tier.settlement.label,
    }
    if as_json:
        print_json(payload)
    else:
        _print_table(payload)


@cli_errors
def triage(
    accident: Annotated[
        str, typer.Option("--accident", help=f"Accident type: {', '.join(AccidentType)}.")
    ],
    estimate: Annotated[str, typer.Option("--estimate", help="Vehicle damage estimate, yuan.")],
    injured: Annotated[int, typer.Option("--injured", help="People injured (any party).")] = 0,
    third_party_loss: Annotated[
        bool, typer.Option("--third-party-loss", help="A third party's property is damaged.")
    ] = False,
    disaster: Annotated[
        str | None,
        typer.Option("--disaster", help=f"For natural_disaster: {', '.join(DisasterKind)}."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Whether the on-site survey is waived (免查勘) and which rule decided."""
    if injured < 0:
        raise InvalidInputError(f"must be >= 0, got {injured}", field="injured")
    decision = decide_waiver(
        TriageFacts(
            accident_type=accident,  # type: ignore[arg-type]  # validated by TriageFacts
            vehicle_damage_estimate=parse_yuan(estimate, field="estimate"),
            injured=injured > 0,
            third_party_injury=False,
            third_party_property_loss=third_party_loss,
            disaster=disaster,  # type: ignore[arg-type]
        )
    )
    payload = {
        "survey_waived": decision.waived,
        "reason": decision.reason,
        "rule": str(decision.rule),
        "label_zh": decision.label_zh,
    }
    if as_json:
        print_json(payload)
    else:
        _print_table(payload)


def register(app: typer.Typer) -> None:
    app.command()(deadlines)
    app.command()(triage)
