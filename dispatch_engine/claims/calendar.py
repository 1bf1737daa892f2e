"""Working-time arithmetic for claim deadlines (SPEC §6), in Asia/Shanghai.

Working days are the mainland statutory calendar: weekdays that are not public
holidays, plus the adjusted working weekends (调休). They come from the maintained
``chinesecalendar`` library (data 2004–2026 in 1.11) or, per year, from an override
file; a date neither covers raises :class:`DataError`, never a silent weekday guess.

Business hours are a day's ordered intervals, default 09:00–12:00 and 13:00–18:00.
An interval is half-open ``[start, end)``: an event at 12:00 is in the lunch break,
an event at 18:00 is after hours. Close of business is the end of the last interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar
from pydantic import BaseModel, ConfigDict

from dispatch_engine.datafiles import read_yaml_model
from dispatch_engine.errors import DataError, InvalidInputError
from dispatch_engine.fleet.model import SHANGHAI_TZ  # one definition; re-exported here

DEFAULT_BUSINESS_HOURS: tuple[tuple[time, time], ...] = (
    (time(9), time(12)),
    (time(13), time(18)),
)


@dataclass(frozen=True)
class YearOverride:
    """One year's holiday calendar, replacing the library's data for that year.

    A day of ``year`` is a working day when it is in ``working_weekends``, or a
    Monday–Friday not in ``holidays`` — the same rule the library applies.
    """

    year: int
    holidays: frozenset[date]
    working_weekends: frozenset[date]


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and business hours; every deadline function lives here.

    Parameters
    ----------
    business_hours
        Ordered, non-overlapping ``(start, end)`` local times of one working day.
    overrides
        Per-year calendars (see :func:`load_calendar_overrides`); a year listed here
        takes precedence over the library, so a late State Council notice can be
        applied without waiting for a library release.
    """

    business_hours: tuple[tuple[time, time], ...] = DEFAULT_BUSINESS_HOURS
    overrides: tuple[YearOverride, ...] = ()

    def __post_init__(self) -> None:
        hours = tuple((start, end) for start, end in self.business_hours)
        _check_business_hours(hours)
        object.__setattr__(self, "business_hours", hours)
        years = [o.year for o in self.overrides]
        if len(set(years)) != len(years):
            raise InvalidInputError(
                f"a year is overridden twice: {sorted(years)}", field="overrides"
            )
        object.__setattr__(self, "overrides", tuple(self.overrides))

    @property
    def closing_time(self) -> time:
        """Close of business: the end of the day's last business interval."""
        return self.business_hours[-1][1]

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a mainland working day (调休 weekends included).

        Raises
        ------
        DataError
            When neither the override file nor the library covers ``day.year``.
        """
        if isinstance(day, datetime):
            # A datetime's .date() is in its own zone, maybe not Shanghai: make callers choose.
            raise InvalidInputError("pass a calendar date, not a datetime", field="day")
        for override in self.overrides:
            if override.year == day.year:
                return day in override.working_weekends or (
                    day.weekday() < 5 and day not in override.holidays
                )
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError as exc:
            raise DataError(
                f"no holiday calendar for {day.year}: add it to the override file ({exc})"
            ) from exc

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def working_days_after(self, event: datetime, n: int) -> datetime:
        """Close of business on the ``n``-th working day after the event's date.

        The event's own date is never counted (Civil Code art. 201), whatever the hour
        and whether or not it is a working day: an event on Saturday night or Tuesday at
        08:00 alike starts counting on the next calendar day.

        Parameters
        ----------
        event
            Timezone-aware time of the event (report, documents complete, ...).
        n
            Working days allowed, at least 1.

        Returns
        -------
        datetime
            Aware Asia/Shanghai deadline.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInputError(f"must be a whole number of days >= 1, got {n!r}", field="n")
        day = to_shanghai(event, field="event").date()
        for _ in range(n):
            day = self.next_working_day(day)
        return self._close_on(day)

    def business_hours_after(self, event: datetime, hours: float) -> datetime:
        """The moment ``hours`` business hours after the event have elapsed.

        Counting starts at the event when it lies inside business hours, else at the next
        opening; lunch breaks, nights and non-working days do not count. Work that ends
        exactly at an interval's end returns that end (e.g. 12:00, not 13:00). "Half a
        working day" in SPEC §6 is ``hours=4``.

        Parameters
        ----------
        event
            Timezone-aware time of the event.
        hours
            Business hours allowed, > 0.

        Returns
        -------
        datetime
            Aware Asia/Shanghai deadline.
        """
        if isinstance(hours, bool) or not (math.isfinite(hours) and hours > 0):
            raise InvalidInputError(f"must be a finite number > 0, got {hours!r}", field="hours")
        cursor = to_shanghai(event, field="event")
        remaining = timedelta(hours=hours)
        day = cursor.date()
        while True:
            if self.is_working_day(day):
                for start, end in self.business_hours:
                    opens = datetime.combine(day, start, tzinfo=SHANGHAI_TZ)
                    closes = datetime.combine(day, end, tzinfo=SHANGHAI_TZ)
                    if cursor >= closes:
                        continue
                    begin = max(cursor, opens)
                    if remaining <= closes - begin:
                        return begin + remaining
                    remaining -= closes - begin
            day = self.next_working_day(day)
            cursor = datetime.combine(day, time.min, tzinfo=SHANGHAI_TZ)

    def close_of_business(self, event: datetime) -> datetime:
        """SPEC §6 "immediately": close of business of the event's working day.

        An event on a working day before closing time — including before opening and in
        the lunch break — is due at that day's close (the earlier, customer-friendly
        reading); an event at or after closing time or on a non-working day is due at
        the close of the next working day.

        Returns
        -------
        datetime
            Aware Asia/Shanghai deadline.
        """
        local = to_shanghai(event, field="event")
        day = local.date()
        if not (self.is_working_day(day) and local.time() < self.closing_time):
            day = self.next_working_day(day)
        return self._close_on(day)

    def _close_on(self, day: date) -> datetime:
        return datetime.combine(day, self.closing_time, tzinfo=SHANGHAI_TZ)


