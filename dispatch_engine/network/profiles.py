"""Time-of-day speeds: a speed factor per road class per hour of the week.

The compiled network's travel times are free flow: what a car drives at night. A
*speed profile* says, for each road class it names, the share of that speed driven in
each of the 168 hours of the week (local time, Monday 00:00 first); classes it does not
name keep free flow. The shipped default (``data/network/speed_profiles.yaml``) has
morning and evening peaks on the urban streets and arterials of the county seats and
the city, lighter peaks on national roads, and free flow at night; a planner or an
operator overrides it with their own file (setting ``speed_profile``).

Engines never rebuild anything for a profile: a :class:`TrafficModel` turns one hour's
factors into chain times of the same network (a *traffic state*: an edge's time is its
free-flow time divided by its class's factor), and the CCH engine re-customizes its
index with them. States are keyed by their factors, so hours with the same factors
(every night hour) share one state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dispatch_engine.datafiles import read_yaml_model
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.network.compile import CompiledNetwork
from dispatch_engine.network.schema import ROAD_CLASS_SPEED_KPH
from dispatch_engine.settings import Settings

HOURS_PER_WEEK = 168
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
DEFAULT_PROFILE = Path("network") / "speed_profiles.yaml"

SpeedFactor = Annotated[float, Field(gt=0.0, le=1.0)]
DayFactors = Annotated[list[SpeedFactor], Field(min_length=24, max_length=24)]


class _ClassHoursIn(BaseModel):
    """24 hourly factors per day: ``weekday`` / ``weekend`` groups, or single days."""

    model_config = ConfigDict(extra="forbid")

    weekday: DayFactors | None = None
    weekend: DayFactors | None = None
    mon: DayFactors | None = None
    tue: DayFactors | None = None
    wed: DayFactors | None = None
    thu: DayFactors | None = None
    fri: DayFactors | None = None
    sat: DayFactors | None = None
    sun: DayFactors | None = None

    def week(self) -> np.ndarray:
        """The 168 factors: a named day wins over its group; a day neither gives is 1.0."""
        days = []
        for index, name in enumerate(DAY_NAMES):
            group = self.weekday if index < 5 else self.weekend
            day = getattr(self, name) or group
            days.append(np.ones(24) if day is None else np.asarray(day, dtype=np.float64))
        return np.concatenate(days)


class _ProfileFileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    timezone: str = "Asia/Shanghai"
    classes: dict[str, _ClassHoursIn]


@dataclass(frozen=True, eq=False)
class SpeedProfile:
    """Speed factors by road class and hour of the week (1.0 = free flow).

    ``factors[road_class][h]`` is the share of free-flow speed in hour ``h`` of the
    week, local to ``timezone``, ``h = 24 * weekday + hour`` (Monday 00:00 is 0).
    """

    name: str
    timezone: ZoneInfo
    factors: Mapping[str, np.ndarray]

    def hour_of_week(self, at: datetime) -> int:
        """The hour of the week ``at`` falls in, local to the profile's timezone.

        Raises ``InvalidInputError`` (field ``at``) for a naive time: which hour it is
        depends on the timezone, so guessing would shift every peak.
        """
        if at.tzinfo is None:
            raise InvalidInputError("the time must carry a timezone", field="at")
        local = at.astimezone(self.timezone)
        return local.weekday() * 24 + local.hour

    def speed_factors(self, road_classes: Sequence[str], at: datetime) -> np.ndarray:
        """One factor per road class (in the given order) for the hour of ``at``."""
        return self.hour_factors(road_classes, self.hour_of_week(at))

    def hour_factors(self, road_classes: Sequence[str], hour: int) -> np.ndarray:
        """One factor per road class (in the given order) for hour ``hour`` of the week."""
        return np.array([self.factors[c][hour] if c in self.factors else 1.0 for c in road_classes])


def load_speed_profile(path: Path) -> SpeedProfile:
    """Read a profile file (YAML; see ``data/network/speed_profiles.yaml``).

    The file is ``{name, description, timezone, classes: {road_class: {weekday,
    weekend, mon..sun: [24 factors]}}}``; a factor is the share of free-flow speed, in
    (0, 1]. Road classes are the OSM ``highway`` values the network schema knows.

    Raises
    ------
    InvalidInputError
        Naming the field (e.g. ``classes.residential.weekday``) when the file is
        malformed: a factor outside (0, 1], a day without 24 values, an unknown road
        class or timezone.
    DataError
        When the file cannot be read.
    """
    parsed = read_yaml_model(path, _ProfileFileIn, whole="speed_profile")
    unknown = sorted(set(parsed.classes) - set(ROAD_CLASS_SPEED_KPH))
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown road class '{unknown[0]}' (known: {', '.join(ROAD_CLASS_SPEED_KPH)})",
            field=f"classes.{unknown[0]}",
        )
    try:
        timezone = ZoneInfo(parsed.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"{path}: unknown timezone '{parsed.timezone}'", field="timezone"
        ) from exc
    factors = {cls: hours.week() for cls, hours in parsed.classes.items()}
    return SpeedProfile(name=parsed.name, timezone=timezone, factors=factors)


def profile_from_settings(settings: Settings) -> SpeedProfile | None:
    """The profile the settings select: the shipped default, a file, or none (free flow)."""
    if settings.speed_profile == "none":
        return None
    if settings.speed_profile == "default":
        return load_speed_profile(settings.data_dir / DEFAULT_PROFILE)
    return load_speed_profile(Path(settings.speed_profile))


class TrafficModel:
    """A network's travel times hour by hour under a speed profile (or free flow).

    Positions along chains are kept in free-flow seconds (``Snapped.pos_s``). On a
    chain of one road class they scale with its factor; a chain mixing classes slows
    piecewise, so the model keeps, once per network, the cumulative free-flow time of
    each class along the chains: any hour's time to a position is a weighted sum of
    those, without per-hour edge arrays.
    """

    def __init__(self, network: CompiledNetwork, profile: SpeedProfile | None) -> None:
        self.network = network
        self.profile = profile
        self._free_flow = tuple([1.0] * len(network.road_classes))
        self._hour_keys: dict[int, tuple[float, ...]] = {}

    @cached_property
    def _knots(self) -> _Knots:
        """Built on the first hour that is not free flow."""
        net = self.network
        free_s = net.edge_time_s.astype(np.float64)[net.chain_edges]
        slot_class = net.edge_class[net.chain_edges].astype(np.int64)
        per_class = np.zeros((len(net.road_classes), free_s.size))
        per_class[slot_class, np.arange(free_s.size)] = free_s
        starts = net.chain_ptr[:-1]
        uniform = np.minimum.reduceat(slot_class, starts) == np.maximum.reduceat(slot_class, starts)
        return _Knots(
            total_s=np.concatenate([[0.0], np.cumsum(free_s)]),
            class_s=np.concatenate(
                [np.zeros((per_class.shape[0], 1)), np.cumsum(per_class, axis=1)], axis=1
            ),
            slot_class=slot_class,
            chain_class=np.where(uniform, slot_class[starts], -1),
        )

    def speed_factors(self, at: datetime | None) -> np.ndarray:
        """One factor per road class of the network for the hour of ``at`` (all 1.0
        without a profile or a time)."""
        classes = self.network.road_classes
        if self.profile is None or at is None:
            return np.ones(len(classes))
        return self.profile.speed_factors(classes, at)

    def state_key(self, at: datetime | None) -> tuple[float, ...]:
        """:meth:`speed_factors` as a tuple, the key of a traffic state; remembered per
        hour of the week, as every query asks it."""
        if self.profile is None or at is None:
            return self._free_flow
        hour = self.profile.hour_of_week(at)
        key = self._hour_keys.get(hour)
        if key is None:
            key = self._hour_keys[hour] = tuple(
                self.profile.hour_factors(self.network.road_classes, hour).tolist()
            )
        return key

    def week_factors(self) -> list[tuple[float, ...]]:
        """The distinct state keys (:meth:`state_key`) of the week's 168 hours, in the
        order they first come (free flow only, without a profile)."""
        if self.profile is None:
            return [self._free_flow]
        classes = self.network.road_classes
        hours = (self.profile.hour_factors(classes, hour) for hour in range(HOURS_PER_WEEK))
        return list(dict.fromkeys(tuple(factors.tolist()) for factors in hours))

    def times(self, speed_factors: np.ndarray) -> TrafficTimes:
        """The traffic state for one factor per road class (all 1.0: free flow, the
        network's own arrays unchanged)."""
        factors = np.asarray(speed_factors, dtype=np.float64)
        key = tuple(float(f) for f in factors)
        if np.all(factors == 1.0):
            return TrafficTimes(self, key, self.network.chain_time_s, None)
        inverse = 1.0 / factors
        ends = self._knots.class_s[:, self.network.chain_ptr]
        return TrafficTimes(self, key, inverse @ (ends[:, 1:] - ends[:, :-1]), inverse)

    def positions_s(self, chain: np.ndarray, pos_s: np.ndarray, inverse: np.ndarray) -> np.ndarray:
        """Seconds from chain starts to free-flow positions, at speeds ``1 / inverse``."""
        knots = self._knots
        ok = chain >= 0
        c = np.where(ok, chain, 0)
        road_class = knots.chain_class[c]
        mapped = pos_s * inverse[np.maximum(road_class, 0)]  # one class: one factor
        mixed = ok & (road_class < 0)
        if mixed.any():
            ptr = self.network.chain_ptr
            first, last = ptr[c[mixed]], ptr[c[mixed] + 1] - 1
            at_s = knots.total_s[first] + pos_s[mixed]
            slot = np.clip(np.searchsorted(knots.total_s, at_s, side="right") - 1, first, last)
            before = knots.class_s[:, slot] - knots.class_s[:, first]
            into_slot_s = at_s - knots.total_s[slot]
            mapped[mixed] = inverse @ before + into_slot_s * inverse[knots.slot_class[slot]]
        return np.where(ok, mapped, pos_s)


@dataclass(frozen=True, eq=False)
class _Knots:
    """Cumulative free-flow seconds along the chains, in ``chain_edges`` order."""

    total_s: np.ndarray  # (n_edges + 1,) over all edges
    class_s: np.ndarray  # (n_classes, n_edges + 1) over each road class's edges only
    slot_class: np.ndarray  # road class of each slot
    chain_class: np.ndarray  # a chain's road class, or -1 when it mixes classes


@dataclass(frozen=True, eq=False)
class TrafficTimes:
    """Travel times of one traffic state of a network: free flow, or one profile hour."""

    model: TrafficModel
    speed_factors: tuple[float, ...]  # per road class of the network: the state's key
    chain_time_s: np.ndarray  # float64 per chain
    inverse_factors: np.ndarray | None  # per road class; None: free flow

    def chain_time_ms(self) -> np.ndarray:
        """Chain times rounded to whole milliseconds: the CCH engine's integer weights."""
        return np.rint(self.chain_time_s * 1000.0).astype(np.int64)

    def positions_s(self, chain: np.ndarray, pos_s: np.ndarray) -> np.ndarray:
        """Seconds from each chain's start to free-flow positions ``pos_s`` on it."""
        if self.inverse_factors is None:
            return pos_s
        return self.model.positions_s(chain, pos_s, self.inverse_factors)
