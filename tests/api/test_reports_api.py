"""``GET /v1/reports/compliance`` and ``GET /v1/claims/{number}/letter`` on a real database:
the same figures as the report function, the roles that may ask, letters in both formats."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from dispatch_engine.reports.compliance import compliance_figures, report_dict
from tests.reports.test_compliance import AS_OF, MONTH, Month, fill_month


@pytest.fixture
def month(app) -> Month:
    """The compliance scenario (November 2025) filled through the app's own services."""
    services = app.state.services
    return fill_month(
        services.clock,
        services.dispatcher,
        services.claims,
        services.settlement,
        services.complaints,
    )


def test_compliance_json_equals_the_report_function(client, keys, app, month):
    """The API answers exactly the function's figures, breaches included."""
    services = app.state.services
    answer = client.get("/v1/reports/compliance", params={"month": MONTH}, headers=keys["planner"])
    assert answer.status_code == 200, answer.text
    expected = compliance_figures(
        services.engine, MONTH, classifier=services.dispatcher.classifier, as_of=AS_OF
    )
    assert answer.json() == report_dict(expected)
    assert answer.json()["total"]["calls"] == {"met": 2, "due": 3, "pending": 0, "share": 2 / 3}
    assert month.late in {b["ref"] for b in answer.json()["breaches"]}


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("dispatcher", 403), ("claims", 403)])
def test_compliance_is_for_planners_and_admins(client, keys, role, status):
    """Planners and admins may read the report; other roles get 403 in the one error shape."""
    answer = client.get("/v1/reports/compliance", params={"month": MONTH}, headers=keys[role])
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("month_text", ["2026-13", "2026-3", "march"])
def test_bad_month_names_the_field(client, keys, month_text):
    """A malformed month is a 422 naming ``month``."""
    answer = client.get(
        "/v1/reports/compliance", params={"month": month_text}, headers=keys["planner"]
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "month"


def test_letter_as_html_and_pdf(client, keys, month):
    """The letter comes back as HTML and PDF with the right type and the report number."""
    html = client.get(f"/v1/claims/{month.major}/letter", headers=keys["claims"])
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert month.major in html.text and "书面承诺函" in html.text
    pdf = client.get(
        f"/v1/claims/{month.major}/letter", params={"format": "pdf"}, headers=keys["admin"]
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert month.major in text


def test_letter_errors_use_the_one_shape(client, keys, month):
    """Unknown claim 404, bad format 422 naming ``format``, wrong role 403."""
    missing = client.get("/v1/claims/SG-20251104-000999/letter", headers=keys["claims"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = client.get(
        f"/v1/claims/{month.major}/letter", params={"format": "doc"}, headers=keys["claims"]
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "format"
    planner = client.get(f"/v1/claims/{month.major}/letter", headers=keys["planner"])
    assert planner.status_code == 403
