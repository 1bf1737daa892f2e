"""Booking, changing, cancelling and listing appointments; the CSV import and the shipped files."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml

from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.errors import ConflictError, DataError, InvalidInputError, NotFoundError
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.services.appointments import (
    CSV_COLUMNS,
    AppointmentBook,
    AppointmentStatus,
    MemoryAppointmentStore,
    read_appointments_csv,
)
from dispatch_engine.services.facilities import ServiceKind, facilities_path, load_facilities
from dispatch_engine.settings import load_settings
from tests.services.factories import DAY, at, make_facility, make_request

HEADER = ",".join(CSV_COLUMNS) + "\n"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(at("07:00"))


@pytest.fixture()
def book(clock) -> AppointmentBook:
    wash = make_facility(id="CW-1", kind=ServiceKind.CAR_WASH)
    return AppointmentBook(
        MemoryAppointmentStore(), facilities=[make_facility(), wash], clock=clock
    )


def test_book_normalises_the_plate_and_stamps_the_clock(book, clock):
    """A booking gets the next id, the canonical plate and the injected clock's time."""
    first = book.book(make_request(plate="粤F·1234警"))
    clock.set(at("07:30"))
    second = book.book(make_request(plate="粤F5678警"))
    assert (first.id, first.plate, first.booked_at) == ("AP-000001", "粤F1234警", at("07:00"))
    assert (second.id, second.booked_at, second.status) == (
        "AP-000002",
        at("07:30"),
        AppointmentStatus.BOOKED,
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"plate": "ABC"}, "plate"),
        ({"place": "  "}, "place"),
        ({"lat": 95.0}, "lat"),
        ({"collect_from": datetime(2026, 3, 2, 9)}, "collect_from"),
        ({"collect_until": at("08:00")}, "collect_until"),
        ({"collect_until": at("01:00") + timedelta(days=1)}, "collect_until"),
        ({"return_by": at("08:30")}, "return_by"),
        ({"service_min": 0}, "service_min"),
        ({"facility_id": "nope"}, "facility_id"),
        ({"facility_id": "CW-1"}, "facility_id"),
    ],
)
def test_bad_bookings_name_the_field(book, overrides, field):
    """Every rule of a booking is checked and the bad field named."""
    with pytest.raises(InvalidInputError) as caught:
        book.book(make_request(**overrides))
    assert caught.value.field == field


def test_a_car_gets_one_appointment_per_day(book):
    """A second booking of the same car that day conflicts; another day is fine."""
    book.book(make_request())
    with pytest.raises(ConflictError) as caught:
        book.book(make_request(kind=ServiceKind.CAR_WASH))
    assert caught.value.field == "plate"
    tomorrow = make_request(
        collect_from=at("09:00") + timedelta(days=1), collect_until=at("10:00") + timedelta(days=1)
    )
    assert book.book(tomorrow).day == DAY + timedelta(days=1)


def test_change_revalidates_and_keeps_the_id(book, clock):
    """A change replaces fields, checks them again and stamps the change time."""
    booked = book.book(make_request())
    clock.set(at("08:00"))
    changed = book.change(booked.id, {"collect_until": at("11:00"), "service_min": 45})
    assert (changed.id, changed.collect_until, changed.service_min) == (booked.id, at("11:00"), 45)
    assert (changed.booked_at, changed.changed_at) == (at("07:00"), at("08:00"))
    with pytest.raises(InvalidInputError) as bad:
        book.change(booked.id, {"collect_until": at("08:00")})
    assert bad.value.field == "collect_until"
    with pytest.raises(InvalidInputError) as unknown:
        book.change(booked.id, {"status": "cancelled"})
    assert unknown.value.field == "status"
    assert book.get(booked.id) == changed


def test_change_cannot_double_book_a_car(book):
    """Changing the plate to a car already booked that day conflicts."""
    book.book(make_request(plate="粤F1111警"))
    other = book.book(make_request(plate="粤F2222警"))
    with pytest.raises(ConflictError):
        book.change(other.id, {"plate": "粤F1111警"})


