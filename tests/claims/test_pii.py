"""Masking of phone, ID and account numbers, in values and in log lines."""

from __future__ import annotations

import io
import logging

import pytest

from dispatch_engine.claims.pii import (
    PiiMaskingFilter,
    mask_account,
    mask_id_number,
    mask_phone,
    mask_text,
)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86 138****5678"),
        ("13812345678", "+86 138****5678"),
        ("+867518888888", "+86 751***8888"),  # landline: area code kept
        ("+85291234567", "+852 912*4567"),  # Hong Kong: 8-digit national number
        ("phone", "*****"),
    ],
)
def test_mask_phone(phone, masked):
    """Phones keep the country code and 3 + 4 digits of the national number; text is hidden."""
    assert mask_phone(phone) == masked


def test_mask_id_and_account():
    """IDs keep 4 + 4 characters (birth date hidden); accounts their last 4 digits."""
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_account("6222021234567890123") == "***************0123"


def test_mask_text_finds_numbers_in_free_text():
    """IDs and mobiles inside a sentence are masked; other numbers are left alone."""
    text = "driver 11010519491231002X phone 13812345678 (+86 13912345678), amount 120000"
    assert mask_text(text) == (
        "driver 1101**********002X phone 138****5678 (+86 139****5678), amount 120000"
    )


def test_logging_filter_masks_formatted_message():
    """A log record's final message, arguments included, is masked before any handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PiiMaskingFilter())
    logger = logging.getLogger("tests.claims.pii")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("call %s about %s", "13812345678", "11010519491231002X")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().strip() == "call 138****5678 about 1101**********002X"
