"""What a buyer's batch file holds, end to end on both databases: leads posted to a real server, cut into
a batch on the partner's ``file`` channel, uploaded to the SFTP server of ``tests/file_servers.py`` on
loopback and read back with Python's ``csv`` module the way a buyer's importer reads them; and what
becomes of a failed batch's leads when the partner stops taking batches."""

from __future__ import annotations

import contextlib
import csv
import io
import time
import uuid
from typing import Any

from sqlalchemy import select

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import batches, deliveries, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from leadrelay.simulate.buyers import BuyersThread
from tests.file_servers import Sftp, new_directory
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, rows, source_headers, wait_for

KEY = "a-test-secret-of-enough-length-0007"
FAST: dict[str, Any] = {"batch_interval": 0.1, "batch_retry_base": 0.2, "secret_key": KEY}


def _apply(db_url: str, doc: dict[str, Any]) -> None:
    db = Database(db_url)
    try:
        configure.apply_document_sync(SqlStorage(db), doc, actor="test", sealer=Sealer(db, KEY))
    finally:
        db.dispose()


def _setup(db_url: str, sftp: Sftp, directory: str, **file_options: Any) -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"] = {
        "sunco": {
            "timezone": "America/Chicago",
            "price": 30,
            "channel": {
                "file": {
                    "schedule": {"count": 1},
                    "destination": {"sftp": sftp.config(directory)},
                    **file_options,
                }
            },
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": "sunco"}
    prepare(db_url, {"sources": {"web": {}}})
    _apply(db_url, doc)
    return doc


def _one_file(db_url: str, sftp: Sftp, directory: str, body: dict[str, Any]) -> tuple[str, bytes]:
    with ServerThread(db_url, **FAST) as server, server.client() as http:
        r = http.post("/v1/leads", json=body, headers=source_headers())
        assert r.status_code in (200, 202), r.text
        lead_id = r.json()["lead_id"]
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")), timeout=15)
    (path,) = [p for p in (sftp.root / directory).iterdir() if not p.name.endswith(".part")]
    return lead_id, path.read_bytes()


def test_a_carriage_return_inside_a_value_does_not_split_the_row_of_an_lf_csv(
    db_url: str, sftp: Sftp
) -> None:
    """With ``line_ending: lf`` and ``quoting: minimal``, a value holding a lone CR is quoted, so the file
    reads back as a header and one whole row (Python's csv writer quotes only the line ending's
    characters)."""
    directory = new_directory(sftp.root)
    columns = ["lead_id", "source", "first_name", "last_name"]
    _setup(db_url, sftp, directory, line_ending="lf", columns=columns)
    lead_id, data = _one_file(db_url, sftp, directory, lead(first_name="Ann\rMarie", last_name="Lee"))
    table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert table == [
        ["lead_id", "source", "first_name", "last_name"],
        [lead_id, "web", "Ann\rMarie", "Lee"],
    ], repr(data)


def test_a_batch_cut_as_csv_is_not_sent_as_xlsx_bytes_under_its_csv_name(db_url: str, sftp: Sftp) -> None:
    """A batch keeps the format it was cut with: a CSV batch that failed and is redelivered after the
    partner moved to ``format: xlsx`` is sent as CSV under its ``.csv`` name, not as XLSX bytes."""
    directory = f"later-{uuid.uuid4().hex[:8]}"  # missing: the batch fails at once, final
    doc = _setup(db_url, sftp, directory)
    with ServerThread(db_url, **FAST) as server, server.client() as http:
        r = http.post("/v1/leads", json=lead(), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "failed")), timeout=15)
        (failed,) = rows(db_url, select(batches))
        assert failed.filename.endswith(".csv")
        # the partner now wants XLSX; the directory is made; the operator redelivers the failed batch
        doc["partners"]["sunco"]["channel"]["file"]["format"] = "xlsx"
        _apply(db_url, doc)
        (sftp.root / directory).mkdir()
        time.sleep(2)  # the server reads the configuration in force again at most every second
        r = http.post(f"/v1/batches/{failed.id}/redeliver", headers=ADMIN)
        assert r.status_code == 200, r.text
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")), timeout=15)
    (path,) = list((sftp.root / directory).iterdir())
    data = path.read_bytes()
    assert path.name == failed.filename
    assert not data.startswith(b"PK\x03\x04"), (path.name, data[:8])
    header = data.decode("utf-8").splitlines()[0]
    assert header.startswith("lead_id,received_at,source")


