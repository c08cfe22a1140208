"""A partner's LeadConduit response rules end to end, on SQLite and PostgreSQL: a real buyer on 127.0.0.1
answers, the real server's worker reads the answer by the rules, and the delivery keeps the outcome, the
price, the reference and the reason; a bad option is refused when the configuration is applied."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx
import pytest
from aiohttp import web

from leadrelay.adapters.db import cap_store, config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.configuration.load import load_yaml_text
from leadrelay.errors import ConfigError
from leadrelay.services import configure
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

WAIT = "/v1/leads?wait=15"
XML_ANSWER = "<result><status>accepted</status><price>12.50</price><id>ABC-1</id></result>"
XML_RULES = {
    "outcome_search_term": "accepted",
    "outcome_search_path": "result/status",
    "price_path": "result/price",
    "reference_path": "result/id",
}


class Buyer:
    """One buyer on its own event-loop thread answering every request the same way, counting them."""

    def __init__(self, status: int, body: str, content_type: str) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.received: list[bytes] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-buyer", daemon=True)

    async def _answer(self, request: web.Request) -> web.Response:
        self.received.append(await request.read())
        return web.Response(status=self.status, body=self.body.encode(), content_type=self.content_type)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/leads"

    def __enter__(self) -> Buyer:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def config(url: str, **acme: Any) -> dict[str, Any]:
    """The test configuration with one partner, acme (list price 25, or the price its answer names),
    taking every lead."""
    doc = copy.deepcopy(base_config(lambda name: url))
    webhook = {"url": url, "timeout": "5s", "max_attempts": 3, **acme.pop("webhook", {})}
    doc["partners"] = {
        "acme": {"price": 25, "price_from_answer": True, "channel": {"webhook": webhook}, **acme}
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["acme"]}
    return doc


def post(http: httpx.Client, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The intake's answer to ``body`` and its distribution's detail."""
    answer = http.post(WAIT, json=body, headers=source_headers())
    assert answer.status_code == 200, answer.text
    items = http.get("/v1/distributions", params={"lead": answer.json()["lead_id"]}, headers=ADMIN).json()
    detail = http.get(f"/v1/distributions/{items['items'][0]['id']}", headers=ADMIN)
    assert detail.status_code == 200, detail.text
    return answer.json(), detail.json()


def cap_usage(url: str, partner: str) -> dict[tuple[str, str], int]:
    db = Database(url)
    try:
        return db.read(lambda c: cap_store.cap_usage(c, partner))
    finally:
        db.dispose()


@pytest.fixture
def xml_buyer() -> Iterator[Buyer]:
    with Buyer(200, XML_ANSWER, "application/xml") as buyer:
        yield buyer


def test_an_xml_acceptance_gives_the_delivery_its_price_and_reference(db_url: str, xml_buyer: Buyer) -> None:
    prepare(db_url, config(xml_buyer.url, webhook={"response": XML_RULES}))
    with ServerThread(db_url) as server, server.client() as http:
        answer, job = post(http, lead())
    assert (answer["status"], answer["partner"]) == ("delivered", "acme")
    [delivery] = job["deliveries"]
    assert (delivery["status"], delivery["price"], delivery["reference"]) == ("delivered", 12.5, "ABC-1")
    assert [a["outcome"] for a in delivery["attempts"]] == ["success"]
    assert "acme: delivered (ref ABC-1)" in job["trace"]
    assert len(xml_buyer.received) == 1


@pytest.mark.sqlite_only
def test_without_a_price_in_the_answer_the_list_price_stays(db_url: str, xml_buyer: Buyer) -> None:
    rules = {key: value for key, value in XML_RULES.items() if key != "price_path"}
    prepare(db_url, config(xml_buyer.url, webhook={"response": rules}))
    with ServerThread(db_url) as server, server.client() as http:
        _, job = post(http, lead())
    [delivery] = job["deliveries"]
    assert (delivery["status"], delivery["price"], delivery["reference"]) == ("delivered", 25.0, "ABC-1")


