"""Resend / Rerun / Cancel (PRODUCT.md §4), the audit log and the distribution list, through a real server
on loopback and real simulated buyers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import cap_counters, deliveries
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers, wait_for

Setup = Callable[..., ServerThread]
FINAL = ("delivered", "failed", "unsold", "cancelled")


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def start(db_url: str, buyers: BuyersThread) -> Iterator[Setup]:
    """``start(profile={...}, sunco={...})``: apply the base configuration with overrides, run a server."""
    servers: list[ServerThread] = []

    def run(profile: dict[str, Any] | None = None, **partners: dict[str, Any]) -> ServerThread:
        config = base_config(buyers.url, **partners)
        config["profiles"]["solar-main"].update(profile or {})
        prepare(db_url, config)
        server = ServerThread(db_url)
        server.__enter__()
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.__exit__(None, None, None)


def in_db(url: str, fn: Callable[[Any], Any], *, write: bool = False) -> Any:
    db = Database(url)
    try:
        return db.transaction(fn) if write else db.read(fn)
    finally:
        db.dispose()


def post(http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    """Post a lead, wait for its outcome, return {lead_id, status, …, job}: the lead's only job."""
    r = http.post("/v1/leads?wait=10", json=lead(**overrides), headers=source_headers())
    assert r.status_code in (200, 202), r.text
    body: dict[str, Any] = r.json()
    items = http.get("/v1/distributions", params={"lead": body["lead_id"]}, headers=ADMIN).json()["items"]
    assert len(items) == 1
    body["job"] = items[0]["id"]
    return body


def detail(http: httpx.Client, job_id: str) -> dict[str, Any]:
    r = http.get(f"/v1/distributions/{job_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def wait_final(http: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = detail(http, job_id)
        return d if d["status"] in FINAL else None

    result: dict[str, Any] = wait_for(done, timeout=20)
    return result


def act(http: httpx.Client, job_id: str, action: str, reason: str | None = None) -> httpx.Response:
    body = {"reason": reason} if reason is not None else None
    return http.post(f"/v1/distributions/{job_id}/{action}", json=body, headers=ADMIN)


def audit_entries(http: httpx.Client, action: str, job_id: str) -> list[dict[str, Any]]:
    r = http.get("/v1/audit", headers=ADMIN)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["action"] == action and e["object_id"] == job_id]


