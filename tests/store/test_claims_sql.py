"""The claims store's conditional move, on both databases."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.lifecycle import ClaimState
from tests.claims.factories import make_claim

S = ClaimState


def test_move_claim_writes_only_a_claim_still_in_its_state(store):
    """The move sets the state and the named fields, keeps what else is stored (a change
    made since the claim was read), and does nothing to a claim in another state."""
    claim = make_claim(BusinessCalendar())
    with store.transaction() as tx:
        tx.add_claim(claim)
        tx.update_claim(dataclasses.replace(claim, estimate_yuan=Decimal("9000.50")))
    with store.transaction() as tx:
        moved = tx.move_claim(claim.number, S.REPORTED, S.DISPATCHED, incident_id=claim.number)
        assert tx.move_claim(claim.number, S.REPORTED, S.CANCELLED) is None
        assert tx.move_claim("SG-20250930-000099", S.REPORTED, S.DISPATCHED) is None
    assert moved is not None
    assert (moved.state, moved.incident_id, moved.estimate_yuan) == (
        S.DISPATCHED,
        claim.number,
        Decimal("9000.50"),
    )
    with store.transaction() as tx:
        assert tx.get_claim(claim.number) == moved