def test_cancel_keeps_the_record_and_frees_the_car(book):
    """A cancelled appointment leaves the day's list, stays on record, cannot change again,
    and the car can be booked anew."""
    booked = book.book(make_request())
    cancelled = book.cancel(booked.id)
    assert cancelled.status is AppointmentStatus.CANCELLED
    assert book.list(day=DAY) == [] and book.list(day=DAY, include_cancelled=True) == [cancelled]
    for action in (
        lambda: book.cancel(booked.id),
        lambda: book.change(booked.id, {"service_min": 30}),
    ):
        with pytest.raises(ConflictError):
            action()
    assert book.book(make_request()).id == "AP-000002"
    with pytest.raises(NotFoundError):
        book.cancel("AP-999999")


def test_list_filters_by_day_in_id_order(book):
    """Listing a day returns that day's booked appointments only, in id order."""
    a = book.book(make_request(plate="粤F1111警"))
    book.book(
        make_request(
            plate="粤F2222警",
            collect_from=at("09:00") + timedelta(days=1),
            collect_until=at("10:00") + timedelta(days=1),
        )
    )
    c = book.book(make_request(plate="粤F3333警"))
    assert [x.id for x in book.list(day=DAY)] == [a.id, c.id]
    assert len(book.list()) == 3


def test_csv_rows_become_checked_requests_with_crs_conversion(tmp_path):
    """CSV rows parse to aware local times, gcj02 converts to WGS-84, empty cells default."""
    path = tmp_path / "a.csv"
    path.write_text(
        HEADER
        + "inspection,粤F1234警,所,24.81,113.60,gcj02,2026-03-02,09:00,10:30,16:00,60,\n"
        + "car_wash,粤F5678警,所,24.81,113.60,,2026-03-02,13:00,14:00,,30,CW-1\n",
        encoding="utf-8",
    )
    wash = make_facility(id="CW-1", kind=ServiceKind.CAR_WASH)
    first, second = read_appointments_csv(path, {"CW-1": wash})
    assert (first.collect_from, first.collect_until, first.return_by) == (
        at("09:00"),
        at("10:30"),
        at("16:00"),
    )
    assert (first.lat, first.lon) == pytest.approx(to_wgs84(24.81, 113.60, "gcj02"))
    assert (second.lat, second.return_by, second.facility_id) == (24.81, None, "CW-1")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("repair,粤F1234警,所,24.81,113.60,,2026-03-02,09:00,10:30,,60,", "kind"),
        ("inspection,粤F1234警,所,24.81,113.60,,2026-03-02,9h,10:30,,60,", "collect_from"),
        ("inspection,粤F1234警,所,24.81,113.60,utm,2026-03-02,09:00,10:30,,60,", "crs"),
        ("inspection,X1,所,24.81,113.60,,2026-03-02,09:00,10:30,,60,", "plate"),
    ],
)
def test_csv_errors_name_the_line_and_column(tmp_path, row, field):
    """A bad cell fails the whole import, naming the file line and the column."""
    path = tmp_path / "a.csv"
    path.write_text(HEADER + row + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        read_appointments_csv(path, {})
    assert caught.value.field == field and "a.csv line 2" in caught.value.message


def test_missing_csv_is_a_data_error(tmp_path):
    """A file that cannot be read is a data error, not a crash."""
    with pytest.raises(DataError):
        read_appointments_csv(tmp_path / "none.csv", {})


def test_shipped_facilities_and_example_csv_load():
    """The shipped facilities are all marked synthetic and the example books cleanly."""
    settings = load_settings()
    facilities = load_facilities(facilities_path(settings))
    assert {f.kind for f in facilities} == set(ServiceKind) and all(f.synthetic for f in facilities)
    requests = read_appointments_csv(
        settings.data_dir / "services" / "appointments.example.csv", {f.id: f for f in facilities}
    )
    book = AppointmentBook(
        MemoryAppointmentStore(), facilities=facilities, clock=ManualClock(at("07:00"))
    )
    for request in requests:
        book.book(request)
    assert len(book.list(day=DAY)) == len(requests) - 1  # one row is for the next day


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda doc: doc["facilities"][1].update({"id": doc["facilities"][0]["id"]}),
            "facilities.1.id",
        ),
        (lambda doc: doc["facilities"][0].update({"closes": "08:00"}), "facilities.0"),
        (lambda doc: doc["facilities"][0].update({"kind": "repair"}), "facilities.0.kind"),
    ],
)
def test_bad_facilities_file_names_the_field(tmp_path, change, field):
    """Repeated ids, closing before opening and unknown kinds are refused at load."""
    document = yaml.safe_load(facilities_path(load_settings()).read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "facilities.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_facilities(path)
    assert caught.value.field == field
