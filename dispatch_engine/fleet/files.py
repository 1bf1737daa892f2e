"""Read a fleet file (YAML) into a :class:`Fleet`, validating it once at the edge.

The file has four sections (``data/fleet/shaoguan.yaml`` is the shipped example):

``shifts``
    named shift templates: ``{days: [mon, ...], start: "HH:MM", end: "HH:MM"}``;
    times must be quoted (YAML 1.1 reads an unquoted ``20:00`` as the number 1200).
``bases``
    the insurer's own depots: ``id, name, district`` (a Shaoguan county-level unit),
    ``lat, lon`` (WGS-84).
``vehicles``
    the own fleet: ``id, kind, base_id, shifts`` (template names), optional ``skills``,
    ``partner_id`` (required: every own vehicle has an A/B backup), ``status`` and
    ``lat, lon`` (default: at the base).
``partner_network`` (optional)
    ``shifts``, ``skills`` and a compact list of ``branches``
    ``{city, province, adcode, lat, lon, surveyors}``; each branch becomes a base
    ``PB-<adcode>`` and survey vehicles ``PB-<adcode>-<n>`` at the city centre, flagged
    as estimated positions and partnered in a ring within the branch.

Validation happens in two passes, each collecting every problem before raising once:
the schema (pydantic), then the cross-checks (unique ids, bases and partners that
exist, shift names that exist, and 24 h survey coverage of every Shaoguan district).
Every problem names the file's line and field. Line numbers come from a
``yaml.SafeLoader`` subclass that records where each mapping and sequence starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import (
    DAY_S,
    WEEK_S,
    Base,
    Fleet,
    Shift,
    Skill,
    Vehicle,
    VehicleKind,
    VehicleStatus,
    coverage_gaps_s,
    fleet_problems,
)

# SPEC §2: the ten county-level units of the Shaoguan prefecture.
SHAOGUAN_DISTRICTS = (
    "浈江区",
    "武江区",
    "曲江区",
    "乐昌市",
    "南雄市",
    "仁化县",
    "始兴县",
    "翁源县",
    "新丰县",
    "乳源瑶族自治县",
)
BRANCH_ID_PREFIX = "PB"
WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAY_NAMES: tuple[str, ...] = get_args(WeekdayName)  # index = datetime.weekday()

Loc = tuple[str | int, ...]
ProblemAt = tuple[Loc, str, int | None]  # where, why, and the line if not found from where


# --- YAML with line numbers -------------------------------------------------------------


class _LocatedDict(dict):
    """A mapping that remembers its own line, each key's line, and keys given twice.

    Plain PyYAML silently keeps the last of repeated keys; they are reported instead.
    """

    line: int
    key_lines: dict[Any, int]
    repeated_keys: list[tuple[str, int, int]]  # key, line, line of its first occurrence


class _LocatedList(list):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    line: int
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader whose mappings and sequences carry line numbers."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
    data = _LocatedDict()
    data.line = node.start_mark.line + 1
    data.repeated_keys = []
    yield data
    first_lines: dict[str, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
            line = key_node.start_mark.line + 1
            if key_node.value in first_lines:
                data.repeated_keys.append((key_node.value, line, first_lines[key_node.value]))
            first_lines.setdefault(key_node.value, line)
    data.update(loader.construct_mapping(node))
    data.key_lines = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode):  # type: ignore[no-untyped-def]
    data = _LocatedList()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


def _repeated_keys(node: Any, loc: Loc = (), seen: set[int] | None = None) -> list[ProblemAt]:
    """Every key given twice in one mapping, anywhere in the raw document."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # YAML aliases can make a document recursive
        return []
    seen.add(id(node))
    problems: list[ProblemAt] = []
    if isinstance(node, _LocatedDict):
        for key, line, first in node.repeated_keys:
            message = f"key given twice (first on line {first}); YAML would keep only the last"
            problems.append(((*loc, key), message, line))
        for key, value in node.items():
            problems += _repeated_keys(value, (*loc, key), seen)
    elif isinstance(node, _LocatedList):
        for index, item in enumerate(node):
            problems += _repeated_keys(item, (*loc, index), seen)
    return problems


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _line_of(raw: Any, loc: Loc) -> int:
    """The line of the deepest node of ``loc`` present in the raw document."""
    node, line = raw, getattr(raw, "line", 1)
    for part in loc:
        if isinstance(node, _LocatedDict) and part in node:
            line, node = node.key_lines[part], node[part]
        elif isinstance(node, _LocatedList) and isinstance(part, int) and 0 <= part < len(node):
            line, node = node.item_lines[part], node[part]
        else:
            break
    return line


