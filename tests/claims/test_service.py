"""The claims service end to end on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from dispatch_engine.claims.documents import DocumentKind
from dispatch_engine.claims.intake import Location
from dispatch_engine.claims.lifecycle import ClaimState
from dispatch_engine.claims.notices import Channel, LoggingSender, NoticeKind, NoticeStatus
from dispatch_engine.claims.payments import (
    AdvancePolicy,
    PayeeAuthorisation,
    PaymentKind,
    PaymentStatus,
)
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.claims.settlement import SettlementService
from dispatch_engine.dispatch.model import Incident, IncidentRequest
from dispatch_engine.errors import (
    ConflictError,
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
    OutsideServiceAreaError,
)
from tests.claims.factories import ID_NUMBER, PHONE, at, make_report, other_vehicle

S = ClaimState
ACTOR = "handler-01"


def injured_report(estimate: str = "120000"):
    """A two-car accident with an injured third party: never waived, always major."""
    return make_report(
        accident_type="multi_party",
        third_parties=(other_vehicle(injured_count=1),),
        estimate_yuan=Decimal(estimate),
    )


def complete_documents(service: ClaimsService, number: str):
    """Receive every missing document of the claim; returns the claim afterwards."""
    claim = service.get(number)
    for kind in service.document_checklist(number).missing:
        claim = service.receive_document(number, kind, f"docs/{kind}.pdf", actor=ACTOR)
    return claim


# --- intake -------------------------------------------------------------------------------


def test_minor_single_party_is_waived_and_audited(service, dispatcher):
    """A 3,000-yuan single-party report is numbered, waived, audited and sent the first SMS."""
    claim = service.report(make_report(), actor=ACTOR)
    assert claim.number == "SG-20250930-000001"
    assert claim.state is S.SURVEY_WAIVED and claim.survey_waived
    assert (claim.deadlines.tier, claim.deadlines.assessment_due) == (1, at("2025-09-30 15:00"))
    assert dispatcher.store.incidents() == []
    (decision,) = service.waiver_history(claim.number)
    assert (decision.trigger, decision.decision.rule, decision.actor) == (
        "intake",
        "single_party_minor",
        ACTOR,
    )
    (sms,) = service.notices(claim.number)
    assert (sms.kind, sms.channel, sms.due_at) == (
        NoticeKind.REPORT_ACCEPTED,
        Channel.SMS,
        at("2025-10-01 10:00"),
    )
    assert service.get(claim.number) == claim


def test_survey_needed_is_dispatched(service, dispatcher):
    """A report with an injury is dispatched at once, at its WGS-84 position, to a survey car."""
    report = make_report(
        location=Location(address="韶关站", lat=24.8075, lon=113.6032, crs="gcj02"), injured_count=1
    )
    claim = service.report(report, actor=ACTOR)
    assert claim.state is S.DISPATCHED and not claim.survey_waived
    assert claim.incident_id == claim.number
    incident = service.survey_incident(claim.number)
    assert incident == dispatcher.incident(claim.number)
    assert (incident.request.lat, incident.request.lon) == report.position_wgs84
    assert incident.request.injured and incident.status == "assigned"
    assert incident.zone.zone == "shaoguan"
    note = service.audit_trail(claim.number)[-1].details
    assert note["incident_id"] == claim.number and note["zone"] == "shaoguan"
    assert note["eta_s"] == incident.active()[0].eta_s


def test_dispatch_refusal_keeps_report(service, dispatcher):
    """A location dispatch refuses (Hong Kong) leaves the claim reported, the reason audited."""
    report = make_report(
        location={"address": "香港中环", "lat": 22.2819, "lon": 114.1582},
        accident_type="multi_party",
        third_parties=(other_vehicle(),),
    )
    claim = service.report(report, actor=ACTOR)
    assert claim.state is S.REPORTED and claim.incident_id is None
    failure = service.audit_trail(claim.number)[-1]
    assert failure.action == "claim.dispatch_failed"
    assert failure.details["code"] == "outside_service_area"
    with pytest.raises(OutsideServiceAreaError):
        service.dispatch_survey(claim.number, actor=ACTOR)
    with pytest.raises(NotFoundError):
        service.survey_incident(claim.number)
    assert dispatcher.store.incidents() == []


def test_claim_cancelled_while_dispatching_is_not_marked(store, clock, calendar, dispatcher):
    """A handler cancels the claim (in a transaction of its own) while its surveyor is
    being dispatched: the claim is not marked dispatched over the cancellation."""
    service: ClaimsService

    class CancelFirst:
        def dispatch(self, request: IncidentRequest) -> Incident:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(service.cancel, request.id, actor=ACTOR, reason="撤案").result()
            return dispatcher.dispatch(request)

        def incident(self, incident_id: str) -> Incident:
            return dispatcher.incident(incident_id)

    service = ClaimsService(store, clock=clock, calendar=calendar, dispatch=CancelFirst())
    claim = service.report(injured_report(), actor=ACTOR)
    assert claim.state is S.CANCELLED
    assert service.get(claim.number).state is S.CANCELLED
    assert service.audit_trail(claim.number)[-1].action == "claim.dispatch_failed"


def test_lost_dispatch_reply_is_not_dispatched_twice(service, dispatcher):
    """An incident already opened under the claim's number is taken up, not opened again."""
    report = injured_report()
    lat, lon = report.position_wgs84
    dispatcher.dispatch(
        IncidentRequest(id="SG-20250930-000001", lat=lat, lon=lon, reported_at=report.reported_at)
    )
    claim = service.report(report, actor=ACTOR)
    assert (claim.number, claim.state) == ("SG-20250930-000001", S.DISPATCHED)
    assert len(dispatcher.store.incidents()) == 1


