"""Daily sequences under concurrent transactions, on both databases (the service-level
concurrency tests, numbers and idempotency keys, are in tests/claims/test_service.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

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


def test_a_number_does_not_wait_for_another_transaction(engine, store):
    """On PostgreSQL a number is taken apart from the transaction: a second filing gets
    the next one while the first is still open (it used to wait for that commit), and a
    number taken by a transaction that rolls back stays unused."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: numbers are taken inside the transaction")
    day = date(2025, 9, 30)

    def take() -> int:
        with store.transaction() as tx:
            return tx.next_sequence("claim", day)

    with pytest.raises(RuntimeError), store.transaction() as open_tx:
        assert open_tx.next_sequence("claim", day) == 1
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(take).result(timeout=30) == 2
        raise RuntimeError("the first filing fails")
    assert take() == 3
