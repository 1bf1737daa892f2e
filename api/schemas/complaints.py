"""Complaints (举报投诉): filing, the handling steps, and the views (phone masked in lists)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import LongText, Strict
from dispatch_engine.claims.complaints import (
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintInput,
    ComplaintState,
)


class ComplaintIn(Strict):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "category": "service_quality",
                    "channel": "hotline",
                    "complainant_name": "王五",
                    "phone": "13912345678",
                    "description": "查勘员迟到四十分钟",
                }
            ]
        }
    }

    category: ComplaintCategory
    channel: ComplaintChannel
    complainant_name: Annotated[str, Field(min_length=1, max_length=50)]
    phone: Annotated[str, Field(min_length=1, max_length=32)]
    description: LongText
    claim_number: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="Required for claim_dispute."
    )

    def to_core(self) -> ComplaintInput:
        """The validated complaint (phone format, claim number format)."""
        return ComplaintInput(**self.model_dump())


class HandlingStep(Strict):
    """A handler has taken the complaint up (the 1-working-day deadline is about this)."""

    type: Literal["handling"]


class FeedbackStep(Strict):
    type: Literal["feedback"]
    text: LongText = Field(description="What the complainant was told.")


class ResolveStep(Strict):
    type: Literal["resolved"]
    text: LongText = Field(description="The result of handling.")


class FollowUpStep(Strict):
    type: Literal["followed_up"]
    text: LongText = Field(description="The follow-up with the complainant.")


ComplaintStepIn = Annotated[
    HandlingStep | FeedbackStep | ResolveStep | FollowUpStep, Field(discriminator="type")
]


class ComplaintOut(BaseModel):
    ticket: str
    category: ComplaintCategory
    channel: ComplaintChannel
    state: ComplaintState
    complainant_name: str
    phone: str
    claim_number: str | None
    description: str
    received_at: datetime
    handling_due: datetime
    handling_started_at: datetime | None
    feedback: str | None
    result: str | None
    resolved_at: datetime | None
    follow_up: str | None
    followed_up_at: datetime | None

    @classmethod
    def of(cls, complaint: Complaint) -> ComplaintOut:
        filed = complaint.filed
        return cls(
            ticket=complaint.ticket,
            category=filed.category,
            channel=filed.channel,
            state=complaint.state,
            complainant_name=filed.complainant_name,
            phone=filed.phone,
            claim_number=filed.claim_number,
            description=filed.description,
            received_at=complaint.received_at,
            handling_due=complaint.handling_due,
            handling_started_at=complaint.handling_started_at,
            feedback=complaint.feedback,
            result=complaint.result,
            resolved_at=complaint.resolved_at,
            follow_up=complaint.follow_up,
            followed_up_at=complaint.followed_up_at,
        )


class ComplaintSummaryOut(BaseModel):
    """A complaint in a list: phone masked."""

    ticket: str
    category: ComplaintCategory
    channel: ComplaintChannel
    state: ComplaintState
    complainant_name: str
    phone_masked: str
    claim_number: str | None
    received_at: datetime
    handling_due: datetime
