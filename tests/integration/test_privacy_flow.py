"""Privacy through the real server: sensitive fields encrypted at rest, erasure, retention.

The plaintext test reads every byte of the SQLite database (file, WAL and shared memory) and, on
PostgreSQL, every text value of every table: a sensitive value posted with a lead, routed, delivered to a
buyer who echoes it back, must appear nowhere.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update
from typer.testing import CliRunner

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import dedup_marks
from leadrelay.adapters.db.tables import attempts, audit_log, cap_counters, deliveries, jobs, leads
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.domain.retry import RetryPolicy
from leadrelay.entrypoints.cli import app
from leadrelay.entrypoints.worker import Worker
from leadrelay.errors import InvalidTransition
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    everything_stored,
    lead,
    prepare,
    rows,
    run_cli,
    source_headers,
    wait_for,
)

SECRET = "a-test-secret-of-enough-length-0001"
SSN = "078-05-1120"
INCOME = "Income8675309"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def sensitive_config(buyers: BuyersThread, **entity: Any) -> dict[str, Any]:
    doc = base_config(buyers.url)
    fields = doc["entities"]["solar"]["fields"]
    fields["ssn"] = {"type": "string", "sensitive": True}
    fields["income_note"] = {"type": "string", "sensitive": True}
    doc["entities"]["solar"].update(entity)
    # a rule on a sensitive field: its value would otherwise be quoted in the routing trace
    doc["profiles"]["solar-main"]["rules"].insert(
        0,
        {
            "name": "vip",
            "when": {"field": "income_note", "op": "eq", "value": "nobody"},
            "send_to": {"partner": "voltedge"},
        },
    )
    return doc


def post(server: ServerThread, body: dict[str, Any], wait: int = 10) -> dict[str, Any]:
    with server.client() as http:
        r = http.post(f"/v1/leads?wait={wait}", json=body, headers=source_headers())
    assert r.status_code in (200, 202, 422), r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_no_plaintext_of_a_sensitive_value_in_the_database(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        delivered = post(server, lead(ssn=SSN, income_note=INCOME))
        rejected = post(server, lead(ssn=SSN, income_note=INCOME, phone="12"))  # kept raw, still sealed
        with server.client() as http:
            masked = http.get(f"/v1/leads/{delivered['lead_id']}/record", headers=ADMIN).json()
            shown = http.get(f"/v1/leads/{delivered['lead_id']}/record?reveal=true", headers=ADMIN).json()
            job_id = http.get(f"/v1/distributions?lead={delivered['lead_id']}", headers=ADMIN).json()
            detail = http.get(f"/v1/distributions/{job_id['items'][0]['id']}", headers=ADMIN).json()
    assert delivered["status"] == "delivered"
    assert rejected["status"] == "rejected"
    # the buyer received the real values (decrypted only to deliver) ...
    sent = buyers.leads(delivered["partner"])[0]["body"]
    assert sent["ssn"] == SSN and sent["income_note"] == INCOME
    # ... an operator sees them masked, or revealed on request (audited) ...
    assert masked["data"]["ssn"] == "***" and masked["sensitive"] == ["income_note", "ssn"]
    assert shown["data"]["ssn"] == SSN and shown["raw"]["income_note"] == INCOME
    assert any(r.action == "lead.reveal" for r in rows(db_url, select(audit_log)))
    # ... the log's request record and the trace show no value ...
    assert SSN not in str(detail) and INCOME not in str(detail)
    # ... and not one byte of the database holds them
    stored = everything_stored(db_url)
    for secret in (SSN, INCOME, SSN.replace("-", "")):
        assert secret.encode() not in stored
    assert b"lr1:k1:" in stored  # what is there instead


@pytest.mark.sqlite_only
def test_sensitive_fields_need_the_secret(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:  # no LEADRELAY_SECRET_KEY
        r = http.post("/v1/leads", json=lead(ssn=SSN), headers=source_headers())
    assert r.status_code == 503
    assert "LEADRELAY_SECRET_KEY" in r.json()["detail"]
    assert rows(db_url, select(leads)) == []  # nothing half-written


def test_erase_a_lead_keeps_the_business_record(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers, dedup={"keys": ["email"]}))
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead(ssn=SSN, last_name="Byron-King"))
        other = post(server, lead(email="grace@example.com", phone="(512) 555-7777"))
        with server.client() as http:
            r = http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN)
            again = http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN)
            missing = http.delete("/v1/leads/lead_nope", headers=ADMIN)
            anonymous = http.delete(f"/v1/leads/{other['lead_id']}")
    assert r.status_code == 200 and r.json()["already_erased"] is False
    assert again.json()["already_erased"] is True
    assert missing.status_code == 404 and anonymous.status_code == 401
    erased = rows(db_url, select(leads).where(leads.c.id == answer["lead_id"]))[0]
    assert erased.data == {} and erased.raw == {} and erased.sealed is None and erased.erased_at is not None
    assert erased.status == "delivered" and erased.source == "web"  # the record stays
    delivery = rows(db_url, select(deliveries).where(deliveries.c.lead_id == answer["lead_id"]))[0]
    assert delivery.partner == answer["partner"] and delivery.price == answer["price"]
    attempt = rows(db_url, select(attempts).where(attempts.c.delivery_id == delivery.id))[0]
    assert attempt.request == {"erased": True} and attempt.response_body is None
    assert attempt.outcome == "success"
    assert rows(db_url, select(dedup_marks).where(dedup_marks.c.lead_id == answer["lead_id"])) == []
    kept = rows(db_url, select(leads).where(leads.c.id == other["lead_id"]))[0]
    assert kept.data["email"] == "grace@example.com"  # only that lead
    stored = everything_stored(db_url)  # not even in free pages or the write-ahead log
    assert b"Byron-King" not in stored and b"Lovelace" in stored


def erase_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`leadrelay leads erase ARGS` (in this process)."""
    return run_cli(["leads", "erase", *args, "--database-url", url], {"LEADRELAY_SECRET_KEY": SECRET})


