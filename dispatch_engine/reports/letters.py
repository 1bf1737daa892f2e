"""Written commitment letters (书面承诺函) for one claim, in Chinese, as HTML or PDF.

The tender promises the bureau, for every loss tier, "提供书面承诺函" (chapter 5): a
letter stating the claim's tier, its assessment and settlement deadlines, the response
guarantees of the zone the accident is in (chapter 3) and the value-added services
(chapter 6). This module writes that letter with every deadline as a date.

One content model, :class:`CommitmentLetter` (all wording, every date computed), feeds two
renderers that only lay it out: a Jinja2 HTML page (``templates/commitment_letter.html.j2``)
and a ReportLab PDF set in the built-in CID font STSong-Light, so no font file and no
browser are needed. The PDF names the font without embedding it, as CID fonts are meant
to be used: readers substitute their Song face (Acrobat, pdf.js, Preview, poppler with a
CJK font); the text layer is Unicode either way.

Decisions where SPEC and tender are silent:

- the deadlines are the claim's stored ones (computed by the claims service when the
  claim was filed, re-estimated or completed), never recomputed here; the settlement date
  is stated once the documents are complete, before that the rule is;
- the response clocks start at the report time, as the dispatch core's incident does;
- a claim whose survey is waived keeps the zone's arrival promise for any on-site
  survey or rescue still needed;
- the repair promise per tier is the tender's wording verbatim (立即 / 及时 / 安排维修);
- the letter is addressed to the bureau (the policyholder) and left for the insurer's
  seal: the product does not know the insurer's legal name.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from xml.sax.saxutils import escape

import jinja2
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from dispatch_engine.claims.calendar import BusinessCalendar, to_shanghai
from dispatch_engine.claims.lifecycle import Claim
from dispatch_engine.claims.tiers import (
    HALF_WORKING_DAY_HOURS,
    TIER_UPPER_BOUNDS_YUAN,
    TIERS,
    DeadlineKind,
    DeadlineRule,
)
from dispatch_engine.dispatch.rescue import FREE_TOW_ZONES
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.zones import ZoneClassifier, ZoneResult, require_service_area

LetterFormat = Literal["html", "pdf"]
LETTER_FORMATS: tuple[LetterFormat, ...] = ("html", "pdf")

TITLE = "理赔服务书面承诺函"
PROJECT = "韶关市公安局2025-2026年度公务用车保险项目"
ADDRESSEE = "韶关市公安局"
ZONE_NAMES_ZH = {"shaoguan": "韶关市内", "guangdong": "广东省内", "national": "广东省外"}
# Tender chapter 5, item 二 of each tier's section, verbatim.
REPAIR_PROMISES_ZH = {
    1: "定损后立即维修",
    2: "定损后及时维修",
    3: "定损后立即维修",
    4: "定损后安排维修",
    5: "定损后安排维修",
}
WEEKDAYS_ZH = "一二三四五六日"
PDF_FONT = "STSong-Light"
PDF_BODY_PT = 10.5
PDF_LABEL_WIDTH_MM = 26  # the label column; the HTML template uses the same
TEMPLATE = "commitment_letter.html.j2"


@dataclass(frozen=True)
class LetterRow:
    """One labelled line of a section (label column, text column)."""

    label: str
    text: str


@dataclass(frozen=True, kw_only=True)
class LetterSection:
    """A numbered part of the letter: a table of rows, then numbered paragraphs."""

    heading: str
    rows: tuple[LetterRow, ...] = ()
    paragraphs: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CommitmentLetter:
    """The whole letter as plain text parts; renderers add layout, never wording."""

    claim_number: str
    title: str
    project: str
    salutation: str
    opening: str
    sections: tuple[LetterSection, ...]
    closing: str
    signature: tuple[str, ...]


def claim_zone(claim: Claim, classifier: ZoneClassifier) -> ZoneResult:
    """The service zone of the claim's accident location (its reported ``crs`` honoured).

    Raises
    ------
    OutsideServiceAreaError
        ``field="location"`` when the accident lies outside the mainland service area:
        nothing is promised there.
    """
    location = claim.report.location
    return require_service_area(classifier.classify(location.lat, location.lon, crs=location.crs))


def build_letter(
    claim: Claim, *, zone: ZoneResult, calendar: BusinessCalendar, issued_at: datetime
) -> CommitmentLetter:
    """The commitment letter of ``claim``: its tier, deadlines, response guarantees and
    value-added services, every deadline written as a Beijing-time date.

    Parameters
    ----------
    claim
        The stored claim; its ``deadlines`` are the ones promised.
    zone
        Where the accident is (:func:`claim_zone`); sets the arrival promise and the tow.
    calendar
        The calendar the deadlines were computed with; the letter states its hours.
    issued_at
        Aware time the letter is issued, printed under the signature.

    Raises
    ------
    InvalidInputError
        ``field="zone"`` for a zone without guarantees, ``field="issued_at"`` for a naive
        time.
    """
    issued = to_shanghai(issued_at, field="issued_at")
    if zone.zone not in ZONE_NAMES_ZH:
        raise InvalidInputError(
            f"no commitments outside the service area (zone {zone.zone})", field="zone"
        )
    return CommitmentLetter(
        claim_number=claim.number,
        title=TITLE,
        project=PROJECT,
        salutation=f"致{ADDRESSEE}：",
        opening=(
            "根据我公司在本项目投标文件中的服务承诺，现就下列案件向贵局作出如下书面承诺，"
            "并接受贵局监督。"
        ),
        sections=(
            _case_section(claim, zone),
            _response_section(claim, zone),
            _deadline_section(claim, calendar),
            _services_section(zone),
            _notes_section(calendar),
        ),
        closing="特此承诺。",
        signature=("承诺单位（盖章）：", f"出具时间：{_when(issued)}"),
    )


def render_letter(
    claim: Claim,
    *,
    zone: ZoneResult,
    calendar: BusinessCalendar,
    issued_at: datetime,
    fmt: LetterFormat,
) -> bytes:
    """The claim's commitment letter as a file: UTF-8 HTML or PDF bytes.

    Parameters
    ----------
    claim, zone, calendar, issued_at
        As for :func:`build_letter`.
    fmt
        ``"html"`` or ``"pdf"``.

    Raises
    ------
    InvalidInputError
        ``field="format"`` for another format; see :func:`build_letter`.
    """
    if fmt not in LETTER_FORMATS:
        raise InvalidInputError(
            f"unknown letter format {fmt!r}; one of {', '.join(LETTER_FORMATS)}", field="format"
        )
    letter = build_letter(claim, zone=zone, calendar=calendar, issued_at=issued_at)
    if fmt == "html":
        return letter_html(letter).encode("utf-8")
    return letter_pdf(letter)


# --- content --------------------------------------------------------------------------------


def _case_section(claim: Claim, zone: ZoneResult) -> LetterSection:
    report = claim.report
    place = "".join(part for part in (zone.province, zone.city, zone.district) if part)
    tier = claim.deadlines.tier
    survey = "免现场查勘（凭事故照片远程定损）" if claim.survey_waived else "现场查勘"
    return LetterSection(
        heading="一、案件信息",
        rows=(
            LetterRow("报案号", claim.number),
            LetterRow("报案时间", _when(report.reported_at)),
            LetterRow("车牌号码", report.vehicle.plate),
            LetterRow("车型", report.vehicle.model),
            LetterRow("出险地点", report.location.address),
            LetterRow("服务区域", f"{ZONE_NAMES_ZH[zone.zone]}（{place}）"),
            LetterRow("估损金额", f"{claim.estimate_yuan:,.2f}元"),
            LetterRow("案件档次", f"第{tier}档：估损金额{_tier_range(tier)}"),
            LetterRow("查勘方式", survey),
        ),
    )


def _response_section(claim: Claim, zone: ZoneResult) -> LetterSection:
    # ZONE_NAMES_ZH holds only zones with guarantees, so both minutes are set.
    call_minutes = int(zone.call_minutes or 0)
    arrival_minutes = int(zone.arrival_minutes or 0)
    reported_at = to_shanghai(claim.report.reported_at, field="reported_at")
    who = "全国合作网络查勘人员" if zone.zone == "national" else "查勘人员"
    rows = [
        LetterRow(
            "电话联系",
            f"接报案后{call_minutes}分钟内电话联系车主，"
            f"即{_when(reported_at + timedelta(minutes=call_minutes))}前",
        ),
        LetterRow(
            "到达现场",
            f"接报案后{arrival_minutes}分钟内{who}到达事故现场，"
            f"即{_when(reported_at + timedelta(minutes=arrival_minutes))}前",
        ),
    ]
    if claim.survey_waived:
        rows.append(
            LetterRow(
                "免查勘案件",
                "本案免现场查勘，凭事故照片远程定损；如仍需现场查勘或道路救援，按上述时限到达现场",
            )
        )
    return LetterSection(
        heading=f"二、报案响应时效承诺（{ZONE_NAMES_ZH[zone.zone]}）", rows=tuple(rows)
    )


def _deadline_section(claim: Claim, calendar: BusinessCalendar) -> LetterSection:
    deadlines = claim.deadlines
    tier = TIERS[deadlines.tier - 1]
    settlement_rule = f"自索赔单证齐全时起{_within(tier.settlement)}赔案结案"
    if deadlines.settlement_due is None:
        settlement = f"{settlement_rule}；单证尚未齐全，结案期限自单证齐全时起算"
    else:
        settlement = f"{settlement_rule}，即{_when(deadlines.settlement_due, calendar=calendar)}前"
    return LetterSection(
        heading=f"三、定损结案时效承诺（第{deadlines.tier}档）",
        rows=(
            LetterRow(
                "完成定损",
                f"自报案时起{_within(tier.assessment)}完成定损，"
                f"即{_when(deadlines.assessment_due, calendar=calendar)}前",
            ),
            LetterRow("车辆维修", REPAIR_PROMISES_ZH[deadlines.tier]),
            LetterRow("赔案结案", settlement),
        ),
    )


def _services_section(zone: ZoneResult) -> LetterSection:
    if zone.zone in FREE_TOW_ZONES:
        tow = (
            "广东省内无偿拖车，将车辆拖送至距出险地点最近的定点维修厂；"
            "车主指定其他地点的，按指定地点拖送，不属无偿拖车范围"
        )
    else:
        tow = (
            "本案出险地点在广东省外，由全国合作网络就近安排救援拖车，按当地合作机构规定执行；"
            "在广东省内出险的，无偿拖车至最近的定点维修厂"
        )
    return LetterSection(
        heading="四、增值服务承诺",
        rows=(
            LetterRow("道路救援", "提供24小时道路救援，现场可处理搭电、换胎等故障"),
            LetterRow("无偿拖车", tow),
            LetterRow(
                "无偿代送检", "车辆年检可预约无偿代送检：技术人员按预约时间上门取车，送检后当日送回"
            ),
            LetterRow(
                "无偿洗车", "可预约无偿洗车：技术人员按预约时间上门取车，送合作洗车点清洗后当日送回"
            ),
        ),
    )


def _notes_section(calendar: BusinessCalendar) -> LetterSection:
    hours = "、".join(f"{start:%H:%M}—{end:%H:%M}" for start, end in calendar.business_hours)
    closing = f"{calendar.closing_time:%H:%M}"
    return LetterSection(
        heading="五、说明",
        paragraphs=(
            "本函所列时间均为北京时间，由系统按报案时间、索赔单证齐全时间及以下规则计算。",
            f"工作日指国家法定工作日（含调休上班日），法定节假日及休息日不计入；"
            f"工作时间为每个工作日{hours}。",
            f"按工作日计算的期限，事件当日不计入，于其后第N个工作日下班时（{closing}）届满"
            f"（《中华人民共和国民法典》第二百零一条）；半个工作日指{HALF_WORKING_DAY_HOURS:g}个"
            "工作小时，非工作时间报案的自下一工作时段开始计算。",
            "估损金额恰为分档金额的，按较低档次（时限较短者）执行；估损金额调整导致档次变化的，"
            "时限仍自原报案时间及单证齐全时间起重新计算，我公司将重新出具本函。",
        ),
    )


def _when(moment: datetime, *, calendar: BusinessCalendar | None = None) -> str:
    """``2025年10月9日（星期四）18:00`` in Beijing time; with a ``calendar``, a weekend
    that is a working day says so (``星期六，调休上班日``), lest a due date look wrong."""
    local = to_shanghai(moment, field="datetime")
    day = f"星期{WEEKDAYS_ZH[local.weekday()]}"
    if calendar is not None and local.weekday() >= 5 and calendar.is_working_day(local.date()):
        day += "，调休上班日"
    return f"{local.year}年{local.month}月{local.day}日（{day}）{local:%H:%M}"


def _within(rule: DeadlineRule) -> str:
    """A deadline rule as the tender words it: ``1个工作日内``, ``半个工作日内``, ``即时``."""
    match rule.kind:
        case DeadlineKind.WORKING_DAYS:
            return f"{int(rule.amount)}个工作日内"
        case DeadlineKind.BUSINESS_HOURS:
            if rule.amount == HALF_WORKING_DAY_HOURS:
                return "半个工作日内"
            return f"{rule.amount:g}个工作小时内"
        case DeadlineKind.CLOSE_OF_BUSINESS:
            return "即时（当个工作日下班前）"


def _tier_range(number: int) -> str:
    """The estimate range of tier ``number``; a boundary value belongs to the lower tier."""
    bounds = [f"{int(bound):,}元" for bound in TIER_UPPER_BOUNDS_YUAN]
    if number == 1:
        return f"{bounds[0]}（含）以下"
    if number > len(bounds):
        return f"{bounds[-1]}以上"
    return f"{bounds[number - 2]}以上至{bounds[number - 1]}（含）"


# --- HTML -----------------------------------------------------------------------------------


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dispatch_engine.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def letter_html(letter: CommitmentLetter) -> str:
    """The letter as a self-contained HTML page (inline CSS, A4 print layout)."""
    return _templates().get_template(TEMPLATE).render(letter=letter)


# --- PDF ------------------------------------------------------------------------------------


@functools.cache
def _pdf_font() -> str:
    """Register ReportLab's built-in simplified-Chinese CID font once; return its name."""
    pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def _style(name: str, *, size_pt: float, **options: object) -> ParagraphStyle:
    # wordWrap="CJK" lets lines break between any two characters, as Chinese text needs.
    return ParagraphStyle(
        name,
        fontName=_pdf_font(),
        fontSize=size_pt,
        leading=size_pt * 1.55,
        wordWrap="CJK",
        **options,  # type: ignore[arg-type]
    )


