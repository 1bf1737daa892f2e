"""Claim intake (报案, SPEC §6): the validated report and the numbers it is filed under.

:class:`ClaimReport` is the one place a report is checked. Its parts (:class:`Location`,
:class:`Vehicle`, :class:`Driver`, :class:`ThirdParty`) are plain records; the report
validates and normalises all of them at once, so every error names its full path
(``driver.phone``, ``third_parties.1.plate``) the way the API client sent it.

Plates: a province abbreviation, the issuing-office letter, then

- 5 letters/digits (ordinary plates, ``粤B12345``);
- 4 letters/digits and a use character (``粤F1234警`` police, 学 挂 港 澳 领 试 超);
- new energy, 8 characters: ``粤BD12345`` (small cars: D-K energy letter, then a letter
  or digit and 4 digits) or ``粤B12345D`` (large vehicles: 5 digits and D or F).

I and O are never used (they read as 1 and 0). Spaces, dashes and the middle dot
(``粤B·12345``) are dropped and full-width characters folded before checking.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from dispatch_engine.claims.calendar import to_shanghai
from dispatch_engine.claims.tiers import check_amount_yuan
from dispatch_engine.claims.triage import AccidentType, DisasterKind, TriageFacts
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.geo.crs import to_wgs84

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "[A-HJ-NP-Z]"
_CHAR = "[A-HJ-NP-Z0-9]"
_PLATE_RE = re.compile(
    rf"[{PROVINCES}]{_LETTER}"
    rf"(?:{_CHAR}{{5}}"  # ordinary
    # police, learner, trailer, Hong Kong / Macau, consular, test, oversize
    rf"|{_CHAR}{{4}}[警学挂港澳领试超]"
    rf"|[A-HJK]{_CHAR}\d{{4}}"  # small new-energy
    rf"|\d{{5}}[DF])"  # large new-energy
)
_PLATE_NOISE = str.maketrans("", "", " ·•-")

MAX_NAME_CHARS = 50
MAX_ADDRESS_CHARS = 200
MAX_MODEL_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_PHOTO_REF_CHARS = 500
MAX_PHOTOS = 100
MAX_PEOPLE = 1000

REPORT_NUMBER_PREFIX = "SG"


def check_plate(plate: str, *, field: str) -> str:
    """A Chinese plate in canonical form (no separators, upper case); see the module doc.

    Raises
    ------
    InvalidInputError
        Naming ``field`` when the text is not a plate of a known format.
    """
    if not isinstance(plate, str):
        raise InvalidInputError(f"must be text, got {type(plate).__name__}", field=field)
    canonical = unicodedata.normalize("NFKC", plate).translate(_PLATE_NOISE).upper()
    if not _PLATE_RE.fullmatch(canonical):
        raise InvalidInputError(
            f"{plate!r} is not a Chinese plate (e.g. 粤F12345, 粤F1234警, 粤BD12345, 粤B12345D)",
            field=field,
        )
    return canonical


def check_phone(phone: str, *, field: str) -> str:
    """A valid phone number (mainland by default, ``+852`` etc. accepted) in E.164 form.

    Raises
    ------
    InvalidInputError
        Naming ``field`` when the number is malformed or not a number in use.
    """
    if not isinstance(phone, str):
        raise InvalidInputError(f"must be text, got {type(phone).__name__}", field=field)
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidInputError(f"not a phone number: {exc}", field=field) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInputError(
            "not a valid phone number (e.g. 13812345678 or 0751-8888888)", field=field
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_id_number(id_number: str, *, field: str) -> str:
    """An 18-character resident identity number (居民身份证号), check digit and birth date
    verified, with a lower-case check ``x`` folded to ``X``.

    Raises
    ------
    InvalidInputError
        Naming ``field`` with the reason (length, format, check digit, birth date).
    """
    if not isinstance(id_number, str):
        raise InvalidInputError(f"must be text, got {type(id_number).__name__}", field=field)
    try:
        return ric.validate(id_number.strip().upper())
    except StdnumValidationError as exc:
        raise InvalidInputError(f"not a resident ID number: {exc}", field=field) from exc


def load_id_number_places() -> None:
    """Load the birth-place table :func:`check_id_number` reads (~50 ms) now: loaded
    lazily, the first reports a server process takes each parsed it again, one per
    request thread at once."""
    numdb.get("cn/loc")


def check_email(email: str, *, field: str) -> str:
    """A syntactically valid e-mail address, normalised (no DNS look-up)."""
    if not isinstance(email, str):
        raise InvalidInputError(f"must be text, got {type(email).__name__}", field=field)
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInputError(f"not an e-mail address: {exc}", field=field) from exc


def check_text(value: str, *, field: str, max_chars: int) -> str:
    """Non-empty text of at most ``max_chars`` characters, surrounding blanks stripped."""
    if not isinstance(value, str):
        raise InvalidInputError(f"must be text, got {type(value).__name__}", field=field)
    text = value.strip()
    if not text:
        raise InvalidInputError("must not be empty", field=field)
    if len(text) > max_chars:
        raise InvalidInputError(f"at most {max_chars} characters, got {len(text)}", field=field)
    return text


def check_count(value: int, *, field: str) -> int:
    """A whole number of people, 0 to 1000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PEOPLE:
        raise InvalidInputError(
            f"must be a whole number 0-{MAX_PEOPLE}, got {value!r}", field=field
        )
    return value