def assert_conflict(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "invalid_transition"
    for word in words:
        assert word in body["detail"], body["detail"]


def counts(buyers: BuyersThread, name: str) -> dict[str, int]:
    """A buyer's counters (all zero before its first request)."""
    zero = {"received": 0, "accepted": 0, "rejected": 0, "errors": 0, "duplicates": 0, "tests": 0}
    got: dict[str, int] = buyers.stats()["buyers"].get(name, zero)
    return got


def cap_used(url: str, partner: str) -> int:
    rows = in_db(
        url, lambda c: list(c.execute(select(cap_counters).where(cap_counters.c.partner == partner)))
    )
    return sum(int(r.used) for r in rows)


# a TX lead with a low bill: the default rule offers brightpath (its filter fails) and voltedge
UNSOLD_LEAD = {"state": "TX", "monthly_bill": 50}
DEAD_WEBHOOK = {"webhook": {"url": "http://127.0.0.1:9/nobody", "timeout": "2s", "max_attempts": 1}}


# ---------------------------------------------------------------- resend


def test_resend_creates_a_new_linked_job_to_the_same_partner(start: Setup, buyers: BuyersThread) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        assert sold["status"] == "delivered" and sold["partner"] == "sunco"
        before = detail(http, sold["job"])
        r = act(http, sold["job"], "resend", "buyer lost it")
        assert r.status_code == 200, r.text
        new_id = r.json()["job_id"]
        assert new_id != sold["job"]
        new = wait_final(http, new_id)
        assert new["status"] == "delivered", new
        assert new["kind"] == "resend"
        assert new["parent_id"] == sold["job"]
        assert new["lead_id"] == sold["lead_id"]
        assert [d["partner"] for d in new["deliveries"]] == ["sunco"]
        assert new["deliveries"][0]["status"] == "delivered"
        assert detail(http, sold["job"]) == before  # the original is unchanged
        entries = audit_entries(http, "distribution.resend", sold["job"])
    assert len(entries) == 1
    assert entries[0]["actor"] == "admin:tester"
    assert entries[0]["reason"] == "buyer lost it"
    received = buyers.leads("sunco")
    assert len(received) == 2  # the buyer took it again: a new job has a new Idempotency-Key
    assert received[0]["key"] != received[1]["key"]
    assert counts(buyers, "sunco")["duplicates"] == 0
    assert counts(buyers, "brightpath")["received"] == 0


def test_resend_goes_through_the_partners_current_channel(start: Setup, buyers: BuyersThread) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        sunco = http.get("/v1/partners/sunco", headers=ADMIN).json()
        sunco.pop("name")
        sunco["channel"] = {"webhook": {"url": buyers.url("sunco-new"), "timeout": "5s"}}
        assert http.put("/v1/partners/sunco", json=sunco, headers=ADMIN).status_code == 200
        new_id = act(http, sold["job"], "resend").json()["job_id"]
        assert wait_final(http, new_id)["status"] == "delivered"
        lead_status = http.get(f"/v1/leads/{sold['lead_id']}", headers=source_headers()).json()["status"]
        assert lead_status == "delivered"
    assert counts(buyers, "sunco")["received"] == 1
    assert counts(buyers, "sunco-new")["accepted"] == 1
    assert buyers.leads("sunco-new")[0]["body"]["first_name"] == "Ada"


@pytest.mark.parametrize("state", ["unsold", "failed"])
@pytest.mark.sqlite_only
def test_resend_of_a_job_that_was_not_delivered_is_409(start: Setup, state: str) -> None:
    if state == "unsold":
        server = start(voltedge={"paused": True})
    else:
        server = start(voltedge={"channel": DEAD_WEBHOOK})
    with server.client() as http:
        job = post(http, **UNSOLD_LEAD)["job"]
        assert wait_final(http, job)["status"] == state
        r = act(http, job, "resend")
        assert_conflict(r, "resend is only for delivered", state)
        assert len(http.get("/v1/distributions", headers=ADMIN).json()["items"]) == 1  # no new job
        assert audit_entries(http, "distribution.resend", job) == []


# ---------------------------------------------------------------- rerun


@pytest.mark.parametrize("state", ["unsold", "failed"])
def test_rerun_routes_the_same_job_again_under_the_current_config(
    start: Setup, buyers: BuyersThread, state: str
) -> None:
    if state == "unsold":
        server = start(voltedge={"paused": True})
    else:
        server = start(voltedge={"channel": DEAD_WEBHOOK})
    with server.client() as http:
        job = post(http, **UNSOLD_LEAD)
        first = wait_final(http, job["job"])
        assert first["status"] == state
        assert first["error"]
        # the operator repairs voltedge through the admin API, then reruns
        voltedge = http.get("/v1/partners/voltedge", headers=ADMIN).json()
        voltedge.pop("name")
        voltedge["paused"] = False
        voltedge["channel"] = {"webhook": {"url": buyers.url("voltedge"), "timeout": "5s"}}
        r = http.put("/v1/partners/voltedge", json=voltedge, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["action"] == "updated"
        r = act(http, job["job"], "rerun", "voltedge is back")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "received", "job_id": job["job"]}
        again = wait_final(http, job["job"])
        assert again["status"] == "delivered", again
        assert again["error"] is None
        assert again["excluded"] == []
        assert [(d["partner"], d["status"]) for d in again["deliveries"]][-1] == ("voltedge", "delivered")
        assert any(line.startswith("rerun by admin:tester") for line in again["trace"]), again["trace"]
        assert len(http.get("/v1/distributions", headers=ADMIN).json()["items"]) == 1  # the same job
        lead_status = http.get(f"/v1/leads/{job['lead_id']}", headers=source_headers()).json()["status"]
        assert lead_status == "delivered"
        entries = audit_entries(http, "distribution.rerun", job["job"])
    assert len(entries) == 1
    assert entries[0]["actor"] == "admin:tester"
    assert entries[0]["reason"] == "voltedge is back"
    assert counts(buyers, "voltedge")["accepted"] == 1


@pytest.mark.parametrize("state", ["delivered", "cancelled"])
@pytest.mark.sqlite_only
def test_rerun_of_a_delivered_or_cancelled_job_is_409(start: Setup, state: str) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        if state == "cancelled":
            assert act(http, sold["job"], "cancel").status_code == 200
        before = detail(http, sold["job"])
        assert before["status"] == state
        assert_conflict(act(http, sold["job"], "rerun"), state)
        assert detail(http, sold["job"]) == before
        assert audit_entries(http, "distribution.rerun", sold["job"]) == []


# ---------------------------------------------------------------- cancel


def test_cancel_of_a_delivered_job_releases_the_cap_slot(start: Setup, db_url: str) -> None:
    server = start(sunco={"caps": {"day": 5, "month": 100}})
    with server.client() as http:
        sold = post(http)
        assert sold["partner"] == "sunco"
        assert cap_used(db_url, "sunco") == 2  # one slot in the day window, one in the month window
        r = act(http, sold["job"], "cancel", "consumer asked")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["redistributed_as"] is None
        after = detail(http, sold["job"])
        assert after["status"] == "cancelled"
        assert [d["status"] for d in after["deliveries"]] == ["cancelled"]
        assert after["deliveries"][0]["cancelled_at"] is not None
        assert cap_used(db_url, "sunco") == 0
        assert len(http.get("/v1/distributions", headers=ADMIN).json()["items"]) == 1  # no redistribution
        lead_status = http.get(f"/v1/leads/{sold['lead_id']}", headers=source_headers()).json()["status"]
        assert lead_status == "cancelled"
        entries = audit_entries(http, "distribution.cancel", sold["job"])
        assert len(entries) == 1
        assert entries[0]["actor"] == "admin:tester"
        assert entries[0]["reason"] == "consumer asked"
        assert_conflict(act(http, sold["job"], "cancel"), "cancelled")  # not twice


def test_cancel_of_an_invoiced_delivery_is_409(start: Setup, db_url: str) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        in_db(
            db_url,
            lambda c: c.execute(
                update(deliveries).where(deliveries.c.job_id == sold["job"]).values(invoiced=True)
            ),
            write=True,
        )
        assert detail(http, sold["job"])["actions"]["cancel"] == {
            "allowed": False,
            "reason": "cannot cancel: the delivery to sunco is already invoiced",
            "partners": [],
        }
        assert_conflict(act(http, sold["job"], "cancel"), "invoiced")
        after = detail(http, sold["job"])
        assert after["status"] == "delivered"
        assert after["deliveries"][0]["status"] == "delivered"
        assert audit_entries(http, "distribution.cancel", sold["job"]) == []


def _age_delivery(url: str, job_id: str, days: float) -> None:
    when = datetime.now(UTC) - timedelta(days=days)
    in_db(
        url,
        lambda c: c.execute(
            update(deliveries).where(deliveries.c.job_id == job_id).values(delivered_at=when)
        ),
        write=True,
    )


@pytest.mark.sqlite_only
def test_cancel_after_the_cancellation_period_is_409(start: Setup, db_url: str) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        _age_delivery(db_url, sold["job"], 8)
        shown = detail(http, sold["job"])["actions"]
        assert shown["cancel"]["allowed"] is False
        assert "cancellation period of sunco (7 days) has passed" in shown["cancel"]["reason"]
        assert shown["resend"] == {"allowed": True, "reason": None, "partners": ["sunco"]}
        assert shown["rerun"]["allowed"] is False and "(use resend)" in shown["rerun"]["reason"]
        assert_conflict(act(http, sold["job"], "cancel"), "cancellation period", "7 days")
        assert detail(http, sold["job"])["status"] == "delivered"


@pytest.mark.sqlite_only
def test_cancel_period_in_hours_is_honoured(start: Setup, db_url: str) -> None:
    server = start(sunco={"cancel_period": "12h"})
    with server.client() as http:
        sold = post(http)
        _age_delivery(db_url, sold["job"], 13 / 24)
        assert_conflict(act(http, sold["job"], "cancel"), "cancellation period")
        assert detail(http, sold["job"])["status"] == "delivered"


@pytest.mark.sqlite_only
def test_cancel_within_a_longer_partner_cancellation_period(start: Setup, db_url: str) -> None:
    server = start(sunco={"cancel_period": "30d"})
    with server.client() as http:
        sold = post(http)
        _age_delivery(db_url, sold["job"], 8)
        r = act(http, sold["job"], "cancel")
        assert r.status_code == 200, r.text
        assert detail(http, sold["job"])["status"] == "cancelled"


def test_cancel_with_auto_redistribute_routes_to_another_partner(start: Setup, buyers: BuyersThread) -> None:
    server = start(profile={"auto_redistribute": True})
    with server.client() as http:
        sold = post(http)
        assert sold["partner"] == "sunco"  # west-coast, priority: sunco first
        r = act(http, sold["job"], "cancel", "wrong buyer")
        assert r.status_code == 200, r.text
        new_id = r.json()["redistributed_as"]
        assert new_id and new_id != sold["job"]
        new = wait_final(http, new_id)
        assert new["status"] == "delivered", new
        assert new["parent_id"] == sold["job"]
        assert [(d["partner"], d["status"]) for d in new["deliveries"]] == [("brightpath", "delivered")]
        assert detail(http, sold["job"])["status"] == "cancelled"
        assert (
            http.get(f"/v1/leads/{sold['lead_id']}", headers=source_headers()).json()["status"] == "delivered"
        )
    assert counts(buyers, "sunco")["received"] == 1  # never the cancelled partner again
    assert counts(buyers, "brightpath")["accepted"] == 1


def test_auto_redistribute_with_no_other_eligible_partner_ends_unsold(
    start: Setup, buyers: BuyersThread
) -> None:
    # brightpath's filter refuses a low bill: after cancelling sunco nobody else may take the lead
    server = start(profile={"auto_redistribute": True})
    with server.client() as http:
        sold = post(http, monthly_bill=50)
        assert sold["partner"] == "sunco"
        new_id = act(http, sold["job"], "cancel").json()["redistributed_as"]
        new = wait_final(http, new_id)
        assert new["status"] == "unsold", new
        assert new["deliveries"] == []
    assert counts(buyers, "sunco")["received"] == 1


# ---------------------------------------------------------------- unknown ids


@pytest.mark.parametrize("action", ["resend", "rerun", "cancel"])
@pytest.mark.sqlite_only
def test_action_on_an_unknown_distribution_is_404(start: Setup, action: str) -> None:
    server = start()
    with server.client() as http:
        r = act(http, "job_doesnotexist", action)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "not_found"
        assert "job_doesnotexist" in r.json()["detail"]
        assert http.get("/v1/distributions/job_doesnotexist", headers=ADMIN).status_code == 404


@pytest.mark.parametrize("action", ["resend", "rerun", "cancel"])
@pytest.mark.sqlite_only
def test_actions_need_an_admin_token(start: Setup, action: str) -> None:
    server = start()
    with server.client() as http:
        sold = post(http)
        r = http.post(f"/v1/distributions/{sold['job']}/{action}", headers=source_headers())
        assert r.status_code == 401
        assert detail(http, sold["job"])["status"] == "delivered"


# ---------------------------------------------------------------- the list: filters and pagination


def test_distribution_list_filters_and_cursor_pagination(start: Setup) -> None:
    server = start(voltedge={"paused": True})
    with server.client() as http:
        west = [post(http, first_name=f"West{i}") for i in range(2)]  # sunco
        east = [post(http, state="TX", first_name=f"East{i}") for i in range(2)]  # brightpath
        unsold = post(http, first_name="Low", **UNSOLD_LEAD)
        every = {j["job"] for j in [*west, *east, unsold]}
        assert [j["status"] for j in [*west, *east, unsold]] == ["delivered"] * 4 + ["unsold"]

        def ids(**params: Any) -> set[str]:
            r = http.get("/v1/distributions", params=params, headers=ADMIN)
            assert r.status_code == 200, r.text
            return {item["id"] for item in r.json()["items"]}

        assert ids() == every
        assert ids(status="delivered") == {j["job"] for j in [*west, *east]}
        assert ids(status="unsold") == {unsold["job"]}
        assert ids(status="cancelled") == set()
        assert ids(partner="sunco") == {j["job"] for j in west}
        assert ids(partner="brightpath") == {j["job"] for j in east}
        assert ids(partner="voltedge") == set()
        assert ids(profile="solar-main") == every
        assert ids(profile="other") == set()
        assert ids(source="web") == every
        assert ids(lead=east[1]["lead_id"]) == {east[1]["job"]}
        assert ids(rule="west-coast") == {j["job"] for j in west}
        assert ids(rule="nope") == set()
        assert ids(status="delivered", partner="sunco", lead=west[0]["lead_id"]) == {west[0]["job"]}
        assert ids(since=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == set()
        assert ids(until=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == every

        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):  # bounded: 5 jobs need 3 pages
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/distributions", params=params, headers=ADMIN).json()
            assert len(page["items"]) <= 2
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 5
        assert set(seen) == every
        assert seen == sorted(seen, reverse=True)  # newest first

        bad = http.get("/v1/distributions", params={"status": "sold"}, headers=ADMIN)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "status"
        assert http.get("/v1/distributions", params={"limit": 0}, headers=ADMIN).status_code == 422


def test_two_cancels_at_once_take_effect_once(start: Setup, db_url: str, buyers: BuyersThread) -> None:
    """A double click: exactly one cancel wins, the slot is given back once, one redistribution at most."""
    from concurrent.futures import ThreadPoolExecutor

    server = start(profile={"auto_redistribute": True}, sunco={"caps": {"day": 5}})
    with server.client() as http:
        sold = post(http)
        assert post(http, first_name="Other")["partner"] == "sunco"
        assert cap_used(db_url, "sunco") == 2

        def cancel(_: int) -> httpx.Response:
            with server.client() as own:
                return act(own, sold["job"], "cancel", "double click")

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(cancel, range(4)))
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
        new_jobs = [r.json()["redistributed_as"] for r in answers if r.status_code == 200]
        assert len(new_jobs) == 1 and new_jobs[0]
        assert wait_final(http, new_jobs[0])["status"] == "delivered"
        assert cap_used(db_url, "sunco") == 1  # given back once (twice would leave 0)
        assert len(audit_entries(http, "distribution.cancel", sold["job"])) == 1


def test_four_resends_at_once_make_one_resend(db_url: str, buyers: BuyersThread) -> None:
    """A double click, or two operators: while a resend is on its way, another is refused (409 naming it),
    so the buyer is not sent the lead twice more; the log's menu says why. (No worker in the second
    server: the resend stays on its way for the whole test.)"""
    from concurrent.futures import ThreadPoolExecutor

    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url) as server, server.client() as http:
        sold = post(http)
    with ServerThread(db_url, workers=0) as server, server.client() as http:

        def resend(_: int) -> httpx.Response:
            with server.client() as own:
                return act(own, sold["job"], "resend", "double click")

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(resend, range(4)))
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
        [new_id] = [r.json()["job_id"] for r in answers if r.status_code == 200]
        for r in answers:
            if r.status_code == 409:
                assert_conflict(r, f"the lead of {sold['job']} is being resent ({new_id})")
        kinds = [i["kind"] for i in http.get("/v1/distributions", headers=ADMIN).json()["items"]]
        assert sorted(kinds) == ["resend", "route"]
        assert len(audit_entries(http, "distribution.resend", sold["job"])) == 1
        shown = detail(http, sold["job"])["actions"]["resend"]
        assert shown["allowed"] is False and new_id in shown["reason"], shown


