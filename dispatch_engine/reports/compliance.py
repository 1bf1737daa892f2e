"""The monthly compliance report for the bureau: did the insurer keep its written promises
(SPEC §2, §5, §6), measured from the service database, not from a simulation.

:func:`compliance_figures` reads one month of operations (Asia/Shanghai month, by report
time) and counts, per zone and per district: incidents, calls within 5 minutes, arrivals
within the zone's guarantee, claims assessed and settled within their tier's deadline and
advance payments made on time; complaints are counted for the whole month. Every missed
deadline is listed with its reason. :func:`render_html` and :func:`render_pdf` lay the
same :class:`ComplianceReport` out (Jinja2; ReportLab with the CID font STSong-Light, as
the commitment letters), with the same PNG charts; :func:`report_dict` is its JSON form,
which the API returns.

Decisions where SPEC is silent:

- a record belongs to the month of its report time (incidents, claims and their advance
  payments) or receipt (complaints);
- each deadline is met (done by its due time), breached (done late, or not done and due
  before ``as_of``) or pending (not done, not yet due); a share is met / (met + breached),
  so open cases whose clock still runs neither help nor hurt;
- cancelled incidents and claims are counted but owe no deadline;
- settlement is done when the claim is paid (as ``claims.lifecycle`` says), and its clock
  starts only when the documents are complete;
- a claim's zone and district come from its accident location, classified as the letters
  do; complaints have no location, so they are reported for the month as a whole;
- chart labels are ASCII (zone codes, district pinyin without a CJK font), as in
  ``simulation.plots``.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

import jinja2
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import TypeAdapter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    Image,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dispatch_engine.claims.calendar import SHANGHAI_TZ
from dispatch_engine.claims.complaints import ComplaintCategory
from dispatch_engine.claims.lifecycle import ClaimState
from dispatch_engine.claims.payments import PaymentKind, PaymentStatus
from dispatch_engine.dispatch.model import EscalationKind, EventType, Incident, IncidentStatus
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.zones import ZoneClassifier, ZoneResult
from dispatch_engine.reports.letters import PDF_FONT, ZONE_NAMES_ZH
from dispatch_engine.simulation.plots import district_label
from dispatch_engine.store.dispatch_sql import incident_from_document
from dispatch_engine.store.models import (
    ClaimRow,
    ComplaintRow,
    DispatchEventRow,
    IncidentRow,
    PaymentRow,
)

ZONES = ("shaoguan", "guangdong", "national")
TEMPLATE = "compliance_report.html.j2"
TITLE = "理赔服务承诺履约情况月报"
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
# Which escalations explain a missed deadline of each kind.
_ESCALATIONS = {
    "call": frozenset({EscalationKind.CALL_OVERDUE}),
    "arrival": frozenset(
        {
            EscalationKind.ARRIVAL_AT_RISK,
            EscalationKind.NO_VEHICLE,
            EscalationKind.ARRIVAL_OVERDUE,
        }
    ),
}
METRICS = ("calls", "arrivals", "assessments", "settlements", "advances")
METRIC_NAMES_ZH = {
    "calls": "5分钟内电话联系",
    "arrivals": "时限内到达现场",
    "assessments": "时限内完成定损",
    "settlements": "时限内结案",
    "advances": "预付赔款按时支付",
}
BREACH_NAMES_ZH = {
    "call": "电话联系超时",
    "arrival": "到达现场超时",
    "assessment": "定损超时",
    "settlement": "结案超时",
    "advance": "预付赔款超时",
    "complaint_handling": "投诉受理超时",
}
CATEGORY_NAMES_ZH = {
    ComplaintCategory.SERVICE_QUALITY: "服务质量",
    ComplaintCategory.CLAIM_DISPUTE: "理赔争议",
    ComplaintCategory.POLICY_TERMS: "条款解释",
}


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """Deadlines met out of those decided (met or breached); ``pending`` still run."""

    met: int
    due: int
    pending: int
    share: float | None


@dataclass(frozen=True)
class AreaFigures:
    """One zone (``area`` None) or one district of a zone, for the month."""

    zone: str
    area: str | None
    incidents: int
    claims: int
    calls: Share
    arrivals: Share
    assessments: Share
    settlements: Share
    advances: Share
    advance_amount_yuan: Decimal


@dataclass(frozen=True)
class ComplaintFigures:
    """The month's complaints: per category, handling started in time, resolved."""

    count: int
    by_category: dict[str, int]
    handling: Share
    resolved: int


