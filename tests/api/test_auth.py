"""API keys and roles: 401 without a valid key, 403 for a role that may not."""

from __future__ import annotations

import pytest

from dispatch_engine.store.dispatch_sql import hash_key
from tests.api.conftest import report_body

ROUTES = [
    ("post", "/v1/incidents"),
    ("get", "/v1/incidents"),
    ("post", "/v1/surge"),
    ("get", "/v1/vehicles"),
    ("get", "/v1/claims"),
    ("get", "/v1/complaints/overdue"),
    ("get", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_missing_or_unknown_key_is_401(client, method, path):
    """No key, or a key never issued, is 401 naming X-API-Key."""
    for headers in ({}, {"X-API-Key": "sgd_not-a-key"}):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == {
            "code": "unauthorized",
            "message": answer.json()["error"]["message"],
            "field": "X-API-Key",
        }


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("planner", "post", "/v1/incidents", report_body()),
        ("claims", "post", "/v1/surge", None),
        ("claims", "patch", "/v1/vehicles/SV-0", {"status": "off_duty"}),
        ("dispatcher", "get", "/v1/claims", None),
        ("planner", "get", "/v1/complaints/overdue", None),
    ],
)
def test_wrong_role_is_403(client, keys, role, method, path, body):
    """A valid key whose role may not do this is 403, and nothing changes."""
    answer = client.request(method, path, json=body, headers=keys[role])
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    vehicles = client.get("/v1/vehicles", headers=keys["admin"]).json()
    assert all(v["status"] == "available" for v in vehicles)


def test_admin_may_do_everything_and_healthz_needs_no_key(client, keys):
    """An admin key reaches dispatch and claims routes; /healthz answers without a key."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert (
        client.post("/v1/incidents", json=report_body(), headers=keys["admin"]).status_code == 201
    )
    assert client.get("/v1/claims", headers=keys["admin"]).status_code == 200


def test_keys_are_stored_hashed(app, keys):
    """The database holds the SHA-256 of each key, never the key."""
    with app.state.services.engine.connect() as connection:
        stored = {row[0] for row in connection.exec_driver_sql("SELECT key_hash FROM api_keys")}
    plain = {headers["X-API-Key"] for headers in keys.values()}
    assert stored == {hash_key(key) for key in plain}
    assert not stored & plain


def test_metrics_count_requests_and_assignments(client, keys):
    """/metrics is Prometheus text with the request and the assignment it caused."""

    def count(text, prefix):
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
        )

    before = client.get("/metrics", headers=keys["planner"]).text
    client.post("/v1/incidents", json=report_body(), headers=keys["dispatcher"])
    after = client.get("/metrics", headers=keys["planner"]).text
    request = 'dispatch_api_requests_total{method="POST",route="/v1/incidents",status="201"}'
    survey = 'dispatch_assignments_total{kind="survey",meets_guarantee="true"}'
    assert count(after, request) - count(before, request) == 1
    assert count(after, survey) - count(before, survey) == 1
    assert "dispatch_api_request_duration_seconds_bucket" in after
