"""Postbacks end to end, on SQLite and PostgreSQL: the signed URL reaches a real buyer through its mapping
(``{{ postback.url }}``), the buyer's calls to it (GET and POST, JSON and form) are checked (tampering 403,
replays and illegal moves 409, bad revenue 422), stored and shown in the distribution's detail; the events
the source subscribes to are relayed to a real sink that verifies the Standard Webhooks signature with the
``standardwebhooks`` library, retried after a 500 with the time driven (never slept); the relays' leases
keep two loops apart; and the outcomes report counts and sums per partner and source."""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadrelay.adapters.channels.dispatch import Channels
from leadrelay.adapters.channels.guard import TargetGuard
from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.after_sale_states import DeliveryOutcome, RelayStatus
from leadrelay.domain.retry import RetryPolicy
from leadrelay.services import configure
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ports import OutcomeTotal, Tx
from leadrelay.services.postback_relay import PostbackRelay
from leadrelay.simulate.buyers import BuyersThread
from tests.fakes.builders import delivery_row, job_row, lead_row, relay_row
from tests.fakes.clock import FakeClock
from tests.support import (
    ADMIN,
    Mailbox,
    ServerThread,
    base_config,
    lead,
    prepare,
    run_async,
    source_headers,
    wait_for,
)

WAIT = "/v1/leads?wait=15"
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Sink:
    """A source's postback endpoint on loopback: verifies each request's Standard Webhooks signature with
    the reference library, and answers 500 to the first request of each webhook-id, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(SECRET).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    payload, verified = None, False
                with sink.lock:
                    seen = sum(r["id"] == headers.get("webhook-id") for r in sink.received)
                    sink.received.append(
                        {"id": headers.get("webhook-id"), "verified": verified, "payload": payload}
                    )
                status = 500 if seen == 0 else 200
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": status == 200}).encode())

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/postback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


def document(buyers: BuyersThread, sink: Sink) -> dict[str, Any]:
    doc = copy.deepcopy(base_config(buyers.url))
    mapping = {"email": "{{ lead.email }}", "postback_url": "{{ postback.url }}"}
    hook = {"url": buyers.url("acme"), "timeout": "5s", "max_attempts": 1, "mapping": mapping}
    doc["partners"] = {"acme": {"channel": {"webhook": hook}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["acme"]}
    postback = {"url": sink.url, "events": ["sold", "converted"], "secret_env": "POSTBACK_TEST_WHSEC"}
    doc["sources"]["web"]["postback"] = postback
    return doc


def _with_sig(url: str, sig: str) -> str:
    return url.split("?sig=")[0] + "?sig=" + sig


def _q(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (httpx's ``params`` would replace the ``sig``)."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _sig(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def _detail(http: httpx.Client, lead_id: str, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    [item] = http.get("/v1/distributions", params={"lead": lead_id}, headers=headers).json()["items"]
    detail: dict[str, Any] = http.get(f"/v1/distributions/{item['id']}", headers=headers).json()
    return detail


def staff_tokens(db_url: str) -> dict[str, dict[str, str]]:
    """An operator's and a viewer's admin tokens: their headers by role."""
    db = Database(db_url)
    now = datetime.now(UTC)
    tokens = {role: f"lra_{role}_token_of_the_postback_test" for role in ("operator", "viewer")}
    try:
        for role, token in tokens.items():
            db.transaction(lambda c, r=role, t=token: config_store.add_admin_token(c, r, t, now, role=r))
    finally:
        db.dispose()
    return {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}


def test_postbacks_end_to_end(
    db_url: str, buyers: BuyersThread, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", SECRET)  # a literal would need LEADRELAY_SECRET_KEY
    prepare(db_url, document(buyers, sink))
    staff = staff_tokens(db_url)
    # the server's own relay loop looks once at start, then not for an hour: the test drives the relay
    with ServerThread(db_url, postback_interval=3600) as server, server.client() as http:
        sold = http.post(WAIT, json=lead(click_id="clk-9"), headers=source_headers())
        other = http.post(WAIT, json=lead(email="bob@example.com"), headers=source_headers())
        assert (sold.json()["status"], other.json()["status"]) == ("delivered", "delivered"), sold.text
        lead_id = sold.json()["lead_id"]
        first, second = (orjson.loads(r["body"]) for r in buyers.requests("acme"))
        url, other_url = first["postback_url"], second["postback_url"]
        [delivery] = _detail(http, lead_id)["deliveries"]
        assert url == f"{server.url}/v1/postbacks/{delivery['id']}?sig={_sig(url)}"
        assert delivery["postback_url"] == url  # the detail shows the URL the buyer got
        for headers in staff.values():  # the signed URL is a credential: not for viewers nor operators
            [shown] = _detail(http, lead_id, headers)["deliveries"]
            assert shown["id"] == delivery["id"] and shown["postback_url"] is None

        # tampering: another delivery's signature, a changed one, a cut one, one not ASCII, none
        sig = _sig(url)
        changed = ("A" if sig[3] != "A" else "B").join((sig[:3], sig[4:]))
        foreign = quote("é" * len(sig))  # a 500 before (the OpenAPI fuzz found it)
        bad_urls = (_with_sig(url, _sig(other_url)), _with_sig(url, changed), _with_sig(url, sig[:-2]))
        for bad in (*bad_urls, _with_sig(url, foreign)):
            r = http.get(_q(bad, {"outcome": "contacted"}))
            assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
        assert http.get(_q(url.split("?")[0], {"outcome": "contacted"})).status_code == 403
        moved = url.split("?")[0] + "x?sig=" + sig  # a changed id with this delivery's signature
        assert http.get(_q(moved, {"outcome": "contacted"})).status_code == 403

        r = http.get(_q(url, {"outcome": "contacted", "note": "called"}))
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["previous"], r.json()["relayed"]) == ("contacted", None, False)
        r = http.get(_q(url, {"outcome": "contacted"}))  # a replay, without an event id
        assert (r.status_code, r.json()["code"]) == (409, "conflict")
        r = http.post(url, json={"outcome": "converted", "revenue": "125.5", "event_id": "ev-1"})
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["revenue"], r.json()["relayed"]) == (
            "converted",
            "125.50",
            True,
        )
        r = http.post(url, json={"outcome": "returned", "event_id": "ev-1"})  # a replay of the event
        assert r.status_code == 409 and "ev-1" in r.json()["detail"]
        r = http.post(url, json={"outcome": ["converted"], "revenue": ["5"]})  # lists: not their last item
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["outcome", "revenue"], (
            r.text
        )
        r = http.post(url, json=["outcome"])
        assert r.status_code == 400 and "JSON object of postback parameters" in r.json()["detail"], r.text
        r = http.post(url, data={"outcome": "returned", "revenue": "a lot"})  # form
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["revenue"], r.text
        r = http.post(url, data={"outcome": "contacted", "event_id": "ev-2"})
        assert r.status_code == 409 and "cannot go from converted to contacted" in r.json()["detail"]
        unknown = run_async(server.app.state.runtime.postback_links.url_for("dlv_unknown"))
        assert http.get(_q(unknown, {"outcome": "contacted"})).status_code == 404

        detail = _detail(http, lead_id)
        [delivery] = detail["deliveries"]
        assert delivery["outcome"] == "converted"
        assert [(p["outcome"], p["revenue"], p["event_id"]) for p in delivery["postbacks"]] == [
            ("contacted", None, None),
            ("converted", "125.50", "ev-1"),
        ]
        assert [(o["event"], o["status"]) for o in detail["outbound_postbacks"]] == [
            ("sold", "ready"),
            ("converted", "ready"),
        ]

        # the relay, with the time driven: a 500 first, then delivered on the retry's time
        db = Database(db_url)
        try:
            clock = FakeClock(datetime.now(UTC) + timedelta(seconds=1))
            channels = Channels(WebhookSender(guard=TargetGuard(["127.0.0.0/8"])))
            relay = PostbackRelay(
                SqlStorage(db),
                ConfigCache(),
                channels,
                owner="test-relay",
                retry=RetryPolicy(max_attempts=3, base_s=30.0, max_delay_s=300.0),
                clock=clock,
                rand=lambda: 0.5,  # no jitter: the retry is due 30 s later
            )
            # both leads' sales and the conversion; each answered 500 the first time
            assert run_async(relay.run_once()) == 3
            assert [r["verified"] for r in sink.received] == [True, True, True]
            assert run_async(relay.run_once()) == 0  # not due yet
            clock.advance(seconds=29)
            assert run_async(relay.run_once()) == 0
            clock.advance(seconds=1)
            assert run_async(relay.run_once()) == 3
            assert run_async(relay.run_once()) == 0  # sent: never again
            run_async(channels.close())
        finally:
            db.dispose()
        assert len(sink.received) == 6 and all(r["verified"] for r in sink.received)
        payloads = {
            (r["payload"]["type"], r["payload"]["data"]["lead_id"]): r["payload"]["data"]
            for r in sink.received
        }
        assert payloads["lead.sold", lead_id]["click_id"] == "clk-9"
        assert payloads["lead.sold", other.json()["lead_id"]]["click_id"] is None  # it sent none
        assert payloads["lead.converted", lead_id] == {
            **payloads["lead.converted", lead_id],
            "click_id": "clk-9",
            "lead_id": lead_id,
            "revenue": "125.50",
            "event": "converted",
        }
        ids = [r["id"] for r in sink.received]
        assert len(set(ids[:3])) == 3 and sorted(ids[:3]) == sorted(ids[3:])  # the same webhook-id on retry
        shown = _detail(http, lead_id)["outbound_postbacks"]
        assert [(o["status"], o["attempts"], o["last_status_code"]) for o in shown] == [
            ("sent", 2, 200),
            ("sent", 2, 200),
        ]
        audit = http.get("/v1/audit", headers=ADMIN).json()["items"]
        assert [a["detail"]["outcome"] for a in audit if a["action"] == "postback"] == [
            "converted",
            "contacted",
        ]


# ---------------------------------------------------------------- storage, on both databases

AT = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


def _seed(tx: Tx) -> None:
    tx.leads.insert_leads([lead_row("lead_1"), lead_row("lead_2", source="partnerweb")])
    tx.jobs.insert_jobs([job_row("job_1", "lead_1"), job_row("job_2", "lead_2")])
    for d, job, lead_id, partner in (
        ("dlv_1", "job_1", "lead_1", "acme"),
        ("dlv_2", "job_2", "lead_2", "beta"),
    ):
        tx.deliveries.insert_delivery(
            delivery_row(d, job, lead_id, partner, status="delivered", delivered_at=AT)
        )


def _postback(
    pid: str,
    delivery: str,
    lead_id: str,
    partner: str,
    outcome: str,
    cents: int | None,
    at: datetime,
    event: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "delivery_id": delivery,
        "lead_id": lead_id,
        "partner": partner,
        "outcome": outcome,
        "revenue_cents": cents,
        "event_id": event,
        "note": None,
        "received_at": at,
    }


def test_postbacks_are_stored_once_per_event_and_reported(db_url: str) -> None:
    db = Database(db_url)
    try:
        storage = SqlStorage(db)
        storage.transaction(_seed)

        def write(tx: Tx) -> list[bool]:
            return [
                tx.postbacks.insert(
                    _postback("pb_1", "dlv_1", "lead_1", "acme", "converted", 12550, AT, "ev-1")
                ),
                tx.postbacks.insert(
                    _postback("pb_2", "dlv_1", "lead_1", "acme", "returned", None, AT, "ev-1")
                ),
                tx.postbacks.insert(_postback("pb_3", "dlv_1", "lead_1", "acme", "contacted", None, AT)),
                tx.postbacks.insert(_postback("pb_4", "dlv_1", "lead_1", "acme", "contacted", None, AT)),
                tx.postbacks.insert(
                    _postback("pb_5", "dlv_2", "lead_2", "beta", "converted", 1, AT + timedelta(hours=1))
                ),
                tx.postbacks.insert(
                    _postback("pb_6", "dlv_2", "lead_2", "beta", "converted", 999, AT + timedelta(days=1))
                ),
                tx.postbacks.set_outcome("dlv_1", None, DeliveryOutcome.CONTACTED),
                tx.postbacks.set_outcome("dlv_1", None, DeliveryOutcome.CONVERTED),  # moved meanwhile
                tx.postbacks.set_outcome("dlv_1", "contacted", DeliveryOutcome.CONVERTED),
            ]

        # the same event id twice is kept out by the schema (NULL event ids never clash)
        assert storage.transaction(write) == [True, False, True, True, True, True, True, False, True]
        assert storage.read(lambda tx: tx.postbacks.delivery("dlv_1")).outcome == "converted"
        assert storage.read(lambda tx: tx.postbacks.delivery("dlv_1")).source == "web"
        day = (AT - timedelta(hours=1), AT + timedelta(hours=2))
        by_partner = storage.read(lambda tx: tx.postbacks.outcome_totals(*day, "partner"))
        assert by_partner == [
            OutcomeTotal("acme", DeliveryOutcome.CONTACTED, 2, Decimal("0.00")),
            OutcomeTotal("acme", DeliveryOutcome.CONVERTED, 1, Decimal("125.50")),
            OutcomeTotal("beta", DeliveryOutcome.CONVERTED, 1, Decimal("0.01")),
        ]
        by_source = storage.read(lambda tx: tx.postbacks.outcome_totals(*day, "source"))
        assert [(t.key, t.outcome.value, t.count, t.revenue) for t in by_source] == [
            ("partnerweb", "converted", 1, Decimal("0.01")),
            ("web", "contacted", 2, Decimal("0.00")),
            ("web", "converted", 1, Decimal("125.50")),
        ]
        edge = storage.read(lambda tx: tx.postbacks.outcome_totals(AT, AT + timedelta(hours=1), "partner"))
        assert [t.key for t in edge] == ["acme", "acme"]  # [since, until): beta's at the end is out
    finally:
        db.dispose()


def test_a_relayed_event_is_leased_to_one_loop_at_a_time(db_url: str) -> None:
    db = Database(db_url)
    try:
        storage = SqlStorage(db)
        storage.transaction(_seed)
        inserted = storage.transaction(
            lambda tx: [
                tx.relays.insert(relay_row("pbo_1", "dlv_1", "sold", AT)),
                tx.relays.insert(relay_row("pbo_2", "dlv_1", "sold", AT)),  # that event is stored already
                tx.relays.insert(relay_row("pbo_3", "dlv_1", "converted", AT + timedelta(minutes=5))),
            ]
        )
        assert inserted == [True, False, True]
        lease = timedelta(seconds=60)
        assert storage.read(lambda tx: tx.relays.any_due(AT)) is True
        a = storage.transaction(lambda tx: tx.relays.claim("a", 10, AT, AT + lease))
        assert storage.read(lambda tx: tx.relays.any_due(AT)) is False  # the relay's pass reads this first
        assert storage.read(lambda tx: tx.relays.any_due(AT + timedelta(minutes=2))) is True  # lease ran out
        b = storage.transaction(lambda tx: tx.relays.claim("b", 10, AT, AT + lease))
        assert ([r.id for r in a], b) == (["pbo_1"], [])  # pbo_3 is not due yet; a holds pbo_1
        later = AT + timedelta(minutes=5)
        assert storage.read(lambda tx: tx.relays.any_due(later)) is True
        b = storage.transaction(lambda tx: tx.relays.claim("b", 10, later, later + lease))
        assert sorted(r.id for r in b) == ["pbo_1", "pbo_3"]  # a's lease ran out: b takes over
        late = storage.transaction(lambda tx: tx.relays.finish("pbo_1", "a", RelayStatus.SENT, attempts=1))
        assert late is False  # a's late answer changes nothing
        done = storage.transaction(
            lambda tx: tx.relays.finish("pbo_1", "b", RelayStatus.SENT, attempts=1, sent_at=later)
        )
        assert done is True
        row = storage.read(lambda tx: tx.relays.get("pbo_1"))
        assert (row.status, row.lease_owner, row.attempts) == ("sent", None, 1)
        again = later + timedelta(hours=1)  # pbo_1 was sent: never claimed again (b's lease on pbo_3 ran out)
        assert [r.id for r in storage.transaction(lambda tx: tx.relays.claim("c", 10, again, again))] == [
            "pbo_3"
        ]
    finally:
        db.dispose()


def test_a_literal_source_secret_is_sealed_and_opened_to_sign(db_url: str) -> None:
    doc = copy.deepcopy(base_config(lambda name: f"https://{name}.example/leads"))
    doc["sources"]["web"]["postback"] = {"url": "https://t.example/pb", "events": ["sold"], "secret": SECRET}
    db = Database(db_url)
    try:
        storage, sealer = SqlStorage(db), Sealer(db, "a-long-enough-secret-key-for-tests-0123")
        configure.apply_document_sync(storage, doc, actor="test", sealer=sealer)
        stored = storage.read(lambda tx: tx.config.load_objects())["sources"]["web"]["postback"]["secret"]
        assert stored.startswith("lr1:") and SECRET not in stored
        live = storage.read(ConfigCache(sealer=sealer).current)
        postback = live.specs.sources["web"].postback
        assert postback is not None and postback.signing.secret == SECRET
    finally:
        db.dispose()


def test_the_servers_relay_loop_sends_a_sale(
    db_url: str, buyers: BuyersThread, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay loop of `serve` (started with its workers) sends the event and retries it by itself."""
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", SECRET)
    prepare(db_url, document(buyers, sink))
    fast = {"postback_interval": 0.05, "postback_retry_base": 0.01, "postback_retry_max_delay": 0.05}
    with ServerThread(db_url, **fast) as server, server.client() as http:
        sold = http.post(WAIT, json=lead(click_id="clk-1"), headers=source_headers())
        assert sold.json()["status"] == "delivered", sold.text
        wait_for(lambda: len(sink.received) >= 2)  # a 500, then the retry's 200
        shown = wait_for(
            lambda: [
                o
                for o in _detail(http, sold.json()["lead_id"])["outbound_postbacks"]
                if o["status"] == "sent"
            ]
        )
        assert [(o["event"], o["attempts"]) for o in shown] == [("sold", 2)]
    assert all(r["verified"] for r in sink.received)
    assert sink.received[-1]["payload"]["data"]["click_id"] == "clk-1"