def _field_name(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


# --- schema -----------------------------------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, strict=True)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, strict=True)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ShiftIn(_Record):
    days: list[WeekdayName] = Field(min_length=1)
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> time:
        if not isinstance(value, str):
            raise ValueError(
                f"expected a quoted 'HH:MM' string, got {value!r} "
                "(YAML reads an unquoted 20:00 as the number 1200)"
            )
        try:
            hours, minutes = value.split(":")
            if len(hours) != 2 or len(minutes) != 2:
                raise ValueError(value)
            return time(int(hours), int(minutes))
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day 'HH:MM' (00:00 to 23:59)") from None


class _BaseIn(_Record):
    id: Text
    name: Text
    district: Text
    lat: Latitude
    lon: Longitude

    @field_validator("district")
    @classmethod
    def _in_shaoguan(cls, value: str) -> str:
        if value not in SHAOGUAN_DISTRICTS:
            raise ValueError(
                f"{value!r} is not a Shaoguan county-level unit ({', '.join(SHAOGUAN_DISTRICTS)})"
            )
        return value


class _VehicleIn(_Record):
    id: Text
    kind: VehicleKind
    base_id: Text
    shifts: list[Text] = Field(min_length=1)
    skills: list[Skill] = []
    partner_id: Text | None = None
    status: VehicleStatus = VehicleStatus.AVAILABLE
    lat: Latitude | None = None
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> _VehicleIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither (the vehicle is then at its base)")
        return self


class _BranchIn(_Record):
    city: Text
    province: Text
    adcode: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    lat: Latitude
    lon: Longitude
    surveyors: Annotated[int, Field(ge=1, le=20, strict=True)]
    # partner tow operators: the free tow inside Guangdong needs one in every city
    tow_flatbeds: Annotated[int, Field(ge=0, le=20, strict=True)] = 0


class _NetworkIn(_Record):
    shifts: list[Text] = Field(min_length=1)
    skills: list[Skill] = []
    branches: list[_BranchIn]


class _FleetFileIn(_Record):
    shifts: dict[Text, _ShiftIn] = Field(min_length=1)
    bases: list[_BaseIn] = Field(min_length=1)
    vehicles: list[_VehicleIn] = Field(min_length=1)
    partner_network: _NetworkIn | None = None


# --- loading ----------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    """The raw document, its mappings and sequences carrying line numbers."""
    if not path.is_file():
        raise InvalidInputError(f"fleet file not found: {path}", field="path")
    loader = _LineLoader(path.read_text(encoding="utf-8"))
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err)
        raise InvalidInputError(f"{path}: {where}not valid YAML: {reason}", field="path") from err
    finally:
        loader.dispose()


def _raise_problems(
    path: Path, raw: Any, problems: list[ProblemAt], *, consequences: Sequence[ProblemAt] = ()
) -> NoReturn:
    """Raise one error listing every problem as ``line N, field: reason``.

    ``problems`` are listed by line; ``consequences`` (whole-fleet findings such as
    coverage gaps, often caused by a record problem) follow them.
    """
    located = sorted(
        (line or _line_of(raw, loc), _field_name(loc), message) for loc, message, line in problems
    )
    located += [
        (line or _line_of(raw, loc), _field_name(loc), message)
        for loc, message, line in consequences
    ]
    listing = "\n".join(f"  line {line}, {name}: {message}" for line, name, message in located)
    count = f"{len(located)} problem{'s' if len(located) > 1 else ''}"
    raise InvalidInputError(f"{path}: {count}\n{listing}", field=located[0][1])


def _schema_problem(error: ErrorDetails) -> ProblemAt:
    """A pydantic error as a problem; the offending value is quoted unless already named."""
    if error["type"] == "value_error":  # our validators name the value themselves
        return tuple(error["loc"]), error["msg"].removeprefix("Value error, "), None
    shown = "" if isinstance(error["input"], dict | list) else f" (got {error['input']!r})"
    return tuple(error["loc"]), error["msg"] + shown, None