def test_erase_a_person_by_email_through_the_cli(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        first = post(server, lead(email="Ada@Example.com"))
        second = post(server, lead(phone="(512) 555-9000"))  # same email, typed in lower case
        third = post(server, lead(email="grace@example.com", phone="(512) 555-7777"))
    bad = erase_cli(db_url, "--email", "nope")
    assert bad.returncode == 1 and "email: not a valid email address" in bad.stderr
    done = erase_cli(db_url, "--email", "ADA@example.com")
    assert done.returncode == 0, done.stderr
    assert "2 lead(s) found and erased" in done.stdout
    by_id = {r.id: r for r in rows(db_url, select(leads))}
    assert by_id[first["lead_id"]].erased_at is not None and by_id[second["lead_id"]].erased_at is not None
    assert by_id[third["lead_id"]].erased_at is None
    audit = [r for r in rows(db_url, select(audit_log)) if r.action == "lead.erase"]
    assert (
        audit[0].actor.startswith("cli")
        and audit[0].detail["by"] == "email"
        and audit[0].detail["erased"] == 2
    )


def test_retention_purges_old_leads(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        old = post(server, lead(ssn=SSN))
        new = post(server, lead(email="grace@example.com"))
    db = Database(db_url)
    long_ago = datetime.now(UTC) - timedelta(days=100)
    db.transaction(
        lambda c: c.execute(update(leads).where(leads.c.id == old["lead_id"]).values(created_at=long_ago))
    )
    db.dispose()
    # the workers of a server started with a retention setting purge at start-up, then hourly
    with ServerThread(db_url, secret_key=SECRET, retention_days=90):
        wait_for(lambda: rows(db_url, select(leads.c.erased_at).where(leads.c.id == old["lead_id"]))[0][0])
    by_id = {r.id: r for r in rows(db_url, select(leads))}
    assert by_id[old["lead_id"]].data == {} and by_id[new["lead_id"]].data != {}
    assert any(
        r.action == "lead.erase" and r.detail["by"] == "retention" for r in rows(db_url, select(audit_log))
    )


def test_trace_of_a_rule_on_a_sensitive_field_is_redacted(db_url: str, buyers: BuyersThread) -> None:
    doc = sensitive_config(buyers)
    doc = copy.deepcopy(doc)
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, lead(income_note=INCOME))
    trace = rows(db_url, select(jobs.c.trace).where(jobs.c.lead_id == answer["lead_id"]))[0][0]
    assert INCOME not in str(trace)


@pytest.mark.sqlite_only
def test_an_erasure_request_needs_a_valid_email_or_phone(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, sensitive_config(buyers))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        empty = http.post("/v1/erasures", json={}, headers=ADMIN)
        bad = http.post("/v1/erasures", json={"email": "nope", "phone": "12"}, headers=ADMIN)
        unknown_key = http.post("/v1/erasures", json={"name": "Ada"}, headers=ADMIN)
        nobody = http.post("/v1/erasures", json={"email": "nobody@example.com"}, headers=ADMIN)
    assert empty.status_code == 422 and "give an email or a phone" in empty.text
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"email", "phone"}
    assert unknown_key.status_code == 422
    assert nobody.status_code == 200 and nobody.json() == {"leads": [], "count": 0}


