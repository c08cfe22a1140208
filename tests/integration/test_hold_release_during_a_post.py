"""Releasing a held lead while a worker posts the job's other delivery leaves the worker's lease alone: the
worker records its sale and takes the released delivery up when it settles, and the buyer it was posting
gets one post, not two. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db.tables import deliveries, jobs
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.errors import InvalidTransition
from leadrelay.services.intake_answers import IntakeRequest
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import base_config, lead, prepare, rows


def test_a_release_during_a_post_does_not_send_the_post_twice(db_url: str) -> None:
    found: dict[str, Any] = {}

    def release_now() -> None:  # sunco's post has arrived and is not answered yet
        if found.get("released") is not None:
            return
        (job,) = rows(db_url, select(jobs.c.queue_state, jobs.c.lease_owner))
        found["during"] = (job.queue_state, job.lease_owner is not None)
        (held,) = rows(db_url, select(deliveries.c.id).where(deliveries.c.partner == "brightpath"))
        try:
            found["released"] = asyncio.run(rt.holds.release(held.id, actor="ops"))
        except InvalidTransition as exc:  # acceptable: refused while a worker holds the job
            found["released"] = f"refused: {exc}"
        (job,) = rows(db_url, select(jobs.c.queue_state, jobs.c.lease_owner))
        found["after_release"] = (job.queue_state, job.lease_owner)

    with ScriptedBuyer([(200, {})], on_call=release_now) as buyer:
        doc: dict[str, Any] = base_config(lambda name: buyer.url(name), brightpath={"channel": {"hold": {}}})
        doc["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "broadcast"
        prepare(db_url, doc)
        rt = build_runtime(Settings(database_url=db_url))

        async def scenario() -> None:
            answer = await rt.intake.accept(IntakeRequest("web", "solar", lead()))
            assert answer.status == "queued"
            try:
                async with asyncio.timeout(30):
                    await rt.new_worker().run_until_idle()
                    await rt.new_worker().run_until_idle()
            finally:
                await rt.channels.close()

        try:
            asyncio.run(scenario())
        finally:
            rt.db.dispose()
        print(
            "during the post:", found["during"], "release:", found["released"], "->", found["after_release"]
        )
        assert found["during"] == ("claimed", True)
        assert buyer.calls == 1, buyer.keys  # seen on main: 2 posts of the same lead (the same key)
