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

from leadrelay.adapters.db.tables import deliveries, jobs
from tests.support import ServerThread, base_config, free_port, lead, prepare, rows, source_headers, wait_for

USER, PASSWORD = "relay", "the-right-password"


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
