"""User choice (issue 10, point 5) end to end, on SQLite and PostgreSQL: the answer to ``?wait`` lists the
eligible partners as offers, ``POST /v1/offers/{id}/select`` posts the lead to that partner only (a real
simulated buyer on 127.0.0.1) and expires the others, a second selection is a 409, and an offer past its
time is a 410 while its job closes unsold ("no offer selected").

Time is never waited for: through the HTTP API an offer's validity is moved into the past in the database;
the services (the worker, the selection) also run on an injected clock the test moves."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from leadrelay.adapters.db.tables import offers
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.entrypoints.worker import Worker
from leadrelay.errors import Gone
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.services.user_choice import Offers
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import base_config, lead
from tests.integration.test_routing_flow import job_of, serve, with_target
from tests.support import prepare, reader, source_headers, wait_for

LOGO = "https://cdn.example.com/logos/sunco.png"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def choice_config(buyers: BuyersThread, **partners: dict[str, Any]) -> dict[str, Any]:
    """The west-coast rule offers sunco (shows its price 25, has a logo), brightpath (price 30, hidden) and
    voltedge (no display name: its name) to the consumer; a second source, ``other``, posts solar too."""
    shown = {
        "sunco": {"display_name": "SunCo Solar", "logo_url": LOGO, "show_price": True},
        "brightpath": {"display_name": "BrightPath Energy", "price": 30},
    }
    for name, extra in partners.items():
        shown[name] = shown.get(name, {}) | extra
    doc = base_config(buyers.url, **shown)
    doc["sources"]["other"] = {"entities": ["solar"]}
    rule = {"partners": ["sunco", "brightpath", "voltedge"], "strategy": "user_choice"}
    return with_target(doc, "rule", rule)


def offered(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    """Post a lead with ``?wait``: the answer comes as soon as the offers are made, not after the wait."""
    started = time.monotonic()
    r = http.post("/v1/leads?wait=20", json=lead(**fields), headers=source_headers())
    took = time.monotonic() - started
    assert r.status_code == 202, r.text
    assert took < 10, took
    body: dict[str, Any] = r.json()
    assert body["status"] == "queued" and body["offers"], body
    return body


def by_partner(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["partner"]: o for o in answer["offers"]}


def select(http: httpx.Client, offer_id: str, source: str = "web", wait: float = 15) -> httpx.Response:
    return http.post(f"/v1/offers/{offer_id}/select", params={"wait": wait}, headers=source_headers(source))


def expire_now(url: str, lead_id: str) -> None:
    """The test's clock moves past the offers' time: their validity ends a second ago."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    reader(url).transaction(
        lambda c: c.execute(update(offers).where(offers.c.lead_id == lead_id).values(expires_at=past))
    )


