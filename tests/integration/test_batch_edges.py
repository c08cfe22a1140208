"""Deliveries that wait (batch files, email digests, holds) at their edges (reviews of 2026-12-06 found
each): a broadcast's held copy goes with its cancel; a redeliver refused for a partner that left batches
or a batch with no lead left (erased or cancelled), and no empty file ever uploaded; a sent batch's
download as it went; one column per name in holds.csv; one line for a download to a missing folder."""

from __future__ import annotations

import contextlib
import csv
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import batches, cap_counters, deliveries, jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.file_servers import Sftp
from tests.integration.test_batch_files import FAST, file_config, listed, setup
from tests.integration.test_batch_files import post as admin_post
from tests.integration.test_batch_files import post_leads as post_numbered
from tests.integration.test_cli import cli
from tests.integration.test_email_digests import attachment, digest_config, post_leads
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

SECRET = "a-test-secret-of-enough-length-0099"


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/nobody-listens"


@contextlib.contextmanager
def _one_digest_sent(db_url: str, port: int) -> Iterator[httpx.Client]:
    """A server whose partner sunco takes its leads in an email digest of one; one lead posted, its digest
    sent and the lead delivered: the server's client."""
    prepare(db_url, digest_config(port, {"every": 1}))
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
        wait_for(lambda: {j.status for j in rows(db_url, select(jobs))} == {"delivered"})
        yield http


@pytest.mark.sqlite_only
def test_batches_download_to_a_missing_folder_is_one_line_not_a_traceback(
    db_url: str, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    _box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 1}))
    with ServerThread(db_url, batch_interval=0.1) as server:
        post_leads(server, 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
    (batch,) = rows(db_url, select(batches))
    target = tmp_path / "no-such-folder" / "out.csv"
    got = cli(db_url, "batches", "download", batch.id, "--to", str(target))
    assert "Traceback" not in got.stderr, f"a traceback for a missing folder: {got.stderr[-400:]}"
    assert got.returncode in (1, 2) and "no-such-folder" in got.stderr, (got.returncode, got.stderr)


def test_holds_csv_keeps_one_column_per_name_when_a_field_is_named_like_a_fixed_column(db_url: str) -> None:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["entities"]["solar"]["fields"]["reason"] = {"type": "string"}
    doc["partners"] = {"sunco": {"channel": {"hold": {}}}}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    prepare(db_url, doc)
    with ServerThread(db_url, secret_key=SECRET) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(reason="roof is old"), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: http.get("/v1/holds", headers=ADMIN).json()["items"])
        exported = http.get("/v1/holds.csv?partner=sunco", headers=ADMIN)
    assert exported.status_code == 200, exported.text
    header = next(csv.reader(io.StringIO(exported.text)))
    twice = sorted({h for h in header if header.count(h) > 1})
    assert not twice, f"holds.csv names a column twice: {twice} in {header}"


