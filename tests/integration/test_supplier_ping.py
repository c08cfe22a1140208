"""Supplier-side ping (issue 10, point 6) end to end, on SQLite and PostgreSQL: a source pings with a lead's
non-personal fields, leadrelay's API pings simulated bidding buyers over real HTTP on 127.0.0.1 and quotes
the best bid with a token; the lead posted with that token goes to the winning bid first, at its bid,
without pinging again. A token is single-use and bound to its source; an altered one is refused; nothing
personal is stored with the ping or sent in one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import supplier_pings
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import lead
from tests.integration.test_auction import PERSONAL, auction_config, fixed
from tests.integration.test_routing_flow import WAIT, job_of, serve
from tests.support import ADMIN, source_headers

PARTIAL = {"zip": "94103", "state": "CA", "monthly_bill": 180}
BID_KEYS = {
    *("partner", "status", "price", "shared_price", "floor", "reference", "reason", "duration_ms"),
    *("rank", "margin", "sold_as"),
}


@pytest.fixture
def bidders() -> Iterator[BuyersThread]:
    """sunco bids 12, brightpath 15, voltedge 9 (under the floor of 10); posts are accepted."""
    prices = {"sunco": fixed(12), "brightpath": fixed(15), "voltedge": fixed(9)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:
        yield buyers


def ping(http: httpx.Client, body: dict[str, Any], source: str = "web") -> httpx.Response:
    return http.post("/v1/ping", json=body, headers=source_headers(source))


def post_lead(http: httpx.Client, token: Any, source: str = "web", **fields: Any) -> httpx.Response:
    return http.post(WAIT, json={**lead(**fields), "ping_token": token}, headers=source_headers(source))


def stored_pings(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        rows = db.read(lambda c: list(c.execute(select(supplier_pings))))
    finally:
        db.dispose()
    return [dict(r._mapping) for r in rows]


def test_a_ping_quotes_the_best_bid_and_the_lead_with_its_token_goes_to_that_bid_first(
    db_url: str, bidders: BuyersThread
) -> None:
    doc = auction_config(bidders.url, bidders.ping_url)
    with serve(db_url, doc) as server, server.client() as http:
        r = ping(http, {"entity": "solar", **PARTIAL})
        assert r.status_code == 200, r.text
        quote = r.json()
        assert quote["accepted"] is True and quote["price"] == 15.0
        assert quote["ping_token"].startswith("pt1.") and quote["expires_at"].endswith("Z")
        expires = datetime.fromisoformat(quote["expires_at"])
        assert 100 <= (expires - datetime.now(UTC)).total_seconds() <= 121  # the default life: 2 minutes
        pinged = {name: len(bidders.pings(name)["pings"]) for name in ("sunco", "brightpath", "voltedge")}
        assert pinged == {"sunco": 1, "brightpath": 1, "voltedge": 1}

        r = post_lead(http, quote["ping_token"])
        assert r.status_code == 200, r.text
        answer = r.json()
        job = job_of(http, answer["lead_id"])
        # no second auction: the lead's post followed the ping's bids
        assert {name: len(bidders.pings(name)["pings"]) for name in pinged} == pinged
    assert (answer["status"], answer["partner"], answer["price"]) == ("delivered", "brightpath", 15.0)
    trace = job["trace"]
    assert trace[0] == f"ping {quote['ping_id']}: its best bid was 15.00; the ping's bids stand"
    assert "brightpath: chosen (auction, bid 15.00, post 1 of 3)" in trace
    [delivery] = job["deliveries"]
    assert (delivery["partner"], delivery["status"], delivery["price"]) == ("brightpath", "delivered", 15.0)
    bids = {b["partner"]: (b["status"], b["price"], b["rank"]) for b in job["bids"]}
    assert bids == {
        "sunco": ("accepted", 12.0, 2),
        "brightpath": ("accepted", 15.0, 1),
        "voltedge": ("accepted", 9.0, None),
    }
    # the post carried the reference of the ping's winning bid, and the buyer priced it at that bid
    [sold] = bidders.leads("brightpath")
    [brightpath_ping] = bidders.pings("brightpath")["pings"]
    assert sold["ping_reference"] == delivery["ping_reference"]
    assert sold["ping_reference"] == next(b["reference"] for b in job["bids"] if b["partner"] == "brightpath")
    assert brightpath_ping is not None and sold["bid_price"] == 15.0
    # the stored ping: quote, token used by this lead, and no lead value (its columns and each bid's keys
    # hold none; the personal values the lead brought later appear nowhere in it)
    [row] = stored_pings(db_url)
    assert (row["source"], row["price"], row["lead_id"]) == ("web", 15.0, answer["lead_id"])
    assert row["used_at"] is not None
    assert set(row["auctions"]) == {"solar-main"}
    auction = row["auctions"]["solar-main"]
    assert set(auction) == {"rule", "max_posts", "bids", "trace"}
    assert all(set(b) == BID_KEYS for b in auction["bids"])
    text = repr(row)
    for value in ("Ada", "Lovelace", "ada@example.com", "5125551212", "(512) 555-1212"):
        assert value not in text, value


def test_no_personal_field_appears_in_a_ping_as_the_buyers_received_it(
    db_url: str, bidders: BuyersThread
) -> None:
    doc = auction_config(bidders.url, bidders.ping_url)
    for partner in doc["partners"].values():  # a ping without a mapping: every value it may carry
        partner["ping"].pop("mapping", None)
    with serve(db_url, doc) as server, server.client() as http:
        personal = {"email": "ada@example.com", "phone": "5125551212"}
        refused = ping(http, {"entity": "solar", **PARTIAL, **personal})
        assert bidders.pings("sunco")["pings"] == []  # nothing was pinged
        r = ping(http, {"entity": "solar", **PARTIAL, "utm": "x"})
        assert r.status_code == 200, r.text
    assert refused.status_code == 422
    body = refused.json()
    assert {e["field"] for e in body["errors"]} == {"email", "phone"}
    assert "personal" in body["detail"]
    for name in ("sunco", "brightpath", "voltedge"):
        received = bidders.pings(name)
        assert len(received["pings"]) == 1
        assert received["fields"] and PERSONAL.isdisjoint(received["fields"]), received["fields"]
        assert "utm" not in received["fields"]  # not a field of the entity: not carried
        raw = str(received["pings"][0])
        assert "ada@example.com" not in raw and "5125551212" not in raw


def test_a_token_is_single_use_bound_to_its_source_and_refused_when_altered(
    db_url: str, bidders: BuyersThread
) -> None:
    # the tokens are what is tested, not the deadline: a loaded machine must not leave the ping without a bid
    doc = auction_config(bidders.url, bidders.ping_url, target={"deadline": "3s"})
    doc["sources"]["partnerweb"] = {"entities": ["solar"]}
    with serve(db_url, doc) as server, server.client() as http:
        quote = ping(http, {"entity": "solar", **PARTIAL}).json()
        token = quote["ping_token"]
        assert token is not None, quote
        ping_id, expires, signature = token.split(".")[1:]

        def refused(token: Any, source: str = "web") -> tuple[int, dict[str, Any]]:
            r = post_lead(http, token, source)
            return r.status_code, r.json()

        altered = f"pt1.{ping_id}.{int(expires) + 3600}.{signature}"  # a longer life
        forged = f"pt1.{ping_id}.{expires}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
        assert refused(altered)[0] == 422
        assert refused(f"pt1.{ping_id}.0{expires}.{signature}")[0] == 422  # its expiry spelled otherwise
        code, body = refused(forged)
        assert code == 422 and body["errors"] == [
            {"field": "ping_token", "error": "not a token this installation issued, or altered"}
        ]
        code, body = refused("not-a-token")
        assert code == 422 and body["errors"][0]["field"] == "ping_token"
        assert refused(12)[0] == 422
        code, body = refused(token, source="partnerweb")
        assert (code, body["detail"]) == (403, "ping_token was issued to another source")
        leads_before = len(bidders.leads("brightpath"))
        assert leads_before == 0  # no refused lead was stored or posted

        # a rejected lead (a required field missing) leaves the token unused
        r = http.post(WAIT, json={**lead(phone=None), "ping_token": token}, headers=source_headers())
        assert r.status_code == 422 and r.json()["status"] == "rejected"

        first = post_lead(http, token)
        assert first.status_code == 200 and first.json()["partner"] == "brightpath"
        code, body = refused(token)
        assert code == 409 and body["detail"].startswith("ping_token was already used (by lead ")


def test_a_token_dies_with_its_source_and_a_source_created_later_under_its_name_cannot_use_it(
    db_url: str, bidders: BuyersThread
) -> None:
    doc = auction_config(bidders.url, bidders.ping_url, target={"deadline": "3s"})
    with serve(db_url, doc) as server, server.client() as http:
        token = ping(http, {"entity": "solar", **PARTIAL}).json()["ping_token"]
        assert token is not None
        assert http.delete("/v1/sources/web", headers=ADMIN).status_code == 200
        assert http.put("/v1/sources/web", json={"entities": ["solar"]}, headers=ADMIN).status_code == 200
        fresh = http.post("/v1/sources/web/keys", headers=ADMIN).json()["key"]
        r = http.post(
            WAIT, json={**lead(), "ping_token": token}, headers={"Authorization": f"Bearer {fresh}"}
        )
        assert r.status_code == 403, r.text
        assert (
            r.json()["detail"]
            == "ping_token was issued to a source since deleted; ping again for a new quote"
        )
    [row] = stored_pings(db_url)
    assert row["used_at"] is not None and row["lead_id"] is None
    assert bidders.leads("brightpath") == []


def test_two_leads_racing_with_one_token_one_wins(db_url: str, bidders: BuyersThread) -> None:
    doc = auction_config(bidders.url, bidders.ping_url)
    with serve(db_url, doc) as server, server.client() as http:
        token = ping(http, {"entity": "solar", **PARTIAL}).json()["ping_token"]
        codes: list[int] = []
        start = threading.Barrier(4)

        def use() -> None:
            with server.client() as own:
                start.wait()
                r = own.post("/v1/leads", json={**lead(), "ping_token": token}, headers=source_headers())
                codes.append(r.status_code)

        threads = [threading.Thread(target=use) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(codes) == [202, 409, 409, 409], codes
    [row] = stored_pings(db_url)
    assert row["lead_id"] is not None


def test_a_ping_nobody_bids_on_gets_no_token(db_url: str, bidders: BuyersThread) -> None:
    doc = auction_config(bidders.url, bidders.ping_url, target={"floor": 50})
    with serve(db_url, doc) as server, server.client() as http:
        r = ping(http, {"entity": "solar", **PARTIAL})
    assert r.status_code == 200, r.text
    quote = r.json()
    assert (quote["accepted"], quote["price"], quote["ping_token"], quote["expires_at"]) == (
        False,
        None,
        None,
        None,
    )


def test_one_ping_per_lead_is_the_schemas_rule(db_url: str) -> None:
    """A sale's posting joins its lead's ping (the payout terms quoted): a second ping taken by the same lead
    would repeat its rows, so the database refuses it (a unique index where ``lead_id`` is set)."""
    now = datetime.now(UTC)

    def ping_row(ping_id: str) -> dict[str, Any]:
        return {
            "id": ping_id,
            "source": "web",
            "entity": "solar",
            "auctions": {},
            "price": 10.0,
            "value_marks": {},
            "payout": {},
            "expires_at": now.replace(year=now.year + 1),
            "used_at": None,
            "lead_id": None,
            "created_at": now,
        }

    db = Database(db_url)
    try:
        db.transaction(lambda c: c.execute(supplier_pings.insert(), [ping_row("ping_a"), ping_row("ping_b")]))
        db.transaction(
            lambda c: c.execute(
                supplier_pings.update().where(supplier_pings.c.id == "ping_a").values(lead_id="lead_1")
            )
        )
        with pytest.raises(IntegrityError):
            db.transaction(
                lambda c: c.execute(
                    supplier_pings.update().where(supplier_pings.c.id == "ping_b").values(lead_id="lead_1")
                )
            )
    finally:
        db.dispose()
