"""Alerts against real data and real sinks, on SQLite and PostgreSQL: a partner whose real HTTP buyer answers
500 crosses a failure-rate rule, whose "firing" message goes to a real SMTP server (aiosmtpd) and a real
webhook on 127.0.0.1 (signed, Standard Webhooks); good deliveries resolve it; a new breach within the
cool-down stays quiet and fires again after it. Time is the services' clock, moved by the test. Two
processes checking at once send one message. The messages are listed by `GET /v1/alerts` and `leadrelay
alerts list`; the worker loop checks the rules by itself; the other kinds read real rows. (The command
line's `alerts test`, `apply` and `export`: ``test_alerts_cli``.)"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.config import Settings
from leadrelay.entrypoints.worker import Worker
from leadrelay.services.alerts import Alerting
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.services.ports import Sent
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_cli import cli
from tests.support import (
    ADMIN,
    Mailbox,
    ServerThread,
    base_config,
    lead,
    prepare,
    wait_for,
)

SECRET = "whsec_" + base64.b64encode(b"alerts-test-signing-key-0001").decode()


class WebhookSink:
    """A real HTTP server on 127.0.0.1 that keeps every POST (headers and body) and answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        """Each body, after checking its Standard Webhooks signature."""
        return [Webhook(SECRET).verify(body, headers) for headers, body in self.requests]