def test_the_download_of_a_sent_batch_still_has_the_lead_cancelled_after_it_was_sent(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 2}))
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        first, second = post_leads(server, 2)
        wait_for(lambda: len(box.messages) == 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
        wait_for(
            lambda: {j.status for j in rows(db_url, select(jobs))} == {"delivered"},
        )
        (job,) = rows(db_url, select(jobs).where(jobs.c.lead_id == first))
        cancelled = http.post(f"/v1/distributions/{job.id}/cancel", json={}, headers=ADMIN)
        assert cancelled.status_code == 200, cancelled.text
        (batch,) = rows(db_url, select(batches))
        downloaded = http.get(f"/v1/batches/{batch.id}/file", headers=ADMIN)
        shown = http.get(f"/v1/batches/{batch.id}", headers=ADMIN).json()
    _, mailed = attachment(box.messages[0])
    assert sorted(r["lead_id"] for r in mailed) == sorted([first, second])
    got = [r["lead_id"] for r in csv.DictReader(io.StringIO(downloaded.text))]
    assert sorted(got) == sorted([first, second]), (
        f"the file 'as sent' lost the lead cancelled afterwards: {got} (the mail had {first} and {second}; "
        f"lead_count {shown['lead_count']}, leads shown {[x['lead_id'] for x in shown['leads']]})"
    )


def test_cancelling_a_broadcast_does_not_strand_its_held_delivery(db_url: str) -> None:
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        doc = base_config(buyers.url)
        doc["partners"] = {
            "acme": {"channel": {"webhook": {"url": buyers.url("acme")}}, "caps": {"day": 5}},
            "sunco": {"channel": {"hold": {}}, "caps": {"day": 5}},
        }
        doc["profiles"]["solar-main"]["rules"] = []
        doc["profiles"]["solar-main"]["default"] = {"partners": ["acme", "sunco"], "strategy": "broadcast"}
        prepare(db_url, doc)
        with ServerThread(db_url) as server, server.client() as http:
            r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
            assert r.status_code in (200, 202), r.text
            lead_id = r.json()["lead_id"]
            wait_for(
                lambda: rows(db_url, select(jobs).where(jobs.c.lead_id == lead_id))[0].status == "delivered"
            )
            (job,) = rows(db_url, select(jobs).where(jobs.c.lead_id == lead_id))
            cancelled = http.post(f"/v1/distributions/{job.id}/cancel", json={}, headers=ADMIN)
            assert cancelled.status_code == 200, cancelled.text
            held = http.get("/v1/holds?partner=sunco", headers=ADMIN).json()["items"]
            released = None
            if held:
                released = http.post(f"/v1/holds/{held[0]['delivery_id']}/release", headers=ADMIN)
    by_partner = {d.partner: d for d in rows(db_url, select(deliveries))}
    used = {c.partner: c.used for c in rows(db_url, select(cap_counters))}
    # either the hold is still listed and can be released, or it went with the cancel and gave its slot back
    if held:
        assert released is not None and released.status_code == 200, (
            f"the held lead is listed for pick-up but cannot be released after the cancel: "
            f"{released.status_code if released else None} {released.text if released else ''}"
        )
    else:
        assert by_partner["sunco"].status != "held" and used.get("sunco", 0) == 0, (
            by_partner["sunco"].status,
            used,
        )


def test_a_sent_digest_redelivered_after_the_partner_left_digests_is_not_recorded_as_failed(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    _box, port = mailbox
    with _one_digest_sent(db_url, port) as http:
        (batch,) = rows(db_url, select(batches))
        doc = digest_config(port, {"every": 1})
        doc["partners"]["sunco"]["channel"] = {"webhook": {"url": dead_url()}}
        prepare(db_url, doc)  # the partner takes leads one by one now
        time.sleep(2.5)  # the configuration in force is read again at most every second
        again = http.post(f"/v1/batches/{batch.id}/redeliver", headers=ADMIN)
        time.sleep(2)  # several batch passes
        after = http.get(f"/v1/batches/{batch.id}", headers=ADMIN).json()
        failed = http.get("/v1/batches?status=failed", headers=ADMIN).json()["items"]
    assert again.status_code == 409 or after["status"] == "sent", (
        f"a batch sent and delivered is now {after['status']!r} ({after['reason']}); "
        f"failed batches listed: {[b['id'] for b in failed]}; "
        f"its leads: {[x['status'] for x in after['leads']]}"
    )


def test_a_batch_whose_only_lead_was_erased_is_not_sent_as_an_empty_file(db_url: str, sftp: Sftp) -> None:
    directory = f"later-{uuid.uuid4().hex[:8]}"
    setup(db_url, file_config({"sftp": sftp.config(directory)}, {"count": 1}))
    with ServerThread(db_url, **FAST) as server, server.client() as http:
        (lead_id,) = post_numbered(server, 1)
        wait_for(lambda: len(listed(server, status="failed")) == 1, timeout=15)
        [failed] = listed(server)
        assert http.delete(f"/v1/leads/{lead_id}", headers=ADMIN).status_code == 200
        (sftp.root / directory).mkdir()
        r = admin_post(server, f"/v1/batches/{failed['id']}/redeliver")
        time.sleep(2.0)
        after = http.get(f"/v1/batches/{failed['id']}", headers=ADMIN).json()
    uploaded = [p.name for p in (sftp.root / directory).iterdir()]
    assert not uploaded, (
        f"a file of no lead was uploaded to the buyer: {uploaded} (redeliver {r.status_code}, batch "
        f"{after['status']}, lead_count {after['lead_count']}, leads {after['leads']})"
    )


def test_a_sent_digest_whose_leads_were_all_cancelled_is_not_recorded_failed_on_redeliver(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    """A digest of one lead is sent; the sale is cancelled; the operator redelivers the batch. The redeliver
    check counts ``lead_count`` (only erasure lowers it) so it is accepted; the sender then renders no lead
    (a cancelled one is not sent again) and dissolves the batch: a batch sent and delivered is now failed."""
    _box, port = mailbox
    with _one_digest_sent(db_url, port) as http:
        (job,) = rows(db_url, select(jobs))
        assert http.post(f"/v1/distributions/{job.id}/cancel", json={}, headers=ADMIN).status_code == 200
        (batch,) = rows(db_url, select(batches))
        again = http.post(f"/v1/batches/{batch.id}/redeliver", headers=ADMIN)
        if again.status_code != 409:
            time.sleep(2)  # several batch passes: what became of the redelivered batch
        after = http.get(f"/v1/batches/{batch.id}", headers=ADMIN).json()
    assert again.status_code == 409 or after["status"] == "sent", (
        f"redeliver {again.status_code}; the sent batch is now {after['status']!r} ({after['reason']})"
    )
