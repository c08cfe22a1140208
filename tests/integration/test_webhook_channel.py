"""The webhook channel against real HTTP servers on 127.0.0.1: the simulated buyers and small aiohttp apps."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any

import orjson
import pytest
from aiohttp import web

from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.ledger import sale_amount
from leadrelay.domain.model import WebhookChannel
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ClosingServer, free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_lead(key: str = "idem-1", test: bool = False, **values: Any) -> LeadView:
    values = values or {"first_name": "Ann", "zip": "90210", "amount": 250000, "consent": True}
    return LeadView(
        lead_id="lead_01", entity="solar", partner="sunco", values=values, idempotency_key=key, test=test
    )


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


class Recorder:
    """A handler answering with a fixed response and remembering what it received."""

    def __init__(
        self, status: int = 200, body: str = "", headers: dict[str, str] | None = None, delay: float = 0
    ) -> None:
        self.status, self.body, self.headers, self.delay = status, body, headers or {}, delay
        self.received: list[dict[str, Any]] = []

    async def __call__(self, request: web.Request) -> web.Response:
        self.received.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "content_type": request.content_type,
                "body": await request.read(),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.body, headers=self.headers)


def exchange(handler: Handler, lead: LeadView | None = None, path: str = "", **spec: Any) -> AttemptResult:
    async def scenario() -> AttemptResult:
        sender = WebhookSender()
        try:
            async with serve(handler) as url:
                return await sender.send(lead or make_lead(), WebhookChannel(url=url + path, **spec))
        finally:
            await sender.close()

    return asyncio.run(scenario())


def send_once(spec: WebhookChannel, *leads: LeadView) -> list[AttemptResult]:
    async def scenario() -> list[AttemptResult]:
        sender = WebhookSender()
        try:
            return [await sender.send(lead, spec) for lead in leads]
        finally:
            await sender.close()

    return asyncio.run(scenario())


# ---------------------------------------------------------------- against the simulated buyers


@pytest.mark.parametrize(
    ("accept_rate", "outcome", "status", "reason", "price", "reference"),
    [
        (1.0, Outcome.SUCCESS, 200, None, 10.0, "buyer1-1"),
        (0.0, Outcome.FAILURE, 422, "not interested", None, None),
    ],
)
def test_simulated_buyer_answer(
    accept_rate: float,
    outcome: Outcome,
    status: int,
    reason: str | None,
    price: float | None,
    reference: str | None,
) -> None:
    with BuyersThread(count=1, accept_rate=accept_rate) as buyers:
        (result,) = send_once(WebhookChannel(url=buyers.url("buyer1")), make_lead())
        stats = buyers.stats()["buyers"]["buyer1"]
    assert (result.outcome, result.status_code, result.reason) == (outcome, status, reason)
    assert (result.price, result.reference) == (price, reference)
    assert not result.retryable
    assert stats["received"] == 1
    assert stats["accepted"] == (1 if outcome is Outcome.SUCCESS else 0)
    assert result.duration_ms > 0


def test_test_lead_carries_the_test_header() -> None:
    with BuyersThread(count=1) as buyers:
        (result,) = send_once(WebhookChannel(url=buyers.url("buyer1")), make_lead(test=True))
        assert buyers.stats()["buyers"]["buyer1"]["tests"] == 1
    assert result.request["headers"]["X-Leadrelay-Test"] == "true"


def test_repeated_idempotency_key_gets_the_same_answer() -> None:
    with BuyersThread(count=1, accept_rate=1.0) as buyers:
        spec = WebhookChannel(url=buyers.url("buyer1"))
        first, again = send_once(spec, make_lead(key="same"), make_lead(key="same"))
        stats = buyers.stats()["buyers"]["buyer1"]
    assert first.outcome is again.outcome is Outcome.SUCCESS
    assert first.response_body == again.response_body
    assert again.reference == "buyer1-1"
    assert (stats["accepted"], stats["duplicates"]) == (1, 1)


# ---------------------------------------------------------------- classification of answers


def _http_date_in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "retryable", "reason"),
    [
        (
            503,
            "down for maintenance",
            {"Retry-After": "7"},
            Outcome.ERROR,
            True,
            "HTTP 503: down for maintenance",
        ),
        (500, "", {}, Outcome.ERROR, True, "HTTP 500: Internal Server Error"),
        (429, "slow down", {"Retry-After": "2"}, Outcome.ERROR, True, "HTTP 429: slow down"),
        (400, '{"reason": "zip not served"}', {}, Outcome.FAILURE, False, "zip not served"),
        (
            409,
            '{"status": "rejected", "message": "duplicate lead"}',
            {},
            Outcome.FAILURE,
            False,
            "duplicate lead",
        ),
        (422, '{"error": {"message": "phone invalid"}}', {}, Outcome.FAILURE, False, "phone invalid"),
        (400, '{"detail": "missing email"}', {}, Outcome.FAILURE, False, "missing email"),
        (400, "bad   stuff\n here", {}, Outcome.FAILURE, False, "HTTP 400: bad stuff here"),
        (404, "", {}, Outcome.FAILURE, False, "HTTP 404: Not Found"),
        (302, "", {"Location": "http://127.0.0.1:1/elsewhere"}, Outcome.FAILURE, False, "HTTP 302: Found"),
        (200, "ok", {}, Outcome.SUCCESS, False, None),
        (201, '{"price": 12.5, "id": "abc-1"}', {}, Outcome.SUCCESS, False, None),
    ],
)
def test_classification(
    status: int, body: str, headers: dict[str, str], outcome: Outcome, retryable: bool, reason: str | None
) -> None:
    result = exchange(Recorder(status, body, headers))
    assert (result.outcome, result.retryable, result.reason) == (outcome, retryable, reason)
    assert result.status_code == status
    assert result.response_body == body


@pytest.mark.parametrize(
    ("body", "price", "reference"),
    [
        ('{"price": 12.5, "reference": "R-9"}', 12.5, "R-9"),
        ('{"price": 7, "lead_id": "x1"}', 7.0, "x1"),
        ('{"id": 42}', None, "42"),
        ('{"price": "12", "reference": ""}', 12.0, None),  # a price written as text is read
        ('{"price": true}', math.nan, None),  # named but no number: no price to bill, an error bid
        ("[1, 2]", None, None),
        ("accepted", None, None),
    ],
)
def test_price_and_reference_from_a_success(body: str, price: float | None, reference: str | None) -> None:
    result = exchange(Recorder(200, body))
    assert result.outcome is Outcome.SUCCESS
    if price is not None and math.isnan(price):
        assert result.price is not None and math.isnan(result.price), result.price
        assert sale_amount(result.price) is None
    else:
        assert result.price == price
    assert result.reference == reference


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [("7", 7, 7), ("0", 0, 0), (60, 55, 61), (-60, 0, 0), ("soon", None, None)],
)
def test_retry_after(retry_after: str | int, low: float | None, high: float | None) -> None:
    if isinstance(retry_after, int):  # an HTTP date that many seconds from now (made now, not at collection)
        retry_after = _http_date_in(retry_after)
    result = exchange(Recorder(503, "busy", {"Retry-After": retry_after}))
    assert result.outcome is Outcome.ERROR and result.retryable
    if low is None or high is None:
        assert result.retry_after_s is None
    else:
        assert result.retry_after_s is not None and low <= result.retry_after_s <= high


def test_response_body_is_truncated_to_64_kib() -> None:
    result = exchange(Recorder(200, "é" * 100_000))
    assert result.response_body == "é" * 65536


# ---------------------------------------------------------------- transport trouble


def test_slow_endpoint_times_out() -> None:
    started = time.perf_counter()
    result = exchange(Recorder(200, "late", delay=1.5), timeout_s=0.2)
    assert time.perf_counter() - started < 1.2
    assert (result.outcome, result.retryable, result.reason) == (Outcome.ERROR, True, "timed out after 0.2s")
    assert result.status_code is None
    assert 150 < result.duration_ms < 1000


def test_closed_port_is_a_retryable_connection_error() -> None:
    closed = free_port()  # nothing listens there
    (result,) = send_once(WebhookChannel(url=f"http://127.0.0.1:{closed}/hook"), make_lead())
    assert (result.outcome, result.retryable) == (Outcome.ERROR, True)
    assert result.reason is not None and result.reason.startswith("connection error: ")


def sends(
    server: ClosingServer, count: int, *, together: int = 0, method: str = "POST"
) -> list[AttemptResult]:
    """``together`` posts at once (each on a connection of its own), then ``count`` one after the other
    through the same sender, each after the first finding a connection in the pool; every result."""

    async def scenario() -> list[AttemptResult]:
        sender = WebhookSender()
        try:
            async with server.running() as url:
                channel = WebhookChannel(url=url, method=method, timeout_s=5)
                first = await asyncio.gather(*(sender.send(make_lead(), channel) for _ in range(together)))
                return [*first, *[await sender.send(make_lead(), channel) for _ in range(count)]]
        finally:
            await sender.close()

    return asyncio.run(scenario())


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_pooled_connection_the_buyer_closed_as_the_request_came_is_retried_once_on_a_new_one(
    reset: bool,
) -> None:
    """A buyer's server ends an idle keep-alive connection just as leadrelay posts on it: the post goes
    again, once, on a new connection, and succeeds."""
    server = ClosingServer(close_on=2, reset=reset)
    first, second = sends(server, 2)
    assert (first.outcome, second.outcome) == (Outcome.SUCCESS, Outcome.SUCCESS), second.reason
    assert (server.answered, server.dropped, server.connections) == (2, 1, 2)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_the_second_try_takes_a_new_connection_not_another_pooled_one(method: str) -> None:
    """Two connections in the pool, both closing at the server: the second try (leadrelay's for a POST,
    aiohttp's own for a PUT) does not go out on the other one (it would fail too), but on a connection
    made for it."""
    server = ClosingServer(close_on=2)
    *first, result = sends(server, 1, together=2, method=method)
    assert [r.outcome for r in first] == [Outcome.SUCCESS] * 2
    assert result.outcome is Outcome.SUCCESS, result.reason
    assert (server.answered, server.dropped, server.connections) == (3, 1, 3)


def test_a_post_closed_on_after_part_of_an_answer_is_not_sent_again() -> None:
    """Bytes of an answer came: the buyer had the post. One try, a retryable error for the delivery's
    own schedule."""
    server = ClosingServer(close_on=2, partial=b"HTTP/1.1 200 OK\r\nContent-Le")
    first, result = sends(server, 2)
    assert first.outcome is Outcome.SUCCESS
    assert (result.outcome, result.retryable) == (Outcome.ERROR, True)
    assert (server.answered, server.dropped, server.connections) == (1, 1, 1)


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_request_dropped_on_a_new_connection_is_not_sent_again(reset: bool) -> None:
    """On a connection made for it, a dropped request is the buyer's trouble: one try, a retryable error
    for the delivery's own schedule."""
    server = ClosingServer(close_on=1, reset=reset)
    (result,) = sends(server, 1)
    assert (result.outcome, result.retryable) == (Outcome.ERROR, True)
    assert result.reason is not None and result.reason.startswith("connection error: ")
    assert (server.answered, server.dropped, server.connections) == (0, 1, 1)


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/x", "http://"])
def test_invalid_url_is_a_final_error(url: str) -> None:
    (result,) = send_once(WebhookChannel(url=url), make_lead())
    assert (result.outcome, result.retryable) == (Outcome.ERROR, False)
    assert result.reason is not None and result.reason.startswith("invalid URL")


# ---------------------------------------------------------------- what is sent and what is recorded


@pytest.mark.parametrize(
    ("fmt", "method", "content_type", "decoded"),
    [
        ("json", "POST", "application/json", {"first_name": "Ann", "amount": 250000, "consent": True}),
        ("form", "POST", "application/x-www-form-urlencoded", b"first_name=Ann&amount=250000&consent=true"),
        ("form", "PUT", "application/x-www-form-urlencoded", b"first_name=Ann&amount=250000&consent=true"),
    ],
)
def test_body_encoding(fmt: str, method: str, content_type: str, decoded: object) -> None:
    recorder = Recorder()
    lead = make_lead(first_name="Ann", amount=250000, consent=True)
    result = exchange(recorder, lead, format=fmt, method=method)
    (received,) = recorder.received
    assert result.outcome is Outcome.SUCCESS
    assert (received["method"], received["content_type"]) == (method, content_type)
    body = orjson.loads(received["body"]) if fmt == "json" else received["body"]
    assert body == decoded
    assert result.request["body"] == received["body"].decode()
    assert result.request["method"] == method


def test_custom_headers_arrive_and_secrets_are_redacted_in_the_record() -> None:
    recorder = Recorder()
    headers = {
        "Authorization": "Bearer s3cr3t",
        "X-API-Key": "k-123",
        "X-Auth-Token": "t-456",
        "X-Client-Secret": "c-789",
        "Cookie": "session=abc",
        "X-Campaign": "spring",
    }
    result = exchange(recorder, make_lead(key="idem-77"), headers=headers)
    sent = recorder.received[0]["headers"]
    for name, value in headers.items():
        assert sent[name] == value
    assert sent["Idempotency-Key"] == "idem-77"
    assert "X-Leadrelay-Test" not in sent

    recorded = result.request["headers"]
    for name in ("Authorization", "X-API-Key", "X-Auth-Token", "X-Client-Secret", "Cookie"):
        assert recorded[name] == "***"
    assert recorded["X-Campaign"] == "spring"
    assert recorded["Idempotency-Key"] == "idem-77"
    everything = orjson.dumps(dict(result.request), default=str).decode()
    for secret in ("s3cr3t", "k-123", "t-456", "c-789", "abc"):
        assert secret not in everything


def test_secrets_in_the_url_are_redacted_in_the_record() -> None:
    recorder = Recorder()
    result = exchange(recorder, path="?api_key=k-999&campaign=spring")
    assert recorder.received[0]["path"] == "/hook?api_key=k-999&campaign=spring"
    assert result.request["url"].endswith("/hook?api_key=***&campaign=spring")


def test_a_password_in_the_url_is_redacted_in_the_record_and_in_an_echo_of_its_basic_header() -> None:
    """aiohttp sends the URL's user info as ``Authorization: Basic base64(user:password)``; a buyer echoing
    its request headers gave that value back, kept in clear (black-box pass, 2026-12-06)."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"accepted": True, "you_sent": dict(request.headers)})

    async def scenario() -> AttemptResult:
        sender = WebhookSender()
        try:
            async with serve(echo) as url:
                with_user = url.replace("http://", "http://urluser:URL%40PASS99@")
                return await sender.send(make_lead(), WebhookChannel(url=with_user))
        finally:
            await sender.close()

    result = asyncio.run(scenario())
    basic = base64.b64encode(b"urluser:URL@PASS99").decode()
    assert basic in result.response_body or "***" in result.response_body, result.response_body
    everything = orjson.dumps(
        [dict(result.request), result.response_body, result.reason], default=str
    ).decode()
    for secret in ("URL@PASS99", "URL%40PASS99", basic):
        assert secret not in everything, everything
    assert result.request["url"].startswith("http://urluser:***@127.0.0.1:"), result.request["url"]


def test_idempotency_key_cannot_be_overridden_by_custom_headers() -> None:
    recorder = Recorder()
    exchange(recorder, make_lead(key="real"), headers={"idempotency-key": "fake", "content-type": "text/x"})
    sent = recorder.received[0]["headers"]
    assert sent["Idempotency-Key"] == "real"
    assert sent["Content-Type"] == "text/x"
