"""The operator's own SMTP relay, end to end on both databases: a problem with the relay (its login
refused, a password this process cannot open) is an error of the setup, never the buyer's "no" (which is
final): the lead goes on to the partner's failover channel, and a sealed password is never sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import deliveries, jobs
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from tests.support import ServerThread, base_config, free_port, lead, prepare, rows, source_headers, wait_for

USER, PASSWORD = "relay", "the-right-password"
KEY = "a-test-secret-of-enough-length-0042"


class _Relay:
    """A relay that wants a login (aiosmtpd answers a wrong one with 535); it keeps the passwords tried."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.passwords: list[bytes] = []

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.passwords.append(data.password)
            ok = (data.login, data.password) == (USER.encode(), PASSWORD.encode())
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[_Relay, int]]:
    box, port = _Relay(), free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def _email_partner(**extra: Any) -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"] = {
        "sunco": {
            "timezone": "America/Chicago",
            "channel": {"email": {"to": ["leads@sunco.example"], "max_attempts": 1}},
            **extra,
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    return doc


def test_a_relay_refusing_the_login_fails_over_instead_of_counting_as_the_buyers_no(
    db_url: str, relay: tuple[_Relay, int]
) -> None:
    """The relay refuses leadrelay's login (535, a wrong or rotated password): the attempt is an error,
    so the lead goes on to the failover channel (held for pick-up) instead of ending unsold."""
    box, port = relay
    prepare(db_url, _email_partner(failover=[{"hold": {}}]))
    settings = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_username": USER, "smtp_password": "wrong"}
    with ServerThread(db_url, **settings) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        lead_id = r.json()["lead_id"]
        settled = select(jobs).where(jobs.c.lead_id == lead_id, jobs.c.status != "received")
        wait_for(lambda: rows(db_url, settled))
        wait_for(lambda: rows(db_url, select(deliveries).where(deliveries.c.status.in_(["held", "failed"]))))
    (delivery,) = rows(db_url, select(deliveries))
    (job,) = rows(db_url, select(jobs))
    assert box.messages == []
    assert delivery.status == "held", (delivery.status, delivery.reason, job.status, job.trace)


def test_a_process_without_the_secret_key_never_logs_in_with_the_sealed_smtp_password(
    db_url: str, relay: tuple[_Relay, int]
) -> None:
    """The ``smtp`` section's literal password is stored sealed; a process without
    ``LEADRELAY_SECRET_KEY`` cannot open it, so it tries no login with the ciphertext: the attempt is an
    error naming the missing key."""
    box, port = relay
    doc = _email_partner()
    doc["smtp"] = {"host": "127.0.0.1", "port": port, "username": USER, "password": PASSWORD}
    prepare(db_url, {"sources": {"web": {}}})
    db = Database(db_url)
    try:  # the password is a literal: stored sealed with KEY
        configure.apply_document_sync(SqlStorage(db), doc, actor="test", sealer=Sealer(db, KEY))
    finally:
        db.dispose()
    with ServerThread(db_url) as server, server.client() as http:  # this process has no secret key
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: rows(db_url, select(deliveries).where(deliveries.c.status != "pending")))
    (delivery,) = rows(db_url, select(deliveries))
    assert box.passwords == [] and box.messages == [], (box.passwords, delivery.reason)
    assert delivery.status == "failed" and "LEADRELAY_SECRET_KEY" in delivery.reason, delivery.reason
