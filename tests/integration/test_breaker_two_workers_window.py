"""With two worker processes, a partner's breaker counts every process's requests: a partner that failed
all 4 posts in the window (min_requests 3, error_rate 50 %), 2 sent by each worker, opens its breaker and
gets no fifth lead. (Each worker's own window held 2 posts, fewer than min_requests: it used to stay
closed.) Two ``Worker`` objects with their own runtimes (their own ``HealthTracker``) on one database stand
for the two processes. The stored requests counted start at the breaker's last close."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from leadrelay.adapters.db import breaker_store
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.entrypoints.worker import Worker
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_circuit_breaker import Clock, _document, _run, _sell
from tests.support import ADMIN, ServerThread, prepare


def test_errors_seen_by_two_workers_open_the_breaker(
    db_url: str, healthy: BuyersThread, failing: BuyersThread
) -> None:
    prepare(db_url, _document(failing.url("sunco"), healthy))  # sunco answers 500, one attempt per lead

    async def main() -> dict[str, Any]:
        runtimes = [build_runtime(Settings(database_url=db_url)) for _ in range(2)]
        workers = [
            Worker(
                rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=Clock(), health=rt.health
            )
            for rt in runtimes
        ]
        try:
            async with asyncio.timeout(60):
                await _sell(runtimes[0], workers[0], 2)  # worker 1: two 500s from sunco
                await _sell(runtimes[1], workers[1], 2)  # worker 2: two more
                breaker = runtimes[0].db.read(breaker_store.breakers).get("sunco")
                received = failing.stats()["buyers"]["sunco"]["received"]
                await _sell(runtimes[0], workers[0], 1)  # a fifth lead
            return {
                "breaker": breaker,
                "received": received,
                "received_after": failing.stats()["buyers"]["sunco"]["received"],
            }
        finally:
            for rt in runtimes:
                await rt.channels.close()
                rt.db.dispose()

    found = asyncio.run(main())
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        shown = http.get("/v1/partners/sunco/health", headers=ADMIN).json()
    assert found["received"] == 4 and shown["post"]["errors"] >= 4, (found, shown["post"])
    # 4 errors of 4 posts in the window, over min_requests 3: the breaker must be open by now ...
    assert found["breaker"] is not None and found["breaker"]["state"] == "open", found
    # ... so the fifth lead is not sent to sunco
    assert found["received_after"] == 4, found


def test_one_error_after_the_trial_closed_the_breaker_does_not_reopen_it(
    db_url: str, healthy: BuyersThread, failing: BuyersThread
) -> None:
    """The stored requests a short window asks start at the breaker's last close: the errors that opened
    it do not open it again (one error after the trial's close reopened it at once)."""
    prepare(db_url, _document(failing.url("sunco"), healthy))  # min_requests 3, error_rate 50%, window 5m

    async def scenario(rt: Runtime, worker: Worker, clock: Clock) -> dict[str, Any]:
        await _sell(rt, worker, 3)  # three 500s: the breaker opens
        failing.set_error_rate(0.0)
        clock.offset = timedelta(seconds=61)
        await _sell(rt, worker)  # the trial: a healthy answer closes the breaker
        closed = rt.db.read(breaker_store.breakers).get("sunco")
        failing.set_error_rate(1.0)
        await _sell(rt, worker)  # one error, of one request since the close (min_requests is 3)
        after = rt.db.read(breaker_store.breakers).get("sunco")
        return {"closed": closed, "after": after}

    found = _run(db_url, scenario)
    assert found["closed"] is not None and found["closed"]["state"] == "closed", found
    # one error after the close is under min_requests: the breaker stays closed
    assert found["after"]["state"] == "closed", found["after"]
