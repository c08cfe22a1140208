"""`leadrelay partners test NAME --ping` (issue 10, point 1): the partner's ping sent to a real HTTP buyer on
127.0.0.1, through the guarded webhook sender, and shown with the answer and the bid it gives; what the
buyer received never holds a personal field."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import audit_log, jobs, leads
from tests.support import base_config, prepare, rows, run_cli

RULES = {
    "outcome_search_term": "accepted",
    "outcome_search_path": "status",
    "reason_path": "reason",
    "price_path": "bid.price",
    "shared_price_path": "bid.shared",
    "reference_path": "bid.id",
}
ANSWERS: dict[str, tuple[float, dict[str, Any]]] = {  # path -> (delay in seconds, JSON answer)
    "/ping/accept": (0.0, {"status": "accepted", "bid": {"price": "$7.25", "shared": "4", "id": "bid-42"}}),
    "/ping/refuse": (0.0, {"status": "rejected", "reason": "no coverage in TX"}),
    "/ping/slow": (30.0, {"status": "accepted", "bid": {"price": 99, "id": "too-late"}}),
    "/ping/plain": (0.0, {"price": 3.5, "reference": "p-1"}),  # no response rules: a JSON body's price
}


class Bidder:
    """A bidding buyer on loopback: answers each ping path as ``ANSWERS`` says and keeps what it got."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answered: list[str] = []  # the paths answered, in order (a timed-out ping's comes late or never)
        received, answered = self.received, self.answered

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"path": self.path, "headers": dict(self.headers), "raw": raw.decode()})
                delay, answer = ANSWERS.get(self.path, (0.0, {"status": "accepted"}))
                time.sleep(delay)
                body = json.dumps(answer).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    answered.append(self.path)
                except OSError:  # the ping timed out: leadrelay hung up
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Bidder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bidder() -> Iterator[Bidder]:
    with Bidder() as b:
        yield b


def config(bidder: Bidder) -> dict[str, Any]:
    """Partners with pings: one with a mapping and response rules for each way of answering, one with
    neither (it gets every non-personal field), all of them posting to the same buyer."""
    doc = copy.deepcopy(base_config(bidder.url))
    mapping = {
        "geo.state": "{{ lead.state }}",
        "geo.zip3": "{{ lead.zip[:3] }}",
        "bill": {"field": "monthly_bill"},
    }

    def partner(path: str, **ping: Any) -> dict[str, Any]:
        post = {
            "url": bidder.url("/post"),
            "mapping": {"ping_ref": "{{ ping.reference }}", "phone": "{{ lead.phone }}"},
        }
        return {"price": 20, "channel": {"webhook": post}, "ping": {"url": bidder.url(path), **ping}}

    doc["partners"] = {
        "acme": partner(
            "/ping/accept", mapping=mapping, response=RULES, auth={"headers": {"X-Api-Key": "${PING_KEY}"}}
        ),
        "nope": partner("/ping/refuse", mapping=mapping, response=RULES),
        "slowpoke": partner("/ping/slow", mapping=mapping, response=RULES, timeout="300ms"),
        "plain": partner("/ping/plain"),
        "postonly": {"channel": {"webhook": {"url": bidder.url("/post")}}},
    }
    every = list(doc["partners"])
    doc["profiles"] = {"solar-main": {"entity": "solar", "default": {"partners": every}}}
    return doc


def ping(url: str, partner: str, *args: str) -> tuple[int, Any, str]:
    done = run_cli(
        ["partners", "test", partner, "--ping", *args],
        {"LEADRELAY_DATABASE_URL": url, "COLUMNS": "200", "PING_KEY": "k-123"},
    )
    try:
        shown = json.loads(done.stdout)
    except ValueError:
        shown = None
    return done.returncode, shown, done.stderr


PERSONAL_SAMPLES = ("first_name", "last_name", "email", "phone")