def _format_second_of_week(second: int) -> str:
    day, rest = divmod(second, DAY_S)
    return f"{WEEKDAY_NAMES[day % 7]} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _format_gaps(gaps: Sequence[tuple[int, int]]) -> str:
    """Gaps as ``mon 20:00–tue 08:00, ...``; one running from Sunday into Monday stays whole."""
    if gaps == ((0, WEEK_S),):
        return "at any time of the week"
    spans = list(gaps)
    if len(spans) > 1 and spans[0][0] == 0 and spans[-1][1] == WEEK_S:
        spans = [*spans[1:-1], (spans[-1][0], spans[0][1] + WEEK_S)]
    return ", ".join(
        f"{_format_second_of_week(start)}–{_format_second_of_week(end)}" for start, end in spans
    )


@dataclass
class _Collected:
    """Records built from a file, each with the ``loc`` it came from, and problems so far."""

    templates: dict[str, Shift]
    bases: list[Base] = field(default_factory=list)
    base_locs: list[Loc] = field(default_factory=list)
    vehicles: list[Vehicle] = field(default_factory=list)
    vehicle_locs: list[Loc] = field(default_factory=list)
    problems: list[ProblemAt] = field(default_factory=list)
    unknown_shifts: list[ProblemAt] = field(default_factory=list)

    def shifts(self, names: Sequence[str], loc: Loc) -> tuple[Shift, ...]:
        """The templates named by ``names``; unknown names are recorded as problems."""
        for index, name in enumerate(names):
            if name not in self.templates:
                defined = ", ".join(sorted(self.templates))
                message = f"unknown shift {name!r} (defined: {defined})"
                self.unknown_shifts.append(((*loc, index), message, None))
        return tuple(self.templates[name] for name in names if name in self.templates)


def _add_own_fleet(collected: _Collected, document: _FleetFileIn) -> None:
    """The insurer's bases and vehicles; a vehicle without lat/lon stands at its base."""
    for index, base in enumerate(document.bases):
        collected.bases.append(Base(base.id, base.name, base.district, base.lat, base.lon))
        collected.base_locs.append(("bases", index))
    own_bases = {base.id: base for base in collected.bases}
    for index, item in enumerate(document.vehicles):
        loc: Loc = ("vehicles", index)
        home = own_bases.get(item.base_id)
        if item.partner_id is None:
            message = "every own vehicle needs an A/B partner"
            collected.problems.append(((*loc, "partner_id"), message, None))
        if home is None and item.base_id.startswith(f"{BRANCH_ID_PREFIX}-"):
            message = f"{item.base_id!r} is a partner branch; own vehicles need an own base"
            collected.problems.append(((*loc, "base_id"), message, None))
        # An unknown base is reported by fleet_problems; NaN never reaches a Fleet.
        lat = item.lat if item.lat is not None else home.lat if home else math.nan
        lon = item.lon if item.lon is not None else home.lon if home else math.nan
        vehicle = Vehicle(
            id=item.id,
            kind=item.kind,
            base_id=item.base_id,
            shifts=collected.shifts(item.shifts, (*loc, "shifts")),
            lat=lat,
            lon=lon,
            skills=frozenset(item.skills),
            status=item.status,
            partner_id=item.partner_id,
        )
        collected.vehicles.append(vehicle)
        collected.vehicle_locs.append(loc)