def check_minute(value: datetime, *, field: str) -> datetime:
    """An aware time given to the minute, as Asia/Shanghai local time.

    Seconds are refused rather than dropped: the report time starts every deadline, so
    the caller decides how to round it.
    """
    local = to_shanghai(value, field=field)
    if local.second or local.microsecond:
        raise InvalidInputError(
            f"give the time to the minute (no seconds), got {local.isoformat()}", field=field
        )
    return local


def format_number(prefix: str, day: date, sequence: int) -> str:
    """``SG-20251130-000123``: prefix, local date, 6-digit sequence of that day.

    Numbers sort by date as text, and read aloud over the phone without ambiguity.
    """
    return f"{prefix}-{day:%Y%m%d}-{sequence:06d}"


def check_number(number: str, *, prefix: str, field: str) -> str:
    """A number as :func:`format_number` writes it, so a typo is a 4xx, not a not-found."""
    if not isinstance(number, str) or not re.fullmatch(rf"{prefix}-\d{{8}}-\d{{6,}}", number):
        raise InvalidInputError(
            f"{number!r} is not a number like {prefix}-20251130-000123", field=field
        )
    return number


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where the accident happened: a street address and coordinates in ``crs``
    (``wgs84``, ``gcj02`` from Amap/Tencent, ``bd09`` from Baidu)."""

    address: str
    lat: float
    lon: float
    crs: str = "wgs84"


@dataclass(frozen=True, kw_only=True)
class Vehicle:
    """The insured vehicle: plate and make/model (车型)."""

    plate: str
    model: str


@dataclass(frozen=True, kw_only=True)
class Driver:
    """Who drove; also the contact the progress notices go to (``email`` optional)."""

    name: str
    phone: str
    id_number: str
    email: str | None = None


@dataclass(frozen=True, kw_only=True)
class ThirdParty:
    """Another party: a vehicle, a pedestrian, or the owner of damaged property."""

    name: str
    plate: str | None = None
    phone: str | None = None
    injured_count: int = 0
    death_count: int = 0
    property_loss: bool = False


@dataclass(frozen=True, kw_only=True)
class ClaimReport:
    """A validated accident report; constructing one checks every field of SPEC §6.

    ``injured_count`` / ``death_count`` are people in the insured vehicle; third parties
    carry their own. ``estimate_yuan`` is the loss estimated at report time: it sets
    the tier and the survey waiver until a re-estimate or the assessment replaces it.

    Raises
    ------
    InvalidInputError
        On the first bad field, named by its path (``vehicle.plate``, ``photo_refs.2``).
    """

    reported_at: datetime
    location: Location
    vehicle: Vehicle
    driver: Driver
    accident_type: AccidentType
    description: str
    estimate_yuan: Decimal
    disaster: DisasterKind | None = None
    injured_count: int = 0
    death_count: int = 0
    third_parties: tuple[ThirdParty, ...] = ()
    photo_refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        values = {
            "reported_at": check_minute(self.reported_at, field="reported_at"),
            "location": _check_location(self.location),
            "vehicle": Vehicle(
                plate=check_plate(self.vehicle.plate, field="vehicle.plate"),
                model=check_text(
                    self.vehicle.model, field="vehicle.model", max_chars=MAX_MODEL_CHARS
                ),
            ),
            "driver": _check_driver(self.driver),
            "description": check_text(
                self.description, field="description", max_chars=MAX_DESCRIPTION_CHARS
            ),
            "estimate_yuan": check_amount_yuan(self.estimate_yuan, field="estimate_yuan"),
            "injured_count": check_count(self.injured_count, field="injured_count"),
            "death_count": check_count(self.death_count, field="death_count"),
            "third_parties": tuple(
                _check_third_party(party, index) for index, party in enumerate(self.third_parties)
            ),
            "photo_refs": _check_photo_refs(self.photo_refs),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        facts = self.triage_facts()  # checks accident type and disaster together
        object.__setattr__(self, "accident_type", facts.accident_type)
        object.__setattr__(self, "disaster", facts.disaster)
        if self.accident_type is AccidentType.MULTI_PARTY and not self.third_parties:
            raise InvalidInputError(
                "a multi-party accident needs at least one third party", field="third_parties"
            )

    def triage_facts(self, estimate_yuan: Decimal | None = None) -> TriageFacts:
        """The facts survey-waiver triage reads, with a later estimate when given.

        A death counts as an injury: nobody would waive a survey for a fatal accident.
        """
        return TriageFacts(
            accident_type=self.accident_type,
            vehicle_damage_estimate=self.estimate_yuan if estimate_yuan is None else estimate_yuan,
            injured=self.injured_count + self.death_count > 0,
            third_party_injury=any(p.injured_count + p.death_count for p in self.third_parties),
            third_party_property_loss=any(p.property_loss for p in self.third_parties),
            disaster=self.disaster,
        )

    @property
    def anyone_injured(self) -> bool:
        """Whether anyone, in the vehicle or a third party, is injured or killed."""
        facts = self.triage_facts()
        return facts.injured or facts.third_party_injury

    @property
    def anyone_killed(self) -> bool:
        """Whether the accident caused a death, in the vehicle or among third parties."""
        return self.death_count + sum(p.death_count for p in self.third_parties) > 0

    @property
    def position_wgs84(self) -> tuple[float, float]:
        """``(lat, lon)`` of the accident in WGS-84, the datum the product stores."""
        return to_wgs84(self.location.lat, self.location.lon, self.location.crs)

    def fingerprint(self) -> str:
        """SHA-256 of the normalised report: equal for the same report however it was typed.

        An idempotency key replayed with a different fingerprint is a different request.
        """
        canonical = json.dumps(self, sort_keys=True, ensure_ascii=False, default=_json_value)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _json_value(value: object) -> dict[str, object] | str:
    """JSON for what ``json`` cannot write itself: a record as ``dataclasses.asdict`` would
    give it (field by field, without asdict's deep copies), times, amounts, enums."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | Enum):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def _check_location(location: Location) -> Location:
    address = check_text(location.address, field="location.address", max_chars=MAX_ADDRESS_CHARS)
    try:
        to_wgs84(location.lat, location.lon, location.crs)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, field=f"location.{exc.field}") from exc
    # The crs is kept as given (validated above) next to the input coordinates, for audit.
    crs = location.crs.strip().lower()
    return Location(address=address, lat=float(location.lat), lon=float(location.lon), crs=crs)


