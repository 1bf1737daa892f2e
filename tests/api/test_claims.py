"""Claims and complaints through the API: a claim's way from report to close, masking,
payees, waivers and complaints."""

from __future__ import annotations

from decimal import Decimal

from tests.api.conftest import report_body
from tests.claims.factories import ID_NUMBER, PHONE, at


def file_claim(client, keys, **changes) -> str:
    """Report through POST /v1/incidents; returns the report (claim) number."""
    answer = client.post("/v1/incidents", json=report_body(**changes), headers=keys["dispatcher"])
    assert answer.status_code == 201, answer.text
    return answer.json()["report_no"]


def step(client, keys, number, **body):
    return client.post(f"/v1/claims/{number}/events", json=body, headers=keys["claims"])


def test_a_major_claim_goes_from_report_to_close(client, keys):
    """Survey, advance (50 % of the estimate), assessment, documents, approval, payments,
    close: each step answers the claim's new state, and the payments add up."""
    number = file_claim(client, keys, injured=1, estimate="120000")
    headers = keys["claims"]
    assert step(client, keys, number, type="survey").json()["state"] == "surveyed"
    advance = client.post(f"/v1/claims/{number}/advance-payment", json={}, headers=headers)
    assert advance.status_code == 201
    assert Decimal(advance.json()["amount_yuan"]) == Decimal("60000")
    assessed = step(client, keys, number, type="assessment", amount_yuan="110000").json()
    assert assessed["state"] == "assessed" and Decimal(assessed["estimate_yuan"]) == 110000
    checklist = client.get(f"/v1/claims/{number}/documents", headers=headers).json()
    assert "medical_records" in checklist["missing"]
    for kind in checklist["missing"]:
        client.post(
            f"/v1/claims/{number}/documents",
            json={"kind": kind, "ref": f"docs/{kind}.pdf"},
            headers=headers,
        )
    claim = client.get(f"/v1/claims/{number}", headers=headers).json()
    assert claim["state"] == "documents_complete" and claim["settlement_due"] is not None
    assert step(client, keys, number, type="approve", amount_yuan="110000").json()["state"] == (
        "approved"
    )
    payments = client.get(f"/v1/claims/{number}/payments", headers=headers).json()
    assert sorted(Decimal(p["amount_yuan"]) for p in payments) == [50000, 60000]
    for payment in payments:
        made = client.post(
            f"/v1/payments/{payment['id']}/paid", json={"reference": "BANK-1"}, headers=headers
        )
        assert made.json()["status"] == "paid"
    assert client.get(f"/v1/claims/{number}", headers=headers).json()["state"] == "paid"
    assert step(client, keys, number, type="close").json()["state"] == "closed"
    actions = [
        e["action"] for e in client.get(f"/v1/claims/{number}/audit", headers=headers).json()
    ]
    assert "claim.advance_scheduled" in actions and "claim.payment_made" in actions


def test_an_illegal_step_is_a_conflict_naming_both_states(client, keys):
    """Closing a claim that is only dispatched is 409 naming the state."""
    number = file_claim(client, keys)
    answer = step(client, keys, number, type="close")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["field"] == "state" and "dispatched" in error["message"]


def test_a_step_missing_its_amount_is_422(client, keys):
    """An assessment without an amount names amount_yuan."""
    number = file_claim(client, keys)
    answer = step(client, keys, number, type="assessment")
    assert answer.status_code == 422 and answer.json()["error"]["field"].endswith("amount_yuan")


def test_reestimate_moves_the_claim_to_another_tier(client, keys):
    """A re-estimate from 12,000 to 150,000 yuan moves tier 2 to tier 4."""
    number = file_claim(client, keys)
    before = client.get(f"/v1/claims/{number}", headers=keys["claims"]).json()
    after = client.post(
        f"/v1/claims/{number}/estimate",
        json={"estimate_yuan": "150000", "reason": "定损复核"},
        headers=keys["claims"],
    ).json()
    assert (before["tier"], after["tier"]) == (2, 4)
    assert after["assessment_due"] > before["assessment_due"]


def test_lists_and_the_outbox_mask_phone_and_id_numbers(client, keys, clock):
    """The list, overdue and notices views never show a full phone or ID number; the
    detail view does (the handler phones the driver)."""
    number = file_claim(client, keys)
    clock.set(at("2025-10-20 10:00"))  # past the tier-2 deadline (National Day holidays)
    views = [
        client.get("/v1/claims", headers=keys["claims"]),
        client.get("/v1/claims/overdue", headers=keys["claims"]),
        client.get(f"/v1/claims/{number}/notices", headers=keys["claims"]),
    ]
    for view in views:
        assert view.status_code == 200 and view.json()
        assert PHONE not in view.text and ID_NUMBER not in view.text
    [summary] = views[1].json()
    assert summary["overdue"] == ["assessment"] and summary["driver_phone_masked"].endswith("5678")
    detail = client.get(f"/v1/claims/{number}", headers=keys["claims"]).json()
    assert detail["driver_id_number"] == ID_NUMBER


def test_third_party_payee_is_recorded_masked_and_audited(client, keys):
    """A payee authorisation answers the account masked and is in the audit trail."""
    number = file_claim(client, keys)
    answer = client.post(
        f"/v1/claims/{number}/payees",
        json={
            "name": "韶关市某汽车维修有限公司",
            "kind": "repair_shop",
            "bank": "中国工商银行韶关分行",
            "account_number": "6222021234567890123",
            "authorisation_document_ref": "docs/payee.pdf",
        },
        headers=keys["claims"],
    )
    assert answer.status_code == 201
    assert answer.json()["account_masked"].endswith("0123")
    assert "6222021234567890123" not in answer.text
    trail = client.get(f"/v1/claims/{number}/audit", headers=keys["claims"]).json()
    [entry] = [e for e in trail if e["action"] == "claim.payee_authorised"]
    assert entry["actor"].endswith("(claims)")


def test_waiver_history_names_the_rule(client, keys):
    """A glass-only report is waived by the glass_only rule, audited with the caller."""
    number = file_claim(client, keys, accident="glass_only", third_parties=[], estimate="2000")
    [decision] = client.get(f"/v1/claims/{number}/waivers", headers=keys["claims"]).json()
    assert decision["waived"] is True and decision["rule"] == "glass_only"
    assert decision["actor"].endswith("(dispatcher)")


def test_a_complaint_is_filed_handled_and_listed_when_late(client, keys, clock):
    """A complaint gets a ticket, moves through its steps in order, and is listed masked
    when handling has not started by its deadline."""
    headers = keys["claims"]
    body = {
        "category": "service_quality",
        "channel": "hotline",
        "complainant_name": "王五",
        "phone": "13912345678",
        "description": "查勘员迟到",
    }
    late = client.post("/v1/complaints", json=body, headers=headers).json()
    handled = client.post("/v1/complaints", json=body, headers=headers).json()
    url = f"/v1/complaints/{handled['ticket']}/events"
    early = client.post(url, json={"type": "followed_up", "text": "回访"}, headers=headers)
    assert early.status_code == 409
    for event in (
        {"type": "handling"},
        {"type": "feedback", "text": "已致歉"},
        {"type": "resolved", "text": "批评教育查勘员"},
        {"type": "followed_up", "text": "客户满意"},
    ):
        answer = client.post(url, json=event, headers=headers)
    assert answer.json()["state"] == "followed_up"
    clock.set(at("2025-10-20 10:00"))
    overdue = client.get("/v1/complaints/overdue", headers=headers)
    assert [c["ticket"] for c in overdue.json()] == [late["ticket"]]
    assert "13912345678" not in overdue.text