@dataclass(frozen=True)
class Breach:
    """One missed deadline: which, of what, due when, done when (None: not yet) and why."""

    kind: str
    ref: str
    zone: str | None
    area: str | None
    due_at: datetime
    done_at: datetime | None
    reason: str
    escalation: str | None


@dataclass(frozen=True)
class ComplianceReport:
    """A month's figures; ``as_of`` is when pending deadlines were judged."""

    month: str
    period_start: datetime
    period_end: datetime
    as_of: datetime
    total: AreaFigures
    zones: tuple[AreaFigures, ...]
    districts: tuple[AreaFigures, ...]
    complaints: ComplaintFigures
    breaches: tuple[Breach, ...]


_REPORT: TypeAdapter[ComplianceReport] = TypeAdapter(ComplianceReport)


def report_dict(report: ComplianceReport) -> dict[str, object]:
    """The report as JSON-ready data (times ISO 8601 with offset, amounts as strings)."""
    return _REPORT.dump_python(report, mode="json")


# --- the month -------------------------------------------------------------------------------


def month_bounds(month: date | str) -> tuple[str, datetime, datetime]:
    """``("2026-03", start, end)``: the Asia/Shanghai month holding ``month`` (a date, or
    ``YYYY-MM`` text), ``start`` inclusive, ``end`` exclusive.

    Raises
    ------
    InvalidInputError
        ``field="month"`` for text that is not a month like ``2026-03``.
    """
    if isinstance(month, str):
        found = _MONTH_RE.fullmatch(month.strip())
        if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1:
            raise InvalidInputError(f"must be a month like 2026-03, got {month!r}", field="month")
        month = date(int(found.group(1)), int(found.group(2)), 1)
    elif not isinstance(month, date):
        raise InvalidInputError(f"must be a date or YYYY-MM, got {month!r}", field="month")
    start = datetime(month.year, month.month, 1, tzinfo=SHANGHAI_TZ)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = datetime(following.year, following.month, 1, tzinfo=SHANGHAI_TZ)
    return f"{month.year:04d}-{month.month:02d}", start, end


# --- reading and judging --------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """One deadline judged: met True/False, None while pending."""

    metric: str
    zone: str
    area: str
    met: bool | None