def test_reopened_claim_gets_a_new_survey(service, dispatcher):
    """A survey after reopening is a new incident with a numbered suffix."""
    number = service.report(injured_report("100"), actor=ACTOR).number
    service.cancel(number, actor=ACTOR, reason="误报")
    service.reopen(number, actor=ACTOR, reason="确有事故")
    claim = service.dispatch_survey(number, actor=ACTOR)
    assert claim.incident_id == f"{number}-2"
    assert sorted(i.id for i in dispatcher.store.incidents()) == [number, f"{number}-2"]


def test_numbers_count_per_report_day(service, clock):
    """Numbers run 1, 2, ... within a report day and restart the next day."""
    first = service.report(make_report(), actor=ACTOR)
    second = service.report(make_report(description="第二起"), actor=ACTOR)
    clock.set(at("2025-10-01 10:05"))
    next_day = service.report(make_report(reported_at=at("2025-10-01 09:30")), actor=ACTOR)
    assert [first.number, second.number, next_day.number] == [
        "SG-20250930-000001",
        "SG-20250930-000002",
        "SG-20251001-000001",
    ]


def test_idempotent_intake(service, dispatcher):
    """The same key returns the first claim (even typed differently) and dispatches once."""
    report = injured_report()
    first = service.report(report, actor=ACTOR, idempotency_key="req-1")
    retyped = dataclasses.replace(
        report, driver=dataclasses.replace(report.driver, phone="138 1234 5678")
    )
    again = service.report(retyped, actor="another-handler", idempotency_key="req-1")
    assert again == first
    assert len(service.list_claims()) == 1 and len(dispatcher.store.incidents()) == 1
    with pytest.raises(ConflictError) as err:
        service.report(make_report(description="别的事故"), actor=ACTOR, idempotency_key="req-1")
    assert err.value.field == "idempotency_key"
    assert first.number in err.value.message
    assert (
        service.report(make_report(), actor=ACTOR, idempotency_key="req-2").number != first.number
    )


def test_future_report_time_refused(service, clock):
    """A report time beyond the clock (10:05) plus 5 minutes of skew is refused."""
    assert clock.now() + timedelta(minutes=5) == at("2025-09-30 10:10")
    service.report(make_report(reported_at=at("2025-09-30 10:10")), actor=ACTOR)
    with pytest.raises(InvalidInputError) as err:
        service.report(make_report(reported_at=at("2025-09-30 10:11")), actor=ACTOR)
    assert err.value.field == "reported_at"


