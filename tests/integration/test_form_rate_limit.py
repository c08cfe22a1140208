"""The hosted form's rate limit is one count for every API process: two ``HostedForms`` of two runtimes
(each with its own engine, as two processes have) on one database, on SQLite and PostgreSQL, admit
``max_posts_per_minute`` posts of a client between them, in turns and all at once; the window's clock is
injected, and a new window starts a new count and deletes the old ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.db.console_tables import form_posts
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.services.hosted_form import HostedForms, forget_old_windows
from tests.fakes.clock import FakeClock
from tests.support import base_config, prepare

LIMIT = 3


def config() -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["sources"]["web"]["form"] = {"consent_text": "I agree", "max_posts_per_minute": LIMIT}
    return doc


def test_two_processes_share_one_limit_per_client_and_window(db_url: str) -> None:
    prepare(db_url, config())
    clock = FakeClock(datetime(2026, 12, 3, 12, 0, 10, tzinfo=UTC))

    async def scenario() -> dict[str, Any]:
        runtimes: list[Runtime] = [build_runtime(Settings(database_url=db_url)) for _ in range(2)]
        forms = [
            HostedForms(rt.storage, rt.configs, rt.intake, rt.offers, rt.dedup_keys, window_clock=clock)
            for rt in runtimes
        ]
        seen: dict[str, Any] = {}
        try:
            setups = [await f.setup("web", "solar") for f in forms]

            async def post(i: int, client: str) -> float | None:
                return await forms[i % 2].admit(setups[i % 2], client)

            seen["turns"] = [await post(i, "203.0.113.7") for i in range(LIMIT + 2)]
            seen["other"] = await post(1, "198.51.100.1")  # another client: its own count
            clock.advance(seconds=60)  # 12:01:10, the next window
            seen["burst"] = await asyncio.gather(*(post(i, "203.0.113.7") for i in range(4 * LIMIT)))
            query = select(form_posts.c.client, form_posts.c.window_start, form_posts.c.posts)
            seen["rows"] = runtimes[0].db.read(lambda c: sorted(tuple(r) for r in c.execute(query)))
            seen["kept"] = await forget_old_windows(runtimes[0].storage, clock)  # 12:00 is the previous one
            clock.advance(seconds=60)  # 12:02:10: the 12:00 window's counts go, 12:01's stay
            seen["forgot"] = await forget_old_windows(runtimes[1].storage, clock)
            seen["left"] = runtimes[0].db.read(lambda c: sorted(tuple(r) for r in c.execute(query)))
        finally:
            for rt in runtimes:
                rt.db.dispose()
        return seen

    seen = asyncio.run(scenario())
    assert seen["turns"][:LIMIT] == [None] * LIMIT  # the two processes' posts, in turns
    assert seen["turns"][LIMIT:] == [50.0, 50.0]  # refused by either process, until 12:01:00
    assert seen["other"] is None
    assert sum(wait is None for wait in seen["burst"]) == LIMIT  # all at once, from both
    assert [wait for wait in seen["burst"] if wait is not None] == [50.0] * (3 * LIMIT)
    # one row per client and window; the refused posts were not counted
    assert seen["rows"] == [
        ("198.51.100.1", datetime(2026, 12, 3, 12, 0, tzinfo=UTC), 1),
        ("203.0.113.7", datetime(2026, 12, 3, 12, 0, tzinfo=UTC), LIMIT),
        ("203.0.113.7", datetime(2026, 12, 3, 12, 1, tzinfo=UTC), LIMIT),
    ]
    assert (seen["kept"], seen["forgot"]) == (0, 2)
    assert seen["left"] == [("203.0.113.7", datetime(2026, 12, 3, 12, 1, tzinfo=UTC), LIMIT)]