def letter_pdf(letter: CommitmentLetter) -> bytes:
    """The letter as an A4 PDF; the same letter always gives the same bytes."""
    title = _style("title", size_pt=20, alignment=TA_CENTER, spaceAfter=2 * mm)
    project = _style("project", size_pt=PDF_BODY_PT, alignment=TA_CENTER, textColor=colors.dimgrey)
    heading = _style(
        "heading", size_pt=12.5, spaceBefore=4 * mm, spaceAfter=1.5 * mm, keepWithNext=True
    )
    body = _style("body", size_pt=PDF_BODY_PT)
    right = _style("right", size_pt=PDF_BODY_PT, alignment=TA_RIGHT)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=18 * mm,
        bottomMargin=20 * mm,
        title=f"{letter.title} {letter.claim_number}",
        subject=letter.project,
        creator="shaoguan-dispatch",
        lang="zh-CN",
        invariant=True,
    )
    story: list[Flowable] = [
        Paragraph(escape(letter.title), title),
        Paragraph(escape(letter.project), project),
        Spacer(0, 6 * mm),
        Paragraph(escape(letter.salutation), body),
        Paragraph(
            escape(letter.opening),
            _style("opening", size_pt=PDF_BODY_PT, firstLineIndent=2 * PDF_BODY_PT),
        ),
    ]
    for section in letter.sections:
        story.append(Paragraph(escape(section.heading), heading))
        if section.rows:
            table = Table(
                [
                    [Paragraph(escape(r.label), body), Paragraph(escape(r.text), body)]
                    for r in section.rows
                ],
                colWidths=[PDF_LABEL_WIDTH_MM * mm, document.width - PDF_LABEL_WIDTH_MM * mm],
            )
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.append(table)
        story.extend(
            Paragraph(escape(f"{index}. {text}"), body)
            for index, text in enumerate(section.paragraphs, start=1)
        )
    story.append(Spacer(0, 5 * mm))
    story.append(Paragraph(escape(letter.closing), body))
    story.append(Spacer(0, 8 * mm))
    story.extend(Paragraph(escape(line), right) for line in letter.signature)

    footer = f"{letter.title}　报案号 {letter.claim_number}"

    def draw_footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(_pdf_font(), 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(doc.leftMargin, 12 * mm, footer)
        canvas.drawRightString(A4[0] - doc.rightMargin, 12 * mm, f"第{doc.page}页")
        canvas.restoreState()

    document.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue()
