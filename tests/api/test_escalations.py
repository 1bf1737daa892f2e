"""The server's background deadline check stores escalations and counts them as breaches."""

from __future__ import annotations

import time

from api.main import create_app
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.settings import load_settings
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from tests.api.conftest import START, TestClient, report_body
from tests.claims.factories import at


def test_missed_call_is_escalated_while_the_server_runs(
    tmp_path, grid_network_file, api_fleet_file
):
    """Once the 5-minute call deadline passes, the running app raises call_overdue on its
    own and /metrics counts it."""
    clock = ManualClock(at(START))
    settings = load_settings(
        db_url=str(tmp_path / "api.sqlite3"),
        network=str(grid_network_file),
        fleet_file=api_fleet_file,
        escalation_check_s=0.05,
    )
    app = create_app(settings, clock=clock)
    headers = {"X-API-Key": SqlApiKeys(app.state.services.engine).create("dispatcher")[1]}
    with TestClient(app) as client:
        incident = client.post("/v1/incidents", json=report_body(), headers=headers).json()
        clock.set(at("2025-09-30 10:06"))  # the call was due at 10:05
        deadline = time.monotonic() + 10
        kinds: list[str] = []
        while "call_overdue" not in kinds and time.monotonic() < deadline:
            time.sleep(0.05)
            found = client.get(f"/v1/incidents/{incident['id']}", headers=headers).json()
            kinds = [e["kind"] for e in found["escalations"]]
        metrics = client.get("/metrics", headers=headers).text
    assert kinds == ["call_overdue"]
    assert 'dispatch_escalations_total{kind="call_overdue"} 1.0' in metrics
