"""Working-time arithmetic against hand-checked holiday cases and brute-force references.

Reference dates (chinesecalendar 1.11): National Day 2025 is 10-01..10-08 off, with
Sunday 09-28 and Saturday 10-11 worked; Spring Festival 2026 is 02-15..02-23 off, with
Saturdays 02-14 and 02-28 worked.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_engine.claims.calendar import (
    SHANGHAI_TZ,
    BusinessCalendar,
    YearOverride,
    load_calendar_overrides,
)
from dispatch_engine.errors import DataError, InvalidInputError


def at(text: str) -> datetime:
    """A Shanghai wall-clock time, e.g. ``at("2025-09-30 10:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI_TZ)


# --- working days -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday worked in lieu
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),  # last day of the Golden Week
        (date(2025, 10, 11), True),  # Saturday worked in lieu
        (date(2025, 10, 12), False),  # ordinary Sunday
        (date(2026, 2, 14), True),  # Saturday worked before Spring Festival
        (date(2026, 2, 17), False),  # Spring Festival
        (date(2026, 2, 23), False),  # last day of Spring Festival (a Monday)
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday worked after Spring Festival
    ],
)
def test_is_working_day_follows_statutory_calendar(calendar, day, working):
    """Statutory holidays are off and adjusted weekends (调休) are worked."""
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize("day", [date(2003, 12, 31), date(2027, 1, 4), date(2031, 5, 6)])
def test_uncovered_year_raises(calendar, day):
    """A year neither the library nor an override covers is an error, not a guess."""
    with pytest.raises(DataError, match=f"no holiday calendar for {day.year}.*override file"):
        calendar.is_working_day(day)


def test_datetime_is_refused_as_a_day(calendar):
    """is_working_day wants a date, because a datetime's date depends on its zone."""
    with pytest.raises(InvalidInputError) as err:
        calendar.is_working_day(at("2025-10-09 10:00"))
    assert err.value.field == "day"


# --- N working days -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "n", "due"),
    [
        ("2025-09-30 10:00", 1, "2025-10-09 18:00"),  # across the Golden Week
        ("2025-09-30 10:00", 2, "2025-10-10 18:00"),
        ("2025-09-30 10:00", 3, "2025-10-11 18:00"),  # adjusted working Saturday
        ("2025-09-30 10:00", 4, "2025-10-13 18:00"),
        ("2025-09-26 20:00", 1, "2025-09-28 18:00"),  # Friday evening -> working Sunday
        ("2025-09-27 10:00", 1, "2025-09-28 18:00"),  # on a rest Saturday
        ("2025-09-28 10:00", 1, "2025-09-29 18:00"),  # on the working Sunday
        ("2025-10-03 10:00", 1, "2025-10-09 18:00"),  # on a holiday
        ("2025-09-29 08:00", 1, "2025-09-30 18:00"),  # before opening: own day not counted
        ("2025-09-26 15:00", 10, "2025-10-16 18:00"),
        ("2026-02-13 10:00", 1, "2026-02-14 18:00"),  # working Saturday before Spring Festival
        ("2026-02-13 10:00", 2, "2026-02-24 18:00"),
        ("2026-02-27 10:00", 1, "2026-02-28 18:00"),  # working Saturday after it
    ],
)
def test_working_days_after_hand_checked(calendar, event, n, due):
    """N working days: the event day is not counted; due at close on the Nth working day."""
    assert calendar.working_days_after(at(event), n) == at(due)


def test_working_days_after_converts_to_shanghai(calendar):
    """A UTC event is read on the Shanghai calendar and the deadline is in Shanghai time."""
    # 2025-09-30 16:30 UTC is 2025-10-01 00:30 in Shanghai, a holiday.
    due = calendar.working_days_after(datetime(2025, 9, 30, 16, 30, tzinfo=UTC), 1)
    assert due == at("2025-10-09 18:00")
    assert due.tzinfo is SHANGHAI_TZ


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_working_days_after_rejects_bad_n(calendar, n):
    """The number of working days must be a whole number of at least one."""
    with pytest.raises(InvalidInputError) as err:
        calendar.working_days_after(at("2025-09-30 10:00"), n)
    assert err.value.field == "n"


# --- business hours -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "hours", "due"),
    [
        ("2025-09-29 10:00", 4, "2025-09-29 15:00"),  # skips the lunch break
        ("2025-09-29 12:30", 4, "2025-09-29 17:00"),  # starts at the afternoon opening
        ("2025-09-29 12:00", 4, "2025-09-29 17:00"),  # 12:00 is already lunch
        ("2025-09-29 08:00", 4, "2025-09-29 14:00"),  # before opening
        ("2025-09-29 08:00", 3, "2025-09-29 12:00"),  # ends at an interval end, not 13:00
        ("2025-09-29 08:00", 8, "2025-09-29 18:00"),  # a whole working day
        ("2025-09-26 19:00", 4, "2025-09-28 14:00"),  # Friday evening -> working Sunday
        ("2025-09-30 16:00", 4, "2025-10-09 11:00"),  # across the Golden Week
        ("2025-09-30 17:30", 0.5, "2025-09-30 18:00"),
        ("2026-02-14 16:00", 4, "2026-02-24 11:00"),  # across Spring Festival
    ],
)
def test_business_hours_after_hand_checked(calendar, event, hours, due):
    """Business hours count only inside opening intervals of working days."""
    assert calendar.business_hours_after(at(event), hours) == at(due)


