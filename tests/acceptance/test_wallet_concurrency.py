"""Budgets and wallets stay exact when several `leadrelay worker` processes sell to one partner at once.

The pattern of ``test_concurrency`` (an API-only `leadrelay serve --workers 0`, two `leadrelay worker`
processes, simulated buyers on loopback, 120 leads posted at once): "prepaid" has a wallet of 45 with a
credit limit of 20 and a price of 7 (65 to spend: 9 sales, 2.00 left over), "budgeted" a day budget of
49 at 7 (7 sales), "overflow" takes the rest. While the leads are sold a sampler reads the wallet row
and checks it never crosses the credit limit; at the end the ledger and the wallet row agree.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.money_tables import budget_counters, ledger_entries, money_holds, wallets
from leadrelay.simulate.buyers import BuyersThread
from tests.acceptance.test_concurrency import (
    any_url,
    claims,
    cluster,
    config,
    delivery_rows,
    post_concurrently,
    read,
    record_claims,
    wait_all_final,
)
from tests.support import ADMIN, prepare

__all__ = ["any_url"]  # the fixture, shared with test_concurrency

pytestmark = pytest.mark.slow

TOTAL = 120
LIMIT = 2000  # prepaid's credit limit, in cents


def money_config(buyer_url: Any) -> dict[str, Any]:
    doc = config(buyer_url, ["prepaid", "budgeted", "overflow"], "priority")
    doc["partners"]["prepaid"].update(price=7, wallet={"credit_limit": 20, "low_balance": 10})
    doc["partners"]["budgeted"].update(price=7, budget={"day": 49})
    return doc


class Sampler(threading.Thread):
    """Reads prepaid's wallet row over and over while the leads are sold: (owed, held) in cents."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: list[tuple[int, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            row = read(
                self.url, lambda c: c.execute(select(wallets).where(wallets.c.partner == "prepaid")).first()
            )
            if row is not None:
                self.seen.append((int(row.owed), int(row.held)))
            self.halt.wait(0.005)


def test_a_wallet_and_a_budget_are_exact_with_120_concurrent_leads_and_two_worker_processes(
    any_url: str, tmp_path: Path
) -> None:
    with BuyersThread(count=0, latency_ms=20, accept_rate=1.0) as buyers:
        prepare(any_url, money_config(buyers.url))
        record_claims(any_url)
        sampler = Sampler(any_url)
        with cluster(any_url, tmp_path, workers=2, LEADRELAY_WORKER_CONCURRENCY="4") as run:
            with httpx.Client(base_url=run.base, timeout=30) as http:
                r = http.post("/v1/partners/prepaid/wallet/topup", json={"amount": 45}, headers=ADMIN)
                assert r.status_code == 200, r.text
            sampler.start()
            lead_ids = post_concurrently(run.base, TOTAL)
            rows = wait_all_final(any_url, TOTAL)
            sampler.halt.set()
            sampler.join()
        assert {pid for _, pid in claims(any_url)} == run.worker_pids  # both processes sold leads

    assert sorted(r.lead_id for r in rows) == sorted(lead_ids)
    assert Counter(r.status for r in rows) == {"delivered": TOTAL}
    dl = delivery_rows(any_url)
    sold = Counter(d.partner for d in dl if d.status == "delivered")
    assert sold == {"prepaid": 9, "budgeted": 7, "overflow": TOTAL - 16}
    assert len({d.lead_id for d in dl}) == len(dl) == TOTAL  # none sold twice

    # never past the credit limit, counting what was held, at any moment the sampler saw
    assert sampler.seen, "the sampler read nothing"
    assert all(owed + held <= LIMIT for owed, held in sampler.seen), max(o + h for o, h in sampler.seen)

    def final(conn: Any) -> tuple[Decimal, Any, list[Any], int]:
        total = conn.execute(
            select(func.sum(ledger_entries.c.amount)).where(ledger_entries.c.party == "prepaid")
        ).scalar_one()
        row = conn.execute(select(wallets).where(wallets.c.partner == "prepaid")).one()
        spent = list(conn.execute(select(budget_counters.c.partner, budget_counters.c.spent)))
        holds = conn.execute(
            select(func.count()).select_from(money_holds).where(money_holds.c.kind == "wallet")
        ).scalar_one()
        return total, row, spent, holds

    total, row, spent, wallet_holds = read(any_url, final)
    assert total == Decimal("18.00")  # -45 topped up + 9 × 7 sold
    assert (int(row.owed), int(row.held), wallet_holds) == (1800, 0, 0)  # the row agrees with the ledger
    assert [(p, int(s)) for p, s in spent] == [("budgeted", 4900)]
    # the overflow leads name why prepaid and budgeted were skipped
    skipped = [line for r in rows for line in r.trace if line.startswith(("prepaid:", "budgeted:"))]
    assert any(line == "prepaid: no funds (balance 2.00, credit limit 20.00, needs 7.00)" for line in skipped)
    assert any(line == "budgeted: budget reached (day 49.00)" for line in skipped)
