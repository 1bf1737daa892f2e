"""Commitment letters (书面承诺函): the right deadlines, zone promises and identifiers, as
well-formed HTML, as a PDF whose text layer is the Chinese text, and through the CLI."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal

import pytest
import typer
from pypdf import PdfReader
from typer.testing import CliRunner

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.lifecycle import compute_deadlines
from dispatch_engine.commands import letters as letter_commands
from dispatch_engine.errors import InvalidInputError, OutsideServiceAreaError
from dispatch_engine.geo.zones import ZONE_GUARANTEES, ZoneClassifier
from dispatch_engine.reports.letters import claim_zone, render_letter
from tests.claims.factories import at, make_claim, make_report
from tests.store.databases import engine, postgres_engine, sqlite_template, store  # noqa: F401

ISSUED_AT = at("2025-09-30 10:30")
SHAOGUAN = {"lat": 24.811, "lon": 113.598}  # urban core
GUANGZHOU = {"lat": 23.13, "lon": 113.26}
CHANGSHA = {"lat": 28.2, "lon": 112.97}  # Hunan: out of province


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    """Default business hours, library holidays."""
    return BusinessCalendar()


@pytest.fixture(scope="module")
def classifier(settings) -> ZoneClassifier:
    """Zones from the embedded boundaries."""
    return ZoneClassifier.from_settings(settings)


def letter(claim, classifier, calendar, fmt: str = "html") -> bytes:
    zone = claim_zone(claim, classifier)
    return render_letter(claim, zone=zone, calendar=calendar, issued_at=ISSUED_AT, fmt=fmt)


def html_rows(content: bytes) -> dict[str, str]:
    """Label -> text of every table row; parsing as XML proves the page well-formed."""
    root = ET.fromstring(content.decode("utf-8"))
    return {tr.find("th").text: tr.find("td").text for tr in root.iter("tr")}


def pdf_text(content: bytes) -> str:
    """The PDF's text layer without whitespace (lines wrap anywhere in Chinese text)."""
    pages = PdfReader(io.BytesIO(content)).pages
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in pages))


def zh_date(moment: datetime) -> str:
    """The reference spelling of a deadline's date and hour, e.g. 2025年10月9日 / 18:00."""
    return f"{moment.year}年{moment.month}月{moment.day}日（星期"


def zh_time(moment: datetime) -> str:
    return f"）{moment:%H:%M}前"


def test_tier2_assessment_after_national_day(classifier, calendar):
    """A tier-2 claim reported 2025-09-30 10:00 is assessed by 2025-10-09 18:00 (Golden Week)."""
    claim = make_claim(calendar, make_report(estimate_yuan=Decimal("12000")))
    rows = html_rows(letter(claim, classifier, calendar))
    assert rows["案件档次"].startswith("第2档")
    assert rows["完成定损"] == "自报案时起1个工作日内完成定损，即2025年10月9日（星期四）18:00前"


@pytest.mark.parametrize(
    ("estimate", "tier"),
    [("3000", 1), ("5000", 1), ("12000", 2), ("30000.01", 3), ("150000", 4), ("250000", 5)],
)
def test_deadlines_equal_the_claims_rules(classifier, calendar, estimate, tier):
    """Each tier's letter states the dates compute_deadlines gives for the claim."""
    report = make_report(estimate_yuan=Decimal(estimate))
    documents_at = at("2025-10-13 16:20")
    expected = compute_deadlines(
        report.estimate_yuan,
        reported_at=report.reported_at,
        documents_complete_at=documents_at,
        calendar=calendar,
    )
    claim = make_claim(calendar, report, documents_complete_at=documents_at)
    rows = html_rows(letter(claim, classifier, calendar))
    assert expected.tier == tier
    assert rows["案件档次"].startswith(f"第{tier}档")
    for label, due in (
        ("完成定损", expected.assessment_due),
        ("赔案结案", expected.settlement_due),
    ):
        assert zh_date(due) in rows[label]
        assert rows[label].endswith(zh_time(due))


