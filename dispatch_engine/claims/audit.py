"""Audit records: the general audit log (SPEC §8) and the survey-waiver trail (SPEC §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from dispatch_engine.claims.triage import WaiverDecision


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """Who did what to which record, when. ``details`` holds JSON values only, with
    personal numbers already masked: the log is read by auditors, not by payment runs.

    ``entity`` is the kind of record (``claim``, ``payment``, ``payee``, ``complaint``)
    and ``entity_ref`` its number, ticket or id as text.
    """

    at: datetime
    actor: str
    action: str
    entity: str
    entity_ref: str
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WaiverAudit:
    """One survey-waiver decision and what it was based on.

    ``trigger`` says why triage ran: ``intake`` or ``reestimate``.
    """

    claim_number: str
    decided_at: datetime
    trigger: str
    decision: WaiverDecision
    estimate_yuan: Decimal
    actor: str
