"""Complaints: validation, tickets, the 1-working-day handling deadline and the steps."""

from __future__ import annotations

import pytest

from dispatch_engine.claims.complaints import ComplaintInput, ComplaintState
from dispatch_engine.errors import ConflictError, InvalidInputError, NotFoundError
from tests.claims.factories import PHONE, at, make_report

ACTOR = "service-desk-02"


def complaint(**overrides) -> ComplaintInput:
    """A hotline complaint about service quality."""
    values = {
        "category": "service_quality",
        "channel": "hotline",
        "complainant_name": "王五",
        "phone": PHONE,
        "description": "查勘员迟到四十分钟",
    }
    return ComplaintInput(**(values | overrides))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "rudeness"}, "category"),
        ({"channel": "letter"}, "channel"),
        ({"phone": "12"}, "phone"),
        ({"description": ""}, "description"),
        ({"category": "claim_dispute"}, "claim_number"),  # a dispute names its claim
        ({"claim_number": "SG-1"}, "claim_number"),
    ],
)
def test_bad_complaint_names_field(overrides, field):
    """Every complaint field is validated and named."""
    with pytest.raises(InvalidInputError) as err:
        complaint(**overrides)
    assert err.value.field == field


def test_ticket_and_handling_deadline_over_holiday(complaints):
    """Received Tuesday 2025-09-30 10:05, handling is due at the close of 10-09, the first
    working day after the Golden Week."""
    filed = complaints.file(complaint(), actor=ACTOR)
    assert filed.ticket == "TS-20250930-000001"
    assert filed.state is ComplaintState.RECEIVED
    assert filed.received_at == at("2025-09-30 10:05")
    assert filed.handling_due == at("2025-10-09 18:00")
    assert complaints.get(filed.ticket) == filed


def test_overdue_until_handling_starts(complaints, clock):
    """A complaint not taken up by its deadline is listed (phone masked) until handling starts."""
    ticket = complaints.file(complaint(), actor=ACTOR).ticket
    clock.set(at("2025-10-09 18:00"))
    assert complaints.list_overdue() == []
    clock.set(at("2025-10-09 18:01"))
    (late,) = complaints.list_overdue()
    assert (late.ticket, late.phone_masked) == (ticket, "+86 138****5678")
    complaints.start_handling(ticket, actor=ACTOR)
    assert complaints.list_overdue() == []


def test_full_handling_path(complaints, clock, service):
    """A claim dispute goes received -> handling -> resolved -> followed up with feedback."""
    number = service.report(make_report(), actor="handler-01").number
    ticket = complaints.file(
        complaint(category="claim_dispute", channel="online", claim_number=number), actor=ACTOR
    ).ticket
    with pytest.raises(ConflictError, match="from received to resolved"):
        complaints.resolve(ticket, "x", actor=ACTOR)
    with pytest.raises(ConflictError, match="is received"):
        complaints.give_feedback(ticket, "正在核实", actor=ACTOR)
    clock.set(at("2025-09-30 11:05"))
    started = complaints.start_handling(ticket, actor=ACTOR)
    assert started.handling_started_at == at("2025-09-30 11:05")
    complaints.give_feedback(ticket, "已联系查勘员核实", actor=ACTOR)
    resolved = complaints.resolve(ticket, "重新定损，补偿差额", actor=ACTOR)
    assert (resolved.state, resolved.feedback, resolved.result) == (
        ComplaintState.RESOLVED,
        "已联系查勘员核实",
        "重新定损，补偿差额",
    )
    done = complaints.follow_up(ticket, "回访满意", actor=ACTOR)
    assert done.state is ComplaintState.FOLLOWED_UP and done.followed_up_at is not None
    with pytest.raises(ConflictError, match="final state"):
        complaints.start_handling(ticket, actor=ACTOR)
    assert complaints.get(ticket) == done


def test_complaint_about_unknown_claim(complaints):
    """A complaint naming a claim that does not exist is refused on claim_number."""
    with pytest.raises(NotFoundError) as err:
        complaints.file(complaint(claim_number="SG-20250930-000042"), actor=ACTOR)
    assert err.value.field == "claim_number"
