"""Survey-waiver triage: each rule, the 10,000-yuan boundary, injury overriding all."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from dispatch_engine.claims.triage import (
    AccidentType,
    DisasterKind,
    TriageFacts,
    WaiverRule,
    decide_waiver,
)
from dispatch_engine.errors import InvalidInputError


def facts(accident_type: str, estimate: str = "3000", **flags) -> TriageFacts:
    """Facts with nobody injured and no third-party loss unless ``flags`` say otherwise."""
    values = {"injured": False, "third_party_injury": False, "third_party_property_loss": False}
    return TriageFacts(
        accident_type=accident_type,
        vehicle_damage_estimate=Decimal(estimate),
        **(values | flags),
    )


WAIVABLE = [
    (facts("single_party"), WaiverRule.SINGLE_PARTY_MINOR),
    (facts("glass_only", "50000"), WaiverRule.GLASS_ONLY),  # no cap on glass alone
    (facts("scratch_only"), WaiverRule.SCRATCH_ONLY),
    *[
        (facts("natural_disaster", "300000", disaster=kind), WaiverRule.NATURAL_DISASTER)
        for kind in ("rainstorm", "windstorm", "hail", "flood")
    ],
]


@pytest.mark.parametrize(("case", "rule"), WAIVABLE)
def test_each_waiver_rule(case, rule):
    """Each SPEC §6 rule waives the survey and names itself in the decision."""
    decision = decide_waiver(case)
    assert decision.waived
    assert decision.rule is rule
    assert decision.reason.startswith("waived:")
    assert "免查勘" in decision.label_zh


@pytest.mark.parametrize(
    ("estimate", "waived"),
    [("0", True), ("10000", True), ("10000.00", True), ("10000.01", False)],
)
def test_single_party_limit_is_inclusive(estimate, waived):
    """Single-party damage of exactly 10,000 yuan is waived; one fen more is not."""
    decision = decide_waiver(facts("single_party", estimate))
    assert decision.waived is waived
    if not waived:
        assert decision.rule is WaiverRule.OVER_LIMIT
        assert "10000.01" in decision.reason


@pytest.mark.parametrize("injury", ["injured", "third_party_injury"])
@pytest.mark.parametrize("case", [case for case, _ in WAIVABLE])
def test_injury_overrides_every_rule(case, injury):
    """Anyone injured (insured side or third party) blocks every waiver."""
    injured = TriageFacts(
        accident_type=case.accident_type,
        vehicle_damage_estimate=case.vehicle_damage_estimate,
        injured=injury == "injured",
        third_party_injury=injury == "third_party_injury",
        third_party_property_loss=False,
        disaster=case.disaster,
    )
    decision = decide_waiver(injured)
    assert not decision.waived
    assert decision.rule is WaiverRule.INJURY
    assert decision.reason == "not waived: someone is injured"


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        (facts("single_party", third_party_property_loss=True), WaiverRule.THIRD_PARTY_LOSS),
        (facts("glass_only", third_party_property_loss=True), WaiverRule.THIRD_PARTY_LOSS),
        (facts("scratch_only", third_party_property_loss=True), WaiverRule.THIRD_PARTY_LOSS),
        (facts("multi_party", "100"), WaiverRule.MULTI_PARTY),
        (facts("natural_disaster", disaster="other"), WaiverRule.OTHER_DISASTER),
    ],
)
def test_exclusions_not_waived(case, rule):
    """Third-party loss, multi-party accidents and other disasters need a survey."""
    decision = decide_waiver(case)
    assert not decision.waived
    assert decision.rule is rule
    assert decision.reason.startswith("not waived:")
    assert "须查勘" in decision.label_zh


def test_natural_disaster_ignores_third_party_loss():
    """The disaster rule has no "alone" clause, so third-party property loss does not block it."""
    case = facts("natural_disaster", disaster="flood", third_party_property_loss=True)
    assert decide_waiver(case).waived


def test_matches_spec_formula_on_all_combinations():
    """Over every combination of facts, waived equals SPEC §6 restated as one formula."""
    disasters = [None, *DisasterKind]
    flags = [False, True]
    for kind, disaster, injured, tp_injury, tp_loss, estimate in itertools.product(
        AccidentType, disasters, flags, flags, flags, ["0", "10000", "10000.01", "250000"]
    ):
        if disaster is not None and kind is not AccidentType.NATURAL_DISASTER:
            continue
        case = TriageFacts(
            accident_type=kind,
            vehicle_damage_estimate=Decimal(estimate),
            injured=injured,
            third_party_injury=tp_injury,
            third_party_property_loss=tp_loss,
            disaster=disaster,
        )
        expected = not (injured or tp_injury) and (
            (kind == "single_party" and not tp_loss and Decimal(estimate) <= 10_000)
            or (kind in ("glass_only", "scratch_only") and not tp_loss)
            or (
                kind == "natural_disaster"
                and disaster in (None, "rainstorm", "windstorm", "hail", "flood")
            )
        )
        decision = decide_waiver(case)
        assert decision.waived is expected, case
        assert decision.reason.startswith("waived:" if expected else "not waived:")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"accident_type": "rollover"}, "accident_type"),
        ({"accident_type": "natural_disaster", "disaster": "tsunami"}, "disaster"),
        ({"accident_type": "single_party", "disaster": "hail"}, "disaster"),
        ({"accident_type": "single_party", "estimate": "-1"}, "vehicle_damage_estimate"),
        ({"accident_type": "single_party", "estimate": "1.234"}, "vehicle_damage_estimate"),
    ],
)
def test_bad_facts_name_the_field(kwargs, field):
    """Unknown types, an unknown or misplaced disaster kind and bad amounts are refused."""
    with pytest.raises(InvalidInputError) as err:
        facts(**kwargs)
    assert err.value.field == field


def test_float_estimate_refused():
    """A binary float damage estimate is refused, naming the field."""
    with pytest.raises(InvalidInputError) as err:
        TriageFacts(
            accident_type="single_party",
            vehicle_damage_estimate=9999.99,
            injured=False,
            third_party_injury=False,
            third_party_property_loss=False,
        )
    assert err.value.field == "vehicle_damage_estimate"
