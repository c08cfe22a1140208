"""A ping answer read without response rules: a price written as a JSON string is the bid it names, never
the partner's list price, on SQLite and PostgreSQL with bidding buyers on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config, fixed
from tests.integration.test_routing_flow import job_of, post, serve


@contextmanager
def raw_bidder(body: dict[str, Any]) -> Iterator[str]:
    """A ping endpoint on 127.0.0.1 answering 200 with ``body`` as JSON (what the simulated buyers do not
    send: a price written as a JSON string)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    held: dict[str, Any] = {}

    async def ping(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(body)

    async def start() -> None:
        app = web.Application()
        app.router.add_route("*", "/ping", ping)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        held["runner"] = runner
        held["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(held["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    try:
        yield f"http://127.0.0.1:{held['port']}/ping"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


def auction_with(bp_answer: dict[str, Any], db_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer and job of a lead auctioned to sunco (12), voltedge (9) and brightpath (list price 40),
    which answers its ping with ``bp_answer``."""
    prices = {"sunco": fixed(12), "voltedge": fixed(9)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers, raw_bidder(bp_answer) as bp_ping:

        def ping_url(name: str) -> str:
            return bp_ping if name == "brightpath" else buyers.ping_url(name)

        doc = auction_config(buyers.url, ping_url, brightpath={"price": 40})
        with serve(db_url, doc) as server, server.client() as http:
            answer = post(http, state="CA", monthly_bill=180)
            return answer, job_of(http, answer["lead_id"])


def test_a_string_price_in_a_ping_answer_is_not_replaced_by_the_list_price(db_url: str) -> None:
    """brightpath answers ``{"accepted": true, "price": "11.00"}``: its bid is 11.00, not its list price
    40; sunco wins at 12.00."""
    body = {"status": "accepted", "accepted": True, "price": "11.00", "reference": "bp-1"}
    answer, job = auction_with(body, db_url)
    bids = {b["partner"]: (b["status"], b["price"]) for b in job["bids"]}
    assert bids["brightpath"] == ("accepted", 11.0), job["trace"]
    assert (answer["partner"], answer["price"]) == ("sunco", 12.0), answer


def test_a_ping_answer_whose_price_is_not_a_number_is_an_error_bid(db_url: str) -> None:
    """brightpath answers ``{"accepted": true, "price": "call us"}``: an error bid, never its list price."""
    body = {"status": "accepted", "accepted": True, "price": "call us", "reference": "bp-1"}
    answer, job = auction_with(body, db_url)
    bids = {b["partner"]: (b["status"], b["price"]) for b in job["bids"]}
    assert bids["brightpath"] == ("error", None), job["trace"]
    assert (answer["partner"], answer["price"]) == ("sunco", 12.0), answer
