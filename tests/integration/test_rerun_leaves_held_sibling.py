"""A rerun of a stuck broadcast whose other delivery is held for pick-up keeps that hold as it is and
does not hold the lead again: one held delivery, one cap slot. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db.tables import cap_counters, deliveries
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.worker import Worker
from leadrelay.services.intake_answers import IntakeRequest
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import base_config, lead, prepare, rows


def test_rerun_of_a_stuck_broadcast_does_not_hold_the_lead_twice(db_url: str) -> None:
    found: dict[str, Any] = {}
    with ScriptedBuyer([(503, {}), (200, {})]) as buyer:
        doc: dict[str, Any] = base_config(
            lambda name: buyer.url(name), brightpath={"channel": {"hold": {}}, "caps": {"day": 10}}
        )
        doc["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "broadcast"
        prepare(db_url, doc)
        rt = build_runtime(Settings(database_url=db_url))

        async def scenario() -> None:
            try:
                answer = await rt.intake.accept(IntakeRequest("web", "solar", lead()))
                assert answer.status == "queued"
                worker = Worker(
                    rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer,
                    retry=RetryPolicy(base_s=1.0, jitter=0),
                )  # fmt: skip
                async with asyncio.timeout(30):
                    await worker.run_until_idle()  # sunco: 503, retry in 1 s; brightpath: held
                    found["before"] = sorted((d.partner, d.status) for d in rows(db_url, select(deliveries)))
                    job_id = rows(db_url, select(deliveries.c.job_id))[0].job_id
                    # the retry comes due and no worker has claimed it yet (a worker down, a backlog)
                    await asyncio.sleep(1.2)
                    await rt.actions.rerun(job_id, actor="ops", reason="stuck")
                    await rt.new_worker().run_until_idle()
            finally:
                await rt.channels.close()

        try:
            asyncio.run(scenario())
        finally:
            rt.db.dispose()
    after = sorted((d.partner, d.status) for d in rows(db_url, select(deliveries)))
    used = {r.partner: r.used for r in rows(db_url, select(cap_counters)) if r.partner == "brightpath"}
    assert found["before"] == [("brightpath", "held"), ("sunco", "retry")]
    assert [p for p, s in after if s == "held"] == ["brightpath"], after
    assert used == {"brightpath": 1}, used
