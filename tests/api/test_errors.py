"""Bad input is a 4xx in the one error shape, naming the field, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import report_body


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"location": {"lat": 91, "lon": 113.6, "address": "x"}}, "invalid_input", "location.lat"),
        (
            {"location": {"lat": 24.8, "lon": 113.6, "crs": "utm", "address": "x"}},
            None,
            "location.crs",
        ),
        (
            {"location": {"lat": 22.3, "lon": 114.17, "address": "x"}},
            "outside_service_area",
            "location",
        ),
        (
            {"location": {"lat": 0.0, "lon": -140.0, "address": "x"}},
            "outside_service_area",
            "location",
        ),
        ({"plate": "粤X"}, "invalid_input", "plate"),
        (
            {"driver": {"name": "张三", "phone": "123", "id_number": "x"}},
            "invalid_input",
            "driver.phone",
        ),
        ({"estimate": "-5"}, "invalid_input", "estimate"),
        ({"estimate": None}, "invalid_input", "estimate"),
        ({"needs": ["helicopter"]}, "invalid_input", "needs.0"),
        ({"reported_at": "2025-09-30T10:30:00+08:00"}, "invalid_input", "reported_at"),
        ({"reported_at": "2025-09-30T09:59:30+08:00"}, "invalid_input", "reported_at"),
        ({"reported_at": "2025-09-30T09:59:00"}, "invalid_input", "reported_at"),
        ({"reported_at": "1900-01-01T00:00:00+08:00"}, "invalid_input", "reported_at"),
        ({"third_party_loss": True, "third_parties": []}, "invalid_input", "third_parties"),
        ({"description": "bad\x00text"}, "invalid_input", "description"),
        ({"colour": "red"}, "invalid_input", "colour"),
    ],
)
def test_a_bad_report_is_422_naming_the_field(client, keys, changes, code, field):
    """Out-of-range or unknown-crs coordinates, outside the service area, a bad plate or
    phone, a bad amount, kind or time: 422 with the field, and nothing stored."""
    answer = client.post("/v1/incidents", json=report_body(**changes), headers=keys["dispatcher"])
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert code is None or error["code"] == code
    assert client.get("/v1/claims", headers=keys["claims"]).json()["items"] == []


def test_malformed_json_and_unknown_routes_keep_the_error_shape(client, keys):
    """Broken JSON is 422, an unknown route 404, a wrong method 405: all in one shape."""
    broken = client.post(
        "/v1/incidents",
        content=b"{not json",
        headers={**keys["dispatcher"], "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["error"]["field"] == "body"
    assert client.get("/v1/nothing", headers=keys["admin"]).json()["error"]["code"] == "not_found"
    wrong = client.delete("/v1/incidents", headers=keys["admin"])
    assert wrong.status_code == 405 and set(wrong.json()["error"]) == {"code", "message", "field"}


def test_an_unknown_query_parameter_is_422_naming_it(client, keys):
    """A typo in a filter (``stauts``) is refused, not silently ignored, on a list and on a
    report (which takes none); the parameters a route does take still work."""
    listed = client.get("/v1/incidents?stauts=open", headers=keys["dispatcher"])
    assert listed.status_code == 422
    assert listed.json()["error"]["field"] == "stauts"
    assert "status" in listed.json()["error"]["message"]
    posted = client.post("/v1/incidents?dry_run=1", json=report_body(), headers=keys["dispatcher"])
    assert posted.status_code == 422 and posted.json()["error"]["field"] == "dry_run"
    assert client.get("/v1/claims", headers=keys["claims"]).json()["items"] == []
    assert client.get("/v1/incidents?status=open", headers=keys["dispatcher"]).status_code == 200