def test_erase_a_person_by_phone_finds_the_number_with_and_without_extensions(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url, workers=0) as server:
        desk = post(server, lead(phone="(512) 555-1212 x123"), wait=0)
        plain = post(server, lead(email="b@example.com", phone="+1 512.555.1212"), wait=0)
        other = post(server, lead(email="c@example.com", phone="(512) 555-7777 x123"), wait=0)
        with server.client() as http:
            r = http.post("/v1/erasures", json={"phone": "512-555-1212 ext 9"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["leads"]) == sorted([desk["lead_id"], plain["lead_id"]])
    by_id = {row.id: row for row in rows(db_url, select(leads))}
    assert by_id[desk["lead_id"]].erased_at is not None
    assert by_id[other["lead_id"]].erased_at is None


# ---------------------------------------------------------------- what buyers echo back

SENTINEL_SSN = "987-65-4321"
API_KEY = "Key-Sentinel-7f3a9c"
# the SSN in every form the product could write it: with any separators (987-65-4321, 987654321, 987 65 4321)
SSN_FORMS = re.compile(rb"9\D{0,3}8\D{0,3}7\D{0,3}6\D{0,3}5\D{0,3}4\D{0,3}3\D{0,3}2\D{0,3}1")
KEY_FORMS = re.compile(re.escape(API_KEY).encode(), re.IGNORECASE)


class EchoBuyer:
    """A real aiohttp buyer on 127.0.0.1 (in a thread) that answers with everything it was sent: the body
    and the request headers, in the reason it gives; 422 at /refuse, 500 at /broken, 200 elsewhere."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    async def _echo(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        headers = dict(request.headers)
        self.received.append({"path": request.path, "body": body, "headers": headers})
        key = headers.get("X-Api-Key", "")
        echoed = {"headers": headers, "lead": body, "KEY": key.upper()}
        if request.path == "/refuse":  # the reason a buyer gives quotes the lead and the key
            return web.json_response({"error": f"invalid lead {body} (key {key})", **echoed}, status=422)
        if request.path == "/broken":
            return web.json_response({"trace": f"crashed on {body} key={key}", **echoed}, status=500)
        return web.json_response({"status": "accepted", "id": "ref-1", **echoed})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{name}", self._echo)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> EchoBuyer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


def echo_config(buyer: EchoBuyer) -> dict[str, Any]:
    doc = base_config(lambda name: buyer.url(name))
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}

    def partner(path: str, **webhook: Any) -> dict[str, Any]:
        hook = {"url": buyer.url(path), "max_attempts": 1, "headers": {"X-Api-Key": API_KEY}, **webhook}
        return {"timezone": "America/New_York", "channel": {"webhook": hook}}

    digits = {"applicant.ssn": "{{ lead.ssn | digits }}", "applicant.name": "{{ lead.first_name }}"}
    doc["partners"] = {
        "refuser": partner("refuse", mapping=digits),  # 422: a final refusal, reason read from the body
        "broken": partner("broken", fields=["ssn", "first_name"]),  # 500: an error, given up after 1
        "taker": partner("take", format="form", mapping={**digits, "ssn_upper": "{{ lead.ssn | upper }}"}),
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {
        "partners": ["refuser", "broken", "taker"],
        "strategy": "priority",
    }
    return doc


def pg_dump(url: str) -> bytes:
    name = url.rsplit("/", 1)[1]
    done = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True, timeout=120, check=True
    )
    return done.stdout


def test_what_buyers_echo_leaves_no_sensitive_value_or_secret_anywhere(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An SSN (sensitive) and an X-Api-Key header (secret) that buyers echo in 422, 500 and 200 answers —
    also as the mapping's ``digits`` made the SSN — are in no column, file, WAL, dump, log or API output."""
    caplog.set_level(logging.DEBUG)
    with EchoBuyer() as buyer:
        prepare(db_url, {"sources": {"web": {}}})
        with ServerThread(db_url, secret_key=SECRET) as server:
            with server.client() as http:
                applied = http.post("/v1/config", json=echo_config(buyer), headers=ADMIN)
                assert applied.status_code == 200, applied.text
            answer = post(server, lead(ssn=SENTINEL_SSN))
            with server.client() as http:
                listed = http.get("/v1/distributions", headers=ADMIN)
                job_id = listed.json()["items"][0]["id"]
                outputs = [
                    listed.text,
                    http.get(f"/v1/distributions?lead={answer['lead_id']}", headers=ADMIN).text,
                    http.get(f"/v1/distributions/{job_id}", headers=ADMIN).text,
                    http.get(f"/v1/leads/{answer['lead_id']}", headers=source_headers()).text,
                    http.get(f"/v1/leads/{answer['lead_id']}/record", headers=ADMIN).text,
                    http.get("/v1/audit", headers=ADMIN).text,
                    http.get("/v1/partners", headers=ADMIN).text,
                ]
            stored_live = everything_stored(db_url)  # SQLite: the file, its -wal and -shm, while open
        shown = CliRunner().invoke(app, ["log", "show", job_id, "--database-url", db_url])
        assert shown.exit_code == 0, shown.output
        outputs.append(shown.stdout)
    # the buyers really got (and echoed) the values: the test is about what leadrelay keeps of them
    assert answer["status"] == "delivered" and answer["partner"] == "taker"
    assert [r["path"] for r in buyer.received] == ["/refuse", "/broken", "/take"]
    assert all(
        SSN_FORMS.search(r["body"].encode()) and r["headers"]["X-Api-Key"] == API_KEY for r in buyer.received
    )
    assert "987654321" in buyer.received[0]["body"]  # the mapping's digits
    detail = json.loads(outputs[2])
    reasons = [d["reason"] for d in detail["deliveries"]]
    assert any(r and r.startswith("partner refused: invalid lead") for r in reasons), reasons
    assert any(r and "HTTP 500" in r for r in reasons), reasons
    assert "***" in outputs[2]  # what is there instead
    places = {
        "GET /v1/distributions": outputs[0],
        "GET /v1/distributions?lead=": outputs[1],
        "GET /v1/distributions/{id}": outputs[2],
        "GET /v1/leads/{id}": outputs[3],
        "GET /v1/leads/{id}/record": outputs[4],
        "GET /v1/audit": outputs[5],
        "GET /v1/partners": outputs[6],
        "log show": outputs[7],
        "logs": caplog.text,
    }
    blobs = {name: text.encode() for name, text in places.items()}
    blobs["database while serving"] = stored_live
    blobs["database after"] = everything_stored(db_url)
    if db_url.startswith("postgresql"):
        blobs["pg_dump"] = pg_dump(db_url)
    else:
        wal = Path(db_url.split("///", 1)[1] + "-wal")
        blobs["sqlite -wal"] = wal.read_bytes() if wal.exists() else b""
    hits = [
        (name, found.group().decode(errors="replace"))
        for name, blob in blobs.items()
        for pattern in (SSN_FORMS, KEY_FORMS)
        if (found := pattern.search(blob))
    ]
    assert hits == []


def test_erasure_takes_the_person_out_of_the_reasons_buyers_gave(db_url: str) -> None:
    """A refusal's reason quotes the lead (a non-sensitive name here): erasing the lead removes it from the
    deliveries' reasons too, not only from the attempts and the trace."""
    with EchoBuyer() as buyer:
        prepare(db_url, {"sources": {"web": {}}})
        with ServerThread(db_url, secret_key=SECRET) as server:
            with server.client() as http:
                assert http.post("/v1/config", json=echo_config(buyer), headers=ADMIN).status_code == 200
            answer = post(server, lead(first_name="Byron-King", ssn=SENTINEL_SSN))
            quoted = [r.reason for r in rows(db_url, select(deliveries.c.reason)) if r.reason]
            assert any("Byron-King" in r for r in quoted)  # the buyers' reasons quote the person
            with server.client() as http:
                assert http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN).status_code == 200
    reasons = [r.reason for r in rows(db_url, select(deliveries.c.reason)) if r.reason]
    assert reasons and all("Byron-King" not in r for r in reasons)
    assert b"Byron-King" not in everything_stored(db_url)