def compliance_figures(
    engine: Engine,
    month: date | str,
    *,
    classifier: ZoneClassifier,
    as_of: datetime,
) -> ComplianceReport:
    """Count the month's kept and broken promises from the service database.

    Parameters
    ----------
    engine
        A migrated service database (``store.db.make_engine``).
    month
        Any date in the month, or ``YYYY-MM``; the month is Asia/Shanghai.
    classifier
        Places each claim's accident location in its zone and district.
    as_of
        Aware time the report is made: an unmet deadline before it is a breach, after it
        pending. Pass the service clock's now, so the CLI and the API agree.

    Raises
    ------
    InvalidInputError
        ``field="month"`` for a malformed month, ``field="as_of"`` for a naive time.
    """
    label, start, end = month_bounds(month)
    if not isinstance(as_of, datetime) or as_of.utcoffset() is None:
        raise InvalidInputError(f"must be an aware datetime, got {as_of!r}", field="as_of")
    as_of = as_of.astimezone(SHANGHAI_TZ)
    outcomes: list[_Outcome] = []
    breaches: list[Breach] = []
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with Session(engine) as session:
        incidents = [
            incident_from_document(document)
            for document in session.scalars(
                select(IncidentRow.document)
                .where(IncidentRow.reported_at >= start, IncidentRow.reported_at < end)
                .order_by(IncidentRow.reported_at, IncidentRow.id)
            )
        ]
        arrivals = _arriving_vehicles(session, [i.id for i in incidents])
        claims = session.execute(
            select(
                ClaimRow.id,
                ClaimRow.number,
                ClaimRow.state,
                ClaimRow.lat_wgs84,
                ClaimRow.lon_wgs84,
                ClaimRow.assessment_due,
                ClaimRow.assessed_at,
                ClaimRow.settlement_due,
                ClaimRow.paid_at,
            )
            .where(ClaimRow.reported_at >= start, ClaimRow.reported_at < end)
            .order_by(ClaimRow.reported_at, ClaimRow.number)
        ).all()
        payments = session.execute(
            select(PaymentRow.id, PaymentRow.claim_id, PaymentRow.amount_yuan)
            .add_columns(PaymentRow.due_at, PaymentRow.paid_at)
            .join(ClaimRow, PaymentRow.claim_id == ClaimRow.id)
            .where(
                ClaimRow.reported_at >= start,
                ClaimRow.reported_at < end,
                PaymentRow.kind == PaymentKind.ADVANCE,
                PaymentRow.status != PaymentStatus.CANCELLED,
            )
            .order_by(PaymentRow.id)
        ).all()
        complaints = session.execute(
            select(
                ComplaintRow.ticket,
                ComplaintRow.category,
                ComplaintRow.handling_due,
                ComplaintRow.handling_started_at,
                ComplaintRow.resolved_at,
            )
            .where(ComplaintRow.received_at >= start, ComplaintRow.received_at < end)
            .order_by(ComplaintRow.received_at, ComplaintRow.ticket)
        ).all()

    for incident in incidents:
        zone, area = str(incident.zone.zone), _area(incident.zone)
        counts[zone, area]["incidents"] += 1
        if incident.status is IncidentStatus.CANCELLED:
            continue
        for kind, metric, due, done in (
            ("call", "calls", incident.call_due_at, incident.called_at),
            ("arrival", "arrivals", incident.arrival_due_at, incident.arrived_at),
        ):
            met = _judge(due, done, as_of)
            outcomes.append(_Outcome(metric, zone, area, met))
            if met is False:
                vehicle = arrivals.get(incident.id) if kind == "arrival" else None
                breaches.append(
                    _breach(
                        kind,
                        incident.id,
                        zone,
                        area,
                        due,
                        done,
                        as_of,
                        vehicle=vehicle,
                        escalation=_escalation_of(incident, kind),
                    )
                )

    places = _claim_places(classifier, claims)
    claim_place: dict[int, tuple[str, str]] = {}
    for claim, (zone, area) in zip(claims, places, strict=True):
        claim_place[claim.id] = (zone, area)
        counts[zone, area]["claims"] += 1
        if claim.state == ClaimState.CANCELLED:
            continue
        for kind, metric, due, done in (
            ("assessment", "assessments", claim.assessment_due, claim.assessed_at),
            ("settlement", "settlements", claim.settlement_due, claim.paid_at),
        ):
            met = None if due is None else _judge(due, done, as_of)
            outcomes.append(_Outcome(metric, zone, area, met))
            if met is False:
                breaches.append(_breach(kind, claim.number, zone, area, due, done, as_of))

    numbers = {claim.id: claim.number for claim in claims}
    for payment in payments:
        zone, area = claim_place[payment.claim_id]
        amounts[zone, area] += payment.amount_yuan
        met = _judge(payment.due_at, payment.paid_at, as_of)
        outcomes.append(_Outcome("advances", zone, area, met))
        if met is False:
            ref = f"{numbers[payment.claim_id]} payment {payment.id}"
            breaches.append(
                _breach("advance", ref, zone, area, payment.due_at, payment.paid_at, as_of)
            )

    handling: list[bool | None] = []
    for complaint in complaints:
        met = _judge(complaint.handling_due, complaint.handling_started_at, as_of)
        handling.append(met)
        if met is False:
            due, done = complaint.handling_due, complaint.handling_started_at
            breaches.append(
                _breach("complaint_handling", complaint.ticket, None, None, due, done, as_of)
            )
    by_category = {str(c): 0 for c in ComplaintCategory}
    for complaint in complaints:
        by_category[complaint.category] += 1

    areas = sorted(counts, key=lambda key: (ZONES.index(key[0]), key[1]))
    return ComplianceReport(
        month=label,
        period_start=start,
        period_end=end,
        as_of=as_of,
        total=_figures("all", None, outcomes, counts, amounts, set(areas)),
        zones=tuple(
            _figures(zone, None, outcomes, counts, amounts, {k for k in areas if k[0] == zone})
            for zone in ZONES
            if any(key[0] == zone for key in areas)
        ),
        districts=tuple(
            _figures(zone, area, outcomes, counts, amounts, {(zone, area)}) for zone, area in areas
        ),
        complaints=ComplaintFigures(
            count=len(complaints),
            by_category=by_category,
            handling=_share(handling),
            resolved=sum(c.resolved_at is not None for c in complaints),
        ),
        breaches=tuple(sorted(breaches, key=lambda b: (b.due_at, b.kind, b.ref))),
    )


