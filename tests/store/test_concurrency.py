"""Daily sequences under concurrent transactions, on both databases (the service-level
concurrency tests, numbers and idempotency keys, are in tests/claims/test_service.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

THREADS = 4
PER_THREAD = 5


def test_sequence_has_no_gaps_or_duplicates(store):
    """Concurrent callers of one daily sequence get 1..N, each exactly once."""

    def take(_: int) -> int:
        with store.transaction() as tx:
            return tx.next_sequence("claim", date(2025, 9, 30))

    with ThreadPoolExecutor(THREADS) as pool:
        values = list(pool.map(take, range(THREADS * PER_THREAD)))
    assert sorted(values) == list(range(1, THREADS * PER_THREAD + 1))
