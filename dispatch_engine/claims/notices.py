"""Progress notices (SPEC §6): an outbox of due notices and the senders that deliver them.

A claim event queues its notices in the same transaction that records the event, so a
notice is never lost or sent for an event that did not happen; a sender delivers them
later (at least once). ``due_at`` is the promise: the latest time the customer hears.

========================  =======================  ========  ==================
event                     notice                   channel   due within
========================  =======================  ========  ==================
report accepted           accepted, survey news    SMS       24 h of the report
survey (or remote         result and assessment    call      24 h of the event
assessment) done
documents complete        progress, expected close e-mail    24 h of the event
                                                   (SMS without an address)
claim closed              result                   SMS, call 24 h of closing
========================  =======================  ========  ==================
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Protocol

from dispatch_engine.claims.lifecycle import Claim
from dispatch_engine.claims.pii import mask_phone
from dispatch_engine.errors import ExternalServiceError, InvalidInputError

NOTICE_WINDOW = timedelta(hours=24)
SIGNATURE = "【韶关公务用车理赔】"


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"
    EMAIL = "email"


class NoticeKind(StrEnum):
    REPORT_ACCEPTED = "report_accepted"
    SURVEY_RESULT = "survey_result"
    PROGRESS = "progress"
    CLOSE_RESULT = "close_result"
    SUPPLY_ALERT = "supply_alert"  # not a claim's: a rescue depot's urgent stock alert


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"


@dataclass(frozen=True, kw_only=True)
class Notice:
    """One message in the outbox; for a call, ``body`` is the script the agent reads.

    ``attempts`` and ``last_error`` record failed deliveries; a failed notice stays
    pending and is retried. ``id`` is None until stored.
    """

    claim_number: str
    kind: NoticeKind
    channel: Channel
    recipient: str
    subject: str
    body: str
    due_at: datetime
    created_at: datetime
    status: NoticeStatus = NoticeStatus.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    last_error: str | None = None
    id: int | None = None


def _when(moment: datetime | None) -> str:
    return "待定" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _text(kind: NoticeKind, claim: Claim) -> tuple[str, str]:
    """Subject and body of a notice, in Chinese, from the claim as it is now."""
    number = claim.number
    match kind:
        case NoticeKind.REPORT_ACCEPTED:
            next_step = (
                "本案免现场查勘，请上传事故照片，我们将远程定损。"
                if claim.survey_waived
                else "查勘员正在赶往现场，请保持电话畅通。"
            )
            return f"报案受理 {number}", f"{SIGNATURE}您的报案已受理，报案号{number}。{next_step}"
        case NoticeKind.SURVEY_RESULT:
            return f"查勘定损 {number}", (
                f"报案号{number}：查勘完成，当前估损{claim.estimate_yuan}元，"
                f"定损时限{_when(claim.deadlines.assessment_due)}，请按清单提交索赔单证。"
            )
        case NoticeKind.PROGRESS:
            return f"理赔进度 {number}", (
                f"{SIGNATURE}报案号{number}：索赔单证已齐全，正在理算，"
                f"预计结案时间{_when(claim.deadlines.settlement_due)}。"
            )
        case NoticeKind.CLOSE_RESULT:
            return f"结案通知 {number}", (
                f"{SIGNATURE}报案号{number}已结案，赔付金额{claim.approved_amount_yuan}元。"
                "如有疑问请致电客服热线。"
            )
        case NoticeKind.SUPPLY_ALERT:
            raise InvalidInputError("a supply alert is not a claim's notice", field="kind")


def _channels(kind: NoticeKind, claim: Claim) -> tuple[Channel, ...]:
    match kind:
        case NoticeKind.REPORT_ACCEPTED:
            return (Channel.SMS,)
        case NoticeKind.SURVEY_RESULT:
            return (Channel.CALL,)
        case NoticeKind.PROGRESS:
            return (Channel.EMAIL,) if claim.report.driver.email else (Channel.SMS,)
        case NoticeKind.CLOSE_RESULT:
            return (Channel.SMS, Channel.CALL)
        case NoticeKind.SUPPLY_ALERT:
            raise InvalidInputError("a supply alert is not a claim's notice", field="kind")


def schedule_notices(
    kind: NoticeKind, claim: Claim, *, event_at: datetime, created_at: datetime
) -> list[Notice]:
    """The notices an event queues for the claim's contact (the driver), due 24 h after it.

    Parameters
    ----------
    kind
        Which step of the schedule (see the module doc).
    claim
        The claim after the event, so the text shows the new state and deadlines.
    event_at
        When the event happened (for the first notice: the report time).
    created_at
        When the notices are queued.
    """
    subject, body = _text(kind, claim)
    driver = claim.report.driver
    return [
        Notice(
            claim_number=claim.number,
            kind=kind,
            channel=channel,
            recipient=driver.email if channel is Channel.EMAIL and driver.email else driver.phone,
            subject=subject,
            body=body,
            due_at=event_at + NOTICE_WINDOW,
            created_at=created_at,
        )
        for channel in _channels(kind, claim)
    ]


def masked_recipient(notice: Notice) -> str:
    """The recipient as logs show it: phones masked, e-mail addresses kept to the domain."""
    if notice.channel is Channel.EMAIL:
        return "***@" + notice.recipient.rsplit("@", 1)[-1]
    return mask_phone(notice.recipient)


class NoticeSender(Protocol):
    """Delivers one notice. Returns when delivered; raises :class:`ExternalServiceError`
    when it could not, so the outbox keeps the notice pending and retries it."""

    def send(self, notice: Notice) -> None: ...


class LoggingSender:
    """A sender that writes each notice to a log: the SMS gateway and call centre stand-in,
    and a trace in development. Recipients are masked."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(__name__)

    def send(self, notice: Notice) -> None:
        self._logger.info(
            "%s %s to %s for %s (due %s): %s",
            notice.channel,
            notice.kind,
            masked_recipient(notice),
            notice.claim_number,
            notice.due_at.isoformat(),
            notice.body,
        )


class SmtpSender:
    """Sends e-mail notices through an SMTP server with the standard library.

    Parameters
    ----------
    host, port
        The SMTP server.
    sender
        The From address.
    username, password
        Log in when both are given.
    starttls
        Upgrade the connection with STARTTLS before logging in.
    timeout_s
        Socket timeout, seconds.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._login = (username, password) if username and password else None
        self._starttls = starttls
        self._timeout_s = timeout_s

    def send(self, notice: Notice) -> None:
        if notice.channel is not Channel.EMAIL:
            raise InvalidInputError(
                f"an SMTP sender sends e-mail, not {notice.channel}", field="channel"
            )
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notice.recipient
        message["Subject"] = notice.subject
        message.set_content(notice.body)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._login:
                    smtp.login(*self._login)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ExternalServiceError(
                f"SMTP {self._host}:{self._port} did not take notice {notice.id}: {exc}"
            ) from exc