@pytest.mark.parametrize("hours", [0, -1, float("nan"), float("inf"), True])
def test_business_hours_after_rejects_bad_hours(calendar, hours):
    """The duration must be a finite positive number of hours."""
    with pytest.raises(InvalidInputError) as err:
        calendar.business_hours_after(at("2025-09-30 10:00"), hours)
    assert err.value.field == "hours"


# --- close of business --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "due"),
    [
        ("2025-09-29 08:00", "2025-09-29 18:00"),  # before opening: same day
        ("2025-09-29 12:30", "2025-09-29 18:00"),  # lunch: same day
        ("2025-09-29 17:59", "2025-09-29 18:00"),
        ("2025-09-29 18:00", "2025-09-30 18:00"),  # at closing time: next working day
        ("2025-09-30 19:00", "2025-10-09 18:00"),  # evening before the Golden Week
        ("2025-09-27 10:00", "2025-09-28 18:00"),  # rest Saturday -> working Sunday
        ("2025-10-05 10:00", "2025-10-09 18:00"),  # holiday
        ("2026-02-14 17:00", "2026-02-14 18:00"),  # working Saturday
        ("2026-02-14 18:30", "2026-02-24 18:00"),
    ],
)
def test_close_of_business_hand_checked(calendar, event, due):
    """Immediately: that working day's close, else the next working day's close."""
    assert calendar.close_of_business(at(event)) == at(due)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, e: c.working_days_after(e, 1),
        lambda c, e: c.business_hours_after(e, 4),
        lambda c, e: c.close_of_business(e),
    ],
)
def test_naive_event_is_refused(calendar, call):
    """A naive datetime is refused rather than assumed to be Shanghai time."""
    with pytest.raises(InvalidInputError) as err:
        call(calendar, datetime(2025, 9, 30, 10, 0))
    assert err.value.field == "event"


# --- configurable hours -------------------------------------------------------------


def test_custom_business_hours():
    """One continuous 08:30-17:30 day moves both the close and the hour counting."""
    calendar = BusinessCalendar(business_hours=[(time(8, 30), time(17, 30))])
    assert calendar.close_of_business(at("2025-09-29 17:45")) == at("2025-09-30 17:30")
    assert calendar.business_hours_after(at("2025-09-29 10:00"), 4) == at("2025-09-29 14:00")


@pytest.mark.parametrize(
    "hours",
    [
        [],
        [(time(9), time(9))],
        [(time(13), time(18)), (time(9), time(12))],
        [(time(9), time(13)), (time(12), time(18))],
    ],
    ids=["empty", "zero-length", "unordered", "overlapping"],
)
def test_bad_business_hours_rejected(hours):
    """Business hours must be non-empty, ordered, non-overlapping intervals."""
    with pytest.raises(InvalidInputError) as err:
        BusinessCalendar(business_hours=hours)
    assert err.value.field == "business_hours"


# --- override file ------------------------------------------------------------------


def test_override_file_covers_a_new_year(calendar, calendar_2027):
    """The example override lets deadlines run into 2027, which the library lacks."""
    event = at("2026-12-31 10:00")
    with pytest.raises(DataError):
        calendar.working_days_after(event, 1)
    assert calendar_2027.working_days_after(event, 1) == at("2027-01-04 18:00")
    assert calendar_2027.working_days_after(at("2027-02-04 10:00"), 1) == at("2027-02-15 18:00")
    assert calendar_2027.working_days_after(at("2027-02-19 10:00"), 1) == at("2027-02-20 18:00")


def test_override_replaces_library_year():
    """An overridden year is read from the override only (here 2025 without holidays)."""
    calendar = BusinessCalendar(overrides=(YearOverride(2025, frozenset(), frozenset()),))
    assert calendar.is_working_day(date(2025, 10, 1))
    assert not calendar.is_working_day(date(2025, 9, 28))


def test_duplicate_override_years_rejected():
    """Two overrides for one year are ambiguous."""
    year = YearOverride(2027, frozenset(), frozenset())
    with pytest.raises(InvalidInputError) as err:
        BusinessCalendar(overrides=(year, year))
    assert err.value.field == "overrides"


