"""Email digests through a real server and a real aiosmtpd mailbox on loopback, on both databases: leads
wait for the partner's digest, go out as one message with a CSV attachment and a summary, each lead in
exactly one digest, and the waiting leads survive a restart."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from leadrelay.adapters.db.tables import batches, deliveries, jobs, leads
from tests.support import ServerThread, base_config, free_port, lead, prepare, rows, source_headers, wait_for


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def digest_config(port: int, digest: dict[str, Any], **email: Any) -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"] = {
        "sunco": {
            "timezone": "America/Chicago",
            "price": 30,
            "email": "buyer@sunco.example",
            "channel": {"email": {"digest": digest, **email}},
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    doc["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none", "sender": "relay@example.com"}
    return doc


def post_leads(server: ServerThread, n: int, start: int = 0) -> list[str]:
    ids = []
    with server.client() as http:
        for i in range(start, start + n):
            body = lead(first_name=f"Lead{i}", email=f"p{i}@example.com", phone=f"512555{1000 + i:04d}")
            r = http.post("/v1/leads", json=body, headers=source_headers())
            assert r.status_code in (200, 202), r.text
            ids.append(r.json()["lead_id"])
    return ids


def attachment(message: EmailMessage) -> tuple[str, list[dict[str, str]]]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    name = parts[0].get_filename()
    assert name is not None
    text = parts[0].get_content()
    if isinstance(text, bytes):
        text = text.decode()
    return name, list(csv.DictReader(io.StringIO(text)))


def test_every_n_leads_one_message_with_a_csv_and_a_summary(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 3}, fields=["first_name", "email", "phone"]))
    with ServerThread(db_url, batch_interval=0.1) as server:
        ids = post_leads(server, 7)
        wait_for(lambda: len(box.messages) == 2)
        wait_for(lambda: len(rows(db_url, select(batches).where(batches.c.status == "sent"))) == 2)
        with server.client() as http:
            from tests.support import ADMIN

            waiting = http.get("/v1/batches/waiting", headers=ADMIN).json()
    assert waiting == [{"partner": "sunco", "waiting": 1, "oldest": waiting[0]["oldest"]}]
    seen: list[str] = []
    for message in box.messages:
        assert message["To"] == "buyer@sunco.example"
        assert message["Subject"].startswith("3 leads for sunco (")
        body = message.get_body(("plain",))
        assert body is not None
        summary = body.get_content()
        assert "3 leads for sunco." in summary and "By source: web 3." in summary
        assert "Sent because: 3 leads waiting." in summary
        name, table = attachment(message)
        assert name.startswith("sunco-") and name.endswith(".csv")
        assert list(table[0]) == ["lead_id", "received_at", "source", "first_name", "email", "phone"]
        seen.extend(row["lead_id"] for row in table)
    assert sorted(seen) == sorted(ids[:6])  # the oldest six, each in exactly one digest
    dl = rows(db_url, select(deliveries).order_by(deliveries.c.created_at))
    assert [d.status for d in dl] == ["delivered"] * 6 + ["batched"]
    assert all(d.price == 30 and d.batch_id for d in dl[:6]) and dl[6].batch_id is None
    assert {r.status for r in rows(db_url, select(leads).where(leads.c.id.in_(ids[:6])))} == {"delivered"}
    last = rows(db_url, select(jobs).where(jobs.c.lead_id == ids[6]))[0]
    assert last.status == "delivering" and last.queue_state == "waiting"
    assert any("waiting for the next email digest (every 3 leads)" in line for line in last.trace)


def test_waiting_leads_survive_a_restart_and_go_out_once(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 4}))
    with ServerThread(db_url, batch_interval=0.1) as server:
        first = post_leads(server, 3)
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "batched"))) == 3)
    assert box.messages == []
    with ServerThread(db_url, batch_interval=0.1) as server:
        second = post_leads(server, 1, start=3)
        wait_for(lambda: len(box.messages) == 1)
        wait_for(lambda: {r.status for r in rows(db_url, select(leads))} == {"delivered"})
    _, table = attachment(box.messages[0])
    assert sorted(row["lead_id"] for row in table) == sorted(first + second)
    assert len(rows(db_url, select(batches))) == 1
