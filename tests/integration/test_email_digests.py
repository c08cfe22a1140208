"""Email digests through a real server and a real aiosmtpd mailbox on loopback, on both databases: leads
wait for the partner's digest, go out as one message with a CSV attachment and a summary, each lead in
exactly one digest, and the waiting leads survive a restart."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from leadrelay.adapters.db import batch_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches, cap_counters, deliveries, jobs, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services.batches import cut_due
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.simulate.buyers import BuyersThread
from tests.support import (
    ADMIN,
    Mailbox,
    ServerThread,
    base_config,
    free_port,
    lead,
    prepare,
    rows,
    source_headers,
    wait_for,
)


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
    assert len(seen) == len(set(seen)) == 6 and set(seen) < set(ids)  # six leads, each in one digest
    (rest,) = set(ids) - set(seen)
    dl = {d.lead_id: d for d in rows(db_url, select(deliveries))}
    assert {dl[i].status for i in seen} == {"delivered"} and dl[rest].status == "batched"
    assert all(dl[i].price == 30 and dl[i].batch_id for i in seen) and dl[rest].batch_id is None
    assert {r.status for r in rows(db_url, select(leads).where(leads.c.id.in_(seen)))} == {"delivered"}
    last = rows(db_url, select(jobs).where(jobs.c.lead_id == rest))[0]
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


def test_a_test_delivery_sends_a_digest_of_its_own_at_once(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"daily_at": "08:00"}))
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        r = http.post("/v1/partners/sunco/test-delivery?wait=20", headers=ADMIN)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["status"] == "delivered", detail
    batch = detail["deliveries"][0]["batch"]
    assert batch["status"] == "sent" and batch["trigger"] == "test delivery"
    assert batch["filename"].startswith("test-sunco-")
    assert batch["attempts"][0]["outcome"] == "success"
    assert batch["attempts"][0]["location"] == "mailto:buyer@sunco.example"
    header, row = batch["file"].splitlines()[:2]  # the test lead has the entity's fields
    assert header == "lead_id,received_at,source,first_name,last_name,email,phone,zip,state,monthly_bill"
    assert row.endswith(",_test,Test,Lead,test@example.com,+15125550100,78701,TX,150.0")
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message["Subject"].startswith("[TEST] 1 leads for sunco")
    body = message.get_body(("plain",))
    assert body is not None and "TEST DELIVERY" in body.get_content()


def test_a_test_delivery_that_cannot_be_sent_fails_at_once_with_the_reason(db_url: str) -> None:
    prepare(db_url, digest_config(free_port(), {"every": 5}))  # nobody listens on the SMTP port
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        r = http.post("/v1/partners/sunco/test-delivery?wait=20", headers=ADMIN)
    detail = r.json()
    assert detail["status"] == "failed", detail
    batch = detail["deliveries"][0]["batch"]
    assert batch["status"] == "failed" and len(batch["attempts"]) == 1
    assert "connection error" in batch["attempts"][0]["reason"]
    assert "connection error" in detail["deliveries"][0]["reason"]


def test_a_lead_waiting_for_a_digest_cannot_be_rerun(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    _, port = mailbox
    prepare(db_url, digest_config(port, {"every": 5}))
    with ServerThread(db_url, batch_interval=0.1) as server:
        (lead_id,) = post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(jobs).where(jobs.c.queue_state == "waiting")))
        job = rows(db_url, select(jobs).where(jobs.c.lead_id == lead_id))[0]
        with server.client() as http:
            r = http.post(f"/v1/distributions/{job.id}/rerun", json={"reason": "try"}, headers=ADMIN)
    assert r.status_code == 409
    assert "waits for the partner's next batch file or digest" in r.json()["detail"]


def test_waiting_leads_go_by_webhook_when_the_partner_stops_taking_digests(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    doc = digest_config(port, {"every": 10})
    prepare(db_url, doc)
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        with ServerThread(db_url, batch_interval=0.1) as server:
            ids = post_leads(server, 2)
            wait_for(
                lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "batched"))) == 2
            )
            doc["partners"]["sunco"]["channel"] = {"webhook": {"url": buyers.url("sunco")}}
            prepare(db_url, doc)
            wait_for(lambda: {r.status for r in rows(db_url, select(leads))} == {"delivered"})
        assert buyers.stats()["buyers"]["sunco"]["accepted"] == 2
    assert box.messages == [] and rows(db_url, select(batches)) == []
    assert {d.lead_id for d in rows(db_url, select(deliveries))} == set(ids)


def first_pass_made(server: ServerThread) -> None:
    """Waits for the server's batcher to make its first pass (with ``batch_interval=3600``, its only one in
    the test): leads posted after it wait for the test's own ``cut_due``, whatever the machine's speed."""
    wait_for(lambda: (b := server.app.state.runtime.batcher) is not None and b.passes >= 1)


def test_a_daily_digest_goes_at_its_time_on_the_partners_clock(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    """The schedule is decided by ``cut_due`` with the clock passed in: 07:59 in Chicago cuts nothing,
    08:00 cuts one digest with every waiting lead (the server's own pass waits an hour meanwhile)."""
    _, port = mailbox
    prepare(db_url, digest_config(port, {"daily_at": "08:00"}))
    with ServerThread(db_url, batch_interval=3600) as server:
        first_pass_made(server)
        ids = post_leads(server, 3)
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "batched"))) == 3)
    oldest = min(d.created_at for d in rows(db_url, select(deliveries)))
    chicago = ZoneInfo("America/Chicago")
    local = oldest.astimezone(chicago)
    eight = local.replace(hour=8, minute=0, second=0, microsecond=0)
    if eight <= local:
        eight = (local + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    db = Database(db_url)
    storage = SqlStorage(db)
    configs = ConfigCache()
    try:

        def cut_at(moment: datetime) -> list[str]:
            return storage.transaction(lambda tx: cut_due(tx, configs.current(tx), moment.astimezone(UTC)))

        assert cut_at(eight - timedelta(minutes=1)) == []
        (batch_id,) = cut_at(eight)
        assert cut_at(eight + timedelta(minutes=5)) == []
    finally:
        db.dispose()
    (batch,) = rows(db_url, select(batches))
    assert batch.id == batch_id and batch.lead_count == 3
    assert batch.trigger == f"schedule '0 8 * * *' ({eight:%Y-%m-%d} 08:00 America/Chicago)"
    assert batch.filename == f"sunco-{eight:%Y%m%d}T080000.csv"  # the name uses the partner's clock
    assert {
        d.lead_id for d in rows(db_url, select(deliveries).where(deliveries.c.batch_id == batch_id))
    } == set(ids)


def test_a_test_lead_failing_over_to_a_digest_gets_a_batch_of_its_own(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    doc = digest_config(port, {"every": 100})
    sunco = doc["partners"]["sunco"]
    sunco["failover"] = [sunco["channel"]]
    sunco["channel"] = {"webhook": {"url": f"http://127.0.0.1:{free_port()}/down", "max_attempts": 1}}
    prepare(db_url, doc)
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        real = post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(deliveries).where(deliveries.c.status == "batched")))
        r = http.post("/v1/partners/sunco/test-delivery?wait=20", headers=ADMIN)
    detail = r.json()
    assert detail["status"] == "delivered", detail
    assert detail["deliveries"][0]["batch"]["filename"].startswith("test-")
    (message,) = box.messages
    assert message["Subject"].startswith("[TEST] 1 leads for sunco")
    # the real lead still waits for the partner's own digest, alone
    (waiting,) = rows(db_url, select(deliveries).where(deliveries.c.lead_id == real[0]))
    assert waiting.status == "batched" and waiting.batch_id is None