# ---------------------------------------------------------------- a lead not sent yet, erased


class Clock:
    """The worker's clock, moved by the test: a retry is due when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def scripted_runtime(url: str, buyer: ScriptedBuyer, **sunco: Any) -> Runtime:
    """sunco (10 leads a day) posts to ``buyer``; a Californian goes to sunco."""
    doc = base_config(lambda name: buyer.url(name))
    doc["partners"]["sunco"].update({"caps": {"day": 10}, **sunco})
    prepare(url, doc)
    return build_runtime(Settings(database_url=url, secret_key=SECRET))


def run_scenario(rt: Runtime, scenario: Callable[[], Awaitable[None]]) -> None:
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


async def accept(rt: Runtime) -> str:
    answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA", last_name="Byron-King")))
    assert answer.status == "queued"
    return answer.lead_id


def erased_and_closed(url: str, lead_id: str, why: str) -> None:
    """The lead's one delivery failed with ``why``, its job closed unsold, sunco's cap slot given back,
    its attempts blank, and the person nowhere in the database."""
    (delivery,) = rows(url, select(deliveries).where(deliveries.c.lead_id == lead_id))
    assert (delivery.status, delivery.reason, delivery.next_attempt_at) == ("failed", why, None)
    (job,) = rows(url, select(jobs).where(jobs.c.lead_id == lead_id))
    assert (job.status, job.queue_state, job.error) == ("unsold", "done", "personal data erased")
    assert (job.lease_owner, job.lease_until) == (None, None)
    assert rows(url, select(leads.c.status).where(leads.c.id == lead_id))[0][0] == "unsold"
    assert [c.used for c in rows(url, select(cap_counters))] == [0]
    recorded = rows(url, select(attempts).where(attempts.c.delivery_id == delivery.id))
    assert recorded and all((a.request, a.response_body) == ({"erased": True}, None) for a in recorded)
    assert b"Byron-King" not in everything_stored(url)


def test_an_erased_lead_waiting_for_a_retry_is_never_posted_again(db_url: str) -> None:
    """sunco's buyer (a real HTTP server) answers 503: the delivery waits for its retry, its job in the
    queue from a later ``run_at``. The lead is erased meanwhile: when the retry is due, and after, nothing
    is claimed and the buyer gets no second post (of the blanked lead)."""
    with ScriptedBuyer([(503, {}), (200, {})]) as buyer:
        rt = scripted_runtime(db_url, buyer)
        found: dict[str, Any] = {}

        async def scenario() -> None:
            lead_id = found["lead"] = await accept(rt)
            clock = Clock()  # from the lead's arrival on
            worker = Worker(
                rt.storage,
                rt.configs,
                rt.channels,
                rt.notifier,
                rt.sealer,
                clock=clock,
                retry=RetryPolicy(base_s=60, jitter=0),
            )
            assert await worker.run_until_idle() == 1  # attempt 1: 503, a retry in 60 s
            found["waiting"] = rows(
                db_url,
                select(deliveries.c.status, jobs.c.queue_state).join(jobs, jobs.c.id == deliveries.c.job_id),
            )
            assert await rt.privacy.erase_lead(lead_id, actor="dpo") is True
            clock.now += timedelta(hours=1)  # the retry is long due
            found["claims"] = await worker.run_until_idle()
            found["later"] = await rt.new_worker().run_until_idle()  # another worker, on the real clock

        run_scenario(rt, scenario)
        assert found["waiting"] == [("retry", "ready")]
        assert (found["claims"], found["later"]) == (0, 0)
        assert buyer.calls == 1
    erased_and_closed(db_url, found["lead"], "personal data erased before it was sent again")


def test_an_erased_lead_held_for_pick_up_is_neither_listed_nor_released(db_url: str) -> None:
    """sunco's webhook gives up on a 503 and fails over to hold: the lead waits for pick-up. Erased, it
    leaves the held leads (and their CSV), cannot be released to the webhook, and gives its slot back."""
    with ScriptedBuyer([(503, {})]) as buyer:
        hook = {"url": buyer.url("sunco"), "timeout": "5s", "max_attempts": 1}
        rt = scripted_runtime(db_url, buyer, channel={"webhook": hook}, failover=[{"hold": {}}])
        found: dict[str, Any] = {}

        async def scenario() -> None:
            lead_id = found["lead"] = await accept(rt)
            await rt.new_worker().run_until_idle()  # 503, then held
            found["held"] = (await rt.holds.list("sunco"))[0]
            await rt.privacy.erase_lead(lead_id, actor="dpo")
            found["after"] = (await rt.holds.list())[0]
            found["csv"] = (await rt.holds.export_csv(None, actor="ops"))[0]
            with pytest.raises(InvalidTransition, match="is failed, not held"):
                await rt.holds.release(found["held"][0]["delivery_id"], actor="ops")
            found["claims"] = await rt.new_worker().run_until_idle()

        run_scenario(rt, scenario)
        assert [h["lead_id"] for h in found["held"]] == [found["lead"]]
        assert found["after"] == [] and found["lead"] not in found["csv"]
        assert found["claims"] == 0 and buyer.calls == 1
    erased_and_closed(db_url, found["lead"], "personal data erased before it was picked up")


def test_a_lead_erased_while_it_is_being_posted_is_settled_once(db_url: str) -> None:
    """The buyer takes the post, and before it answers the lead is erased: the erasure takes the job
    from the worker (its lease ends) and settles it; the worker, back with the 200, no longer holds the
    job, so it records the answer as an attempt without the person and settles nothing (the delivery is
    not made delivered over the erasure, the cap slot is not given back twice)."""
    found: dict[str, Any] = {}

    def erase_now() -> None:
        (claimed,) = rows(db_url, select(jobs.c.queue_state, jobs.c.lease_owner))
        found["claimed"] = claimed.queue_state, claimed.lease_owner is not None
        found["erased"] = asyncio.run(rt.privacy.erase_lead(found["lead"], actor="dpo"))

    with ScriptedBuyer([(200, {})], on_call=erase_now) as buyer:
        rt = scripted_runtime(db_url, buyer)

        async def scenario() -> None:
            found["lead"] = await accept(rt)
            found["claims"] = await rt.new_worker().run_until_idle()
            found["again"] = await rt.new_worker().run_until_idle()

        run_scenario(rt, scenario)
        assert found["claimed"] == ("claimed", True) and found["erased"] is True
        assert (found["claims"], found["again"], buyer.calls) == (1, 0, 1)
    erased_and_closed(
        db_url,
        found["lead"],
        "personal data erased while it was being sent (not billed, whatever the buyer answers)",
    )
    (attempt,) = rows(db_url, select(attempts))
    assert (attempt.outcome, attempt.status_code) == ("success", 200)  # what the buyer said is kept
