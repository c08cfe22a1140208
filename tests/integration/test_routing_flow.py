"""Routing end to end through the real HTTP API, on SQLite and PostgreSQL: rules, strategies, filters,
caps, pausing, buyer refusals and retries, as the distribution log records them."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

WAIT = "/v1/leads?wait=15"


class ScriptedBuyer:
    """A buyer on 127.0.0.1 answering from a script: (status, headers) per call; the last one repeats.
    ``on_call``: run (in a thread) when a post has arrived, before it is answered."""

    def __init__(
        self, script: list[tuple[int, dict[str, str]]], on_call: Callable[[], object] | None = None
    ) -> None:
        self.script = script
        self.on_call = on_call
        self.calls = 0
        self.keys: list[str | None] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        if self.on_call is not None:
            await asyncio.to_thread(self.on_call)
        self.keys.append(request.headers.get("Idempotency-Key"))
        status, headers = self.script[min(self.calls, len(self.script)) - 1]
        body = (
            {"status": "accepted", "reference": f"ref-{self.calls}"} if status < 300 else {"reason": "nope"}
        )
        return web.json_response(body, status=status, headers=headers)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> ScriptedBuyer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def refusing() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=0.0) as b:
        yield b


def webhook(url: str) -> dict[str, Any]:
    return {"webhook": {"url": url, "timeout": "5s", "max_attempts": 3}}


def post(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = http.post(WAIT, json=lead(**fields), headers=source_headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def jobs_of(http: httpx.Client, lead_id: str) -> list[dict[str, Any]]:
    r = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def job_of(http: httpx.Client, lead_id: str) -> dict[str, Any]:
    """The single distribution of a lead, in detail (trace, deliveries, attempts)."""
    items = jobs_of(http, lead_id)
    assert len(items) == 1, items
    r = http.get(f"/v1/distributions/{items[0]['id']}", headers=ADMIN)
    assert r.status_code == 200, r.text
    detail: dict[str, Any] = r.json()
    return detail


def caps_used(url: str, partner: str) -> int:
    db = Database(url)
    try:
        rows = db.read(
            lambda c: list(c.execute(select(cap_counters.c.used).where(cap_counters.c.partner == partner)))
        )
    finally:
        db.dispose()
    assert rows, f"no cap counter for {partner}"
    return sum(int(r.used) for r in rows)


def serve(url: str, document: dict[str, Any]) -> ServerThread:
    prepare(url, document)
    return ServerThread(url)


def with_target(config: dict[str, Any], where: str, target: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(config)
    profile = doc["profiles"]["solar-main"]
    if where == "default":
        profile["default"] = target
    else:
        profile["rules"][0]["send_to"] = target
    return doc


def urls(default: Callable[[str], str], **special: Callable[[str], str]) -> Callable[[str], str]:
    return lambda name: special[name](name) if name in special else default(name)


# ---------------------------------------------------------------- rules and strategies


def test_west_coast_rule_goes_to_sunco_by_priority(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        answer = post(http, state="CA")
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "delivered"
    assert answer["partner"] == "sunco"
    assert job["status"] == "delivered"
    assert job["rule"] == "west-coast"
    assert "rule west-coast matched" in job["trace"]
    assert "sunco: chosen (priority)" in job["trace"]
    assert any(line.startswith("brightpath: ") for line in job["trace"]), job["trace"]
    assert [d["partner"] for d in job["deliveries"]] == ["sunco"]
    assert buyers.stats()["buyers"]["sunco"]["accepted"] == 1


def test_default_round_robin_alternates(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        answers = [post(http, state="TX", monthly_bill=180) for _ in range(6)]
        job = job_of(http, answers[0]["lead_id"])
    partners = [a["partner"] for a in answers]
    assert all(a["status"] == "delivered" for a in answers), answers
    assert set(partners) == {"brightpath", "voltedge"}
    assert all(x != y for x, y in pairwise(partners)), partners
    assert job["rule"] == "default"
    assert "no rule matched; default" in job["trace"]
    assert f"{partners[0]}: chosen (round_robin)" in job["trace"]


@pytest.mark.sqlite_only
def test_partner_filter_failure_is_in_the_trace(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, base_config(buyers.url)) as server, server.client() as http:
        answers = [post(http, state="TX", monthly_bill=80) for _ in range(2)]
        job = job_of(http, answers[0]["lead_id"])
    assert [a["partner"] for a in answers] == ["voltedge", "voltedge"]
    assert "brightpath: filter monthly_bill gte 100 failed (80)" in job["trace"]
    assert "voltedge: chosen (round_robin)" in job["trace"]


def test_broadcast_delivers_to_every_partner_in_one_job(db_url: str, buyers: BuyersThread) -> None:
    doc = with_target(
        base_config(buyers.url),
        "rule",
        {"partners": ["sunco", "brightpath", "voltedge"], "strategy": "broadcast"},
    )
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "delivered"
    assert sorted(d["partner"] for d in answer["deliveries"]) == ["brightpath", "sunco", "voltedge"]
    assert job["status"] == "delivered"
    assert sorted((d["partner"], d["status"]) for d in job["deliveries"]) == [
        ("brightpath", "delivered"),
        ("sunco", "delivered"),
        ("voltedge", "delivered"),
    ]
    for name in ("sunco", "brightpath", "voltedge"):
        assert f"{name}: chosen (broadcast)" in job["trace"]
        assert buyers.stats()["buyers"][name]["accepted"] == 1


def test_weighted_3_to_1_over_8_leads_is_exactly_6_to_2(db_url: str, buyers: BuyersThread) -> None:
    doc = with_target(
        base_config(buyers.url),
        "default",
        {
            "partners": ["brightpath", "voltedge"],
            "strategy": "weighted",
            "weights": {"brightpath": 3, "voltedge": 1},
        },
    )
    with serve(db_url, doc) as server, server.client() as http:
        answers = [post(http, state="TX", monthly_bill=180) for _ in range(8)]
    assert Counter(a["partner"] for a in answers) == {"brightpath": 6, "voltedge": 2}
    stats = buyers.stats()["buyers"]
    assert (stats["brightpath"]["accepted"], stats["voltedge"]["accepted"]) == (6, 2)


# ---------------------------------------------------------------- caps and pausing


def test_day_cap_sends_the_third_lead_to_the_next_partner(db_url: str, buyers: BuyersThread) -> None:
    doc = base_config(buyers.url, sunco={"caps": {"day": 2}})
    with serve(db_url, doc) as server, server.client() as http:
        answers = [post(http, state="CA", monthly_bill=180) for _ in range(3)]
        third = job_of(http, answers[2]["lead_id"])
    assert [a["partner"] for a in answers] == ["sunco", "sunco", "brightpath"]
    assert "sunco: cap day 2/2 reached" in third["trace"]
    assert "brightpath: chosen (priority)" in third["trace"]
    assert caps_used(db_url, "sunco") == 2


def test_paused_partner_is_skipped(db_url: str, buyers: BuyersThread) -> None:
    doc = base_config(buyers.url, sunco={"paused": True})
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["partner"] == "brightpath"
    assert "sunco: partner paused" in job["trace"]
    assert "sunco" not in buyers.stats()["buyers"]


def test_the_answer_gives_the_reason_of_the_profile_that_took_the_lead_up(
    db_url: str, buyers: BuyersThread
) -> None:
    """Two profiles: one matches no rule (no default), the other's partners are paused: the source is told
    the second's reason, whichever job was made first (the SQL's order, not the fakes')."""
    doc = base_config(buyers.url, sunco={"paused": True}, brightpath={"paused": True})
    doc["profiles"]["a-first"] = {
        "entity": "solar",
        "rules": [
            {
                "name": "tx",
                "when": {"field": "state", "op": "eq", "value": "TX"},
                "send_to": {"partners": ["voltedge"]},
            }
        ],
    }
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
    assert (answer["status"], answer["reason"]) == ("unsold", "no eligible partner"), answer


