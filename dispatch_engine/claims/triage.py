"""Survey-waiver triage (免查勘, SPEC §6): which reports skip the on-site survey.

Waived when any rule holds, and never when anyone is injured:

- single-party accident, no third-party injury or property loss, vehicle damage
  ≤ 10,000 yuan (inclusive);
- glass breakage alone;
- body-scratch cover alone;
- natural disaster: rainstorm, windstorm, hail, flood.

Waived cases go to remote assessment from photos. The decision carries the rule that
decided it so the claims store can audit it; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from dispatch_engine.claims.tiers import check_amount_yuan
from dispatch_engine.errors import InvalidInputError

SINGLE_PARTY_WAIVER_LIMIT_YUAN = Decimal(10_000)

E = TypeVar("E", bound=StrEnum)


class AccidentType(StrEnum):
    SINGLE_PARTY = "single_party"
    MULTI_PARTY = "multi_party"
    GLASS_ONLY = "glass_only"
    SCRATCH_ONLY = "scratch_only"
    NATURAL_DISASTER = "natural_disaster"


class DisasterKind(StrEnum):
    RAINSTORM = "rainstorm"
    WINDSTORM = "windstorm"
    HAIL = "hail"
    FLOOD = "flood"
    OTHER = "other"  # e.g. landslide, lightning: not a waiver disaster


_DISASTER_ZH = {
    DisasterKind.RAINSTORM: "暴雨",
    DisasterKind.WINDSTORM: "暴风",
    DisasterKind.HAIL: "冰雹",
    DisasterKind.FLOOD: "洪水",
}


class WaiverRule(StrEnum):
    """The rule that decided: the first four waive, the others explain a refusal."""

    SINGLE_PARTY_MINOR = "single_party_minor"
    GLASS_ONLY = "glass_only"
    SCRATCH_ONLY = "scratch_only"
    NATURAL_DISASTER = "natural_disaster"
    INJURY = "injury"
    THIRD_PARTY_LOSS = "third_party_loss"
    OVER_LIMIT = "over_limit"
    MULTI_PARTY = "multi_party"
    OTHER_DISASTER = "other_disaster"


@dataclass(frozen=True, kw_only=True)
class TriageFacts:
    """What triage needs from a report.

    ``injured`` is anyone in the insured vehicle; a third-party injury is also an
    injury, so either one blocks every waiver. ``disaster`` is only allowed with
    ``natural_disaster``; without it, the accident is a natural disaster as SPEC §6
    defines one (rainstorm, windstorm, hail, flood), kind not recorded.
    """

    accident_type: AccidentType
    vehicle_damage_estimate: Decimal
    injured: bool
    third_party_injury: bool
    third_party_property_loss: bool
    disaster: DisasterKind | None = None

    def __post_init__(self) -> None:
        accident_type = _member(AccidentType, self.accident_type, field="accident_type")
        disaster = (
            None
            if self.disaster is None
            else _member(DisasterKind, self.disaster, field="disaster")
        )
        if disaster is not None and accident_type is not AccidentType.NATURAL_DISASTER:
            raise InvalidInputError(
                "a disaster kind is only allowed with accident type natural_disaster",
                field="disaster",
            )
        estimate = check_amount_yuan(self.vehicle_damage_estimate, field="vehicle_damage_estimate")
        object.__setattr__(self, "accident_type", accident_type)
        object.__setattr__(self, "disaster", disaster)
        object.__setattr__(self, "vehicle_damage_estimate", estimate)


def _member(enum: type[E], value: str, *, field: str) -> E:
    try:
        return enum(value)
    except ValueError as exc:
        raise InvalidInputError(f"{value!r} is not one of: {', '.join(enum)}", field=field) from exc


@dataclass(frozen=True)
class WaiverDecision:
    """Whether the survey is waived, the deciding rule and why (English + Chinese label)."""

    waived: bool
    rule: WaiverRule
    reason: str
    label_zh: str


def decide_waiver(facts: TriageFacts) -> WaiverDecision:
    """Apply SPEC §6's survey-waiver rules to one report.

    Injury is checked first because it overrides every rule. "Alone" in the glass and
    scratch rules is read strictly: a third-party property loss means the case is not
    glass (or scratch) alone and needs a survey.
    """
    if facts.injured or facts.third_party_injury:
        return WaiverDecision(
            False, WaiverRule.INJURY, "not waived: someone is injured", "有人员受伤，须查勘"
        )
    kind = facts.accident_type
    if kind is AccidentType.MULTI_PARTY:
        return WaiverDecision(
            False, WaiverRule.MULTI_PARTY, "not waived: multi-party accident", "多方事故，须查勘"
        )
    if kind is AccidentType.NATURAL_DISASTER:
        if facts.disaster is None:
            return WaiverDecision(
                True, WaiverRule.NATURAL_DISASTER, "waived: natural disaster", "自然灾害免查勘"
            )
        if facts.disaster not in _DISASTER_ZH:
            return WaiverDecision(
                False,
                WaiverRule.OTHER_DISASTER,
                "not waived: natural disaster other than rainstorm, windstorm, hail or flood",
                "其他自然灾害，须查勘",
            )
        return WaiverDecision(
            True,
            WaiverRule.NATURAL_DISASTER,
            f"waived: natural disaster ({facts.disaster})",
            f"自然灾害（{_DISASTER_ZH[facts.disaster]}）免查勘",
        )
    if facts.third_party_property_loss:
        return WaiverDecision(
            False,
            WaiverRule.THIRD_PARTY_LOSS,
            "not waived: there is a third-party property loss",
            "涉及第三者财产损失，须查勘",
        )
    if kind is AccidentType.GLASS_ONLY:
        return WaiverDecision(
            True, WaiverRule.GLASS_ONLY, "waived: glass breakage alone", "单独玻璃破碎免查勘"
        )
    if kind is AccidentType.SCRATCH_ONLY:
        return WaiverDecision(
            True, WaiverRule.SCRATCH_ONLY, "waived: body-scratch cover alone", "车身划痕免查勘"
        )
    if facts.vehicle_damage_estimate > SINGLE_PARTY_WAIVER_LIMIT_YUAN:
        return WaiverDecision(
            False,
            WaiverRule.OVER_LIMIT,
            f"not waived: single-party vehicle damage {facts.vehicle_damage_estimate} yuan "
            f"exceeds {SINGLE_PARTY_WAIVER_LIMIT_YUAN} yuan",
            "车损超过一万元，须查勘",
        )
    return WaiverDecision(
        True,
        WaiverRule.SINGLE_PARTY_MINOR,
        f"waived: single-party accident, no third-party loss, vehicle damage "
        f"{facts.vehicle_damage_estimate} ≤ {SINGLE_PARTY_WAIVER_LIMIT_YUAN} yuan",
        "单方小额事故免查勘",
    )
