"""The compliance report from a database filled through the real services: its figures equal
an independent count over the rows, breaches carry their reasons, the CLI writes the files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch_engine.claims.calendar import SHANGHAI_TZ, BusinessCalendar
from dispatch_engine.claims.complaints import ComplaintInput, ComplaintsService
from dispatch_engine.claims.intake import ThirdParty
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.claims.settlement import SettlementService
from dispatch_engine.cli import app as cli_app
from dispatch_engine.dispatch.model import EventType
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.reports.compliance import (
    compliance_figures,
    month_bounds,
    render_html,
    render_pdf,
    report_dict,
)
from dispatch_engine.store.claims_sql import SqlClaimsStore
from dispatch_engine.store.dispatch_sql import SqlDispatchStore
from dispatch_engine.store.models import ClaimRow, ComplaintRow, IncidentRow, PaymentRow
from tests.claims.conftest import classifier, router  # noqa: F401
from tests.claims.factories import PHONE, at, make_report
from tests.fleet.factories import make_fleet, make_vehicle
from tests.store.databases import engine, postgres_engine, sqlite_template  # noqa: F401

ACTOR = "test"
MONTH = "2025-11"
AS_OF = at("2025-12-01 09:00")


@dataclass(frozen=True)
class Month:
    """What the scenario did, for the known-answer checks."""

    on_time: str  # claim whose survey was called and reached in time, assessed in time
    late: str  # claim called late (escalated), never reached, never assessed
    major: str  # injured: advance requested, paid late
    next_month: str  # reported 2025-12-01 00:05 Beijing time (still November in UTC)


def fill_month(
    clock: ManualClock,
    dispatcher: Dispatcher,
    claims: ClaimsService,
    settlement: SettlementService,
    complaints: ComplaintsService,
) -> Month:
    """November 2025 on the test grid, through the real services, outcomes known."""

    def report(when: str, **changes: object) -> str:
        clock.set(at(when))
        parties = (ThirdParty(name="李四", plate="粤B12345", property_loss=True),)
        filed = make_report(
            reported_at=at(when), accident_type="multi_party", third_parties=parties, **changes
        )
        return claims.report(filed, actor=ACTOR).number

    def event(when: str, number: str, kind: EventType) -> None:
        clock.set(at(when))
        incident = dispatcher.incident(claims.get(number).incident_id or "")
        vehicle = None if kind is EventType.CALLED else incident.active()[0].vehicle_id
        dispatcher.record(incident.id, kind, vehicle_id=vehicle)

    on_time = report("2025-11-04 10:00")  # tier 1: assessment due 14:00 the same day
    event("2025-11-04 10:03", on_time, EventType.CALLED)
    event("2025-11-04 10:12", on_time, EventType.ARRIVED)
    clock.set(at("2025-11-04 10:30"))
    claims.record_survey(on_time, actor=ACTOR)
    clock.set(at("2025-11-04 11:00"))
    claims.record_assessment(on_time, Decimal("3000"), actor=ACTOR)
    event("2025-11-04 11:05", on_time, EventType.DONE)

    late = report("2025-11-04 10:30")
    clock.set(at("2025-11-04 10:36"))
    dispatcher.check_escalations()  # the 5-minute call is overdue: escalated
    event("2025-11-04 10:40", late, EventType.CALLED)

    major = report("2025-11-05 09:00", estimate_yuan=Decimal("150000"), injured_count=1)
    event("2025-11-05 09:02", major, EventType.CALLED)
    event("2025-11-05 09:10", major, EventType.ARRIVED)
    clock.set(at("2025-11-05 09:30"))
    claims.record_survey(major, actor=ACTOR)
    payment = settlement.request_advance_payment(major, actor=ACTOR)  # due 2025-11-07 18:00
    clock.set(at("2025-11-10 10:00"))
    settlement.record_payment(payment.id or 0, reference="BANK-1", actor=ACTOR)

    def complaint(when: str, category: str, **changes: object) -> str:
        clock.set(at(when))
        filed = ComplaintInput(
            category=category,  # type: ignore[arg-type]
            channel="hotline",  # type: ignore[arg-type]
            complainant_name="王五",
            phone=PHONE,
            description="查勘员迟到",
            **changes,  # type: ignore[arg-type]
        )
        return complaints.file(filed, actor=ACTOR).ticket

    handled = complaint("2025-11-04 11:00", "claim_dispute", claim_number=late)
    clock.set(at("2025-11-04 15:00"))
    complaints.start_handling(handled, actor=ACTOR)
    clock.set(at("2025-11-05 10:00"))
    complaints.resolve(handled, "已道歉并加派查勘员", actor=ACTOR)
    complaint("2025-11-05 10:00", "service_quality")  # never handled: breach
    next_month = report("2025-12-01 00:05")
    complaint("2025-12-01 00:06", "policy_terms")
    clock.set(AS_OF)
    return Month(on_time=on_time, late=late, major=major, next_month=next_month)


def _judge(due: datetime | None, done: datetime | None) -> bool | None:
    if due is None:
        return None
    if done is not None:
        return done <= due
    return False if due < AS_OF else None


def _count(results: list[bool | None]) -> dict[str, object]:
    met = sum(r is True for r in results)
    due = sum(r is not None for r in results)
    return {
        "met": met,
        "due": due,
        "pending": len(results) - due,
        "share": met / due if due else None,
    }


def independent_counts(db: Engine) -> dict[str, object]:
    """The month's figures counted straight from the rows, Beijing-time month by hand."""

    def in_month(moment: datetime) -> bool:
        return moment.astimezone(SHANGHAI_TZ).strftime("%Y-%m") == MONTH

    with Session(db) as session:
        incidents = [r for r in session.scalars(select(IncidentRow)) if in_month(r.reported_at)]
        claim_rows = [r for r in session.scalars(select(ClaimRow)) if in_month(r.reported_at)]
        ids = {r.id for r in claim_rows if r.state != "cancelled"}
        payments = [
            r
            for r in session.scalars(select(PaymentRow))
            if r.claim_id in {c.id for c in claim_rows} and r.kind == "advance"
        ]
        complaint_rows = [
            r for r in session.scalars(select(ComplaintRow)) if in_month(r.received_at)
        ]
    live = [r for r in incidents if r.status != "cancelled"]
    kept = [r for r in claim_rows if r.id in ids]
    return {
        "incidents": len(incidents),
        "claims": len(claim_rows),
        "calls": _count([_judge(r.call_due_at, r.called_at) for r in live]),
        "arrivals": _count([_judge(r.arrival_due_at, r.arrived_at) for r in live]),
        "assessments": _count([_judge(r.assessment_due, r.assessed_at) for r in kept]),
        "settlements": _count([_judge(r.settlement_due, r.paid_at) for r in kept]),
        "advances": _count([_judge(r.due_at, r.paid_at) for r in payments]),
        "advance_amount_yuan": str(sum((r.amount_yuan for r in payments), Decimal(0))),
        "complaints": len(complaint_rows),
        "handling": _count([_judge(r.handling_due, r.handling_started_at) for r in complaint_rows]),
        "resolved": sum(r.resolved_at is not None for r in complaint_rows),
    }


