"""The claim state machine and deadline recomputation from the original events."""

from __future__ import annotations

import itertools
from collections import deque
from decimal import Decimal

import pytest

from dispatch_engine.claims.lifecycle import (
    FINISHED_STATES,
    TRANSITIONS,
    ClaimState,
    check_transition,
    compute_deadlines,
)
from dispatch_engine.errors import ConflictError
from tests.claims.factories import at, make_claim

S = ClaimState
# The SPEC §6 / issue 4 chain and its branches, written out independently of TRANSITIONS.
EXPECTED_LEGAL = {
    (S.REPORTED, S.DISPATCHED),
    (S.REPORTED, S.SURVEY_WAIVED),
    (S.DISPATCHED, S.SURVEYED),
    (S.SURVEY_WAIVED, S.ASSESSED),
    (S.SURVEY_WAIVED, S.DISPATCHED),
    (S.SURVEYED, S.ASSESSED),
    (S.ASSESSED, S.DOCUMENTS_COMPLETE),
    (S.DOCUMENTS_COMPLETE, S.APPROVED),
    (S.APPROVED, S.PAID),
    (S.PAID, S.CLOSED),
    (S.CLOSED, S.REOPENED),
    (S.CANCELLED, S.REOPENED),
    (S.REOPENED, S.DISPATCHED),
    (S.REOPENED, S.ASSESSED),
    (S.REOPENED, S.CLOSED),
    *[
        (state, S.CANCELLED)
        for state in (
            S.REPORTED,
            S.DISPATCHED,
            S.SURVEY_WAIVED,
            S.SURVEYED,
            S.ASSESSED,
            S.DOCUMENTS_COMPLETE,
            S.APPROVED,
            S.REOPENED,
        )
    ],
}
ALL_PAIRS = set(itertools.product(ClaimState, repeat=2))


def test_transition_table_is_the_documented_machine():
    """The table allows exactly the documented moves."""
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == EXPECTED_LEGAL


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_LEGAL))
def test_every_legal_transition_is_allowed(current, target):
    """Each legal move passes the check."""
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), sorted(ALL_PAIRS - EXPECTED_LEGAL))
def test_every_illegal_transition_names_both_states(current, target):
    """Each other move is refused with both states in the message."""
    with pytest.raises(ConflictError) as err:
        check_transition(current, target)
    assert f"from {current} to {target}" in err.value.message
    assert err.value.field == "state"


def test_every_state_reachable_and_can_finish():
    """From reported every state is reachable, and from every state a claim can be closed."""

    def reachable(start):
        seen, queue = {start}, deque([start])
        while queue:
            for nxt in TRANSITIONS[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    assert reachable(S.REPORTED) == set(ClaimState)
    assert all(S.CLOSED in reachable(state) for state in ClaimState)


def test_reestimate_recomputes_from_original_events(calendar):
    """Moving to tier 4 counts both deadlines from the report and documents times again."""
    reported_at = at("2025-09-30 10:00")  # Tuesday before the Golden Week
    documents_at = at("2025-10-09 11:00")  # Thursday after it
    tier1 = compute_deadlines(
        Decimal("3000"),
        reported_at=reported_at,
        documents_complete_at=documents_at,
        calendar=calendar,
    )
    assert (tier1.tier, tier1.assessment_due, tier1.settlement_due) == (
        1,
        at("2025-09-30 15:00"),
        at("2025-10-09 18:00"),
    )
    tier4 = compute_deadlines(
        Decimal("150000"),
        reported_at=reported_at,
        documents_complete_at=documents_at,
        calendar=calendar,
    )
    # 3 working days after 09-30: 10-09, 10-10, Saturday 10-11 (worked in lieu).
    assert tier4.assessment_due == at("2025-10-11 18:00")
    # 5 working days after 10-09: 10-10, 10-11, 10-13, 10-14, 10-15.
    assert tier4.settlement_due == at("2025-10-15 18:00")
    assert tier4.tier == 4


def test_no_settlement_deadline_before_documents(calendar):
    """Settlement has no deadline until the documents are complete."""
    deadlines = compute_deadlines(
        Decimal("12000"),
        reported_at=at("2025-09-30 10:00"),
        documents_complete_at=None,
        calendar=calendar,
    )
    assert deadlines.settlement_due is None
    assert deadlines.assessment_due == at("2025-10-09 18:00")


def test_overdue_names_late_deadlines(calendar):
    """Assessment is late after its due time unless assessed; finished claims are never late."""
    claim = make_claim(calendar, state=S.DISPATCHED)  # tier 1: assessment due 15:00
    assert claim.overdue(at("2025-09-30 15:00")) == ()
    assert claim.overdue(at("2025-09-30 15:01")) == ("assessment",)
    for state in FINISHED_STATES:
        assert make_claim(calendar, state=state).overdue(at("2025-12-01 00:00")) == ()
    documents = make_claim(
        calendar,
        state=S.DOCUMENTS_COMPLETE,
        assessed_at=at("2025-09-30 11:00"),
        documents_complete_at=at("2025-09-30 11:00"),
    )
    assert documents.overdue(at("2025-09-30 18:01")) == ("settlement",)