def test_an_accepted_bid_shows_the_rendered_ping_the_answer_and_the_parsed_bid(
    sqlite_url: str, bidder: Bidder
) -> None:
    prepare(sqlite_url, config(bidder))
    code, shown, stderr = ping(sqlite_url, "acme")
    assert code == 0, stderr
    assert shown["bid"] == {
        "status": "accepted",
        "accepted": True,
        "price": 7.25,
        "reference": "bid-42",
        "reason": None,
        "shared_price": 4.0,  # the bid for the lead shared with others (response.shared_price_path)
    }
    assert shown["partner"] == "acme" and shown["entity"] == "solar"
    assert shown["answer"]["status_code"] == 200 and "bid-42" in shown["answer"]["body"]
    request = shown["request"]
    assert request["method"] == "POST" and request["url"] == bidder.url("/ping/accept")
    assert request["headers"]["X-Api-Key"] == "***" and request["headers"]["X-Leadrelay-Test"] == "true"
    [received] = bidder.received
    body = json.loads(received["raw"])
    assert body == {"geo": {"state": "TX", "zip3": "787"}, "bill": 150.0}
    assert json.loads(request["body"]) == body  # what is shown is what was sent
    assert received["headers"]["X-Api-Key"] == "k-123"
    # nothing of the lead was stored, no delivery made; the test is audited
    assert rows(sqlite_url, select(leads.c.id)) == [] and rows(sqlite_url, select(jobs.c.id)) == []
    audited = rows(sqlite_url, select(audit_log.c.detail).where(audit_log.c.action == "partner.test_ping"))
    assert [a.detail for a in audited] == [{"entity": "solar", "bid": "accepted", "price": 7.25}]


def test_a_ping_without_a_mapping_sends_only_the_non_personal_fields(
    sqlite_url: str, bidder: Bidder, tmp_path: Path
) -> None:
    prepare(sqlite_url, config(bidder))
    mine = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.example",
        "phone": "512-555-0142",
        "zip": "73301",
        "state": "tx",
        "monthly_bill": "$210",
    }
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(mine), encoding="utf-8")
    code, shown, stderr = ping(sqlite_url, "plain", "--lead", str(path))
    assert code == 0, stderr
    assert shown["bid"] == {
        "status": "accepted",
        "accepted": True,
        "price": 3.5,
        "reference": "p-1",
        "reason": None,
        "shared_price": None,
    }
    [received] = bidder.received
    assert json.loads(received["raw"]) == {"zip": "73301", "state": "TX", "monthly_bill": 210.0, "test": True}
    for name in PERSONAL_SAMPLES:  # asserted on what the buyer received, in any form
        assert mine[name].lower() not in received["raw"].lower()
    assert "5125550142" not in received["raw"]


def test_a_refused_bid_and_a_timeout(sqlite_url: str, bidder: Bidder) -> None:
    prepare(sqlite_url, config(bidder))
    code, refused, stderr = ping(sqlite_url, "nope")
    assert code == 1, stderr
    assert refused["bid"] == {
        "status": "refused",
        "accepted": False,
        "price": None,
        "reference": None,
        "reason": "no coverage in TX",
        "shared_price": None,
    }
    code, late, stderr = ping(sqlite_url, "slowpoke")
    assert code == 1, stderr
    # the ping's own timeout (300ms) ended it, not the buyer's answer (30 s, never waited for: the buyer's
    # thread is a daemon); no wall-clock bound, which a loaded machine would break
    assert [r["path"] for r in bidder.received][-1] == "/ping/slow"
    assert "/ping/slow" not in bidder.answered
    assert late["bid"] == {
        "status": "timeout",
        "accepted": False,
        "price": None,
        "reference": None,
        "reason": "timed out after 0.3s",
        "shared_price": None,
    }
    assert late["answer"]["status_code"] is None


def test_a_partner_without_a_ping_or_unknown_is_a_clear_error(sqlite_url: str, bidder: Bidder) -> None:
    prepare(sqlite_url, config(bidder))
    code, _, stderr = ping(sqlite_url, "postonly")
    assert code != 0 and "partner postonly has no ping" in stderr
    code, _, stderr = ping(sqlite_url, "ghost")
    assert code != 0 and "unknown partner 'ghost'" in stderr
    assert bidder.received == []
