"""Dedup stays exact under concurrency, across processes, on PostgreSQL and SQLite.

Fifty identical leads posted at the same instant to two API processes sharing one database give one
accepted lead and 49 duplicates; identical people routed at once by two worker processes reach a partner
with a dedup window once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.privacy_tables import dedup_marks
from leadrelay.adapters.db.tables import deliveries, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.acceptance.test_concurrency import any_url, api_server, config, nth_lead, read, worker_process
from tests.support import lead, prepare, source_headers, wait_for

pytestmark = pytest.mark.slow

__all__ = ["any_url"]  # the fixture, imported for pytest


def post_all(bases: list[str], bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST every body at once (spread over the servers), released together by a barrier."""

    async def main() -> list[dict[str, Any]]:
        start = asyncio.Event()
        limits = httpx.Limits(max_connections=len(bodies))
        clients = [
            httpx.AsyncClient(base_url=b, timeout=30, headers=source_headers(), limits=limits) for b in bases
        ]

        async def one(i: int, body: dict[str, Any]) -> dict[str, Any]:
            await start.wait()
            r = await clients[i % len(clients)].post("/v1/leads", json=body)
            assert r.status_code in (200, 202), r.text
            answer: dict[str, Any] = r.json()
            return answer

        try:
            tasks = [asyncio.create_task(one(i, body)) for i, body in enumerate(bodies)]
            await asyncio.sleep(0.2)
            start.set()
            return await asyncio.gather(*tasks)
        finally:
            for client in clients:
                await client.aclose()

    return asyncio.run(main())


def test_fifty_identical_leads_at_once_give_one_lead_and_49_duplicates(any_url: str, tmp_path: Path) -> None:
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        doc = config(buyers.url, ["sunco"], "priority")
        doc["entities"]["solar"]["dedup"] = {"keys": [["email"], ["phone"]], "window": "30d"}
        prepare(any_url, doc)
        with ExitStack() as stack:
            for n in range(2):
                (tmp_path / f"api{n}").mkdir()
            bases = [stack.enter_context(api_server(any_url, tmp_path / f"api{n}")) for n in range(2)]
            answers = post_all(bases, [lead() for _ in range(50)])
    statuses = Counter(a["status"] for a in answers)
    assert statuses == {"queued": 1, "duplicate": 49}
    original = next(a["lead_id"] for a in answers if a["status"] == "queued")
    stored = read(any_url, lambda c: list(c.execute(select(leads.c.status, leads.c.duplicate_of))))
    assert Counter(r.status for r in stored) == {"queued": 1, "duplicate": 49}
    assert {r.duplicate_of for r in stored if r.status == "duplicate"} == {original}
    marks = read(any_url, lambda c: list(c.execute(select(dedup_marks))))
    assert len(marks) == 2 and {m.lead_id for m in marks} == {original}  # one per key: email, phone


def test_partner_dedup_holds_across_worker_processes(any_url: str, tmp_path: Path) -> None:
    """Forty leads of one person, no intake dedup: two workers route them at once; the partner with a
    dedup window gets the person once, every other lead goes to the overflow partner."""
    for n in ("api", "w"):
        (tmp_path / n).mkdir()
    with BuyersThread(count=2, latency_ms=5, accept_rate=1.0) as buyers:
        doc = config(buyers.url, ["sunco", "overflow"], "priority")
        doc["partners"]["sunco"]["dedup"] = {"keys": ["phone"], "window": "30d"}
        prepare(any_url, doc)
        same_person = [nth_lead(i) | {"phone": "(512) 555-1212"} for i in range(40)]
        with api_server(any_url, tmp_path / "api") as base:
            answers = post_all([base], same_person)
            assert all(a["status"] == "queued" for a in answers)
            with ExitStack() as stack:
                for n in range(2):
                    stack.enter_context(worker_process(any_url, tmp_path / "w", f"worker{n}"))

                def settled() -> bool:
                    rows = read(any_url, lambda c: list(c.execute(select(leads.c.status))))
                    return all(r.status == "delivered" for r in rows)

                wait_for(settled, timeout=60)
        got = read(any_url, lambda c: Counter(c.execute(select(deliveries.c.partner)).scalars()))
        assert got == {"sunco": 1, "overflow": 39}
        assert buyers.stats()["buyers"]["sunco"]["received"] == 1