def _check_driver(driver: Driver) -> Driver:
    return Driver(
        name=check_text(driver.name, field="driver.name", max_chars=MAX_NAME_CHARS),
        phone=check_phone(driver.phone, field="driver.phone"),
        id_number=check_id_number(driver.id_number, field="driver.id_number"),
        email=None if driver.email is None else check_email(driver.email, field="driver.email"),
    )


def _check_third_party(party: ThirdParty, index: int) -> ThirdParty:
    path = f"third_parties.{index}"
    if not isinstance(party, ThirdParty):
        raise InvalidInputError(f"must be a ThirdParty, got {type(party).__name__}", field=path)
    if not isinstance(party.property_loss, bool):
        raise InvalidInputError("must be true or false", field=f"{path}.property_loss")
    return ThirdParty(
        name=check_text(party.name, field=f"{path}.name", max_chars=MAX_NAME_CHARS),
        plate=None if party.plate is None else check_plate(party.plate, field=f"{path}.plate"),
        phone=None if party.phone is None else check_phone(party.phone, field=f"{path}.phone"),
        injured_count=check_count(party.injured_count, field=f"{path}.injured_count"),
        death_count=check_count(party.death_count, field=f"{path}.death_count"),
        property_loss=party.property_loss,
    )


def _check_photo_refs(refs: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(refs, str):
        raise InvalidInputError("must be a list of references, not one text", field="photo_refs")
    checked = tuple(
        check_text(ref, field=f"photo_refs.{i}", max_chars=MAX_PHOTO_REF_CHARS)
        for i, ref in enumerate(refs)
    )
    if len(checked) > MAX_PHOTOS:
        raise InvalidInputError(
            f"at most {MAX_PHOTOS} photos, got {len(checked)}", field="photo_refs"
        )
    seen: set[str] = set()
    for index, ref in enumerate(checked):
        if ref in seen:
            raise InvalidInputError(
                f"duplicate photo reference {ref!r}", field=f"photo_refs.{index}"
            )
        seen.add(ref)
    return checked