# --- estimates and deadlines ------------------------------------------------------------------


def test_reestimate_recomputes_deadlines_from_original_events(service, clock):
    """A tier change after documents are complete recomputes both deadlines from the
    original report and documents times, not from the re-estimate."""
    number = service.report(injured_report("20000"), actor=ACTOR).number
    service.record_survey(number, actor=ACTOR)
    clock.set(at("2025-09-30 11:05"))
    service.record_assessment(number, Decimal("20000"), actor=ACTOR)
    claim = complete_documents(service, number)
    assert claim.state is S.DOCUMENTS_COMPLETE and claim.documents_complete_at == at(
        "2025-09-30 11:05"
    )
    assert claim.deadlines.settlement_due == at("2025-10-09 18:00")  # tier 2: 1 working day
    clock.set(at("2025-10-10 11:05"))
    updated = service.reestimate(number, Decimal("150000"), actor=ACTOR, reason="发现底盘损伤")
    assert updated.deadlines.tier == 4
    assert updated.deadlines.assessment_due == at("2025-10-11 18:00")  # 3 wd after 09-30
    assert updated.deadlines.settlement_due == at("2025-10-14 18:00")  # 5 wd after 09-30
    audit = service.audit_trail(number)[-1]
    assert (audit.action, audit.details["from_tier"], audit.details["to_tier"]) == (
        "claim.reestimated",
        2,
        4,
    )


def test_reestimate_can_end_a_waiver(service, dispatcher):
    """A waived single-party claim re-estimated above 10,000 is triaged again and dispatched."""
    number = service.report(make_report(), actor=ACTOR).number
    service.reestimate(number, Decimal("8000"), actor=ACTOR, reason="照片显示更多损伤")
    assert service.get(number).state is S.SURVEY_WAIVED
    claim = service.reestimate(number, Decimal("15000"), actor=ACTOR, reason="需要现场查勘")
    assert claim.state is S.DISPATCHED and not claim.survey_waived
    history = service.waiver_history(number)
    assert [(h.trigger, h.decision.waived, h.estimate_yuan) for h in history] == [
        ("intake", True, Decimal("3000")),
        ("reestimate", True, Decimal("8000")),
        ("reestimate", False, Decimal("15000")),
    ]
    assert [i.id for i in dispatcher.store.incidents()] == [number]


def test_estimate_fixed_after_approval(service, settlement):
    """An approved claim cannot be re-estimated."""
    number = service.report(make_report(), actor=ACTOR).number
    service.record_assessment(number, Decimal("2800"), actor=ACTOR)
    complete_documents(service, number)
    settlement.approve(number, Decimal("2800"), actor=ACTOR)
    with pytest.raises(ConflictError, match="fixed"):
        service.reestimate(number, Decimal("3000"), actor=ACTOR, reason="x")


def test_overdue_listing_follows_the_clock(service, clock):
    """Claims appear as overdue once a deadline passes unmet and leave when the step is done."""
    waived = service.report(make_report(), actor=ACTOR).number  # tier 1, due 15:00
    bigger = service.report(make_report(estimate_yuan=Decimal("8000")), actor=ACTOR).number  # 10-09
    cancelled = service.report(make_report(description="撤案"), actor=ACTOR).number
    service.cancel(cancelled, actor=ACTOR, reason="客户撤案")
    clock.set(at("2025-09-30 15:00"))
    assert service.list_overdue() == []
    clock.set(at("2025-09-30 15:01"))
    assert [(c.number, c.overdue) for c in service.list_overdue()] == [(waived, ("assessment",))]
    service.record_assessment(waived, Decimal("3000"), actor=ACTOR)
    complete_documents(service, waived)  # settlement due 18:00 the same day
    clock.set(at("2025-10-10 09:00"))
    assert [(c.number, c.overdue) for c in service.list_overdue()] == [
        (waived, ("settlement",)),
        (bigger, ("assessment",)),
    ]


# --- payments ---------------------------------------------------------------------------------


