"""Masking of phone, ID and bank-account numbers for logs and list views (SPEC §8).

Full values stay in the store for the people who need them (a handler phoning the
driver, a payment run); everything that is shown in bulk or written to a log goes
through these functions. The kept digits follow common mainland practice: a phone keeps
its first 3 and last 4 digits (``138****5678``), an ID number its first 4 and last 4
(so the birth date is always hidden), an account its last 4.
"""

from __future__ import annotations

import logging
import re

import phonenumbers

# Longest first so an 18-character ID is never half-masked as a phone number.
_ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)")


def _mask(value: str, *, keep_start: int, keep_end: int) -> str:
    hidden = len(value) - keep_start - keep_end
    if hidden < 1:
        return "*" * len(value)
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_phone(phone: str) -> str:
    """``+8613812345678`` → ``+86 138****5678``: the country code, then the national number
    with its first 3 and last 4 digits kept (a landline keeps its area code).

    Parameters
    ----------
    phone
        An E.164 number (as stored by intake) or mainland national digits. Text that is
        not a phone number at all is hidden completely.
    """
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return "*" * len(phone)
    national = str(parsed.national_number)
    return f"+{parsed.country_code} {_mask(national, keep_start=3, keep_end=4)}"


def mask_id_number(id_number: str) -> str:
    """``44020319900101123X`` → ``4402**********123X`` (birth date hidden)."""
    return _mask(id_number, keep_start=4, keep_end=4)


def mask_account(account_number: str) -> str:
    """A bank account keeps its last 4 digits: ``6222021234567890123`` → ``***************0123``."""
    return _mask(account_number, keep_start=0, keep_end=4)


def mask_text(text: str) -> str:
    """Mask every mainland ID number and mobile number found in free text (log lines)."""
    text = _ID_NUMBER_RE.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE_RE.sub(
        lambda m: _mask(m.group(), keep_start=len(m.group()) - 8, keep_end=4), text
    )


class PiiMaskingFilter(logging.Filter):
    """A logging filter that masks phone and ID numbers in each record's final message.

    Install it on the handlers of the API and CLI so that a value a caller logs by
    mistake (e.g. inside an exception message) never reaches a log file whole.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True