def test_an_erased_lead_leaves_the_digest_it_was_waiting_for(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    doc = digest_config(port, {"every": 3})
    doc["partners"]["sunco"]["caps"] = {"day": 10}
    prepare(db_url, doc)
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        first, second = post_leads(server, 2)
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "batched"))) == 2)
        assert http.delete(f"/v1/leads/{first}", headers=ADMIN).status_code == 200
        (gone,) = rows(db_url, select(deliveries).where(deliveries.c.lead_id == first))
        assert gone.status == "failed" and "erased" in gone.reason
        (job,) = rows(db_url, select(jobs).where(jobs.c.lead_id == first))
        assert (job.status, job.queue_state) == ("unsold", "done")
        third, fourth = post_leads(server, 2, start=2)
        wait_for(lambda: len(box.messages) == 1)
    _, table = attachment(box.messages[0])
    assert sorted(row["lead_id"] for row in table) == sorted([second, third, fourth])
    used = rows(db_url, select(cap_counters))
    assert [c.used for c in used] == [3]  # the erased lead gave its slot back


def test_a_cut_batch_of_a_partner_that_no_longer_takes_digests_goes_the_ordinary_way(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    doc = digest_config(port, {"every": 2})
    prepare(db_url, doc)
    with ServerThread(db_url, batch_interval=3600) as server:
        first_pass_made(server)  # its one pass runs before the leads come
        ids = post_leads(server, 2)
        wait_for(lambda: len(rows(db_url, select(deliveries).where(deliveries.c.status == "batched"))) == 2)
    db = Database(db_url)
    try:  # the digest is cut, but not sent before the partner changes to a webhook
        (batch_id,) = SqlStorage(db).transaction(
            lambda tx: cut_due(tx, ConfigCache().current(tx), datetime.now(UTC))
        )
    finally:
        db.dispose()
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        doc["partners"]["sunco"]["channel"] = {"webhook": {"url": buyers.url("sunco")}}
        prepare(db_url, doc)
        with ServerThread(db_url, batch_interval=0.1):
            wait_for(lambda: {r.status for r in rows(db_url, select(leads))} == {"delivered"})
        assert buyers.stats()["buyers"]["sunco"]["accepted"] == 2
    assert box.messages == []
    (batch,) = rows(db_url, select(batches))
    assert batch.id == batch_id and batch.status == "failed"
    assert "takes no batches at step 0 any more" in batch.reason
    dl = rows(db_url, select(deliveries))
    assert {(d.lead_id, d.status, d.batch_id) for d in dl} == {(i, "delivered", None) for i in ids}


def test_a_parked_job_with_no_lead_waiting_is_woken_by_the_safety_net(db_url: str) -> None:
    prepare(db_url, digest_config(free_port(), {"every": 5}))
    with ServerThread(db_url, batch_interval=3600) as server:
        first_pass_made(server)
        (lead_id,) = post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(jobs).where(jobs.c.queue_state == "waiting")))
    db = Database(db_url)
    try:  # as if a wake-up had been lost: the delivery is no longer batched, the job still parked
        db.transaction(lambda c: c.execute(deliveries.update().values(status="delivered", price=1.0)))
        assert db.transaction(lambda c: batch_store.wake_stranded(c, datetime.now(UTC))) == 1
    finally:
        db.dispose()
    (job,) = rows(db_url, select(jobs).where(jobs.c.lead_id == lead_id))
    assert job.queue_state == "ready"


def test_a_digest_attachment_says_it_is_utf8_and_reads_back_whole(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    """The digest's CSV (UTF-8) is labelled ``text/csv; charset="utf-8"``: a mail reader that honours MIME
    reads non-ASCII names back as sent (a text part without a charset is US-ASCII)."""
    box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 1}))
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        body = lead(first_name="José", last_name="Müller")
        r = http.post("/v1/leads", json=body, headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: len(box.messages) == 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
    (part,) = list(box.messages[0].iter_attachments())
    assert part.get_content_type() == "text/csv"
    assert part.get_content_charset() == "utf-8", part["Content-Type"]
    table = list(csv.DictReader(io.StringIO(part.get_content())))
    assert (table[0]["first_name"], table[0]["last_name"]) == ("José", "Müller")