def _add_partner_network(collected: _Collected, network: _NetworkIn) -> None:
    """Each branch as base ``PB-<adcode>``: surveyors ``PB-<adcode>-<n>`` and flatbeds
    ``PB-<adcode>-T<n>``, each kind partnered in a ring."""
    shifts = collected.shifts(network.shifts, ("partner_network", "shifts"))
    for index, branch in enumerate(network.branches):
        loc: Loc = ("partner_network", "branches", index)
        base_id = f"{BRANCH_ID_PREFIX}-{branch.adcode}"
        name = f"{branch.city}合作网点"  # partner branch office
        collected.bases.append(Base(base_id, name, branch.city, branch.lat, branch.lon))
        collected.base_locs.append(loc)
        crews: tuple[tuple[VehicleKind, str, int, frozenset[str]], ...] = (
            (VehicleKind.SURVEY, "", branch.surveyors, frozenset(network.skills)),
            (VehicleKind.TOW_FLATBED, "T", branch.tow_flatbeds, frozenset()),
        )
        for kind, prefix, count, skills in crews:
            ids = [f"{base_id}-{prefix}{n}" for n in range(1, count + 1)]
            for position, vehicle_id in enumerate(ids):
                vehicle = Vehicle(
                    id=vehicle_id,
                    kind=kind,
                    base_id=base_id,
                    shifts=shifts,
                    lat=branch.lat,
                    lon=branch.lon,
                    skills=skills,
                    partner_id=ids[(position + 1) % len(ids)] if len(ids) > 1 else None,
                    branch=branch.city,
                    position_is_estimate=True,
                )
                collected.vehicles.append(vehicle)
                collected.vehicle_locs.append(loc)


def _integrity_problems(collected: _Collected, raw: Any) -> list[ProblemAt]:
    """The model's cross-record problems, pointed back at the file's records."""
    record_locs = {"bases": collected.base_locs, "vehicles": collected.vehicle_locs}
    problems: list[ProblemAt] = []
    for problem in fleet_problems(collected.bases, collected.vehicles):
        record = record_locs[problem.collection][problem.index]
        # Fields of expanded branch vehicles are not in the file: point at the branch.
        field_loc = record if record[0] == "partner_network" else (*record, problem.field)
        message = problem.message
        if problem.other is not None:
            first = record_locs[problem.collection][problem.other]
            message += f" (first on line {_line_of(raw, first)})"
        problems.append((field_loc, message, None))
    return problems


def load_fleet(path: Path) -> Fleet:
    """Load and validate a fleet file (format in the module docstring).

    Why validate here: the file is edited by people and fed to every dispatch decision;
    a typo must fail loudly at load with the line to fix, never as a missing candidate.

    Parameters
    ----------
    path
        The YAML fleet file.

    Returns
    -------
    Fleet
        Own bases and vehicles plus the expanded partner network.

    Raises
    ------
    InvalidInputError
        If the file is missing, not YAML, or has any problem; the message lists every
        problem as ``line N, field: reason`` and ``field`` names the first.
    """
    path = Path(path)
    raw = _read_yaml(path)
    repeated = _repeated_keys(raw)
    try:
        document = _FleetFileIn.model_validate(raw)
    except ValidationError as err:
        schema_problems = [_schema_problem(error) for error in err.errors(include_url=False)]
        _raise_problems(path, raw, [*repeated, *schema_problems])

    templates = {
        name: Shift(frozenset(map(WEEKDAY_NAMES.index, shift.days)), shift.start, shift.end)
        for name, shift in document.shifts.items()
    }
    collected = _Collected(templates)
    _add_own_fleet(collected, document)
    if document.partner_network is not None:
        _add_partner_network(collected, document.partner_network)
    problems = [
        *repeated,
        *collected.problems,
        *collected.unknown_shifts,
        *_integrity_problems(collected, raw),
    ]
    # An unresolved shift's hours would show up as a false gap.
    gaps = [] if collected.unknown_shifts else _coverage_problems(collected)
    if problems or gaps:
        _raise_problems(path, raw, problems, consequences=gaps)
    return Fleet(tuple(collected.bases), tuple(collected.vehicles))


def _coverage_problems(collected: _Collected) -> list[ProblemAt]:
    """One problem per Shaoguan district whose own survey cars leave part of the week uncovered."""
    bases = {base.id: base for base in collected.bases}
    problems: list[ProblemAt] = []
    for district in SHAOGUAN_DISTRICTS:
        shifts = [
            shift
            for vehicle in collected.vehicles
            if vehicle.kind == VehicleKind.SURVEY
            and vehicle.branch is None
            and vehicle.base_id in bases
            and bases[vehicle.base_id].district == district
            for shift in vehicle.shifts
        ]
        gaps = coverage_gaps_s(shifts)
        if gaps:
            message = f"{district} has no own survey vehicle on shift {_format_gaps(gaps)}"
            problems.append((("vehicles",), f"{message} (24 h coverage needed)", None))
    return problems
