"""Shifts, availability, partners and immutable updates of the fleet model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import (
    SHANGHAI_TZ,
    WEEK_S,
    Fleet,
    Shift,
    VehicleKind,
    VehicleStatus,
    coverage_gaps_s,
)
from tests.fleet.factories import (
    AROUND_THE_CLOCK,
    DAY_SHIFT,
    NIGHT_SHIFT,
    make_base,
    make_fleet,
    make_vehicle,
)

# 2025-06-02 is a Monday.
MONDAY = datetime(2025, 6, 2, tzinfo=SHANGHAI_TZ)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local Asia/Shanghai time ``day`` days after Monday 2025-06-02."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def reference_covers(shift: Shift, when: datetime) -> bool:
    """Shift semantics with calendar arithmetic: a shift started today or yesterday is on."""
    local = when.astimezone(SHANGHAI_TZ)
    for offset in (0, -1):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in shift.days:
            continue
        start = datetime.combine(day, shift.start, SHANGHAI_TZ)
        end = datetime.combine(day, shift.end, SHANGHAI_TZ)
        if end <= start:
            end += timedelta(days=1)
        if start <= local < end:
            return True
    return False


def test_night_shift_covers_small_hours_not_noon() -> None:
    """A 20:00–08:00 shift covers 02:00 and 20:00 but not 12:00 or 08:00."""
    assert NIGHT_SHIFT.covers(at(2, 2))
    assert NIGHT_SHIFT.covers(at(2, 20))
    assert not NIGHT_SHIFT.covers(at(2, 12))
    assert not NIGHT_SHIFT.covers(at(2, 8))


def test_sunday_night_shift_runs_into_monday_morning() -> None:
    """A shift starting Sunday 20:00 covers Monday 03:00, not Sunday 03:00."""
    sunday_night = Shift(frozenset({6}), time(20), time(8))
    assert sunday_night.covers(at(7, 3))
    assert not sunday_night.covers(at(6, 3))


def test_covers_converts_other_timezones_to_shanghai() -> None:
    """18:00 UTC is 02:00 next day in Shanghai, so a night shift covers it, a day shift not."""
    evening_utc = datetime(2025, 6, 2, 18, 0, tzinfo=UTC)
    assert NIGHT_SHIFT.covers(evening_utc)
    assert not DAY_SHIFT.covers(evening_utc)


def test_covers_rejects_naive_datetime() -> None:
    """A wall-clock time without a zone is refused, naming the field."""
    with pytest.raises(InvalidInputError) as caught:
        DAY_SHIFT.covers(datetime(2025, 6, 2, 12))
    assert caught.value.field == "at"


clock_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@given(
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=clock_times,
    end=clock_times,
    when=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_covers_matches_calendar_reference(
    days: frozenset[int], start: time, end: time, when: datetime
) -> None:
    """Shift.covers agrees with day-by-day calendar arithmetic for any shift and instant."""
    shift = Shift(days, start, end)
    assert shift.covers(when) == reference_covers(shift, when)


def test_coverage_gaps_match_hourly_brute_force() -> None:
    """Coverage gaps are exactly the quarter-hours of the week that no shift covers."""
    evenings = Shift(frozenset(range(5)), time(19, 30), time(23, 15))
    weekend_nights = Shift(frozenset({5, 6}), time(22), time(6, 45))
    shifts = [DAY_SHIFT, evenings, weekend_nights]
    gaps = coverage_gaps_s(shifts)
    for minute in range(0, 7 * 24 * 60, 15):
        uncovered = not any(shift.covers(at(0, 0, minute)) for shift in shifts)
        in_gap = any(start <= minute * 60 < end for start, end in gaps)
        assert uncovered == in_gap, minute


def test_day_and_night_shifts_leave_no_gap() -> None:
    """Day and night shifts together cover the whole week; the day shift alone does not."""
    assert coverage_gaps_s([DAY_SHIFT, NIGHT_SHIFT]) == ()
    assert coverage_gaps_s([AROUND_THE_CLOCK]) == ()
    assert sum(end - start for start, end in coverage_gaps_s([DAY_SHIFT])) == WEEK_S // 2


def test_available_filters_status_kind_skills_and_shift() -> None:
    """Only the available survey car with the needed skill on shift is a candidate."""
    fleet = make_fleet(
        make_vehicle(id="ok", skills=frozenset({"injury_case", "heavy_vehicle"})),
        make_vehicle(id="busy", skills=frozenset({"injury_case"}), status=VehicleStatus.EN_ROUTE),
        make_vehicle(id="tow", kind=VehicleKind.TOW_FLATBED, skills=frozenset({"injury_case"})),
        make_vehicle(id="unskilled", skills=frozenset({"heavy_vehicle"})),
        make_vehicle(id="day-only", skills=frozenset({"injury_case"}), shifts=(DAY_SHIFT,)),
    )
    night = at(1, 2)
    assert [v.id for v in fleet.available(VehicleKind.SURVEY, {"injury_case"}, night)] == ["ok"]
    noon = at(1, 12)
    assert [v.id for v in fleet.available(VehicleKind.SURVEY, {"injury_case"}, noon)] == [
        "day-only",
        "ok",
    ]
    assert [v.id for v in fleet.available(VehicleKind.SURVEY, (), noon)] == [
        "day-only",
        "ok",
        "unskilled",
    ]


def test_available_rejects_naive_datetime() -> None:
    """Asking for candidates at a naive time is an input error, even with no vehicle to check."""
    with pytest.raises(InvalidInputError):
        make_fleet(make_vehicle()).available(VehicleKind.REPAIR, (), datetime(2025, 6, 2))


def test_partner_of_returns_backup_or_none() -> None:
    """partner_of gives the named A/B backup, None when there is none, and rejects unknown ids."""
    fleet = make_fleet(
        make_vehicle(id="A", partner_id="B"),
        make_vehicle(id="B", partner_id="A"),
        make_vehicle(id="C"),
    )
    assert fleet.partner_of("A").id == "B"
    assert fleet.partner_of("C") is None
    with pytest.raises(InvalidInputError) as caught:
        fleet.partner_of("Z")
    assert caught.value.field == "vehicle_id"


def test_with_vehicle_returns_new_fleet_and_keeps_old() -> None:
    """with_vehicle replaces one vehicle in a new fleet and leaves the original untouched."""
    fleet = make_fleet(make_vehicle(id="A"), make_vehicle(id="B"))
    moved = replace(fleet.vehicle("A"), lat=25.0, status=VehicleStatus.EN_ROUTE)
    updated = fleet.with_vehicle(moved)
    assert updated.vehicle("A") == moved
    assert fleet.vehicle("A").status == VehicleStatus.AVAILABLE
    assert updated.vehicle("B") is fleet.vehicle("B")


def test_with_vehicle_rejects_unknown_id_and_broken_partner() -> None:
    """with_vehicle refuses a vehicle not in the fleet and an update pointing at no partner."""
    fleet = make_fleet(make_vehicle(id="A"))
    with pytest.raises(InvalidInputError):
        fleet.with_vehicle(make_vehicle(id="Z"))
    with pytest.raises(InvalidInputError) as caught:
        fleet.with_vehicle(make_vehicle(id="A", partner_id="nobody"))
    assert caught.value.field == "vehicles[0].partner_id"


@pytest.mark.parametrize(
    ("vehicles", "field", "reason"),
    [
        ((make_vehicle(id="A"), make_vehicle(id="A")), "vehicles[1].id", "duplicate"),
        ((make_vehicle(id="A", partner_id="A"),), "vehicles[0].partner_id", "own"),
        ((make_vehicle(id="A", partner_id="Z"),), "vehicles[0].partner_id", "not a vehicle"),
        (
            (
                make_vehicle(id="A", partner_id="T"),
                make_vehicle(id="T", kind=VehicleKind.TOW_CRANE),
            ),
            "vehicles[0].partner_id",
            "tow_crane",
        ),
    ],
)
def test_fleet_refuses_broken_integrity(vehicles: tuple, field: str, reason: str) -> None:
    """Duplicate ids and self, dangling or other-kind partners are refused, naming the field."""
    with pytest.raises(InvalidInputError) as caught:
        make_fleet(*vehicles)
    assert caught.value.field == field
    assert reason in caught.value.message


def test_fleet_refuses_unknown_base() -> None:
    """A vehicle whose base is not in the fleet is refused."""
    with pytest.raises(InvalidInputError) as caught:
        Fleet((make_base(id="B1"),), (make_vehicle(base_id="B9"),))
    assert caught.value.field == "vehicles[0].base_id"


def test_lookups_by_id() -> None:
    """base() and vehicle() find records by id and reject unknown ids naming the field."""
    fleet = make_fleet(make_vehicle(id="A"))
    assert fleet.base("B1").district == "浈江区"
    assert fleet.vehicle("A").id == "A"
    with pytest.raises(InvalidInputError) as caught:
        fleet.base("B9")
    assert caught.value.field == "base_id"


def test_fleet_order_does_not_depend_on_input_order() -> None:
    """Vehicles are kept in id order, so fleets built in any order are equal."""
    a, b = make_vehicle(id="A"), make_vehicle(id="B")
    assert make_fleet(b, a) == make_fleet(a, b)
    assert [v.id for v in make_fleet(b, a).vehicles] == ["A", "B"]
