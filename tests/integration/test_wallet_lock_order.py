"""Two of the worker's grouped transactions holding funds of two partners crosswise (one A then B, the
other B then A) on PostgreSQL: with the partners' wallet rows taken first, in name order
(``Wallets.lock_wallets``, called by ``services.wallets.lock_funds_of``), the second waits for the first
and both hold their funds; without it they deadlocked, and the worker put the batch back with an error
(black-box pass, 2026-12-06). The in-memory tests check that the routing and the award take them."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage, SqlTx
from leadrelay.domain.budgets import Funds

LIMIT = Decimal(100)


def crosswise(url: str, *, lock_first: bool) -> list[BaseException | Funds | None]:
    """Two transactions on two threads: the first holds A's funds, waits, then B's; the second (started
    while the first waits) holds B's, then A's. What each ended with (an exception, or the last hold)."""
    db = Database(url)
    storage = SqlStorage(db)
    results: list[BaseException | Funds | None] = [None, None]
    first_holds_a = threading.Event()

    def run(i: int, order: tuple[str, str]) -> None:
        def work(tx: SqlTx) -> Funds | None:
            if lock_first:
                tx.wallets.lock_wallets(set(order))
            tx.wallets.reserve_funds(f"job_{i}", order[0], Decimal(5), LIMIT)
            if i == 0:
                first_holds_a.set()
                time.sleep(0.5)  # the second takes B meanwhile (or waits for the locks)
            return tx.wallets.reserve_funds(f"job_{i}", order[1], Decimal(5), LIMIT)

        try:
            results[i] = storage.transaction(work)
        except BaseException as exc:
            results[i] = exc

    try:
        one = threading.Thread(target=run, args=(0, ("acme", "bolt")))
        one.start()
        assert first_holds_a.wait(10)
        two = threading.Thread(target=run, args=(1, ("bolt", "acme")))
        two.start()
        one.join(20)
        two.join(20)
        return results
    finally:
        db.dispose()


@pytest.mark.postgres
def test_wallet_rows_taken_in_name_order_first_make_crosswise_holds_wait_not_deadlock(pg_url: str) -> None:
    assert crosswise(pg_url, lock_first=True) == [None, None]  # both held their funds
    db = Database(pg_url)
    try:
        held = SqlStorage(db).read(lambda tx: tx.wallets.balances())
    finally:
        db.dispose()
    assert {name: funds.held for name, funds in held.items()} == {"acme": 10, "bolt": 10}


@pytest.mark.postgres
def test_without_the_lock_order_the_same_holds_deadlock(pg_url: str) -> None:
    """The case the lock order is for, shown to happen: one of the two fails on the deadlock."""
    results = crosswise(pg_url, lock_first=False)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and "deadlock" in str(failed[0]).lower(), results