def test_override_json_file(tmp_path):
    """JSON files with string years and ISO dates load like YAML."""
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"years": {"2028": {"holidays": ["2028-01-03"]}}}))
    (override,) = load_calendar_overrides(path)
    calendar = BusinessCalendar(overrides=(override,))
    assert not calendar.is_working_day(date(2028, 1, 3))
    assert calendar.is_working_day(date(2028, 1, 4))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("years:\n  2027:\n    working_weekends: [2027-01-04]\n", "years.2027.working_weekends.0"),
        ("years:\n  2027:\n    holidays: [2027-01-01, 2028-01-03]\n", "years.2027.holidays.1"),
        (
            "years:\n  2027:\n    holidays: [2027-01-02]\n    working_weekends: [2027-01-02]\n",
            "years.2027",
        ),
        ("years:\n  2027:\n    holydays: [2027-01-01]\n", "years.2027.holydays"),
        ("years:\n  2027:\n    holidays: [not-a-date]\n", "years.2027.holidays.0"),
        ("2027:\n  holidays: []\n", "years"),
        ("", "file"),
        ("years: [unclosed\n", "file"),
    ],
    ids=[
        "weekday-worked",
        "wrong-year",
        "both-lists",
        "typo-key",
        "bad-date",
        "no-years",
        "empty",
        "bad-yaml",
    ],
)
def test_bad_override_file_names_the_field(tmp_path, text, field):
    """A malformed override file raises InvalidInputError naming the offending field."""
    path = tmp_path / "overrides.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_calendar_overrides(path)
    assert err.value.field == field


def test_missing_override_file(tmp_path):
    """A configured override file that does not exist is a data error."""
    with pytest.raises(DataError):
        load_calendar_overrides(tmp_path / "absent.yaml")


# --- properties ---------------------------------------------------------------------

# Events from 2025-01 to 2026-11 in Shanghai or UTC, so every deadline stays in 2004-2026.
events = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2026, 11, 30),
    timezones=st.sampled_from([SHANGHAI_TZ, UTC]),
)
minute_events = events.map(lambda e: e.replace(second=0, microsecond=0))
PROPERTY = settings(max_examples=100, deadline=None)
MORNING, AFTERNOON = (time(9), time(12)), (time(13), time(18))


def _reference_business_minutes_after(event: datetime, minutes: int) -> datetime:
    """Walk minute by minute (whole rest days at once), counting worked minutes."""
    moment = event.astimezone(SHANGHAI_TZ)
    while minutes:
        if not chinese_calendar.is_workday(moment.date()):
            moment = datetime.combine(moment.date() + timedelta(days=1), time(), SHANGHAI_TZ)
            continue
        if any(start <= moment.time() < end for start, end in (MORNING, AFTERNOON)):
            minutes -= 1
        moment += timedelta(minutes=1)
    return moment


@PROPERTY
@given(event=minute_events, minutes=st.integers(1, 12 * 60))
def test_business_hours_after_matches_minute_walk(calendar, event, minutes):
    """business_hours_after equals a minute-by-minute walk over the statutory calendar."""
    due = calendar.business_hours_after(event, minutes / 60)
    assert due == _reference_business_minutes_after(event, minutes)


@PROPERTY
@given(event=events, n=st.integers(1, 10))
def test_working_days_after_counts_library_days(calendar, event, n):
    """The deadline is a closing time, after the event, on the Nth library working day."""
    due = calendar.working_days_after(event, n)
    start = event.astimezone(SHANGHAI_TZ).date()
    days = [start + timedelta(days=k) for k in range(1, (due.date() - start).days + 1)]
    assert due > event
    assert due.tzinfo is SHANGHAI_TZ and due.time() == time(18)
    assert chinese_calendar.is_workday(due.date())
    assert sum(chinese_calendar.is_workday(d) for d in days) == n


@PROPERTY
@given(event=events)
def test_close_of_business_is_next_close(calendar, event):
    """Immediately is the first working-day closing time at or after the event."""
    due = calendar.close_of_business(event)
    assert due > event and due.time() == time(18)
    assert chinese_calendar.is_workday(due.date())
    assert calendar.working_days_after(event, 1) >= due


@PROPERTY
@given(
    pair=st.tuples(events, events).map(sorted),
    deadline=st.sampled_from(["days", "hours", "close"]),
)
def test_deadlines_are_monotone(calendar, pair, deadline):
    """A later event never gets an earlier deadline."""
    compute = {
        "days": lambda e: calendar.working_days_after(e, 2),
        "hours": lambda e: calendar.business_hours_after(e, 4),
        "close": calendar.close_of_business,
    }[deadline]
    first, second = pair
    assert compute(first) <= compute(second)


@PROPERTY
@given(event=events, a=st.integers(1, 40), b=st.integers(1, 40))
def test_business_hours_compose(calendar, event, a, b):
    """Counting a then b quarter-hours equals counting a + b quarter-hours at once."""
    once = calendar.business_hours_after(event, (a + b) / 4)
    twice = calendar.business_hours_after(calendar.business_hours_after(event, a / 4), b / 4)
    assert once == twice >= event
