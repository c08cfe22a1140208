"""Simulated buyer endpoints for the demo, the tests and the benchmark (aiohttp.web, loopback only).

``POST|PUT /buyer/{name}`` takes a lead (JSON or form) and answers like a real buyer would: after
``latency_ms`` it accepts (200 with a reference and a price), rejects (422 with a reason) or fails (500).
The decision is a deterministic function of (seed, buyer, idempotency key or body), so runs repeat. A lead
marked as a test (``X-Leadrelay-Test`` or ``"test": true``) is accepted, as a buyer's sandbox would: a
partner test shows whether the connection, the mapping and the answer work, not the buyer's appetite.

Idempotency is exact: an ``Idempotency-Key`` already answered for a buyer gets the very same status and
body again and is counted as a duplicate, never as a second acceptance. The answer is decided and stored
the moment a request arrives (before the simulated latency), so two concurrent requests with one key can
never both be accepted. A 500 is not stored: it stands for a passing outage, and the retry with the same
key gets a fresh (still deterministic) draw, as a real buyer's retry would.

``GET /stats`` counts per buyer; ``GET /buyer/{name}/leads`` lists the accepted leads; ``POST /reset``
clears everything. ``PATCH`` and ``GET`` (the lead in the query string) are taken too, and an XML body is
kept as ``{"xml": text}``. ``GET /buyer/{name}/requests`` lists the latest requests as they arrived
(method, path, query, content type, headers, raw body): what a test of a partner mapping compares.

Bidding buyers (ping / post): ``POST|PUT|GET /buyer/{name}/ping`` answers a ping as the ping channels read
it without response rules: a bid is ``200 {"status": "accepted", "accepted": true, "price": 12.5,
"reference": "buyer1-bid-7"}``, a refusal ``422 {"status": "refused", "accepted": false, "reason": "no
bid", "reference": …}``, a timeout the same bid only after ``timeout_delay_s`` (cut short when the server
stops). Latency, bid range and rates: :class:`~leadrelay.simulate.bidding.BiddingOptions` (per buyer with
``bidders``). A post carrying a bid's reference (a ``ping_reference`` field, or the ``X-Ping-Reference``
header) is answered at that bid's price and the reference is kept with the accepted lead.
``GET /buyer/{name}/pings`` lists the latest pings (as ``requests``, with the parsed body) and every
field name any ping to that buyer ever carried; ``GET /stats`` counts them under ``pings``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from leadrelay.simulate.buyer_state import TRUE_WORDS, BuyersState, parse_body


def _is_test(request: web.Request, body: dict[str, Any] | None) -> bool:
    header = request.headers.get("X-Leadrelay-Test")
    if header is not None and header.strip().lower() not in ("false", "0", "no", "off"):
        return True
    value = body.get("test") if body else None
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS)


_STATE = web.AppKey("state", BuyersState)
_LATENCY = web.AppKey("latency_s", float)
STOPPING = web.AppKey("stopping", asyncio.Event)


def _as_recorded(request: web.Request, raw: bytes) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "content_type": request.headers.get("Content-Type"),
        "headers": {str(name): value for name, value in request.headers.items()},  # istr: not for orjson
        "body": raw.decode("utf-8", errors="replace"),
    }


def _parsed(request: web.Request, raw: bytes) -> tuple[bytes, dict[str, Any] | None]:
    if request.method == "GET":
        return request.query_string.encode("utf-8"), dict(
            parse_qsl(request.query_string, keep_blank_values=True)
        )
    return raw, parse_body(request.content_type, raw)


def _ping_reference(request: web.Request, body: dict[str, Any] | None) -> str | None:
    value = body.get("ping_reference") if body else None
    if value is None or value == "":
        value = request.headers.get("X-Ping-Reference")
    return str(value) if value not in (None, "") else None


async def _lead(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    name = request.match_info["name"]
    raw = await request.read()
    state.record(name, _as_recorded(request, raw))
    raw, body = _parsed(request, raw)
    status, payload = state.receive(
        name,
        request.headers.get("Idempotency-Key"),
        raw,
        body,
        _is_test(request, body),
        _ping_reference(request, body),
    )
    latency = request.app[_LATENCY]
    if latency > 0:
        await asyncio.sleep(latency)
    return web.Response(status=status, body=payload, content_type="application/json")


async def _ping(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    name = request.match_info["name"]
    raw = await request.read()
    recorded = _as_recorded(request, raw)
    _, body = _parsed(request, raw)
    status, payload, delay_s = state.ping(name, recorded, body, _is_test(request, body))
    if delay_s > 0:  # a stopping server answers at once: a "timeout" buyer never holds up the shutdown
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.app[STOPPING].wait(), delay_s)
    return web.Response(status=status, body=payload, content_type="application/json")


async def _pings(request: web.Request) -> web.Response:
    return web.Response(
        body=orjson.dumps(request.app[_STATE].pings(request.match_info["name"])),
        content_type="application/json",
    )


async def _stats(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(request.app[_STATE].stats()), content_type="application/json")


async def _leads(request: web.Request) -> web.Response:
    leads = request.app[_STATE].leads(request.match_info["name"])
    return web.Response(body=orjson.dumps({"leads": leads}), content_type="application/json")


async def _requests(request: web.Request) -> web.Response:
    requests = request.app[_STATE].requests(request.match_info["name"])
    return web.Response(body=orjson.dumps({"requests": requests}), content_type="application/json")


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE].reset()
    return web.Response(body=b'{"status":"reset"}', content_type="application/json")


async def _health(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def make_app(state: BuyersState, latency_ms: float) -> web.Application:
    app = web.Application()
    app[_STATE] = state
    app[_LATENCY] = latency_ms / 1000.0
    app[STOPPING] = asyncio.Event()
    app.router.add_post("/buyer/{name}", _lead)
    app.router.add_put("/buyer/{name}", _lead)
    app.router.add_patch("/buyer/{name}", _lead)
    app.router.add_get("/buyer/{name}", _lead)
    app.router.add_post("/buyer/{name}/ping", _ping)
    app.router.add_put("/buyer/{name}/ping", _ping)
    app.router.add_get("/buyer/{name}/ping", _ping)
    app.router.add_get("/buyer/{name}/pings", _pings)
    app.router.add_get("/buyer/{name}/leads", _leads)
    app.router.add_get("/buyer/{name}/requests", _requests)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/reset", _reset)
    app.router.add_get("/health", _health)
    return app