class Clock:
    """The wall clock plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


RULE = {
    "name": "sunco-failing",
    "kind": "failure_rate",
    "threshold": 50,
    "window": "10m",
    "partners": ["sunco"],
    "min_requests": 3,
    "cool_down": "30m",
}


def _document(
    failing: BuyersThread, healthy: BuyersThread, smtp_port: int, webhook: str, **rule: Any
) -> dict[str, Any]:
    hook = {"url": failing.url("sunco"), "timeout": "5s", "max_attempts": 1}  # one attempt per lead
    document = base_config(healthy.url, sunco={"channel": {"webhook": hook}, "breaker": "off"})
    document["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "leadrelay@example.com"}
    notify = {"email": ["ops@example.com"], "webhook": {"url": webhook, "secret": "${ALERT_SECRET}"}}
    document["alerts"] = [{**RULE, "notify": notify, **rule}]
    return document


async def _sell(rt: Runtime, worker: Worker, count: int) -> None:
    for _ in range(count):
        answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA", monthly_bill=180)))
        assert answer.status == "queued"
    await worker.run_until_idle()


def test_a_failure_rate_alert_fires_and_resolves(
    db_url: str,
    mailbox: tuple[Mailbox, int],
    sink: WebhookSink,
    healthy: BuyersThread,
    failing: BuyersThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, port = mailbox
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    prepare(db_url, _document(failing, healthy, port, sink.url))

    async def scenario() -> dict[str, Any]:
        rt, other = build_runtime(Settings(database_url=db_url)), build_runtime(Settings(database_url=db_url))
        clock = Clock()
        worker = Worker(
            rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=clock, health=rt.health
        )
        alerts = Alerting(rt.storage, rt.configs, rt.alert_sender, clock=clock)
        # another worker process, with its own engine, checking at the same moment
        rival = Alerting(other.storage, other.configs, other.alert_sender, clock=clock)
        seen: dict[str, Any] = {}
        try:
            async with asyncio.timeout(60):
                await _sell(rt, worker, 3)  # three 500s of three at sunco
                first = await asyncio.gather(alerts.check(), rival.check())
                seen["first"] = [sent for batch in first for sent in batch]
                clock.offset = timedelta(minutes=1)
                seen["still"] = await alerts.check()
                failing.set_error_rate(0.0)
                clock.offset = timedelta(minutes=5)
                await _sell(rt, worker, 4)  # 3 errors of 7 posts: below 50 %
                seen["resolved"] = await alerts.check()
                failing.set_error_rate(1.0)
                clock.offset = timedelta(minutes=6)
                await _sell(rt, worker, 3)  # 6 of 10: breached again, within the cool-down
                seen["quiet"] = await alerts.check()
                clock.offset = timedelta(minutes=31)
                await _sell(rt, worker, 3)  # the cool-down is over: 3 of 3 in the last 10 minutes
                seen["again"] = await alerts.check()
        finally:
            for runtime in (rt, other):
                await runtime.channels.close()
                runtime.db.dispose()
        return seen

    seen = asyncio.run(scenario())
    assert [s.message.state for s in seen["first"]] == ["firing"]  # one of the two processes sent
    assert seen["first"][0].message.detail == (
        "sunco: failure rate 100% (3 of 3 posts in 10m) at or above 50%"
    )
    assert seen["first"][0].error is None
    assert seen["still"] == []
    assert [(s.message.state, s.message.detail) for s in seen["resolved"]] == [
        ("resolved", "failure rate below 50% in 10m")
    ]
    assert seen["quiet"] == []
    assert [(s.message.state, s.message.detail) for s in seen["again"]] == [
        ("firing", "sunco: failure rate 100% (3 of 3 posts in 10m) at or above 50%")
    ]

    subjects = [str(m["Subject"]) for m in box.messages]
    assert subjects == [
        "[leadrelay] FIRING sunco-failing: sunco: failure rate 100% (3 of 3 posts in 10m) at or above 50%",
        "[leadrelay] RESOLVED sunco-failing: failure rate below 50% in 10m",
        "[leadrelay] FIRING sunco-failing: sunco: failure rate 100% (3 of 3 posts in 10m) at or above 50%",
    ]
    assert box.recipients == [["ops@example.com"]] * 3
    assert str(box.messages[0]["From"]) == "leadrelay@example.com"
    assert "is firing: sunco: failure rate 100%" in box.messages[0].get_content()
    payloads = sink.payloads()  # each signature checked by the reference verifier
    assert [(p["type"], p["alert"], p["kind"]) for p in payloads] == [
        ("alert.firing", "sunco-failing", "failure_rate"),
        ("alert.resolved", "sunco-failing", "failure_rate"),
        ("alert.firing", "sunco-failing", "failure_rate"),
    ]
    assert [p["id"] for p in payloads] == [
        s.message.event_id for k in ("first", "resolved", "again") for s in seen[k]
    ]

    with ServerThread(db_url, workers=0) as server, server.client() as http:
        listed = http.get("/v1/alerts", headers=ADMIN)
        refused = http.get("/v1/alerts")
    assert refused.status_code == 401
    assert listed.status_code == 200, listed.text
    (rule,) = listed.json()["items"]
    assert rule | {"since": None, "last_fired_at": None} == {
        "name": "sunco-failing",
        "kind": "failure_rate",
        "threshold": "50.0",
        "window_s": 600.0,
        "partners": ["sunco"],
        "cool_down_s": 1800.0,
        "targets": ["mailto:ops@example.com", sink.url],
        "state": "firing",
        "since": None,
        "last_fired_at": None,
        "detail": "sunco: failure rate 100% (3 of 3 posts in 10m) at or above 50%",
    }
    events = listed.json()["events"]
    assert [e["state"] for e in events] == ["firing", "resolved", "firing"]  # newest first
    assert all(e["targets"] == ["mailto:ops@example.com", sink.url] and e["error"] is None for e in events)

    shown = cli(db_url, "alerts", "list")
    assert shown.returncode == 0, shown.stderr
    assert "sunco-failing\tfailure_rate\t50.0\tfiring\t" in shown.stdout
    assert shown.stdout.count("sunco-failing\t") == 4  # the rule and its three messages


def test_the_worker_loop_checks_the_rules(
    db_url: str,
    mailbox: tuple[Mailbox, int],
    sink: WebhookSink,
    healthy: BuyersThread,
    failing: BuyersThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, port = mailbox
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    prepare(db_url, _document(failing, healthy, port, sink.url))

    async def scenario() -> None:
        rt = build_runtime(Settings(database_url=db_url, alert_interval=0.05))
        seller = Worker(rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, health=rt.health)
        try:
            async with asyncio.timeout(60):
                await _sell(rt, seller, 3)
                rt.start_workers(2)  # the first loop of the process checks the rules
                assert [w.alerts is not None for w in rt.workers] == [True, False]
                while not box.messages:
                    await asyncio.sleep(0.05)
        finally:
            await rt.stop()

    asyncio.run(scenario())
    wait_for(lambda: len(sink.requests) == 1)
    assert str(box.messages[0]["Subject"]).startswith("[leadrelay] FIRING sunco-failing: sunco: failure rate")


def test_of_two_processes_moving_a_rule_from_the_same_state_one_wins(db_url: str) -> None:
    """Both read version 0 and decide to fire; the second UPDATE waits for the first's commit and then
    finds the version moved: it sends nothing."""
    first, second = SqlStorage(Database(db_url)), SqlStorage(Database(db_url))
    moved = threading.Event()
    values = {
        "state": "firing",
        "since": datetime.now(UTC),
        "last_fired_at": datetime.now(UTC),
        "detail": "x",
    }
    results: dict[str, bool] = {}

    def hold(tx: Any) -> None:
        results["first"] = tx.alerts.move_state("r", 0, values)
        moved.set()
        time.sleep(0.3)  # the other transaction is now waiting for this one's row (or SQLite's lock)

    def rival() -> None:
        moved.wait(10)
        results["second"] = second.transaction(lambda tx: tx.alerts.move_state("r", 0, values))

    thread = threading.Thread(target=rival)
    thread.start()
    first.transaction(hold)
    thread.join(20)
    assert results == {"first": True, "second": False}
    (row,) = first.read(lambda tx: list(tx.alerts.states().values()))
    assert (row.state, row.version) == ("firing", 1)
    assert second.transaction(lambda tx: tx.alerts.move_state("r", 1, {**values, "state": "ok"}))
    for storage in (first, second):
        storage.db.dispose()


class FixedClock:
    """Tomorrow 17:00 UTC (09:00 in Los Angeles) plus an offset: every job posted now is due."""

    def __init__(self) -> None:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        self.base = tomorrow.replace(hour=17, minute=0, second=0, microsecond=0)
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base + self.offset


def test_the_other_kinds_read_real_rows(db_url: str, healthy: BuyersThread) -> None:
    """Queue backlog and age, a day cap used up early, an open breaker and a failed batch, each from the
    rows the rest of leadrelay writes (and a batch row as the batch sender leaves it)."""
    document = base_config(healthy.url, sunco={"caps": {"day": 2}, "breaker": "off"})
    notify = {"email": ["ops@example.com"]}
    document["alerts"] = [
        {"name": "backlog", "kind": "queue_backlog", "threshold": 0, "notify": notify},
        {"name": "stuck", "kind": "queue_age", "threshold": "1m", "notify": notify},
        {"name": "capped", "kind": "cap_early", "partners": ["sunco"], "before": "14:00", "notify": notify},
        {"name": "breakers", "kind": "circuit_open", "notify": notify},
        {"name": "batches", "kind": "batch_failed", "notify": notify},
        {"name": "wallets", "kind": "wallet_low", "threshold": 10, "notify": notify},
    ]
    prepare(db_url, document)

    async def scenario() -> list[list[tuple[str, str, str]]]:
        rt = build_runtime(Settings(database_url=db_url))
        clock = FixedClock()
        worker = Worker(
            rt.storage, rt.configs, rt.channels, rt.notifier, rt.sealer, clock=clock, health=rt.health
        )
        alerts = Alerting(rt.storage, rt.configs, _Quiet(), clock=clock)
        rounds = []

        def fired(batch: list[Any]) -> list[tuple[str, str, str]]:
            return sorted((s.message.alert, s.message.state, s.message.detail) for s in batch)

        try:
            async with asyncio.timeout(60):
                for _ in range(2):
                    answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA")))
                    assert answer.status == "queued"
                rounds.append(fired(await alerts.check()))  # two jobs waiting since (real) now
                await worker.run_until_idle()  # both to sunco: its day cap of 2 is used up at 09:00
                clock.offset = timedelta(minutes=1)
                rounds.append(fired(await alerts.check()))
                now = clock()

                def trouble(tx: Any) -> None:
                    tx.caps.move_breaker("voltedge", {"state": "open", "changed_at": now}, ["closed"])
                    tx.conn.execute(batches.insert().values(**_failed_batch(now)))

                await rt.storage.run(trouble)
                clock.offset = timedelta(minutes=2)
                rounds.append(fired(await alerts.check()))
        finally:
            await rt.channels.close()
            rt.db.dispose()
        return rounds

    waiting, worked, broken = asyncio.run(scenario())
    assert [(name, state) for name, state, _ in waiting] == [("backlog", "firing"), ("stuck", "firing")]
    assert waiting[0][2] == "2 jobs ready to run, above 0"
    assert waiting[1][2].startswith("the oldest ready job has waited ")
    assert worked == [
        ("backlog", "resolved", "0 jobs ready to run (at most 0)"),
        (
            "capped",
            "firing",
            "sunco: 2 of its day cap of 2 used (100%, at or above 100%) before 14:00 America/Los_Angeles",
        ),
        ("stuck", "resolved", "no ready job waiting over 1m"),
    ]
    assert broken == [
        ("batches", "firing", "1 failed batches cut in 1d (voltedge: bat_failed_1), at least 1"),
        ("breakers", "firing", "voltedge: circuit open"),
    ]  # the wallet is pending: wallet_low never fires yet


class _Quiet:
    """A transport that takes every message (the sending is the other tests' subject)."""

    async def send(self, spec: Any, message: Any) -> list[Any]:
        return [Sent(target) for target in spec.targets()]


def _failed_batch(now: datetime) -> dict[str, Any]:
    return {
        "id": "bat_failed_1",
        "partner": "voltedge",
        "channel": "file",
        "channel_step": 0,
        "status": "failed",
        "trigger": "50 leads waiting",
        "filename": "voltedge.csv",
        "lead_count": 50,
        "attempts": 5,
        "reason": "gave up: connection refused",
        "is_test": False,
        "created_at": now - timedelta(hours=2),
    }