def _judge(due: datetime, done: datetime | None, as_of: datetime) -> bool | None:
    """Met, breached, or None while the clock still runs."""
    if done is not None:
        return done <= due
    return False if due < as_of else None


def _area(zone: ZoneResult) -> str:
    """The finest named unit: the district in Shaoguan, else the city or province."""
    return zone.district or zone.city or zone.province or "未知"


def _claim_places(classifier: ZoneClassifier, claims: Sequence) -> list[tuple[str, str]]:
    if not claims:
        return []
    batch = classifier.classify_many([c.lat_wgs84 for c in claims], [c.lon_wgs84 for c in claims])
    return [(result.zone, _area(result)) for result in batch]


def _arriving_vehicles(session: Session, incident_ids: list[str]) -> dict[str, str]:
    """The vehicle of each incident's first recorded arrival (from the dispatch events)."""
    found: dict[str, str] = {}
    for chunk_start in range(0, len(incident_ids), 500):
        rows = session.execute(
            select(DispatchEventRow.incident_id, DispatchEventRow.vehicle_id)
            .where(
                DispatchEventRow.incident_id.in_(incident_ids[chunk_start : chunk_start + 500]),
                DispatchEventRow.type == EventType.ARRIVED,
                DispatchEventRow.vehicle_id.is_not(None),
            )
            .order_by(DispatchEventRow.id)
        )
        for incident_id, vehicle_id in rows:
            found.setdefault(incident_id, str(vehicle_id))
    return found


def _breach(
    kind: str,
    ref: str,
    zone: str | None,
    area: str | None,
    due: datetime,
    done: datetime | None,
    as_of: datetime,
    *,
    vehicle: str | None = None,
    escalation: str | None = None,
) -> Breach:
    due_local = due.astimezone(SHANGHAI_TZ)
    if done is None:
        late_min = (as_of - due).total_seconds() / 60
        what = f"not yet done ({late_min:.0f} min past due at {as_of:%Y-%m-%d %H:%M})"
    else:
        late_min = (done - due).total_seconds() / 60
        what = f"done {done.astimezone(SHANGHAI_TZ):%Y-%m-%d %H:%M}, {late_min:.0f} min late"
        if vehicle is not None:
            what += f" (vehicle {vehicle})"
    reason = f"{kind.replace('_', ' ')} deadline {due_local:%Y-%m-%d %H:%M} missed: {what}"
    return Breach(kind, ref, zone, area, due_local, done, reason, escalation)


def _escalation_of(incident: Incident, kind: str) -> str | None:
    """The escalations raised for the missed deadline, oldest first, in one line."""
    raised = [e for e in incident.escalations if e.kind in _ESCALATIONS[kind]]
    if not raised:
        return None
    return "; ".join(
        f"{e.kind} at {e.at.astimezone(SHANGHAI_TZ):%Y-%m-%d %H:%M}: {e.detail}" for e in raised
    )