def test_advance_then_balance_lifecycle(service, clock, settlement):
    """A major accident: advance of 50 % within 2 working days, balance at approval, then
    paid and closed with the SMS and call queued."""
    number = service.report(injured_report("120000"), actor=ACTOR).number
    service.record_survey(number, actor=ACTOR)
    advance = settlement.request_advance_payment(number, actor=ACTOR)
    assert (advance.kind, advance.amount_yuan, advance.due_at) == (
        PaymentKind.ADVANCE,
        Decimal("60000.00"),
        at("2025-10-10 18:00"),
    )  # 2 working days after 09-30: 10-09, 10-10
    settlement.record_payment(advance.id, reference="ICBC-0001", actor=ACTOR)
    clock.set(at("2025-09-30 12:05"))
    service.record_assessment(number, Decimal("130000"), actor=ACTOR)
    claim = complete_documents(service, number)
    claim = settlement.approve(number, Decimal("130000"), actor=ACTOR)
    assert claim.state is S.APPROVED
    balance = settlement.payments(number)[-1]
    assert (balance.kind, balance.amount_yuan, balance.due_at) == (
        PaymentKind.BALANCE,
        Decimal("70000.00"),
        claim.deadlines.settlement_due,
    )
    settlement.record_payment(balance.id, reference="ICBC-0002", actor=ACTOR)
    assert service.get(number).state is S.PAID
    closed = service.close(number, actor=ACTOR)
    assert closed.state is S.CLOSED
    kinds = [(n.kind, n.channel) for n in service.notices(number)]
    assert kinds == [
        (NoticeKind.REPORT_ACCEPTED, Channel.SMS),
        (NoticeKind.SURVEY_RESULT, Channel.CALL),
        (NoticeKind.PROGRESS, Channel.SMS),
        (NoticeKind.CLOSE_RESULT, Channel.SMS),
        (NoticeKind.CLOSE_RESULT, Channel.CALL),
    ]
    actions = [entry.action for entry in service.audit_trail(number)]
    assert actions.count("claim.payment_made") == 2 and actions[-1] == "claim.closed"


def test_advance_covering_everything_pays_at_approval(service, settlement):
    """When the advance covers the approved amount, approval makes the claim paid at once."""
    number = service.report(injured_report("100"), actor=ACTOR).number
    service.record_survey(number, actor=ACTOR)
    advance = settlement.request_advance_payment(number, actor=ACTOR, amount_yuan=Decimal("100"))
    settlement.record_payment(advance.id, reference="B1", actor=ACTOR)
    service.record_assessment(number, Decimal("100"), actor=ACTOR)
    complete_documents(service, number)
    assert settlement.approve(number, Decimal("100"), actor=ACTOR).state is S.PAID
    with pytest.raises(ConflictError, match="is paid"):
        settlement.record_payment(advance.id, reference="B1", actor=ACTOR)


def test_advance_rules(service, store, clock, calendar, settlement):
    """Advances need a major accident, established liability and an open amount, once."""
    minor = service.report(make_report(estimate_yuan=Decimal("100000")), actor=ACTOR).number
    service.record_survey(minor, actor=ACTOR)
    with pytest.raises(ConflictError, match="not a major accident"):
        settlement.request_advance_payment(minor, actor=ACTOR)
    major = service.report(injured_report(), actor=ACTOR).number
    with pytest.raises(ConflictError, match="liability established"):
        settlement.request_advance_payment(major, actor=ACTOR)  # still dispatched
    service.record_survey(major, actor=ACTOR)
    with pytest.raises(InvalidInputError) as err:
        settlement.request_advance_payment(major, actor=ACTOR, amount_yuan=Decimal("120000.01"))
    assert err.value.field == "amount_yuan"
    settlement.request_advance_payment(major, actor=ACTOR)
    with pytest.raises(ConflictError, match="already has advance"):
        settlement.request_advance_payment(major, actor=ACTOR)
    # A configured policy: 30 % within 1 working day, major above 50,000.
    policy = AdvancePolicy(
        major_loss_above_yuan=Decimal(50_000), share=Decimal("0.3"), due_working_days=1
    )
    configured = SettlementService(store, clock=clock, calendar=calendar, advance_policy=policy)
    waived_big = service.report(
        make_report(
            accident_type="natural_disaster", disaster="flood", estimate_yuan=Decimal("60000")
        ),
        actor=ACTOR,
    ).number
    payment = configured.request_advance_payment(waived_big, actor=ACTOR)
    assert (payment.amount_yuan, payment.due_at) == (Decimal("18000.00"), at("2025-10-09 18:00"))


