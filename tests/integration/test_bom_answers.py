"""Buyers on 127.0.0.1 whose JSON answers open with a UTF-8 byte order mark (as .NET servers often send):
the answer is read as JSON, the mark ignored, for a post, a ping and an OAuth token; a sale is billed at
the price the buyer named, and a refusal is not recorded as a sale."""

from __future__ import annotations

import asyncio
import codecs
import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from leadrelay.adapters.channels.credentials import TokenCache
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.partner_auth import OAuth2ClientCredentials
from leadrelay.domain.ping import BidStatus, bid_of
from tests.documents import base_config, lead
from tests.integration.test_oauth_tokens import serve
from tests.integration.test_webhook_channel import exchange
from tests.support import ADMIN, ServerThread, prepare, source_headers

BOM = codecs.BOM_UTF8
JSON = "application/json; charset=utf-8"
RULES = {
    "outcome_search_term": "accepted",
    "outcome_search_path": "status",
    "price_path": "price",
    "reference_path": "id",
    "reason_path": "reason",
}
ACCEPTED = {"status": "accepted", "price": 12.5, "id": "r-1"}
REFUSED = {"status": "rejected", "reason": "not accepted: duplicate", "price": 12.5, "id": "r-2"}


def answering(body: dict[str, Any], status: int = 200, content_type: str = JSON) -> Any:
    """An aiohttp handler answering ``body`` as JSON with a BOM before it."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        data = BOM + json.dumps(body).encode()
        return web.Response(status=status, body=data, headers={"Content-Type": content_type})

    return handler


@pytest.mark.parametrize("rules", [None, RULES])
def test_a_post_answered_with_a_bom_gives_its_price_and_reference(rules: dict[str, Any] | None) -> None:
    result = exchange(answering(ACCEPTED), response=rules)
    assert (result.outcome, result.price, result.reference) == (Outcome.SUCCESS, 12.5, "r-1"), result
    assert result.response_body == json.dumps(ACCEPTED)  # the mark is not part of the answer


def test_a_refusal_with_a_bom_is_a_failure_with_its_reason() -> None:
    result = exchange(answering(REFUSED), response=RULES)
    assert (result.outcome, result.reason) == (Outcome.FAILURE, "not accepted: duplicate"), result


def test_the_bom_bytes_say_utf8_whatever_the_charset_says() -> None:
    body = {"status": "accepted", "price": 12.5, "id": "réf-1"}
    result = exchange(answering(body, content_type="application/json; charset=iso-8859-1"))
    assert (result.outcome, result.reference) == (Outcome.SUCCESS, "réf-1"), result


def test_a_ping_answered_with_a_bom_is_a_bid_at_its_price() -> None:
    result = exchange(answering({"price": 14.25, "id": "bid-1"}), timeout_s=1.0)
    bid = bid_of(result, 20.0)
    assert (bid.status, bid.price, bid.reference) == (BidStatus.ACCEPTED, 14.25, "bid-1")


def test_an_oauth_token_answered_with_a_bom_is_used() -> None:
    token = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}

    async def scenario() -> str:
        async with serve(answering(token)) as base, aiohttp.ClientSession() as session:
            spec = OAuth2ClientCredentials(f"{base}/oauth/token", "client", "secret")
            return await TokenCache(timeout_s=2.0).token(spec, session)

    assert asyncio.run(scenario()) == "tok-1"


class BomBuyer:
    """A buyer answering every post with a BOM before its JSON: refused when the email says "dup", else
    accepted at 12.50."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sent = self.rfile.read(int(self.headers.get("content-length", "0")))
                answer = REFUSED if b"dup" in sent else ACCEPTED
                data = BOM + json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/leads"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def bom_buyer() -> Iterator[BomBuyer]:
    buyer = BomBuyer()
    yield buyer
    buyer.server.shutdown()
    buyer.server.server_close()


def test_a_sale_is_billed_at_the_answered_price_and_a_refusal_is_unsold(
    db_url: str, bom_buyer: BomBuyer
) -> None:
    doc = copy.deepcopy(base_config(lambda name: bom_buyer.url))
    hook = {"url": bom_buyer.url, "timeout": "5s", "max_attempts": 1, "response": RULES}
    doc["partners"] = {"acme": {"price": 20, "price_from_answer": True, "channel": {"webhook": hook}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["acme"]}
    prepare(db_url, doc)  # the source sees the buyer and its price (show_buyer: true)
    with ServerThread(db_url) as server, server.client() as http:
        sold = http.post("/v1/leads?wait=15", json=lead(), headers=source_headers()).json()
        assert (sold["status"], sold["partner"], sold["price"]) == ("delivered", "acme", 12.5), sold
        refused = http.post("/v1/leads?wait=15", json=lead(email="dup@example.com"), headers=source_headers())
        assert refused.json()["status"] == "unsold", refused.text

        def sales(lead_id: str) -> list[tuple[str, str, str]]:
            items = http.get("/v1/ledger", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            return [(e["kind"], e["party"], e["amount"]) for e in items]

        assert sales(sold["lead_id"]) == [("sale", "acme", "12.50")]  # the buyer's price, not the list 20
        assert sales(refused.json()["lead_id"]) == []
