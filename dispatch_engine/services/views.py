"""A day plan as JSON, shared by the ``plan-services`` command and the API."""

from __future__ import annotations

from dispatch_engine.services.day_routes import DayPlan, Stop


def _minutes(seconds: int) -> float:
    return round(seconds / 60, 1)


def plan_json(plan: DayPlan) -> dict:
    """The plan as JSON: per technician the ordered stops and totals (times Asia/Shanghai)."""

    def stop_json(stop: Stop) -> dict:
        return {
            "kind": str(stop.kind),
            "appointment_id": stop.appointment_id,
            "plate": stop.plate,
            "place": stop.place,
            "lat": stop.lat,
            "lon": stop.lon,
            "travel_min": _minutes(stop.travel_s),
            "arrival_at": plan.at(stop.arrival_s).isoformat(),
            "start_at": plan.at(stop.start_s).isoformat(),
            "departure_at": plan.at(stop.departure_s).isoformat(),
        }

    return {
        "date": plan.day.isoformat(),
        "served": sum(len(route.appointment_ids) for route in plan.routes),
        "total_travel_min": _minutes(plan.travel_s),
        "technicians": [
            {
                "id": route.technician_id,
                "base_id": route.base_id,
                "appointments": list(route.appointment_ids),
                "travel_min": _minutes(route.travel_s),
                "service_min": _minutes(route.service_s),
                "wait_min": _minutes(route.wait_s),
                "leaves_at": plan.at(route.stops[0].departure_s).isoformat(),
                "back_at": plan.at(route.stops[-1].arrival_s).isoformat(),
                "stops": [stop_json(stop) for stop in route.stops],
            }
            for route in plan.routes
        ],
        "unplanned": [
            {"appointment_id": u.appointment_id, "plate": u.plate, "reason": u.reason}
            for u in plan.unplanned
        ],
    }