def test_a_resend_of_the_original_waits_for_a_resend_of_its_resend(db_url: str, buyers: BuyersThread) -> None:
    """Once a first resend R1 of O is delivered, an operator resending R1 starts R2; resending O while R2
    is on its way is refused too, in the action and in the log's menu (the guard looked at O's own
    resends only: the buyer was sent the lead twice more at once)."""
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url) as server, server.client() as http:
        sold = post(http)
        r1 = act(http, sold["job"], "resend", "buyer lost it").json()["job_id"]
        assert wait_final(http, r1)["status"] == "delivered"
    with ServerThread(db_url, workers=0) as server, server.client() as http:  # R2 stays on its way
        second = act(http, r1, "resend", "operator A")
        assert second.status_code == 200, second.text
        r2 = second.json()["job_id"]
        menu = detail(http, sold["job"])["actions"]["resend"]
        third = act(http, sold["job"], "resend", "operator B")
    assert_conflict(third, f"the lead of {sold['job']} is being resent ({r2})")
    assert menu["allowed"] is False and r2 in menu["reason"], menu


def _held(http: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = detail(http, job_id)
        return d if d["status"] in ("held", "delivered", "failed", "unsold") else None

    found: dict[str, Any] = wait_for(done, timeout=20)
    return found


def test_a_second_resend_waits_for_a_resend_held_for_pick_up(db_url: str, buyers: BuyersThread) -> None:
    """A resend whose webhook failed over to ``hold`` is on its way too (the partner has it for pick-up):
    a second resend is refused, in the action and the menu (it was allowed: the lead twice more)."""
    doc = base_config(buyers.url)
    hook = {"url": buyers.url("sunco"), "timeout": "2s", "max_attempts": 1}
    doc["partners"] = {
        "sunco": {**doc["partners"]["sunco"], "channel": {"webhook": hook}, "failover": [{"hold": {}}]}
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    prepare(db_url, doc)
    with ServerThread(db_url) as server, server.client() as http:
        sold = post(http)
        assert wait_final(http, sold["job"])["status"] == "delivered"
        buyers.set_error_rate(1.0)  # sunco's webhook errs: the resend fails over to hold
        first = act(http, sold["job"], "resend", "buyer lost it")
        assert first.status_code == 200, first.text
        r1 = first.json()["job_id"]
        assert _held(http, r1)["status"] == "held"  # stored for sunco's pick-up: on its way to sunco
        menu = detail(http, sold["job"])["actions"]["resend"]
        second = act(http, sold["job"], "resend", "operator B")
    assert second.status_code == 409, (second.status_code, second.text)
    assert menu["allowed"] is False, menu
    assert_conflict(second, f"the lead of {sold['job']} is being resent ({r1})")