def test_a_lead_sold_in_an_email_digest_is_relayed_to_its_source(
    db_url: str, sink: Sink, mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", SECRET)
    box, port = mailbox
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"] = {
        "sunco": {"email": "buyer@sunco.example", "channel": {"email": {"digest": {"every": 1}}}}
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    doc["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "sender": "relay@example.com"}
    doc["sources"]["web"]["postback"] = {
        "url": sink.url,
        "events": ["sold"],
        "secret_env": "POSTBACK_TEST_WHSEC",
    }
    prepare(db_url, doc)
    fast = {"batch_interval": 0.1, "postback_interval": 0.05, "postback_retry_base": 0.01}
    with ServerThread(db_url, postback_retry_max_delay=0.05, **fast) as server, server.client() as http:
        r = http.post("/v1/leads", json=lead(click_id="clk-d"), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: len(box.messages) == 1)
        wait_for(lambda: any(x["payload"] for x in sink.received[1:]))  # after the first 500
    payload = sink.received[-1]["payload"]
    assert (payload["type"], payload["data"]["lead_id"], payload["data"]["click_id"]) == (
        "lead.sold",
        r.json()["lead_id"],
        "clk-d",
    )
    assert payload["data"]["partner"] == "sunco" and all(x["verified"] for x in sink.received)