def test_the_download_of_a_sent_batch_is_the_file_as_sent_after_the_channel_changed(
    db_url: str, sftp: Sftp
) -> None:
    """``GET /v1/batches/{id}/file`` is the file as sent, byte for byte, after the channel's options (here
    its ``delimiter``) changed."""
    directory = new_directory(sftp.root)
    doc = _setup(db_url, sftp, directory)
    with ServerThread(db_url, **FAST) as server, server.client() as http:
        r = http.post("/v1/leads", json=lead(), headers=source_headers())
        assert r.status_code in (200, 202), r.text
        wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "sent")), timeout=15)
        (sent,) = rows(db_url, select(batches))
        uploaded = (sftp.root / directory / sent.filename).read_bytes()
        doc["partners"]["sunco"]["channel"]["file"]["delimiter"] = ";"
        _apply(db_url, doc)
        time.sleep(2)  # the server reads the configuration in force again at most every second
        downloaded = http.get(f"/v1/batches/{sent.id}/file", headers=ADMIN)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == uploaded, (uploaded[:40], downloaded.content[:40])


def test_without_columns_every_file_has_the_same_columns_whatever_fields_its_leads_have(
    db_url: str, sftp: Sftp
) -> None:
    """Without ``columns``, a file has the built-in columns and every field of the entity, in the entity's
    order, empty where a lead has no value: with ``header: false`` a lead lacking optional fields does not
    shift the columns of its file."""
    directory = new_directory(sftp.root)
    _setup(db_url, sftp, directory, header=False)
    full = lead()
    sparse = lead(email="b@example.com", phone="5125550199", zip="78704")
    del sparse["state"], sparse["last_name"]
    with ServerThread(db_url, **FAST) as server, server.client() as http:
        for body in (full, sparse):
            r = http.post("/v1/leads", json=body, headers=source_headers())
            assert r.status_code in (200, 202), r.text
        sent = select(batches).where(batches.c.status == "sent")
        wait_for(lambda: len(rows(db_url, sent)) == 2, timeout=15)
    tables = [
        list(csv.reader(io.StringIO(p.read_bytes().decode("utf-8"), newline="")))
        for p in sorted((sftp.root / directory).iterdir())
    ]
    widths = sorted(len(table[0]) for table in tables)
    assert widths == [10, 10], tables  # lead_id, received_at, source + the entity's seven fields


def test_the_leads_of_a_failed_batch_go_the_ordinary_way_when_the_partner_stops_taking_batches(
    db_url: str, sftp: Sftp
) -> None:
    """A failed batch is cut and not sent: when its partner moves to a webhook, its leads go the ordinary
    way as waiting leads do (its delivery is no longer stuck ``batched`` with the lead ``queued``)."""
    directory = f"later-{uuid.uuid4().hex[:8]}"  # missing: the batch fails at once, final
    doc = _setup(db_url, sftp, directory)
    with BuyersThread(count=1, latency_ms=0, accept_rate=1.0) as buyers:
        with ServerThread(db_url, **FAST) as server, server.client() as http:
            r = http.post("/v1/leads", json=lead(), headers=source_headers())
            assert r.status_code in (200, 202), r.text
            wait_for(lambda: rows(db_url, select(batches).where(batches.c.status == "failed")), timeout=15)
            doc["partners"]["sunco"]["channel"] = {"webhook": {"url": buyers.url("sunco")}}
            _apply(db_url, doc)
            with contextlib.suppress(AssertionError):  # the server reads the configuration again
                wait_for(lambda: {r.status for r in rows(db_url, select(leads))} == {"delivered"}, timeout=10)
            time.sleep(0.5)
        accepted = buyers.stats()["buyers"].get("sunco", {}).get("accepted", 0)
    (delivery,) = rows(db_url, select(deliveries))
    (lead_row,) = rows(db_url, select(leads))
    (failed,) = rows(db_url, select(batches))
    assert (delivery.status, lead_row.status, accepted) == ("delivered", "delivered", 1), (
        delivery.status,
        delivery.reason,
        lead_row.status,
        accepted,
    )
    assert (failed.status, delivery.batch_id) == ("failed", None)
    assert "went the ordinary way" in failed.reason