def _share(results: Iterable[bool | None]) -> Share:
    results = list(results)
    met = sum(r is True for r in results)
    due = sum(r is not None for r in results)
    return Share(met=met, due=due, pending=len(results) - due, share=met / due if due else None)


def _figures(
    zone: str,
    area: str | None,
    outcomes: list[_Outcome],
    counts: dict[tuple[str, str], dict[str, int]],
    amounts: dict[tuple[str, str], Decimal],
    places: set[tuple[str, str]],
) -> AreaFigures:
    """The figures of the (zone, area) pairs in ``places`` taken together."""
    mine = [o for o in outcomes if (o.zone, o.area) in places]
    return AreaFigures(
        zone=zone,
        area=area,
        incidents=sum(counts[key]["incidents"] for key in places),
        claims=sum(counts[key]["claims"] for key in places),
        **{metric: _share(o.met for o in mine if o.metric == metric) for metric in METRICS},
        advance_amount_yuan=sum((amounts[key] for key in places if key in amounts), Decimal(0)),
    )


# --- charts ----------------------------------------------------------------------------------

_CHART_METRICS = ("calls", "arrivals", "assessments", "settlements")
_CHART_LABELS = {
    "calls": "call <= 5 min",
    "arrivals": "on scene in time",
    "assessments": "assessed in time",
    "settlements": "settled in time",
}


def report_charts(report: ComplianceReport) -> dict[str, bytes]:
    """PNG charts: kept-promise shares per zone, and arrivals in time per district.

    Figures are built without pyplot, so rendering holds no global state (safe in threads).
    """
    charts = {}
    if report.zones:
        charts["zones"] = _bar_chart(
            [zone.zone for zone in report.zones],
            {m: [getattr(zone, m).share for zone in report.zones] for m in _CHART_METRICS},
            title=f"{report.month}: share of deadlines met, per zone",
        )
    if report.districts:
        charts["districts"] = _bar_chart(
            [district_label(d.area or d.zone) for d in report.districts],
            {m: [getattr(d, m).share for d in report.districts] for m in ("calls", "arrivals")},
            title=f"{report.month}: calls and arrivals in time, per district",
        )
    return charts


def _bar_chart(labels: list[str], series: dict[str, list[float | None]], *, title: str) -> bytes:
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    for index, (metric, shares) in enumerate(series.items()):
        positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
        values = [0.0 if share is None else 100 * share for share in shares]
        axes.bar(positions, values, width=width, label=_CHART_LABELS[metric])
    axes.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 4 else 0)
    axes.set_ylim(0, 105)
    axes.set_ylabel("% of deadlines decided")
    axes.axhline(100, color="grey", linewidth=0.5)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# --- HTML ------------------------------------------------------------------------------------


def _percent(share: Share) -> str:
    """``95.0% (19/20)``, pending shown after; ``—`` when nothing was due."""
    text = "—" if share.share is None else f"{share.share:.1%} ({share.met}/{share.due})"
    return f"{text}，待定{share.pending}" if share.pending else text


def _when(moment: datetime | None) -> str:
    return "尚未完成" if moment is None else f"{moment.astimezone(SHANGHAI_TZ):%Y-%m-%d %H:%M}"