# ---------------------------------------------------------------- refusals, retries and outcomes


def test_refusal_falls_back_to_the_next_partner_and_gives_the_cap_slot_back(
    db_url: str, buyers: BuyersThread, refusing: BuyersThread
) -> None:
    doc = base_config(
        urls(buyers.url, sunco=refusing.url), sunco={"caps": {"day": 5}}, brightpath={"caps": {"day": 5}}
    )
    with serve(db_url, doc) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
    assert answer["status"] == "delivered"
    assert answer["partner"] == "brightpath"
    assert job["status"] == "delivered"
    by_partner = {d["partner"]: d for d in job["deliveries"]}
    assert by_partner["sunco"]["status"] == "failed"
    assert by_partner["brightpath"]["status"] == "delivered"
    refused = by_partner["sunco"]["attempts"]
    assert [(a["number"], a["status_code"], a["outcome"]) for a in refused] == [(1, 422, "failure")]
    assert "sunco: chosen (priority)" in job["trace"]
    assert any(line.startswith("sunco: not delivered: partner refused") for line in job["trace"]), job[
        "trace"
    ]
    assert "brightpath: chosen (priority)" in job["trace"]
    assert refusing.stats()["buyers"]["sunco"]["rejected"] == 1
    assert caps_used(db_url, "sunco") == 0  # the refused delivery gave its slot back
    assert caps_used(db_url, "brightpath") == 1