def test_third_party_payee_is_recorded_and_audited(service, settlement):
    """A payee takes pending payments, adds its authorisation to the documents, and the
    audit entry shows the account masked."""
    number = service.report(injured_report(), actor=ACTOR).number
    service.record_survey(number, actor=ACTOR)
    advance = settlement.request_advance_payment(number, actor=ACTOR)
    authorisation = PayeeAuthorisation(
        name="韶关市安达汽修厂",
        kind="repair_shop",
        bank="工商银行韶关分行",
        account_number="6222021234567890123",
        authorisation_document_ref="docs/auth-001.pdf",
    )
    payee = settlement.authorise_payee(number, authorisation, actor=ACTOR)
    assert payee.id is not None and payee.authorisation == authorisation
    (redirected,) = settlement.payments(number)
    assert redirected.id == advance.id and redirected.payee_id == payee.id
    *_, entry, document = service.audit_trail(number)
    assert (entry.action, document.action) == ("claim.payee_authorised", "claim.document_received")
    assert entry.details["account"] == "***************0123"
    assert entry.details["document_ref"] == "docs/auth-001.pdf"
    assert entry.details["payments_redirected"] == [advance.id]
    checklist = service.document_checklist(number)
    assert DocumentKind.PAYEE_AUTHORISATION in checklist.required
    assert DocumentKind.PAYEE_AUTHORISATION not in checklist.missing


# --- documents, states ----------------------------------------------------------------------


def test_documents_before_assessment_complete_at_assessment(service, clock):
    """Documents received early complete the claim the moment it is assessed."""
    number = service.report(make_report(), actor=ACTOR).number
    claim = complete_documents(service, number)
    assert claim.state is S.SURVEY_WAIVED and service.document_checklist(number).complete
    clock.set(at("2025-09-30 11:05"))
    claim = service.record_assessment(number, Decimal("2900"), actor=ACTOR)
    assert claim.state is S.DOCUMENTS_COMPLETE
    assert claim.documents_complete_at == claim.assessed_at == at("2025-09-30 11:05")
    assert claim.deadlines.settlement_due == at("2025-09-30 18:00")  # tier 1: close of business


def test_one_missing_document_blocks_completion(service):
    """An assessed claim waits in assessed until the last required document arrives."""
    number = service.report(make_report(), actor=ACTOR).number
    service.record_assessment(number, Decimal("3000"), actor=ACTOR)
    missing = service.document_checklist(number).missing
    for kind in missing[:-1]:
        assert service.receive_document(number, kind, "r", actor=ACTOR).state is S.ASSESSED
    assert (
        service.receive_document(number, missing[-1], "r", actor=ACTOR).state
        is S.DOCUMENTS_COMPLETE
    )


def test_illegal_step_names_both_states(service):
    """Recording a survey on a waived claim is refused naming both states."""
    number = service.report(make_report(), actor=ACTOR).number
    with pytest.raises(ConflictError, match="from survey_waived to surveyed"):
        service.record_survey(number, actor=ACTOR)
    assert service.get(number).state is S.SURVEY_WAIVED


