"""Two operators release the same held lead at once (PostgreSQL, READ COMMITTED): the second release,
whose read of the delivery came before the first one committed, is refused as "not held" once it has the
job's lock, and the lead is posted once. Release A is paused by a hook after its first read, release B
commits, a worker claims and posts the lead, then A goes on."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db import hold_queries
from leadrelay.adapters.db.tables import audit_log, jobs
from leadrelay.errors import InvalidTransition
from tests.integration.test_privacy_flow import accept, run_scenario, scripted_runtime
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import rows


def test_a_held_lead_released_twice_at_once_is_posted_once(pg_url: str, monkeypatch: Any) -> None:
    a_read, a_go = threading.Event(), threading.Event()
    armed = {"on": False}
    original = hold_queries.SqlHoldQueries.delivery

    def delivery(self: Any, delivery_id: str) -> Any:
        row = original(self, delivery_id)
        if armed["on"]:  # release A: it has read the row (held); it goes on when told
            armed["on"] = False
            a_read.set()
            assert a_go.wait(10)
        return row

    monkeypatch.setattr(hold_queries.SqlHoldQueries, "delivery", delivery)

    def on_call() -> None:  # the buyer has the released lead's post, not answered yet
        if buyer.calls != 2:
            return
        a_go.set()  # release A locks the job (now claimed by the worker) and commits
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            (state,) = rows(pg_url, select(jobs.c.queue_state))
            if state[0] == "ready":
                return
            time.sleep(0.02)

    found: dict[str, Any] = {}
    with ScriptedBuyer([(503, {}), (200, {})], on_call=on_call) as buyer:
        hook = {"url": buyer.url("sunco"), "timeout": "5s", "max_attempts": 1}
        rt = scripted_runtime(pg_url, buyer, channel={"webhook": hook}, failover=[{"hold": {}}])

        async def scenario() -> None:
            await accept(rt)
            await rt.new_worker().run_until_idle()  # 503: gave up, failover to hold
            (held,), _ = await rt.holds.list("sunco")
            armed["on"] = True
            release_a = asyncio.create_task(rt.holds.release(held["delivery_id"], actor="ops-a"))
            assert await asyncio.to_thread(a_read.wait, 10)
            await rt.holds.release(held["delivery_id"], actor="ops-b")  # B: commits first
            await rt.new_worker().run_until_idle()  # posts the released lead (the buyer accepts)
            try:
                await asyncio.wait_for(release_a, 10)
                found["a"] = "released"
            except InvalidTransition as exc:
                found["a"] = "refused: not held" if "held" in str(exc) else str(exc)
            await rt.new_worker().run_until_idle()

        run_scenario(rt, scenario)
        calls = buyer.calls
    releases = [r.action for r in rows(pg_url, select(audit_log.c.action)) if r.action == "hold.release"]
    assert found["a"] == "refused: not held"
    assert calls == 2, f"the buyer got {calls} posts (503 + {calls - 1} after the release)"
    assert len(releases) == 1, releases