def to_shanghai(value: datetime, *, field: str) -> datetime:
    """``value`` as Asia/Shanghai local time; naive datetimes are refused, not assumed local.

    Raises
    ------
    InvalidInputError
        Naming ``field`` when ``value`` is not a timezone-aware datetime.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInputError(
            f"must be a timezone-aware datetime (e.g. +08:00), got {value!r}", field=field
        )
    return value.astimezone(SHANGHAI_TZ)


def _check_business_hours(hours: tuple[tuple[time, time], ...]) -> None:
    if not hours:
        raise InvalidInputError(
            "at least one (start, end) interval is needed", field="business_hours"
        )
    previous_end: time | None = None
    for start, end in hours:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise InvalidInputError("give local times without tzinfo", field="business_hours")
        if not start < end:
            raise InvalidInputError(f"interval {start}–{end} is empty", field="business_hours")
        if previous_end is not None and start < previous_end:
            raise InvalidInputError(
                f"interval {start}–{end} starts before the previous one ends ({previous_end}); "
                "intervals must be ordered and non-overlapping",
                field="business_hours",
            )
        previous_end = end


class _YearFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: list[date] = []
    working_weekends: list[date] = []


class _OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    years: dict[int, _YearFile]


def load_calendar_overrides(path: Path) -> tuple[YearOverride, ...]:
    """Read per-year holiday calendars from a YAML or JSON file.

    The file is ``{"years": {2027: {"holidays": [dates], "working_weekends": [dates]}}}``
    (YAML accepts bare ``2027-01-01`` dates). It exists for years the library does not
    yet cover; see ``data/calendar/overrides.example.yaml``.

    Raises
    ------
    InvalidInputError
        Naming the field (e.g. ``years.2027.holidays.3``) when the file is malformed: a
        date outside its year, a working weekend that is not a Saturday or Sunday, or a
        date listed both as holiday and as working weekend.
    DataError
        When the file cannot be read.
    """
    parsed = read_yaml_model(path, _OverrideFile)
    return tuple(_year_override(year, entry) for year, entry in sorted(parsed.years.items()))


def _year_override(year: int, entry: _YearFile) -> YearOverride:
    for key, days in (("holidays", entry.holidays), ("working_weekends", entry.working_weekends)):
        for index, day in enumerate(days):
            where = f"years.{year}.{key}.{index}"
            if day.year != year:
                raise InvalidInputError(f"{day} is not in {year}", field=where)
            if key == "working_weekends" and day.weekday() < 5:
                raise InvalidInputError(f"{day} is a weekday, not a weekend", field=where)
    both = sorted(set(entry.holidays) & set(entry.working_weekends))
    if both:
        raise InvalidInputError(
            f"listed both as holiday and as working weekend: {', '.join(map(str, both))}",
            field=f"years.{year}",
        )
    return YearOverride(year, frozenset(entry.holidays), frozenset(entry.working_weekends))
