"""The progress-notice schedule of SPEC §6 and the logging and SMTP senders."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from dispatch_engine.claims.lifecycle import ClaimState
from dispatch_engine.claims.notices import (
    Channel,
    LoggingSender,
    NoticeKind,
    SmtpSender,
    schedule_notices,
)
from dispatch_engine.errors import ExternalServiceError, InvalidInputError
from tests.claims.factories import at, make_claim, make_report

EVENT = at("2025-09-30 16:20")
NOW = at("2025-09-30 16:21")


@pytest.mark.parametrize(
    ("kind", "channels"),
    [
        (NoticeKind.REPORT_ACCEPTED, [Channel.SMS]),
        (NoticeKind.SURVEY_RESULT, [Channel.CALL]),
        (NoticeKind.PROGRESS, [Channel.SMS]),  # the driver has no e-mail address
        (NoticeKind.CLOSE_RESULT, [Channel.SMS, Channel.CALL]),
    ],
)
def test_schedule_channels_and_due_times(calendar, kind, channels):
    """Each event queues its SPEC §6 channels, due 24 hours after the event."""
    claim = make_claim(calendar, approved_amount_yuan=Decimal("2800.00"))
    notices = schedule_notices(kind, claim, event_at=EVENT, created_at=NOW)
    assert [n.channel for n in notices] == channels
    assert all(n.due_at == EVENT + timedelta(hours=24) for n in notices)
    assert all(n.created_at == NOW and n.recipient == "+8613812345678" for n in notices)
    assert all(claim.number in n.body for n in notices)


def test_progress_goes_by_email_when_known(calendar):
    """With an e-mail address the progress notice is an e-mail showing the expected close."""
    report = make_report(driver={"email": "zhang@example.com"})
    claim = make_claim(
        calendar, report, state=ClaimState.DOCUMENTS_COMPLETE, documents_complete_at=EVENT
    )
    (notice,) = schedule_notices(NoticeKind.PROGRESS, claim, event_at=EVENT, created_at=NOW)
    assert (notice.channel, notice.recipient) == (Channel.EMAIL, "zhang@example.com")
    assert "预计结案时间2025-09-30 18:00" in notice.body  # tier 1: close of business


def test_report_sms_tells_waived_cases_to_send_photos(calendar):
    """The first SMS says a surveyor is coming, or that photos are needed when waived."""
    dispatched = make_claim(calendar, survey_waived=False)
    waived = make_claim(calendar, survey_waived=True)
    (coming,) = schedule_notices(
        NoticeKind.REPORT_ACCEPTED, dispatched, event_at=EVENT, created_at=NOW
    )
    (photos,) = schedule_notices(NoticeKind.REPORT_ACCEPTED, waived, event_at=EVENT, created_at=NOW)
    assert "查勘员正在赶往现场" in coming.body
    assert "上传事故照片" in photos.body


def test_logging_sender_masks_recipient(calendar, caplog):
    """The logging sender writes the notice with the phone masked."""
    (notice,) = schedule_notices(
        NoticeKind.REPORT_ACCEPTED, make_claim(calendar), event_at=EVENT, created_at=NOW
    )
    with caplog.at_level(logging.INFO, logger="dispatch_engine.claims.notices"):
        LoggingSender().send(notice)
    assert "+86 138****5678" in caplog.text
    assert "13812345678" not in caplog.text


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd hook name)
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on localhost that keeps what it receives."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_smtp_sender_delivers_email(calendar, smtp_server):
    """An e-mail notice reaches the SMTP server with its subject, body and addresses."""
    controller, inbox = smtp_server
    report = make_report(driver={"email": "zhang@example.com"})
    claim = make_claim(calendar, report, documents_complete_at=EVENT)
    (notice,) = schedule_notices(NoticeKind.PROGRESS, claim, event_at=EVENT, created_at=NOW)
    SmtpSender(controller.hostname, controller.port, sender="claims@insurer.example").send(notice)
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["zhang@example.com"]
    message = message_from_bytes(envelope.content, policy=default_policy)
    assert message["Subject"] == notice.subject
    assert message.get_content().strip() == notice.body


def test_smtp_sender_failure_is_external_error(calendar):
    """A server that cannot be reached raises ExternalServiceError (the outbox retries)."""
    report = make_report(driver={"email": "zhang@example.com"})
    claim = make_claim(calendar, report, documents_complete_at=EVENT)
    (notice,) = schedule_notices(NoticeKind.PROGRESS, claim, event_at=EVENT, created_at=NOW)
    with pytest.raises(ExternalServiceError, match="SMTP 127.0.0.1"):
        SmtpSender("127.0.0.1", _free_port(), sender="claims@insurer.example", timeout_s=2).send(
            notice
        )


def test_smtp_sender_refuses_sms(calendar):
    """Only e-mail goes through SMTP."""
    (notice,) = schedule_notices(
        NoticeKind.REPORT_ACCEPTED, make_claim(calendar), event_at=EVENT, created_at=NOW
    )
    with pytest.raises(InvalidInputError) as err:
        SmtpSender("127.0.0.1", 25, sender="claims@insurer.example").send(notice)
    assert err.value.field == "channel"
