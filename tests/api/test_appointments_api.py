"""Value-added services through the API: booking, listing, cancelling, the day plan."""

from __future__ import annotations

APPOINTMENT = {
    "kind": "car_wash",
    "plate": "粤F2345警",
    "place": "浈江派出所",
    "location": {"lat": 24.812, "lon": 113.595, "crs": "wgs84"},
    "collect_from": "2025-10-09T09:00:00+08:00",
    "collect_until": "2025-10-09T11:00:00+08:00",
    "return_by": "2025-10-09T17:00:00+08:00",
    "service_min": 30,
    "facility_id": "CW-ZJ-1",
}


def test_book_list_cancel_and_roles(client, keys):
    """A booking is stored and listed by day; a second one for the car that day is a 409."""
    booked = client.post("/v1/appointments", json=APPOINTMENT, headers=keys["dispatcher"])
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["status"] == "booked" and body["plate"] == "粤F2345警"
    again = client.post("/v1/appointments", json=APPOINTMENT, headers=keys["claims"])
    assert again.status_code == 409
    listed = client.get("/v1/appointments?day=2025-10-09", headers=keys["planner"]).json()
    assert [a["id"] for a in listed] == [body["id"]]
    assert (
        client.post("/v1/appointments", json=APPOINTMENT, headers=keys["planner"]).status_code
        == 403
    )
    cancelled = client.delete(f"/v1/appointments/{body['id']}", headers=keys["dispatcher"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get("/v1/appointments?day=2025-10-09", headers=keys["planner"]).json() == []


def test_bad_appointment_names_the_field(client, keys):
    """A window that ends before it starts is a 4xx naming the field."""
    bad = dict(APPOINTMENT, collect_until="2025-10-09T08:00:00+08:00", plate="粤F3456警")
    answer = client.post("/v1/appointments", json=bad, headers=keys["dispatcher"])
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "collect_until"


def test_day_plan_routes_the_booked_appointment(client, keys):
    """The day plan puts the booked wash on the technician's route, with times."""
    body = dict(
        APPOINTMENT,
        plate="粤F4567警",
        collect_from="2025-10-10T09:00:00+08:00",
        collect_until="2025-10-10T11:00:00+08:00",
        return_by="2025-10-10T17:00:00+08:00",
    )
    booked = client.post("/v1/appointments", json=body, headers=keys["dispatcher"]).json()
    plan = client.get("/v1/day-plans/2025-10-10?time_limit_s=1", headers=keys["planner"]).json()
    served = [a for t in plan["technicians"] for a in t["appointments"]]
    reasons = {u["appointment_id"]: u["reason"] for u in plan["unplanned"]}
    assert booked["id"] in served, reasons
    assert plan["total_travel_min"] > 0