def test_cancel_and_reopen(service, settlement):
    """Cancelling drops pending payments but not made ones; a closed claim can be reopened."""
    number = service.report(injured_report(), actor=ACTOR).number
    service.record_survey(number, actor=ACTOR)
    advance = settlement.request_advance_payment(number, actor=ACTOR)
    cancelled = service.cancel(number, actor=ACTOR, reason="报错案")
    assert cancelled.state is S.CANCELLED
    assert settlement.payments(number)[0].status is PaymentStatus.CANCELLED
    with pytest.raises(ConflictError):
        service.receive_document(number, DocumentKind.CLAIM_FORM, "r", actor=ACTOR)
    reopened = service.reopen(number, actor=ACTOR, reason="客户补充材料")
    assert reopened.state is S.REOPENED and reopened.cancelled_at is None
    assert service.audit_trail(number)[-1].details == {
        "from": "cancelled",
        "to": "reopened",
        "reason": "客户补充材料",
    }
    service.record_assessment(number, Decimal("90000"), actor=ACTOR)
    other = service.report(injured_report(), actor=ACTOR).number
    service.record_survey(other, actor=ACTOR)
    paid_advance = settlement.request_advance_payment(other, actor=ACTOR)
    settlement.record_payment(paid_advance.id, reference="B9", actor=ACTOR)
    with pytest.raises(ConflictError, match="recover"):
        service.cancel(other, actor=ACTOR, reason="x")
    assert advance.id != paid_advance.id


def test_unknown_and_malformed_numbers(service):
    """An unknown number is not found; a malformed one is an input error on ``number``."""
    with pytest.raises(NotFoundError):
        service.get("SG-20250930-000999")
    with pytest.raises(InvalidInputError) as err:
        service.get("20250930-1")
    assert err.value.field == "number"


# --- lists, PII, outbox ---------------------------------------------------------------------


def test_list_views_mask_personal_numbers(service):
    """List summaries carry masked phone and ID numbers and never the full values."""
    service.report(make_report(), actor=ACTOR)
    service.report(injured_report(), actor=ACTOR)
    summaries = service.list_claims()
    assert [s.number for s in summaries] == ["SG-20250930-000002", "SG-20250930-000001"]
    text = repr(summaries)
    assert PHONE[3:] not in text and ID_NUMBER not in text
    assert summaries[0].driver_phone_masked == "+86 138****5678"
    assert [s.number for s in service.list_claims(state="survey_waived")] == ["SG-20250930-000001"]
    with pytest.raises(InvalidInputError):
        service.list_claims(state="lost")


class _BrokenSms:
    def send(self, notice):
        raise ExternalServiceError("gateway 503")


def test_outbox_delivery_records_success_and_failure(service, caplog):
    """Delivered notices are marked sent; a failing sender leaves them pending with the error."""
    number = service.report(make_report(), actor=ACTOR).number
    service.record_assessment(number, Decimal("3000"), actor=ACTOR)  # queues the result call
    report = service.deliver_notices({Channel.SMS: _BrokenSms(), Channel.CALL: LoggingSender()})
    assert len(report.sent) == 1 and len(report.failed) == 1
    by_channel = {n.channel: n for n in service.notices(number)}
    assert by_channel[Channel.CALL].status is NoticeStatus.SENT
    sms = by_channel[Channel.SMS]
    assert (sms.status, sms.attempts, sms.last_error) == (NoticeStatus.PENDING, 1, "gateway 503")
    retry = service.deliver_notices({Channel.SMS: LoggingSender()})
    assert retry.sent == (sms.id,)
    assert service.deliver_notices({Channel.SMS: LoggingSender()}).sent == ()
    assert PHONE not in caplog.text


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_reports_get_unique_numbers(service):
    """Reports filed at once from several threads are numbered 1..N without collisions."""

    def file(index: int) -> str:
        return service.report(make_report(description=f"事故 {index}"), actor=ACTOR).number

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(file, range(20)))
    assert sorted(numbers) == [f"SG-20250930-{n:06d}" for n in range(1, 21)]


def test_concurrent_retries_with_one_key_make_one_claim(service):
    """The same request sent concurrently with one idempotency key files one claim."""
    report = make_report()

    def file(_: int) -> str:
        return service.report(report, actor=ACTOR, idempotency_key="retry-storm").number

    with ThreadPoolExecutor(4) as pool:
        numbers = set(pool.map(file, range(8)))
    assert numbers == {"SG-20250930-000001"}
    assert len(service.list_claims()) == 1
