"""Incidents through the HTTP API on a real database: reports, events, surge, lists."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api.conftest import report_body
from tests.claims.factories import at


def post_report(client, keys, role="dispatcher", headers=None, **changes):
    return client.post(
        "/v1/incidents", json=report_body(**changes), headers={**keys[role], **(headers or {})}
    )


def glass_only(**changes):
    """A glass-only report: the survey is waived (SPEC §6)."""
    return {"accident": "glass_only", "third_parties": [], "estimate": "2000", **changes}


def test_report_files_the_claim_and_sends_the_nearest_surveyor(client, keys):
    """A report answers 201 with the zone, both deadlines, one surveyor, and files its claim."""
    answer = post_report(client, keys)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == body["report_no"] and body["report_no"].startswith("SG-20250930-")
    assert body["zone"] == "shaoguan" and body["district"] == "浈江区"
    reported = datetime.fromisoformat(body["reported_at"])
    assert datetime.fromisoformat(body["call_due_at"]) - reported == timedelta(minutes=5)
    assert datetime.fromisoformat(body["arrival_due_at"]) - reported == timedelta(minutes=15)
    [assignment] = body["assignments"]
    assert assignment["kind"] == "survey" and assignment["vehicle_id"].startswith("SV-")
    assert assignment["meets_guarantee"] == (assignment["eta_seconds"] <= 10 * 60)
    assert body["survey_waived"] is False and body["claim_state"] == "dispatched"
    again = client.get(f"/v1/incidents/{body['id']}", headers=keys["dispatcher"]).json()
    assert again["assignments"] == body["assignments"]
    claim = client.get(f"/v1/claims/{body['report_no']}", headers=keys["claims"]).json()
    assert claim["state"] == "dispatched" and claim["incident_id"] == body["id"]


def test_other_needs_travel_with_the_surveyor(client, keys):
    """``needs`` with a flatbed sends a surveyor and a tow truck on one incident, towing free."""
    body = post_report(client, keys, needs=["survey", "tow_flatbed"]).json()
    assert sorted(a["kind"] for a in body["assignments"]) == ["survey", "tow_flatbed"]
    assert body["tow"]["free"] is True


def test_waived_survey_sends_nothing_but_keeps_the_deadlines(client, keys):
    """A glass-only report is waived: no incident, no vehicle, the call deadline still shown."""
    answer = post_report(client, keys, **glass_only())
    body = answer.json()
    assert answer.status_code == 201
    assert body["survey_waived"] is True and body["claim_state"] == "survey_waived"
    assert body["id"] is None and body["status"] == "not_dispatched"
    assert body["assignments"] == [] and body["call_due_at"]
    listed = client.get("/v1/incidents", headers=keys["dispatcher"]).json()
    assert listed["items"] == []


def test_waived_survey_still_sends_the_tow_as_the_rescue_incident(client, keys):
    """With the survey waived, a requested flatbed goes out as incident ``<number>-R``."""
    body = post_report(client, keys, **glass_only(needs=["survey", "tow_flatbed"])).json()
    assert body["survey_waived"] is True
    assert body["id"] == body["report_no"] + "-R"
    assert [a["kind"] for a in body["assignments"]] == ["tow_flatbed"]


def test_idempotency_key_returns_the_first_report(client, keys):
    """The same key and body give the same report and book one vehicle; another body is 409."""
    first = post_report(client, keys, headers={"Idempotency-Key": "call-1"}).json()
    second = post_report(client, keys, headers={"Idempotency-Key": "call-1"})
    assert second.status_code == 201 and second.json()["id"] == first["id"]
    busy = client.get("/v1/vehicles?status=en_route", headers=keys["dispatcher"]).json()
    assert len(busy) == 1
    other = post_report(client, keys, headers={"Idempotency-Key": "call-1"}, plate="粤F5678警")
    assert other.status_code == 409
    assert other.json()["error"]["field"] == "idempotency_key"


def test_retry_without_report_time_is_the_same_report_a_minute_later(client, keys, clock):
    """A retried report without ``reported_at`` keeps the first attempt's time, not 409."""
    body = report_body()
    del body["reported_at"]
    headers = {**keys["dispatcher"], "Idempotency-Key": "call-2"}
    first = client.post("/v1/incidents", json=body, headers=headers).json()
    assert first["reported_at"].startswith("2025-09-30T10:05:00")
    clock.set(at("2025-09-30 10:07"))
    retry = client.post("/v1/incidents", json=body, headers=headers)
    assert retry.status_code == 201 and retry.json()["id"] == first["id"]


def test_without_a_free_vehicle_the_incident_waits_until_a_surge(client, keys):
    """With every surveyor busy the report gets no vehicle, is listed open, and a surge
    assigns it once a surveyor is free again."""
    survey_cars = client.get("/v1/vehicles?kind=survey", headers=keys["dispatcher"]).json()
    for car in survey_cars:
        client.patch(
            f"/v1/vehicles/{car['id']}", json={"status": "off_duty"}, headers=keys["dispatcher"]
        )
    waiting = post_report(client, keys).json()
    assert waiting["assignments"] == [] and waiting["status"] == "open"
    assert waiting["unassigned_kinds"] == ["survey"]
    assert [e["kind"] for e in waiting["escalations"]] == ["no_vehicle"]
    listed = client.get("/v1/incidents?status=open", headers=keys["planner"]).json()
    assert [i["id"] for i in listed["items"]] == [waiting["id"]]
    client.patch("/v1/vehicles/SV-3", json={"status": "available"}, headers=keys["dispatcher"])
    surge = client.post("/v1/surge", headers=keys["dispatcher"]).json()
    assert surge["incidents"] == 1 and surge["assigned"] == 1
    after = client.get(f"/v1/incidents/{waiting['id']}", headers=keys["dispatcher"]).json()
    assert [a["vehicle_id"] for a in after["assignments"]] == ["SV-3"]