def test_tier1_half_day_and_immediate_settlement(classifier, calendar):
    """Tier 1: four business hours over lunch (15:00), settlement by that day's close."""
    claim = make_claim(calendar, documents_complete_at=at("2025-09-30 16:00"))
    rows = html_rows(letter(claim, classifier, calendar))
    assert rows["完成定损"] == "自报案时起半个工作日内完成定损，即2025年9月30日（星期二）15:00前"
    assert rows["赔案结案"].startswith("自索赔单证齐全时起即时（当个工作日下班前）赔案结案")
    assert rows["赔案结案"].endswith("2025年9月30日（星期二）18:00前")
    assert rows["车辆维修"] == "定损后立即维修"


def test_adjusted_working_saturday_is_marked(classifier, calendar):
    """A deadline on the 调休 Saturday 2025-10-11 says it is a working day."""
    report = make_report(estimate_yuan=Decimal("12000"))
    claim = make_claim(calendar, report, documents_complete_at=at("2025-10-10 15:00"))
    rows = html_rows(letter(claim, classifier, calendar))
    assert "2025年10月11日（星期六，调休上班日）18:00前" in rows["赔案结案"]


def test_settlement_before_documents_states_the_rule(classifier, calendar):
    """Without complete documents the letter gives the settlement rule, not a date."""
    claim = make_claim(calendar, make_report(estimate_yuan=Decimal("150000")))
    rows = html_rows(letter(claim, classifier, calendar))
    assert rows["赔案结案"] == (
        "自索赔单证齐全时起5个工作日内赔案结案；单证尚未齐全，结案期限自单证齐全时起算"
    )


@pytest.mark.parametrize(
    ("where", "zone", "name", "arrival_minutes", "arrive_by"),
    [
        (SHAOGUAN, "shaoguan", "韶关市内", 15, "10:15"),
        (GUANGZHOU, "guangdong", "广东省内", 30, "10:30"),
        (CHANGSHA, "national", "广东省外", 60, "11:00"),
    ],
)
def test_zone_guarantees(classifier, calendar, where, zone, name, arrival_minutes, arrive_by):
    """The 5-minute call and the zone's 15/30/60-minute arrival, as times from the report."""
    assert ZONE_GUARANTEES[zone].arrival_minutes == arrival_minutes
    claim = make_claim(calendar, make_report(location={"address": "某路1号", **where}))
    content = letter(claim, classifier, calendar)
    rows = html_rows(content)
    assert rows["服务区域"].startswith(name)
    assert rows["电话联系"] == "接报案后5分钟内电话联系车主，即2025年9月30日（星期二）10:05前"
    assert rows["到达现场"].startswith(f"接报案后{arrival_minutes}分钟内")
    assert rows["到达现场"].endswith(f"即2025年9月30日（星期二）{arrive_by}前")
    free_tow = rows["无偿拖车"].startswith("广东省内无偿拖车")
    assert free_tow is (zone != "national")
    for service in ("道路救援", "无偿代送检", "无偿洗车"):
        assert rows[service]


@pytest.mark.parametrize(("crs", "district"), [("wgs84", "曲江区"), ("gcj02", "浈江区")])
def test_location_crs_is_honoured(classifier, calendar, crs, district):
    """Near the Qujiang/Zhenjiang border the reported crs decides the district shown."""
    location = {"lat": 24.7213, "lon": 113.598, "crs": crs}
    claim = make_claim(calendar, make_report(location=location))
    rows = html_rows(letter(claim, classifier, calendar))
    assert rows["服务区域"] == f"韶关市内（广东省韶关市{district}）"


def test_outside_service_area_is_refused(classifier, calendar):
    """No letter promises service in Hong Kong: the location is named."""
    claim = make_claim(calendar, make_report(location={"lat": 22.30, "lon": 114.17}))
    with pytest.raises(OutsideServiceAreaError) as caught:
        claim_zone(claim, classifier)
    assert caught.value.field == "location"


def test_waived_survey_keeps_the_arrival_promise(classifier, calendar):
    """A waived survey is stated, with the arrival time kept for on-site needs."""
    claim = make_claim(calendar, survey_waived=True)
    rows = html_rows(letter(claim, classifier, calendar))
    assert rows["查勘方式"].startswith("免现场查勘")
    assert "按上述时限到达现场" in rows["免查勘案件"]