@functools.cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("dispatch_engine.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = _percent
    environment.filters["when"] = _when
    return environment


def render_html(report: ComplianceReport) -> str:
    """The report as one self-contained HTML page (inline CSS, charts as inline PNG)."""
    charts = {
        name: base64.b64encode(png).decode("ascii") for name, png in report_charts(report).items()
    }
    return (
        _templates()
        .get_template(TEMPLATE)
        .render(
            report=report,
            title=TITLE,
            charts=charts,
            metrics=METRICS,
            metric_names=METRIC_NAMES_ZH,
            zone_names=ZONE_NAMES_ZH,
            breach_names=BREACH_NAMES_ZH,
            category_names=CATEGORY_NAMES_ZH,
        )
    )


# --- PDF -------------------------------------------------------------------------------------


@functools.cache
def _pdf_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def _style(name: str, size_pt: float) -> ParagraphStyle:
    # wordWrap="CJK": Chinese lines break between any two characters.
    return ParagraphStyle(
        name, fontName=_pdf_font(), fontSize=size_pt, leading=size_pt * 1.4, wordWrap="CJK"
    )


def _table(rows: list[list[str]], widths_mm: Sequence[float], style: ParagraphStyle) -> LongTable:
    cells = [[Paragraph(escape(text), style) for text in row] for row in rows]
    table = LongTable(cells, colWidths=[w * mm for w in widths_mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _area_rows(figures: Iterable[AreaFigures]) -> list[list[str]]:
    header = ["区域", "报案", "案件", *(METRIC_NAMES_ZH[m] for m in METRICS), "预付金额（元）"]
    rows = [header]
    for f in figures:
        place = ZONE_NAMES_ZH.get(f.zone, "合计")
        if f.area is not None:
            place = f"{place} {f.area}"
        rows.append(
            [
                place,
                str(f.incidents),
                str(f.claims),
                *(_percent(getattr(f, m)) for m in METRICS),
                f"{f.advance_amount_yuan:,.2f}",
            ]
        )
    return rows


def render_pdf(report: ComplianceReport) -> bytes:
    """The report as an A4 landscape PDF: the same tables and charts as the HTML page."""
    body = _style("body", 8)
    heading = _style("heading", 12)
    title = _style("title", 16)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"{TITLE} {report.month}",
        creator="shaoguan-dispatch",
        lang="zh-CN",
        invariant=True,
    )
    area_widths = (40, 14, 14, 36, 36, 36, 36, 36, 25)
    story: list[Flowable] = [
        Paragraph(escape(f"{TITLE}（{report.month}）"), title),
        Paragraph(
            escape(
                f"统计期间：{_when(report.period_start)} 至 {_when(report.period_end)}（不含）；"
                f"统计时点：{_when(report.as_of)}。"
                "比例 = 按时完成 / 已到期或已完成；待定为时限未到且未完成。"
            ),
            body,
        ),
        Spacer(0, 3 * mm),
        Paragraph("一、总体与分区域", heading),
        _table(_area_rows((report.total, *report.zones)), area_widths, body),
        Spacer(0, 3 * mm),
        Paragraph("二、分区县", heading),
        _table(_area_rows(report.districts), area_widths, body),
    ]
    for png in report_charts(report).values():
        image = Image(io.BytesIO(png), width=200 * mm, height=90 * mm)
        story += [Spacer(0, 3 * mm), image]
    complaints = report.complaints
    story += [
        Paragraph("三、投诉处理", heading),
        _table(
            [
                [
                    "投诉总数",
                    *(CATEGORY_NAMES_ZH[ComplaintCategory(c)] for c in complaints.by_category),
                    "1个工作日内受理",
                    "已办结",
                ],
                [
                    str(complaints.count),
                    *(str(n) for n in complaints.by_category.values()),
                    _percent(complaints.handling),
                    str(complaints.resolved),
                ],
            ],
            (30, 30, 30, 30, 50, 30),
            body,
        ),
        Paragraph(f"四、未履约明细（{len(report.breaches)}项）", heading),
    ]
    if report.breaches:
        rows = [["类别", "案件/工单", "区域", "时限", "完成时间", "原因", "升级记录"]]
        rows += [
            [
                BREACH_NAMES_ZH[b.kind],
                b.ref,
                "" if b.zone is None else f"{ZONE_NAMES_ZH.get(b.zone, b.zone)} {b.area or ''}",
                _when(b.due_at),
                _when(b.done_at),
                b.reason,
                b.escalation or "",
            ]
            for b in report.breaches
        ]
        story.append(_table(rows, (24, 38, 30, 26, 26, 70, 59), body))
    else:
        story.append(Paragraph("本月无未履约事项。", body))
    document.build(story)
    return buffer.getvalue()
