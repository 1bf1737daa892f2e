"""Vehicles through the API: the live list and status/position updates."""

from __future__ import annotations

import pytest

from dispatch_engine.geo.crs import to_wgs84
from tests.api.conftest import api_fleet_document, report_body


def test_list_has_every_vehicle_of_the_fleet_file_in_id_order(client, keys):
    """GET /v1/vehicles lists the fleet file's vehicles, all available at the start."""
    vehicles = client.get("/v1/vehicles", headers=keys["planner"]).json()
    assert [v["id"] for v in vehicles] == sorted(v["id"] for v in api_fleet_document()["vehicles"])
    assert {v["status"] for v in vehicles} == {"available"}
    tows = client.get("/v1/vehicles?kind=tow_flatbed", headers=keys["planner"]).json()
    assert [v["id"] for v in tows] == ["TF-0", "TF-1"]


def test_position_in_gcj02_is_stored_in_wgs84(client, keys):
    """A GCJ-02 position (Amap) is converted to WGS-84 like geo.crs does."""
    answer = client.patch(
        "/v1/vehicles/SV-2",
        json={"position": {"lat": 24.815, "lon": 113.605, "crs": "gcj02"}, "status": "returning"},
        headers=keys["dispatcher"],
    ).json()
    lat, lon = to_wgs84(24.815, 113.605, "gcj02")
    assert answer["status"] == "returning"
    assert answer["lat"] == pytest.approx(lat, abs=1e-9) and answer["lon"] == pytest.approx(
        lon, abs=1e-9
    )
    listed = {v["id"]: v for v in client.get("/v1/vehicles", headers=keys["planner"]).json()}
    assert listed["SV-2"]["lat"] == answer["lat"]


def test_an_off_duty_vehicle_is_not_sent(client, keys):
    """After SV-0 goes off duty, the next report gets another surveyor."""
    first = client.post("/v1/incidents", json=report_body(), headers=keys["dispatcher"]).json()
    sent = first["assignments"][0]["vehicle_id"]
    client.post(
        f"/v1/incidents/{first['id']}/events",
        json={"type": "cancelled"},
        headers=keys["dispatcher"],
    )
    client.patch(f"/v1/vehicles/{sent}", json={"status": "off_duty"}, headers=keys["dispatcher"])
    second = client.post(
        "/v1/incidents", json=report_body(plate="粤F2222警"), headers=keys["dispatcher"]
    ).json()
    assert second["assignments"][0]["vehicle_id"] != sent


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/vehicles/NOPE", {"status": "available"}, 404, "vehicle_id"),
        ("/v1/vehicles/SV-0", {}, 422, None),
        ("/v1/vehicles/SV-0", {"status": "flying"}, 422, "status"),
        ("/v1/vehicles/SV-0", {"position": {"lat": 95, "lon": 113}}, 422, "position.lat"),
        (
            "/v1/vehicles/SV-0",
            {"position": {"lat": 24, "lon": 113, "crs": "utm"}},
            422,
            "position.crs",
        ),
    ],
)
def test_bad_updates_are_4xx_naming_the_field(client, keys, path, body, status, field):
    """Unknown vehicle 404; empty, unknown status, bad coordinates or crs 422."""
    answer = client.patch(path, json=body, headers=keys["dispatcher"])
    assert answer.status_code == status
    assert answer.json()["error"]["field"] == field