def test_every_partner_refusing_leaves_the_lead_unsold(db_url: str, refusing: BuyersThread) -> None:
    with serve(db_url, base_config(refusing.url)) as server, server.client() as http:
        answer = post(http, state="CA", monthly_bill=180)
        job = job_of(http, answer["lead_id"])
        again = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers())
    assert answer["status"] == "unsold"
    # the source learns why in routing terms, never which buyers said no (that is for the operator's log)
    assert answer["reason"] == "no eligible partner", answer
    assert again.json()["status"] == "unsold"
    assert job["status"] == "unsold"
    assert job["error"].startswith("no eligible partner (already tried: ")
    assert "sunco" in job["error"] and "brightpath" in job["error"]
    assert sorted((d["partner"], d["status"]) for d in job["deliveries"]) == [
        ("brightpath", "failed"),
        ("sunco", "failed"),
    ]
    stats = refusing.stats()["buyers"]
    assert (stats["sunco"]["rejected"], stats["brightpath"]["rejected"]) == (1, 1)


def test_server_error_then_success_is_delivered_on_the_second_attempt(
    db_url: str, buyers: BuyersThread
) -> None:
    with ScriptedBuyer([(503, {"Retry-After": "0"}), (200, {})]) as flaky:
        doc = base_config(urls(buyers.url, sunco=flaky.url))
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
        assert flaky.calls == 2
        assert flaky.keys[0] is not None and flaky.keys[0] == flaky.keys[1]  # one key for both attempts
    assert answer["status"] == "delivered"
    assert answer["partner"] == "sunco"
    [delivery] = job["deliveries"]
    assert delivery["status"] == "delivered"
    assert delivery["reference"] == "ref-2"
    got = [(a["number"], a["status_code"], a["outcome"]) for a in delivery["attempts"]]
    assert got == [(1, 503, "error"), (2, 200, "success")]
    assert "sunco: delivered (ref ref-2)" in job["trace"]


def test_refusal_after_a_retry_also_gives_the_cap_slot_back(db_url: str, buyers: BuyersThread) -> None:
    with ScriptedBuyer([(503, {"Retry-After": "0"}), (422, {})]) as flaky:
        doc = base_config(urls(buyers.url, sunco=flaky.url), sunco={"caps": {"day": 5}})
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            job = job_of(http, answer["lead_id"])
        assert flaky.calls == 2
    assert answer["partner"] == "brightpath"
    by_partner = {d["partner"]: d for d in job["deliveries"]}
    assert by_partner["sunco"]["status"] == "failed"
    got = [(a["number"], a["status_code"], a["outcome"]) for a in by_partner["sunco"]["attempts"]]
    assert got == [(1, 503, "error"), (2, 422, "failure")]
    assert caps_used(db_url, "sunco") == 0


@pytest.mark.sqlite_only
def test_entity_without_an_enabled_profile_is_unsold_with_a_reason(db_url: str, buyers: BuyersThread) -> None:
    doc = base_config(buyers.url)
    doc["entities"]["roofing"] = {"fields": {"first_name": {"type": "string", "required": True}}}
    doc["sources"]["web"]["entities"] = ["solar", "roofing"]
    doc["profiles"]["roofing-main"] = {
        "entity": "roofing",
        "enabled": False,
        "default": {"partners": ["sunco"]},
    }
    with serve(db_url, doc) as server, server.client() as http:
        r = http.post(WAIT, json={"entity": "roofing", "first_name": "Ada"}, headers=source_headers())
        assert r.status_code == 200, r.text
        answer = r.json()
        assert jobs_of(http, answer["lead_id"]) == []
    assert answer["status"] == "unsold"
    assert answer["reason"] == "no enabled profile for entity roofing"
    assert buyers.stats()["total_received"] == 0


@pytest.mark.sqlite_only
def test_unsold_reason_is_kept_for_later_reads_and_idempotent_repeats(
    db_url: str, buyers: BuyersThread
) -> None:
    doc = base_config(buyers.url)
    doc["entities"]["roofing"] = {"fields": {"first_name": {"type": "string", "required": True}}}
    doc["sources"]["web"]["entities"] = ["solar", "roofing"]
    headers = {**source_headers(), "Idempotency-Key": "roof-1"}
    body = {"entity": "roofing", "first_name": "Ada"}
    with serve(db_url, doc) as server, server.client() as http:
        first = http.post(WAIT, json=body, headers=headers)
        repeat = http.post(WAIT, json=body, headers=headers)
        later = http.get(f"/v1/leads/{first.json()['lead_id']}", headers=source_headers())
    assert first.json() == {
        "lead_id": first.json()["lead_id"],
        "status": "unsold",
        "reason": "no enabled profile for entity roofing",
    }
    assert later.json() == first.json()
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