def test_events_follow_an_incident_to_done(client, keys):
    """called, arrived and done move the incident to done and send the vehicle home."""
    incident = post_report(client, keys).json()
    vehicle = incident["assignments"][0]["vehicle_id"]
    url, headers = f"/v1/incidents/{incident['id']}/events", keys["dispatcher"]
    called = client.post(url, json={"type": "called"}, headers=headers).json()
    assert called["called_at"] is not None
    on_scene = client.post(url, json={"type": "arrived", "vehicle_id": vehicle}, headers=headers)
    assert on_scene.json()["status"] == "on_scene"
    done = client.post(url, json={"type": "done", "vehicle_id": vehicle}, headers=headers)
    assert done.json()["status"] == "done"
    [car] = [v for v in client.get("/v1/vehicles", headers=headers).json() if v["id"] == vehicle]
    assert car["status"] == "returning"


def test_a_decline_goes_to_the_ab_partner_first(client, keys):
    """When the assigned surveyor declines, its A/B partner takes over."""
    incident = post_report(client, keys).json()
    first = incident["assignments"][0]["vehicle_id"]
    partner = next(
        v["partner_id"]
        for v in client.get("/v1/vehicles", headers=keys["dispatcher"]).json()
        if v["id"] == first
    )
    after = client.post(
        f"/v1/incidents/{incident['id']}/events",
        json={"type": "declined", "vehicle_id": first},
        headers=keys["dispatcher"],
    ).json()
    assert [a["vehicle_id"] for a in after["assignments"]] == [partner]


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([{"type": "called"}, {"type": "called"}], "type"),
        ([{"type": "done", "vehicle_id": "{vehicle}"}], "type"),
        ([{"type": "arrived", "vehicle_id": "SV-9"}], "vehicle_id"),
    ],
)
def test_an_illegal_event_is_a_conflict(client, keys, events, field):
    """A repeated call, done before arrival, or a vehicle not serving the incident is 409."""
    incident = post_report(client, keys).json()
    vehicle = incident["assignments"][0]["vehicle_id"]
    url = f"/v1/incidents/{incident['id']}/events"
    answers = [
        client.post(
            url,
            json={k: v.format(vehicle=vehicle) for k, v in event.items()},
            headers=keys["dispatcher"],
        )
        for event in events
    ]
    assert answers[-1].status_code == 409
    assert answers[-1].json()["error"]["field"] == field


def test_unknown_incident_is_404(client, keys):
    """Reading or updating an incident that does not exist is 404 in the error shape."""
    answer = client.get("/v1/incidents/SG-20250930-999999", headers=keys["dispatcher"])
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    event = client.post(
        "/v1/incidents/SG-20250930-999999/events",
        json={"type": "called"},
        headers=keys["dispatcher"],
    )
    assert event.status_code == 404


def test_overdue_lists_exactly_the_incidents_past_a_deadline(client, keys, clock):
    """``overdue=true`` matches the deadlines read back from each incident at every moment."""
    ids = [
        post_report(client, keys, reported_at=f"2025-09-30T10:0{m}:00+08:00").json()["id"]
        for m in (0, 3)
    ]
    client.post(
        f"/v1/incidents/{ids[1]}/events", json={"type": "called"}, headers=keys["dispatcher"]
    )
    for moment in ("2025-09-30 10:06", "2025-09-30 10:09", "2025-09-30 10:16", "2025-09-30 10:19"):
        clock.set(at(moment))
        incidents = [
            client.get(f"/v1/incidents/{i}", headers=keys["dispatcher"]).json() for i in ids
        ]
        expected = {
            i["id"]
            for i in incidents
            if (i["called_at"] is None and datetime.fromisoformat(i["call_due_at"]) < clock.now())
            or (
                i["arrived_at"] is None
                and datetime.fromisoformat(i["arrival_due_at"]) < clock.now()
            )
        }
        listed = client.get("/v1/incidents?overdue=true", headers=keys["dispatcher"]).json()
        assert {i["id"] for i in listed["items"]} == expected, moment


def test_list_is_paginated_newest_first(client, keys):
    """Pages of two walk every incident once, newest report first."""
    ids = [
        post_report(client, keys, reported_at=f"2025-09-30T10:0{m}:00+08:00").json()["id"]
        for m in range(5)
    ]
    seen, offset = [], 0
    while offset is not None:
        page = client.get(
            f"/v1/incidents?limit=2&offset={offset}", headers=keys["dispatcher"]
        ).json()
        seen += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    assert seen == ids[::-1]


def test_assignments_are_audited_with_the_caller(client, keys):
    """The audit log names the key that caused each assignment and decline."""
    incident = post_report(client, keys).json()
    vehicle = incident["assignments"][0]["vehicle_id"]
    client.post(
        f"/v1/incidents/{incident['id']}/events",
        json={"type": "declined", "vehicle_id": vehicle},
        headers=keys["admin"],
    )
    trail = client.get(f"/v1/incidents/{incident['id']}/audit", headers=keys["dispatcher"]).json()
    assigned = [e for e in trail if e["action"] == "incident.assigned"]
    assert len(assigned) == 2
    assert assigned[0]["actor"].endswith("(dispatcher)")
    assert assigned[1]["actor"].endswith("(admin)")
    declined = [e for e in trail if e["action"] == "incident.assignment_declined"]
    assert declined[0]["details"]["vehicle_id"] == vehicle