@pytest.fixture
def month_db(engine, router, classifier) -> tuple[Engine, Month]:  # noqa: F811
    """A migrated database (SQLite; PostgreSQL when configured) holding the scenario."""
    clock = ManualClock(at("2025-11-04 09:00"))
    fleet = make_fleet(*(make_vehicle(id=f"S{i}", lat=24.81 + i * 0.002) for i in range(4)))
    store = SqlDispatchStore(engine, fleet, clock=clock)
    store.sync_fleet()
    dispatcher = Dispatcher(store=store, router=router, classifier=classifier, clock=clock)
    calendar = BusinessCalendar()
    claims_store = SqlClaimsStore(engine)
    month = fill_month(
        clock,
        dispatcher,
        ClaimsService(claims_store, clock=clock, calendar=calendar, dispatch=dispatcher),
        SettlementService(claims_store, clock=clock, calendar=calendar),
        ComplaintsService(claims_store, clock=clock, calendar=calendar),
    )
    return engine, month


def test_figures_equal_an_independent_count_of_the_rows(month_db, classifier):  # noqa: F811
    """Totals, zones and districts all equal the counts made directly from the rows."""
    db, _ = month_db
    report = report_dict(compliance_figures(db, MONTH, classifier=classifier, as_of=AS_OF))
    expected = independent_counts(db)
    total = report["total"]
    for name in ("incidents", "claims", "calls", "arrivals", "assessments", "settlements"):
        assert total[name] == expected[name], name
    assert total["advances"] == expected["advances"]
    assert total["advance_amount_yuan"] == expected["advance_amount_yuan"]
    complaints = report["complaints"]
    assert complaints["count"] == expected["complaints"]
    assert complaints["handling"] == expected["handling"]
    assert complaints["resolved"] == expected["resolved"]
    # Every district lies in one zone, so the districts add up to the zones and the total.
    assert sum(d["incidents"] for d in report["districts"]) == expected["incidents"]
    assert sum(z["claims"] for z in report["zones"]) == expected["claims"]