def test_the_selected_partner_alone_gets_the_lead_and_the_other_offers_expire(
    db_url: str, buyers: BuyersThread
) -> None:
    with serve(db_url, choice_config(buyers)) as server, server.client() as http:
        answer = offered(http, state="CA", monthly_bill=180)
        again = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
        shown = by_partner(answer)
        foreign = select(http, shown["BrightPath Energy"]["id"], source="other")
        chosen = select(http, shown["BrightPath Energy"]["id"])
        twice = select(http, shown["BrightPath Energy"]["id"])
        sibling = select(http, shown["SunCo Solar"]["id"])
        after = http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json()
        job = job_of(http, answer["lead_id"])
    # the offers, in the target's order: the display name, the logo, the price only where it is shown
    assert [o["partner"] for o in answer["offers"]] == ["SunCo Solar", "BrightPath Energy", "voltedge"]
    assert {k: v for k, v in shown["SunCo Solar"].items() if k not in ("id", "expires_at")} == {
        "partner": "SunCo Solar",
        "logo_url": LOGO,
        "price": 25.0,
    }
    assert "price" not in shown["BrightPath Energy"] and "price" not in shown["voltedge"]
    assert shown["voltedge"]["logo_url"] is None
    expires = datetime.fromisoformat(shown["voltedge"]["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)  # offer_ttl: 10m
    assert again["offers"] == answer["offers"]  # GET /v1/leads/{id} shows them too
    # another source's key does not see the offer
    assert foreign.status_code == 404, foreign.text
    # selected: posted to brightpath alone, at its price
    assert chosen.status_code == 200, chosen.text
    body = chosen.json()
    assert (body["status"], body["partner"], body["price"]) == ("delivered", "brightpath", 30.0)
    assert body["offer_id"] == shown["BrightPath Energy"]["id"]
    stats = buyers.stats()["buyers"]
    assert stats["brightpath"]["accepted"] == 1
    assert "sunco" not in stats and "voltedge" not in stats
    # a second selection, of the same offer or of a sibling, is a conflict
    assert twice.status_code == 409 and twice.json()["code"] == "conflict", twice.text
    assert "already selected" in twice.json()["detail"]
    assert sibling.status_code == 409 and "already selected" in sibling.json()["detail"], sibling.text
    assert after["status"] == "delivered" and "offers" not in after
    # the record: the offers, the selection and the expiry of the others, traced
    trace = job["trace"]
    assert any(
        line.startswith("user choice: offered sunco, brightpath, voltedge (valid 10m, until ")
        for line in trace
    )
    assert (
        f"user choice: brightpath selected (offer {shown['BrightPath Energy']['id']}); sunco, voltedge not"
        " selected (expired)"
    ) in trace
    assert "brightpath: chosen (user choice, price 30.00)" in trace
    status = {o["partner"]: o["status"] for o in job["offers"]}
    assert status == {"sunco": "expired", "brightpath": "selected", "voltedge": "expired"}
    [delivery] = job["deliveries"]
    assert (delivery["partner"], delivery["status"], delivery["price"]) == ("brightpath", "delivered", 30.0)
    assert {o["partner"]: o["delivery_id"] for o in job["offers"]}["brightpath"] == delivery["id"]


def test_an_expired_offer_is_gone_and_the_lead_closes_unsold(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, choice_config(buyers)) as server, server.client() as http:
        # selected after its time: 410, and the job closes at once (nothing left to select)
        first = offered(http, state="CA", monthly_bill=180)
        expire_now(db_url, first["lead_id"])
        gone = select(http, by_partner(first)["SunCo Solar"]["id"])
        closed = http.get(f"/v1/leads/{first['lead_id']}", headers=source_headers()).json()
        job = job_of(http, first["lead_id"])
        # nobody selects: the worker's sweep expires the offers and closes the job
        second = offered(http, state="CA", monthly_bill=180)
        expire_now(db_url, second["lead_id"])

        def unsold() -> dict[str, Any] | None:
            got: dict[str, Any] = http.get(f"/v1/leads/{second['lead_id']}", headers=source_headers()).json()
            return got if got["status"] == "unsold" else None

        swept = wait_for(unsold, timeout=15)
        swept_job = job_of(http, second["lead_id"])
        late = select(http, by_partner(second)["voltedge"]["id"])
    assert gone.status_code == 410, gone.text
    assert gone.json()["code"] == "gone"
    assert "expired at" in gone.json()["detail"] and "can no longer be selected" in gone.json()["detail"]
    assert (closed["status"], closed["reason"]) == ("unsold", "no offer selected")
    assert "offers" not in closed
    assert "user choice: offers to sunco, brightpath, voltedge expired unselected" in job["trace"]
    assert job["status"] == "unsold" and job["error"] == "no offer selected"
    assert {o["status"] for o in job["offers"]} == {"expired"}
    assert (swept["status"], swept["reason"]) == ("unsold", "no offer selected")
    assert "user choice: offers to sunco, brightpath, voltedge expired unselected" in swept_job["trace"]
    assert late.status_code == 410, late.text
    assert buyers.stats()["buyers"] == {}  # nothing was posted


def test_a_partner_at_its_cap_is_not_offered_and_a_cap_reached_since_the_offer_is_a_409(
    db_url: str, buyers: BuyersThread
) -> None:
    doc = choice_config(buyers, sunco={"caps": {"day": 1}})
    with serve(db_url, doc) as server, server.client() as http:
        a = offered(http, state="CA", monthly_bill=180)
        b = offered(http, state="CA", monthly_bill=180)  # sunco offered to both: its slot is not taken yet
        sold = select(http, by_partner(a)["SunCo Solar"]["id"])
        capped = select(http, by_partner(b)["SunCo Solar"]["id"])
        other = select(http, by_partner(b)["voltedge"]["id"])
        c = offered(http, state="CA", monthly_bill=180)
        job_c = job_of(http, c["lead_id"])
    assert sold.status_code == 200 and sold.json()["partner"] == "sunco", sold.text
    assert capped.status_code == 409, capped.text
    assert (
        "cap day 1/1 reached" in capped.json()["detail"] and "choose another offer" in capped.json()["detail"]
    )
    assert other.status_code == 200 and other.json()["partner"] == "voltedge", other.text  # still open
    assert [o["partner"] for o in c["offers"]] == ["BrightPath Energy", "voltedge"]
    assert "sunco: cap day 1/1 reached (not offered)" in job_c["trace"]
    stats = buyers.stats()["buyers"]
    assert (stats["sunco"]["accepted"], stats["voltedge"]["accepted"]) == (1, 1)


def test_two_sibling_offers_selected_at_once_sell_the_lead_once(db_url: str, buyers: BuyersThread) -> None:
    with serve(db_url, choice_config(buyers)) as server, server.client() as http:
        answer = offered(http, state="CA", monthly_bill=180)
        ids = [o["id"] for o in answer["offers"]]
        results: dict[str, int] = {}
        start = threading.Barrier(len(ids))

        def pick(offer_id: str) -> None:
            with server.client() as own:
                start.wait()
                results[offer_id] = select(own, offer_id, wait=0).status_code

        threads = [threading.Thread(target=pick, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        final = wait_for(
            lambda: (
                got
                if (got := http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).json())[
                    "status"
                ]
                == "delivered"
                else None
            )
        )
        job = job_of(http, answer["lead_id"])
    assert sorted(results.values()) == [200, 409, 409], results
    [winner] = [i for i, code in results.items() if code == 200]
    assert [o["status"] for o in job["offers"] if o["id"] == winner] == ["selected"]
    assert len(job["deliveries"]) == 1 and final["status"] == "delivered"
    assert sum(b["accepted"] for b in buyers.stats()["buyers"].values()) == 1


class Clock:
    """The worker's and the offers' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_select_expiry_and_the_sweep_by_an_injected_clock(db_url: str, buyers: BuyersThread) -> None:
    """The services as the server runs them, on a clock the test moves: an offer selected within its time
    is posted by the worker; at its end it is gone (410) and its job closes; the worker's sweep closes the
    job of offers nobody selected."""
    doc = choice_config(buyers)
    doc["profiles"]["solar-main"]["rules"][0]["send_to"]["offer_ttl"] = "10m"
    prepare(db_url, doc)
    rt = build_runtime(Settings(database_url=db_url))
    clock = Clock()
    worker = Worker(rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=clock)
    choice = Offers(rt.storage, rt.configs, rt.notifier, rt.sealer, clock=clock)
    found: dict[str, Any] = {}

    async def offered_now() -> tuple[str, dict[str, str]]:
        answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180)))
        clock.now = max(clock.now, datetime.now(UTC))  # the job is due from its arrival
        assert await worker.run_until_idle() == 1  # routed: offered, then parked
        shown = await rt.intake.outcome(answer.lead_id)
        return answer.lead_id, {o["partner"]: o["id"] for o in shown.offers}

    async def scenario() -> None:
        sold, ids = await offered_now()
        clock.now += timedelta(minutes=9, seconds=59)
        assert (await choice.select(ids["voltedge"], "web")).woken
        assert await worker.run_until_idle() == 1  # the post
        found["sold"] = await rt.intake.outcome(sold)
        late, ids = await offered_now()
        clock.now += timedelta(minutes=10)  # the offers' last instant is past
        try:
            await choice.select(ids["SunCo Solar"], "web")
        except Gone as exc:
            found["gone"] = exc.detail
        found["late"] = await rt.intake.outcome(late)
        unchosen, _ = await offered_now()
        clock.now += timedelta(minutes=10, seconds=1)
        found["swept"] = await worker.run_until_idle()  # no job to claim: the sweep closes it
        found["unchosen"] = await rt.intake.outcome(unchosen)

    async def bounded() -> None:
        try:
            async with asyncio.timeout(30):
                await scenario()
        finally:
            await rt.channels.close()

    try:
        asyncio.run(bounded())
    finally:
        rt.db.dispose()
    sold = found["sold"]
    assert (sold.status, sold.sold[0]["partner"], sold.offers) == ("delivered", "voltedge", [])
    assert buyers.stats()["buyers"]["voltedge"]["accepted"] == 1
    assert "expired at" in found["gone"]
    assert (found["late"].status, found["late"].reason) == ("unsold", "no offer selected")
    assert found["swept"] == 0
    assert (found["unchosen"].status, found["unchosen"].reason) == ("unsold", "no offer selected")