def test_a_text_rejection_is_final_with_its_reason_and_gives_the_cap_slot_back(db_url: str) -> None:
    rules = {"outcome_search_term": "accepted", "reason_path": r"REJECTED:\s*(.+)"}
    with Buyer(200, "REJECTED: duplicate", "text/plain") as buyer:
        prepare(db_url, config(buyer.url, caps={"total": 1}, webhook={"response": rules}))
        with ServerThread(db_url) as server, server.client() as http:
            answer, job = post(http, lead())
            assert len(buyer.received) == 1  # a final failure: no retry although max_attempts is 3
            assert set(cap_usage(db_url, "acme").values()) == {0}  # the slot is given back
            again, _ = post(http, lead(first_name="Bea", email="bea@example.com", phone="(512) 555-3434"))
    assert answer["status"] == again["status"] == "unsold"
    [delivery] = job["deliveries"]
    assert (delivery["status"], delivery["reason"], delivery["price"]) == (
        "failed",
        "partner refused: duplicate",
        None,
    )
    [attempt] = delivery["attempts"]
    assert (attempt["outcome"], attempt["reason"], attempt["status_code"]) == ("failure", "duplicate", 200)
    assert len(buyer.received) == 2  # the total cap of 1 still had room for the next lead


@pytest.mark.parametrize(("policy", "status"), [("strict", "unsold"), ("body", "delivered")])
@pytest.mark.sqlite_only
def test_the_status_policy_decides_a_4xx_that_reads_as_accepted(
    db_url: str, policy: str, status: str
) -> None:
    rules = {"outcome_search_term": "accepted", "reference_path": r"id=(\w+)"}
    with Buyer(400, "accepted id=Q1", "text/plain") as buyer:
        prepare(db_url, config(buyer.url, webhook={"response": rules, "status_policy": policy}))
        with ServerThread(db_url) as server, server.client() as http:
            answer, job = post(http, lead())
    assert answer["status"] == status
    [delivery] = job["deliveries"]
    if policy == "strict":
        assert (delivery["status"], delivery["reason"]) == (
            "failed",
            "partner refused: HTTP 400: accepted id=Q1",
        )
    else:
        assert (delivery["status"], delivery["reference"], delivery["price"]) == ("delivered", "Q1", 25.0)
    assert len(buyer.received) == 1


@pytest.mark.sqlite_only
def test_a_bad_option_is_refused_at_apply_time_by_its_path(db_url: str, xml_buyer: Buyer) -> None:
    document = config(xml_buyer.url, webhook={"response": {**XML_RULES, "price_pth": "result/price"}})
    db = Database(db_url)
    try:
        with pytest.raises(ConfigError) as caught:
            configure.apply_document_sync(SqlStorage(db), document, actor="test")
        assert db.read(config_store.load_objects) == {}  # one bad value refuses the whole document
    finally:
        db.dispose()
    [problem] = caught.value.problems
    assert problem.path == "partners.acme.channel.webhook.response.price_pth"
    assert "did you mean 'price_path'?" in problem.message


@pytest.mark.sqlite_only
def test_the_rules_survive_export_and_reapply_unchanged(db_url: str, xml_buyer: Buyer) -> None:
    rules = {
        **XML_RULES,
        "fallback_price": "$5",
        "default_reason": "no reason",
        "outcome_on_match": "Success",
    }
    document = config(xml_buyer.url, webhook={"response": rules, "status_policy": "body"})
    db = Database(db_url)
    try:
        configure.apply_document_sync(SqlStorage(db), document, actor="test")
        exported = configure.export_yaml(SqlStorage(db))
        again = configure.apply_document_sync(SqlStorage(db), load_yaml_text(exported), actor="test")
    finally:
        db.dispose()
    assert {change.action for change in again} == {"unchanged"}
    hook = load_yaml_text(exported)["partners"]["acme"]["channel"]["webhook"]
    assert hook["status_policy"] == "body"
    assert hook["response"] == {
        **XML_RULES,
        "outcome_on_match": "success",
        "default_reason": "no reason",
        "fallback_price": 5.0,
    }
