"""What the claims core needs from outside, as protocols: the dispatch core and a store.
Implementations live at the edges (``dispatch_engine.store``, the API); the core never
imports them. The clock is the dispatch core's ``Clock`` protocol (``dispatch.ports``).
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from dispatch_engine.dispatch.model import Incident, IncidentRequest

if TYPE_CHECKING:
    from dispatch_engine.claims.audit import AuditEntry, WaiverAudit
    from dispatch_engine.claims.complaints import Complaint
    from dispatch_engine.claims.documents import ClaimDocument
    from dispatch_engine.claims.lifecycle import Claim, ClaimState
    from dispatch_engine.claims.notices import Channel, Notice
    from dispatch_engine.claims.payments import Payee, Payment


class DispatchService(Protocol):
    """The thin interface to the dispatch core that claims calls, nothing more.

    ``dispatch_engine.dispatch.service.Dispatcher`` implements it as it is. The claims
    side uses the report number as the incident id, so an incident can be found again
    after a lost reply instead of being opened twice. Both methods raise the core's
    errors (``OutsideServiceAreaError``, ``NotFoundError``, ...) for the caller to handle.
    """

    def dispatch(self, request: IncidentRequest) -> Incident:
        """Open an incident and send the best available vehicle of each needed kind."""
        ...

    def incident(self, incident_id: str) -> Incident:
        """The incident as it stands now (status, zone, assignments, deadlines)."""
        ...


# --- store --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IdempotencyRecord:
    """A request already seen: its body's fingerprint and what it produced (a number)."""

    scope: str
    key: str
    fingerprint: str
    result_ref: str | None


class ClaimsTransaction(Protocol):
    """Reads and writes inside one database transaction; see ``ClaimsStore.transaction``.

    ``get_*`` raise ``NotFoundError``. ``for_update=True`` locks the row until the end
    of the transaction so that two handlers cannot both move the same claim.
    """

    def next_sequence(self, name: str, day: date) -> int:
        """The next number (1, 2, ...) of the named daily sequence; safe under concurrency.

        Concurrent callers never get the same number. Where the store takes numbers apart
        from the transaction (PostgreSQL), a number taken by a transaction that then rolls
        back stays unused, and callers do not wait for each other's commits.
        """
        ...

    def reserve_idempotency_key(
        self, scope: str, key: str, fingerprint: str, *, at: datetime
    ) -> IdempotencyRecord | None:
        """Claim ``key`` (at time ``at``) for this transaction; return the earlier record
        when one exists.

        A concurrent transaction reserving the same key waits until this one ends.
        """
        ...

    def complete_idempotency_key(self, scope: str, key: str, result_ref: str) -> None: ...

    def add_claim(self, claim: Claim) -> None: ...

    def get_claim(self, number: str, *, for_update: bool = False) -> Claim: ...

    def update_claim(self, claim: Claim) -> None: ...

    def move_claim(
        self, number: str, source: ClaimState, target: ClaimState, **changes: object
    ) -> Claim | None:
        """Set the claim's state to ``target`` and the fields ``changes`` names, in one
        write, if the claim is still in ``source``: the claim as written, else None (moved
        meanwhile, or no such claim). Other fields keep what is stored.
        """
        ...

    def list_claims(self, *, state: ClaimState | None, limit: int, offset: int) -> list[Claim]:
        """Claims, newest report number first, optionally of one state."""
        ...

    def overdue_claims(self, now: datetime, *, limit: int) -> list[Claim]:
        """Claims with an assessment or settlement deadline passed unmet, oldest report first.

        The same rule as :meth:`Claim.overdue`, evaluated in the database.
        """
        ...

    def add_waiver_audit(self, entry: WaiverAudit) -> None: ...

    def waiver_audits(self, number: str) -> list[WaiverAudit]: ...

    def add_payment(self, payment: Payment) -> Payment: ...

    def get_payment(self, payment_id: int, *, for_update: bool = False) -> Payment: ...

    def update_payment(self, payment: Payment) -> None: ...

    def payments(self, number: str) -> list[Payment]: ...

    def add_payee(self, payee: Payee) -> Payee: ...

    def payees(self, number: str) -> list[Payee]:
        """Payee authorisations of a claim, oldest first (the last one is current)."""
        ...

    def add_document(self, document: ClaimDocument) -> None: ...

    def documents(self, number: str) -> list[ClaimDocument]: ...

    def add_notice(self, notice: Notice) -> None: ...

    def pending_notices(self, channels: Collection[Channel], *, limit: int) -> list[Notice]:
        """Pending notices on these channels, earliest due first, locked for delivery
        (rows another transaction is delivering are skipped)."""
        ...

    def update_notice(self, notice: Notice) -> None: ...

    def notices(self, number: str) -> list[Notice]: ...

    def add_complaint(self, complaint: Complaint) -> None: ...

    def get_complaint(self, ticket: str, *, for_update: bool = False) -> Complaint: ...

    def update_complaint(self, complaint: Complaint) -> None: ...

    def overdue_complaints(self, now: datetime, *, limit: int) -> list[Complaint]:
        """Complaints whose handling has not started by their deadline, earliest due first."""
        ...

    def add_audit(self, entry: AuditEntry) -> None: ...

    def audit_entries(self, entity: str, entity_ref: str) -> list[AuditEntry]: ...


class ClaimsStore(Protocol):
    """Durable claims storage. ``transaction()`` commits when the block ends normally
    and rolls back when it raises; nothing is visible to others before the commit."""

    def transaction(self) -> AbstractContextManager[ClaimsTransaction]: ...

    def together(self) -> AbstractContextManager[None]:
        """The claims transactions and the dispatch core's store calls inside the block
        commit as one where the database allows it (or each on its own)."""
        ...

    @property
    def joins_transactions(self) -> bool:
        """Whether :meth:`together` makes one transaction (PostgreSQL), rather than
        letting each commit on its own (SQLite)."""
        ...
