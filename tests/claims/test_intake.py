"""Intake validation: plates, phones, ID numbers, every report field named on error."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal

import prcoords
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch_engine.claims.intake import (
    ClaimReport,
    Location,
    check_id_number,
    check_number,
    check_phone,
    check_plate,
    format_number,
)
from dispatch_engine.errors import InvalidInputError
from tests.claims.factories import at, make_report, other_vehicle


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("粤F12345", "粤F12345"),  # ordinary
        ("粤FA123B", "粤FA123B"),  # ordinary with letters in the serial
        ("粤F1234警", "粤F1234警"),  # Guangdong police
        ("粤BD12345", "粤BD12345"),  # small new-energy, pure electric
        ("粤BFA1234", "粤BFA1234"),  # small new-energy, hybrid, letter in 4th place
        ("粤B12345D", "粤B12345D"),  # large new-energy
        ("粤Z1234港", "粤Z1234港"),  # Hong Kong cross-border
        ("粤B·12345", "粤B12345"),  # middle dot as painted on plates
        ("粤 b 12345", "粤B12345"),  # spaces, lower case
        ("粤Ｆ１２３４５", "粤F12345"),  # full-width letters and digits
    ],
)
def test_valid_plates_are_canonicalised(text, canonical):
    """Ordinary, police, both new-energy formats and typing variants are accepted."""
    assert check_plate(text, field="plate") == canonical


@pytest.mark.parametrize(
    "text",
    [
        "粤F1234",  # too short
        "粤F1234567",  # too long
        "粤I12345",  # I is never an office letter
        "粤FO1234",  # O is never used
        "XX12345",  # no province
        "港F12345",  # not a province abbreviation
        "粤B123456",  # 8 characters but neither new-energy format
        "粤BD1234X",  # small new-energy must end in 4 digits
        "粤B1234警5",  # use character must come last
        "",
    ],
)
def test_invalid_plates_name_the_field(text):
    """Malformed plates are refused with the field named."""
    with pytest.raises(InvalidInputError) as err:
        check_plate(text, field="vehicle.plate")
    assert err.value.field == "vehicle.plate"


def test_phone_is_stored_in_e164():
    """Mainland mobiles and landlines in any spacing become E.164."""
    assert check_phone("138 1234 5678", field="phone") == "+8613812345678"
    assert check_phone("+86 138-1234-5678", field="phone") == "+8613812345678"
    assert check_phone("0751-8888888", field="phone") == "+867518888888"


@pytest.mark.parametrize("text", ["12345678901", "10086", "phone", ""])
def test_invalid_phone_refused(text):
    """Numbers that cannot be dialled are refused."""
    with pytest.raises(InvalidInputError) as err:
        check_phone(text, field="driver.phone")
    assert err.value.field == "driver.phone"


def test_id_number_check_digit():
    """A resident ID passes with a valid check digit (x folded to X) and fails without."""
    assert check_id_number("11010519491231002x", field="id") == "11010519491231002X"
    for bad in ("110105194912310021", "1101051949123100", "A1010519491231002X"):
        with pytest.raises(InvalidInputError) as err:
            check_id_number(bad, field="driver.id_number")
        assert err.value.field == "driver.id_number"


BAD_FIELDS = [
    ({"reported_at": datetime(2025, 9, 30, 10, 0)}, "reported_at"),  # naive
    ({"reported_at": at("2025-09-30 10:00:30")}, "reported_at"),  # seconds
    ({"location": {"lat": 95.0}}, "location.lat"),
    ({"location": {"lon": float("nan")}}, "location.lon"),
    ({"location": {"crs": "utm50n"}}, "location.crs"),
    ({"location": {"address": "  "}}, "location.address"),
    ({"vehicle": {"plate": "粤I12345"}}, "vehicle.plate"),
    ({"vehicle": {"model": ""}}, "vehicle.model"),
    ({"driver": {"name": "张" * 51}}, "driver.name"),
    ({"driver": {"phone": "12345"}}, "driver.phone"),
    ({"driver": {"id_number": "110105194912310021"}}, "driver.id_number"),
    ({"driver": {"email": "not-an-address"}}, "driver.email"),
    ({"accident_type": "crash"}, "accident_type"),
    ({"disaster": "hail"}, "disaster"),  # only with natural_disaster
    ({"estimate_yuan": Decimal("-1")}, "estimate_yuan"),
    ({"estimate_yuan": Decimal("1.001")}, "estimate_yuan"),
    ({"estimate_yuan": 3000.0}, "estimate_yuan"),
    ({"injured_count": -1}, "injured_count"),
    ({"death_count": True}, "death_count"),
    ({"description": ""}, "description"),
    ({"third_parties": (other_vehicle(phone="1"),)}, "third_parties.0.phone"),
    ({"third_parties": (other_vehicle(), other_vehicle(plate="XX"))}, "third_parties.1.plate"),
    ({"third_parties": (other_vehicle(injured_count=-2),)}, "third_parties.0.injured_count"),
    ({"accident_type": "multi_party"}, "third_parties"),  # another party is needed
    ({"photo_refs": ("a.jpg", "a.jpg")}, "photo_refs.1"),
    ({"photo_refs": ("",)}, "photo_refs.0"),
    ({"photo_refs": "a.jpg"}, "photo_refs"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_FIELDS)
def test_each_bad_field_is_named(overrides, field):
    """Every SPEC §6 intake field is validated and named by its path on error."""
    with pytest.raises(InvalidInputError) as err:
        make_report(**overrides)
    assert err.value.field == field


def test_report_is_normalised():
    """Times become Shanghai local, plates canonical, phones E.164, text stripped."""
    report = make_report(
        reported_at=datetime.fromisoformat("2025-09-30T02:00+00:00"),
        vehicle={"plate": "粤f·1234警", "model": "  警用帕萨特 "},
        driver={"phone": "138 1234 5678", "email": "Zhang@Example.COM"},
    )
    assert report.reported_at == at("2025-09-30 10:00")
    assert report.reported_at.utcoffset().total_seconds() == 8 * 3600
    assert report.vehicle.plate == "粤F1234警"
    assert report.vehicle.model == "警用帕萨特"
    assert report.driver.phone == "+8613812345678"
    assert report.driver.email == "Zhang@example.com"


def test_position_converted_to_wgs84():
    """A GCJ-02 location is stored as given and converted to WGS-84 like prcoords does."""
    report = make_report(
        location=Location(address="韶关站", lat=24.8075, lon=113.6032, crs="GCJ-02")
    )
    expected = prcoords.gcj_wgs_bored(prcoords.Coords(24.8075, 113.6032))
    lat, lon = report.position_wgs84
    assert (lat, lon) == pytest.approx((expected.lat, expected.lon), abs=1e-9)
    assert report.location.lat == 24.8075  # the input is kept for audit
    assert abs(lat - 24.8075) + abs(lon - 113.6032) > 1e-3  # GCJ-02 is offset by hundreds of metres


def test_fingerprint_ignores_formatting_but_not_content():
    """The same report typed differently has one fingerprint; a changed fact changes it."""
    first = make_report()
    retyped = make_report(vehicle={"plate": "粤F 12345"}, driver={"phone": "138-1234-5678"})
    assert first.fingerprint() == retyped.fingerprint()
    assert first.fingerprint() != make_report(description="另一起事故").fingerprint()


def test_fingerprint_is_the_one_stored_keys_were_made_with():
    """Fingerprints stored with idempotency keys stay valid: the SHA-256 of the report as
    ``dataclasses.asdict`` JSON (times ISO 8601, amounts and enums as text)."""

    def text(value: object) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    report = make_report(
        accident_type="multi_party",
        third_parties=(other_vehicle(), other_vehicle(name="王五", injured_count=1)),
        injured_count=1,
        estimate_yuan=Decimal("12000.50"),
        photo_refs=("photos/a.jpg", "photos/b.jpg"),
    )
    canonical = json.dumps(
        dataclasses.asdict(report), sort_keys=True, ensure_ascii=False, default=text
    )
    assert report.fingerprint() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_triage_facts_count_deaths_and_third_parties():
    """A death is an injury for triage; third-party injuries and losses are carried over."""
    facts = make_report(death_count=1).triage_facts()
    assert facts.injured and not facts.third_party_injury
    report = make_report(
        accident_type="multi_party",
        third_parties=(other_vehicle(death_count=1), other_vehicle(property_loss=True)),
    )
    facts = report.triage_facts(Decimal("50000"))
    assert facts.third_party_injury and facts.third_party_property_loss
    assert facts.vehicle_damage_estimate == Decimal("50000")
    assert report.anyone_killed and report.anyone_injured


@given(
    st.lists(
        st.tuples(st.dates(date(2004, 1, 1), date(2099, 12, 31)), st.integers(1, 999_999)),
        min_size=2,
        max_size=20,
    )
)
def test_report_numbers_sort_by_date_then_sequence(entries):
    """Sorting numbers as text is sorting by (day, sequence)."""
    numbers = [format_number("SG", day, seq) for day, seq in entries]
    by_text = sorted(numbers)
    by_value = [format_number("SG", day, seq) for day, seq in sorted(entries)]
    assert by_text == by_value


def test_number_format_checked():
    """A malformed number is an input error, not a silent not-found."""
    assert check_number("SG-20251130-000123", prefix="SG", field="number") == "SG-20251130-000123"
    for bad in ("SG-2025113-000123", "TS-20251130-000123", "SG-20251130-12", 123):
        with pytest.raises(InvalidInputError) as err:
            check_number(bad, prefix="SG", field="number")
        assert err.value.field == "number"


def test_report_is_frozen():
    """A report cannot be changed after validation."""
    report = make_report()
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.description = "x"  # type: ignore[misc]
    assert isinstance(report, ClaimReport)
