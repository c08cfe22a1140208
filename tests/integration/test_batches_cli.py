"""`leadrelay batches …` and `leadrelay partners test` on a partner that takes email digests, against a real
aiosmtpd mailbox, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import audit_log, batches
from tests.integration.test_cli import cli
from tests.integration.test_email_digests import attachment, digest_config, post_leads
from tests.support import Mailbox, ServerThread, prepare, rows, wait_for


def test_list_show_download_and_redeliver_a_digest(
    db_url: str, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"every": 2}))
    with ServerThread(db_url, batch_interval=0.1) as server:
        ids = post_leads(server, 3)
        wait_for(lambda: len(box.messages) == 1)
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")))
    (batch,) = rows(db_url, select(batches))

    listed = cli(db_url, "batches", "list")
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()[:2]
    assert header.split("\t")[:4] == ["id", "partner", "channel", "status"]
    assert line.split("\t")[:5] == [batch.id, "sunco", "email", "sent", "2"]
    assert "sunco: 1 lead(s) waiting since" in listed.stdout

    shown = cli(db_url, "batches", "show", batch.id)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    in_batch = [lead["lead_id"] for lead in detail["leads"]]
    assert len(set(in_batch)) == 2 and set(in_batch) < set(ids)
    assert [a["outcome"] for a in detail["attempts_log"]] == ["success"]

    target = tmp_path / "again.csv"
    got = cli(db_url, "batches", "download", batch.id, "--to", str(target))
    assert got.returncode == 0, got.stderr
    name, mailed = attachment(box.messages[0])
    assert name == batch.filename
    part = next(box.messages[0].iter_attachments()).get_content()
    assert target.read_bytes() == (part.encode() if isinstance(part, str) else part)
    assert len(mailed) == 2

    again = cli(db_url, "batches", "redeliver", batch.id)
    assert again.returncode == 0, again.stderr
    assert f"batch {batch.id}: ready" in again.stdout
    assert rows(db_url, select(batches))[0].status == "ready"
    busy = cli(db_url, "batches", "redeliver", batch.id)
    assert busy.returncode == 1 and "being sent already" in busy.stderr
    actions = [r.action for r in rows(db_url, select(audit_log))]
    assert "batches.download" in actions and "batches.redeliver" in actions


@pytest.mark.sqlite_only
def test_bad_batch_commands_say_what_is_wrong(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    prepare(db_url, digest_config(mailbox[1], {"every": 2}))
    unknown = cli(db_url, "batches", "show", "bat_nope")
    assert unknown.returncode == 1 and "unknown batch bat_nope" in unknown.stderr
    status = cli(db_url, "batches", "list", "--status", "lost")
    assert status.returncode == 2 and "--status must be one of" in status.stderr


def test_partners_test_sends_a_digest_of_one_and_shows_the_file(
    db_url: str, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    prepare(db_url, digest_config(port, {"hourly": True}))
    result = cli(db_url, "partners", "test", "sunco", "--wait", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    detail = json.loads(result.stdout)
    batch = detail["deliveries"][0]["batch"]
    assert detail["status"] == "delivered" and batch["status"] == "sent"
    assert "Test,Lead,test@example.com" in batch["file"]
    assert len(box.messages) == 1 and box.messages[0]["Subject"].startswith("[TEST]")