def test_known_outcomes_of_the_scenario(month_db, classifier):  # noqa: F811
    """The scenario's known answers: 3 claims in November, 2 of 3 calls in time, etc."""
    db, month = month_db
    report = compliance_figures(db, MONTH, classifier=classifier, as_of=AS_OF)
    total = report.total
    assert (total.incidents, total.claims) == (3, 3)  # 2025-12-01 00:05 belongs to December
    assert (total.calls.met, total.calls.due) == (2, 3)
    assert (total.arrivals.met, total.arrivals.due) == (2, 3)
    assert (total.assessments.met, total.assessments.due) == (1, 3)
    assert (total.advances.met, total.advances.due) == (0, 1)
    assert total.advance_amount_yuan == Decimal("75000.00")
    assert report.complaints.count == 2
    assert report.complaints.by_category == {
        "service_quality": 1,
        "claim_dispute": 1,
        "policy_terms": 0,
    }
    assert (report.complaints.handling.met, report.complaints.handling.due) == (1, 2)
    assert [(z.zone, z.area) for z in report.districts] == [("shaoguan", "浈江区")]


def test_breach_is_listed_with_its_reason(month_db, classifier):  # noqa: F811
    """The late call names its deadline, its actual time, the minutes late and the escalation."""
    db, month = month_db
    report = compliance_figures(db, MONTH, classifier=classifier, as_of=AS_OF)
    by_kind = {(b.kind, b.ref.split(" ")[0]): b for b in report.breaches}
    late_incident = [b for b in report.breaches if b.kind == "call"]
    assert len(late_incident) == 1
    call = late_incident[0]
    assert call.due_at == at("2025-11-04 10:35")
    assert call.done_at == at("2025-11-04 10:40")
    assert "2025-11-04 10:35" in call.reason and "5 min late" in call.reason
    assert call.escalation is not None and "call_overdue" in call.escalation
    arrival = next(b for b in report.breaches if b.kind == "arrival")
    assert arrival.done_at is None and "not yet" in arrival.reason
    assert ("assessment", month.late) in by_kind
    assert by_kind["advance", month.major].done_at == at("2025-11-10 10:00")
    assert any(b.kind == "complaint_handling" for b in report.breaches)
    assert month.next_month not in {b.ref for b in report.breaches}
    html = render_html(report)
    assert call.reason in html and "call_overdue" in html


def test_html_and_pdf_render(month_db, classifier):  # noqa: F811
    """The HTML page embeds its charts; the PDF is a PDF."""
    db, _ = month_db
    report = compliance_figures(db, MONTH, classifier=classifier, as_of=AS_OF)
    html = render_html(report)
    assert html.count("data:image/png;base64,") == 2
    assert 'data-month="2025-11"' in html
    assert render_pdf(report).startswith(b"%PDF-")


def test_month_is_validated():
    """A malformed month names the month field; a date picks its Beijing-time month."""
    for bad in ("2026-13", "2026/03", "March", "2026-3"):
        with pytest.raises(InvalidInputError) as caught:
            month_bounds(bad)
        assert caught.value.field == "month"
    label, start, end = month_bounds("2026-12")
    assert (label, start, end) == ("2026-12", at("2026-12-01 00:00"), at("2027-01-01 00:00"))


def test_cli_writes_html_pdf_and_json(month_db, classifier, tmp_path):  # noqa: F811
    """``dispatch-engine report`` writes non-empty files; the JSON equals the function's."""
    db, _ = month_db
    if db.dialect.name != "sqlite":
        pytest.skip("the CLI is exercised on the SQLite file")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli_app,
        [
            "report",
            "--db",
            str(db.url.database),
            "--month",
            MONTH,
            "--out",
            str(out),
            "--as-of",
            AS_OF.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    for suffix in ("html", "pdf", "json"):
        assert (out / f"compliance-{MONTH}.{suffix}").stat().st_size > 0
    written = json.loads((out / f"compliance-{MONTH}.json").read_text(encoding="utf-8"))
    assert written == report_dict(compliance_figures(db, MONTH, classifier=classifier, as_of=AS_OF))


def test_cli_bad_month_is_one_line_and_exit_2(tmp_path):
    """A bad ``--month`` is one line naming ``month`` and exit code 2."""
    result = CliRunner().invoke(
        cli_app,
        [
            "report",
            "--db",
            str(tmp_path / "x.sqlite3"),
            "--month",
            "2026-13",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "month" in lines[0]
