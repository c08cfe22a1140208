"""Webhook deliveries at their edges, against real servers on loopback: a lead value XML cannot hold, an
OAuth token endpoint inside the attempt's timeout (and the retry after a 401), a credential in the URL kept
out of stored reasons, a 200 whose body is cut short, headers checked at apply, and a resend not relayed to
the source as a second sale (a review of 2026-12-06 found each)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.partner_auth import OAuth2ClientCredentials
from leadrelay.errors import ConfigError
from leadrelay.services import configure
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_webhook_channel import make_lead, serve
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    free_port,
    lead,
    prepare,
    rows,
    source_headers,
    wait_for,
)

WAIT = "/v1/leads?wait=15"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def one_partner(buyers: BuyersThread, **webhook: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base_config(buyers.url))
    doc["partners"] = {
        "acme": {
            "channel": {"webhook": {"url": buyers.url("acme"), "timeout": "5s", "max_attempts": 1, **webhook}}
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["acme"]}
    return doc


# ------------------------------------------------------------------ webhook bodies


@pytest.mark.sqlite_only
def test_an_xml_body_stays_well_formed_when_a_lead_value_holds_a_control_character(
    db_url: str, buyers: BuyersThread
) -> None:
    """The API accepts a text value with a control character (here a vertical tab, as pasted from a word
    processor); the XML body built from it must still be XML a buyer can parse (XML 1.0 forbids U+000B even
    escaped), or the lead must not be sent at all. ElementTree writes it raw: the buyer gets a broken body."""
    prepare(db_url, one_partner(buyers, format="xml"))
    with ServerThread(db_url) as server, server.client() as http:
        answer = http.post(WAIT, json=lead(last_name="Love\x0blace"), headers=source_headers())
        assert answer.status_code == 200, answer.text
    for request in buyers.requests("acme"):
        body = request["body"]
        try:
            ET.fromstring(body.encode() if isinstance(body, str) else body)
        except ET.ParseError as exc:
            pytest.fail(f"the buyer received an XML body that is not well-formed ({exc}): {body!r}")


# ------------------------------------------------------------------ webhook timeouts


def timed_oauth_send(handler: Any) -> tuple[float, Any]:
    """One delivery with ``timeout: 0.5s`` and OAuth2 (its token endpoint at ``/token``) to ``handler``,
    served on loopback: how long it took, and its result."""

    async def scenario() -> tuple[float, Any]:
        sender = WebhookSender()
        try:
            async with serve(handler) as url:
                auth = OAuth2ClientCredentials(
                    token_url=url.rsplit("/", 1)[0] + "/token", client_id="c", client_secret="s3cret-value"
                )
                started = time.monotonic()
                result = await sender.send(make_lead(), WebhookChannel(url=url, timeout_s=0.5, auth=auth))
                return time.monotonic() - started, result
        finally:
            await sender.close()

    return asyncio.run(scenario())


def test_a_webhook_timeout_bounds_the_oauth_token_request_too() -> None:
    """A webhook with ``timeout: 0.5s`` and OAuth2 client credentials: a token endpoint that hangs for 3 s
    keeps the delivery (or a ping inside an auction's deadline) waiting 3 s, because the token request has
    its own fixed 10 s limit outside the delivery's timer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            await asyncio.sleep(3)
            return web.json_response({"access_token": "tok", "expires_in": 3600})
        return web.json_response({"accepted": True})

    took, result = timed_oauth_send(handler)
    assert took < 1.5, (
        f"a delivery with a 0.5s timeout took {took:.1f}s (outcome {result.outcome.value}): the OAuth token "
        "request is not bounded by the webhook's timeout"
    )
    assert result.outcome is Outcome.ERROR and result.timed_out


def test_a_refreshed_oauth_token_does_not_give_the_request_a_second_whole_timeout() -> None:
    """A buyer answers 401 (an expired token) after 0.4 s, then 200 after 0.4 s: with ``timeout: 0.5s``
    the delivery takes over 0.8 s, since the request sent again with the new token gets a whole new
    timeout (the pooled-connection retry of ``request_head`` keeps to what is left; this one does not)."""
    calls = {"hook": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            return web.json_response({"access_token": f"tok{calls['hook']}", "expires_in": 3600})
        calls["hook"] += 1
        await asyncio.sleep(0.4)
        if calls["hook"] == 1:
            return web.json_response({"error": "expired"}, status=401)
        return web.json_response({"accepted": True})

    took, result = timed_oauth_send(handler)
    assert took < 0.7, (
        f"a delivery with a 0.5s timeout took {took:.2f}s (outcome {result.outcome.value}, "
        f"{calls['hook']} requests): the request sent again after a 401 got a whole new timeout"
    )


# ------------------------------------------------------------------ secrets in recorded attempts


class RawBuyer:
    """A buyer on a bare socket: every request (read up to its body) gets ``answer`` as it is, and the
    connection is closed; ``posts`` counts the requests."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.posts = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        with raw_server(self) as port:
            yield port


@contextlib.contextmanager
def garbled_buyer() -> Iterator[int]:
    """A buyer whose server answers every request with a broken status line (a misbehaving proxy)."""
    with RawBuyer(b"HTTP/1.1 abc\r\n\r\n").running() as port:
        yield port


@contextlib.contextmanager
def raw_server(buyer: RawBuyer) -> Iterator[int]:
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_forever() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next(
                        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                         if line.lower().startswith(b"content-length:")),
                        0,
                    )  # fmt: skip
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    buyer.posts += 1
                    conn.sendall(buyer.answer)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest.mark.sqlite_only
def test_a_token_in_the_webhook_url_stays_out_of_the_attempt_reason(
    db_url: str, buyers: BuyersThread
) -> None:
    """A buyer URL carrying its credential in the query (``?token=…``): the recorded request shows
    ``token=***``, but when the buyer's server sends a malformed answer, aiohttp's error text (which
    quotes the whole URL) becomes the attempt's, the delivery's and the trace's reason unredacted."""
    from leadrelay.adapters.db.tables import attempts, deliveries, jobs

    secret = "tok-SECRET-4711"
    with garbled_buyer() as port:
        url = f"http://127.0.0.1:{port}/hook?token={secret}&campaign=7"
        prepare(db_url, one_partner(buyers, url=url))
        with ServerThread(db_url) as server, server.client() as http:
            answer = http.post(WAIT, json=lead(), headers=source_headers())
            assert answer.status_code == 200, answer.text
            lead_id = answer.json()["lead_id"]
            found = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            detail = http.get(f"/v1/distributions/{found[0]['id']}", headers=ADMIN).text
    [attempt] = rows(db_url, attempts.select())
    assert attempt.outcome == "error", attempt
    assert "token=***" in str(attempt.request), attempt.request  # the request record is redacted
    stored = " | ".join(
        [str(attempt.reason), *(str(d.reason) for d in rows(db_url, deliveries.select()))]
        + [str(j.trace) + str(j.error) for j in rows(db_url, jobs.select())]
    )
    assert secret not in stored, f"the URL's token is stored in a reason: {stored[:600]}"
    assert secret not in detail, "the distribution detail shows the URL's token"


# ------------------------------------------------------------------ a sale taken as an error


@pytest.mark.sqlite_only
def test_a_200_whose_body_is_cut_short_is_a_sale_not_an_error_retried(
    db_url: str, buyers: BuyersThread
) -> None:
    """Without response rules a 2xx is a sale whatever the body says. A buyer that answers ``200 OK`` and
    drops the connection before the whole body arrived has taken the lead; leadrelay calls it a retryable
    error ("Response payload is not completed"), posts the lead again (3 posts with max_attempts 3) and
    finally records it as not delivered, the cap slot given back: sold to the buyer, unsold in the books."""
    buyer = RawBuyer(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{"ok": tr'
    )
    with buyer.running() as port:
        prepare(db_url, one_partner(buyers, url=f"http://127.0.0.1:{port}/hook", max_attempts=3))
        with ServerThread(db_url) as server, server.client() as http:
            answer = http.post(WAIT, json=lead(), headers=source_headers())
            assert answer.status_code == 200, answer.text
    assert buyer.posts == 1, f"the buyer answered 200 and was posted the same lead {buyer.posts} times"
    assert answer.json()["status"] == "delivered", answer.json()


# ------------------------------------------------------------------ webhook headers in configuration


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Partner", "abc\r\nX-Injected: 1"), ("X Partner:", "abc")],
    ids=["line-break-in-value", "bad-name"],
)
def test_a_webhook_header_that_cannot_be_sent_is_refused_at_apply_time(
    db_url: str, buyers: BuyersThread, name: str, value: str
) -> None:
    """``auth: {headers: …}`` refuses a header name that is not an HTTP token and a value with a line
    break (``partner_auth._check_header``); the webhook's plain ``headers`` are applied unchecked. Every
    delivery then fails at send time: a line break is a final error ("Potential header injection
    attack"), a bad name reaches the buyer, whose 400 counts as its refusal (cap slot given back, unsold)."""
    document = one_partner(buyers, headers={name: value})
    db = Database(db_url)
    try:
        with pytest.raises(ConfigError) as caught:
            configure.apply_document_sync(SqlStorage(db), document, actor="test")
        assert db.read(config_store.load_objects) == {}
    finally:
        db.dispose()
    assert any(p.path.startswith("partners.acme.channel.webhook.headers") for p in caught.value.problems), [
        (p.path, p.message) for p in caught.value.problems
    ]


# ------------------------------------------------------------------ the postback relay to sources


@pytest.mark.sqlite_only
def test_a_resend_of_a_standing_sale_is_not_relayed_to_the_source_as_a_second_sale(
    db_url: str, buyers: BuyersThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resend of a sale that stands is the same sale sent again: the ledger bills it once and the
    reports count one sale (tests/integration/test_report_resend_not_a_sale.py). The relay stores (and
    sends) a second ``lead.sold`` event for it all the same, so a source's tracker counts two sales of
    one lead (and expects two payouts)."""
    from sqlalchemy import select

    from leadrelay.adapters.db.money_tables import ledger_entries, outbound_postbacks

    monkeypatch.setenv("REVIEW_RELAY_WHSEC", "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    document = one_partner(buyers, max_attempts=1)
    document["partners"]["acme"]["price"] = 20
    document["sources"]["web"]["postback"] = {
        "url": buyers.url("tracker"),
        "events": ["sold"],
        "secret_env": "REVIEW_RELAY_WHSEC",
    }
    prepare(db_url, document)
    with ServerThread(db_url) as server, server.client() as http:
        sold = http.post(WAIT, json=lead(), headers=source_headers())
        assert sold.json()["status"] == "delivered", sold.text
        lead_id = sold.json()["lead_id"]
        job = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"][0]["id"]
        r = http.post(f"/v1/distributions/{job}/resend", json={"reason": "buyer lost it"}, headers=ADMIN)
        assert r.status_code == 200, r.text

        def resent() -> bool:
            items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            return len(items) == 2 and all(i["status"] == "delivered" for i in items)

        wait_for(resent)
    sales = [e for e in rows(db_url, select(ledger_entries)) if e.kind == "sale"]
    assert len(sales) == 1, sales  # the ledger: one sale
    events = [o for o in rows(db_url, select(outbound_postbacks)) if o.event == "sold"]
    assert len(events) == 1, (
        f"one sale, but {len(events)} 'sold' events relayed to the source: "
        f"{[(o.delivery_id, o.status) for o in events]}"
    )