def test_identifiers_and_escaping(classifier, calendar):
    """Plate and report number appear; markup in an address stays text in HTML and PDF."""
    address = "韶关市<b>浈江区</b> & 解放路1号"
    claim = make_claim(
        calendar,
        make_report(vehicle={"plate": "粤F1234警"}, location={"address": address}),
        number="SG-20250930-000042",
    )
    html = letter(claim, classifier, calendar)
    root = ET.fromstring(html.decode("utf-8"))
    assert root.find(".//b") is None
    rows = html_rows(html)
    assert rows["出险地点"] == address
    assert rows["车牌号码"] == "粤F1234警"
    assert rows["报案号"] == "SG-20250930-000042"
    assert root.find("head/title").text == "理赔服务书面承诺函 SG-20250930-000042"
    text = pdf_text(letter(claim, classifier, calendar, "pdf"))
    assert re.sub(r"\s+", "", address) in text


def test_pdf_text_is_the_chinese_letter(classifier, calendar):
    """The PDF's text layer holds the title, plate, number, zone and computed deadline."""
    claim = make_claim(calendar, make_report(estimate_yuan=Decimal("12000")))
    content = letter(claim, classifier, calendar, "pdf")
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    for expected in (
        "理赔服务书面承诺函",
        "致韶关市公安局：",
        "粤F12345",
        "SG-20250930-000001",
        "韶关市内",
        "接报案后15分钟内查勘人员到达事故现场",
        "即2025年10月9日（星期四）18:00前",
        "无偿代送检",
        "出具时间：2025年9月30日（星期二）10:30",
    ):
        assert expected in text, expected
    assert letter(claim, classifier, calendar, "pdf") == content  # reproducible bytes


def test_bad_format_and_naive_issue_time(classifier, calendar):
    """An unknown format and a naive issue time are refused, naming the field."""
    claim = make_claim(calendar)
    zone = claim_zone(claim, classifier)
    with pytest.raises(InvalidInputError) as caught:
        render_letter(claim, zone=zone, calendar=calendar, issued_at=ISSUED_AT, fmt="docx")
    assert caught.value.field == "format"
    with pytest.raises(InvalidInputError) as caught:
        render_letter(
            claim, zone=zone, calendar=calendar, issued_at=datetime(2025, 9, 30), fmt="html"
        )
    assert caught.value.field == "issued_at"


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A Typer app with only the letter command (a callback keeps the subcommand name)."""
    application = typer.Typer(pretty_exceptions_enable=False)
    application.callback()(lambda: None)
    letter_commands.register(application)
    return application


@pytest.fixture
def db_url(engine, store, calendar) -> str:  # noqa: F811
    """A migrated database (SQLite, and PostgreSQL when configured) holding one tier-2 claim."""
    claim = make_claim(calendar, make_report(estimate_yuan=Decimal("12000")))
    with store.transaction() as tx:
        tx.add_claim(claim)
    if engine.dialect.name == "sqlite":
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=False)


def run(app, *args: str):
    return CliRunner().invoke(app, ["letter", *args])


def test_cli_writes_html_and_pdf(app, db_url, tmp_path, classifier, calendar):
    """Both formats are written from the stored claim, equal to render_letter's output."""
    stored = make_claim(calendar, make_report(estimate_yuan=Decimal("12000")))
    for fmt in ("html", "pdf"):
        out = tmp_path / f"letter.{fmt}"
        result = run(
            app,
            "--claim",
            "SG-20250930-000001",
            "--out",
            str(out),
            "--db",
            db_url,
            "--issued-at",
            "2025-09-30T10:30",
        )
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == letter(stored, classifier, calendar, fmt)
    assert html_rows((tmp_path / "letter.html").read_bytes())["完成定损"].endswith(
        "2025年10月9日（星期四）18:00前"
    )


@pytest.mark.parametrize(
    ("claim", "out", "field"),
    [
        ("SG-20250930-000099", "letter.pdf", "claim"),
        ("20250930-1", "letter.pdf", "claim"),
        ("SG-20250930-000001", "letter.docx", "out"),
    ],
)
def test_cli_fails_cleanly(app, db_url, tmp_path, claim, out, field):
    """Unknown or malformed numbers and unknown suffixes: one line naming the field, exit 2."""
    target = tmp_path / out
    result = run(app, "--claim", claim, "--out", str(target), "--db", db_url)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {field}:")
    assert not target.exists()
