"""Batch files end to end, on both databases: leads posted to a real server wait for the partner's ``file``
channel, are cut into batches on its schedule, rendered (CSV or XLSX) and put on real servers on loopback
(asyncssh SFTP, pyftpdlib FTP/FTPS, moto's S3, an aiosmtpd mailbox). Every lead lands in exactly one file;
a failed upload is retried or redelivered without losing or repeating a lead; the log tells it all."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import attempts, batches, deliveries, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from tests.file_servers import PASSWORD, S3, USER, Ftp, Sftp, new_directory, serve_ftp
from tests.support import (
    ADMIN,
    Mailbox,
    ServerThread,
    base_config,
    everything_stored,
    free_port,
    lead,
    prepare,
    rows,
    source_headers,
    wait_for,
)

PARTNER, TZ = "sunco", "America/Chicago"
WAIT = 15.0  # seconds: the longest any condition here may take
KEY = "a-test-secret-of-enough-length-0007"  # destination passwords are literals, stored sealed with it
# server settings: check schedules often, retry soon, open the sealed passwords
FAST: dict[str, Any] = {"batch_interval": 0.1, "batch_retry_base": 0.2, "secret_key": KEY}


def file_config(
    destination: dict[str, Any], schedule: dict[str, Any], *, smtp_port: int | None = None, **options: Any
) -> dict[str, Any]:
    """Every lead goes to one partner whose channel is a batch file with these options."""
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["partners"] = {
        PARTNER: {
            "timezone": TZ,
            "price": 30,
            "email": "buyer@sunco.example",
            "channel": {"file": {"schedule": schedule, "destination": destination, **options}},
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partner": PARTNER}
    if smtp_port is not None:
        doc["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "sender": "relay@example.com",
        }
    return doc


def setup(db_url: str, doc: dict[str, Any]) -> None:
    """Apply ``doc`` (its literal passwords sealed with ``KEY``) and make the source key and admin token."""
    prepare(db_url, {"sources": {"web": {}}})
    db = Database(db_url)
    try:
        configure.apply_document_sync(SqlStorage(db), doc, actor="test", sealer=Sealer(db, KEY))
    finally:
        db.dispose()


def post_leads(server: ServerThread, n: int, start: int = 0) -> dict[str, int]:
    """Post ``n`` distinct leads; their ids, each with its number (``Lead{i}``, ``p{i}@example.com``)."""
    posted: dict[str, int] = {}
    with server.client() as http:
        for i in range(start, start + n):
            body = lead(first_name=f"Lead{i}", email=f"p{i}@example.com", phone=f"512555{1000 + i:04d}")
            r = http.post("/v1/leads", json=body, headers=source_headers())
            assert r.status_code in (200, 202), r.text
            posted[r.json()["lead_id"]] = i
    return posted


def get(server: ServerThread, path: str, **params: Any) -> httpx.Response:
    with server.client() as http:
        return http.get(path, params=params, headers=ADMIN)


def post(server: ServerThread, path: str) -> httpx.Response:
    with server.client() as http:
        return http.post(path, headers=ADMIN)


def listed(server: ServerThread, **params: Any) -> list[dict[str, Any]]:
    r = get(server, "/v1/batches", **params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def shown(server: ServerThread, batch_id: str) -> dict[str, Any]:
    r = get(server, f"/v1/batches/{batch_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def finished(directory: Path) -> list[str]:
    """The names of the files in ``directory`` that are whole (an upload in flight is a ``.part``)."""
    return [p.name for p in directory.iterdir() if not p.name.endswith(".part")]


def files_in(directory: Path) -> dict[str, bytes]:
    """The finished files of a directory (a ``.part`` file left behind fails the test)."""
    found = {p.name: p.read_bytes() for p in directory.iterdir()}
    assert not [name for name in found if name.endswith((".part", ".replaced"))], sorted(found)
    return found


def today_dates() -> set[str]:
    """Today on the partner's clock (called before and after a test, which may straddle midnight)."""
    return {datetime.now(UTC).astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%d")}


def all_delivered(db_url: str, ids: Iterable[str]) -> bool:
    wanted = set(ids)
    found = rows(db_url, select(leads.c.id, leads.c.status).where(leads.c.id.in_(wanted)))
    return len(found) == len(wanted) and {r.status for r in found} == {"delivered"}


def assert_settled(db_url: str, ids: set[str], batch_ids: set[str]) -> None:
    """Every lead is delivered, through one delivery in one of ``batch_ids``, priced and named."""
    dl = rows(db_url, select(deliveries).where(deliveries.c.lead_id.in_(ids)))
    assert sorted(d.lead_id for d in dl) == sorted(ids)  # one delivery per lead
    assert {d.status for d in dl} == {"delivered"}
    assert {d.batch_id for d in dl} == batch_ids
    assert all(d.price == 30 and d.delivered_at is not None for d in dl)
    # a sent batch wakes its leads' jobs, and the worker settles them (the leads' status): each test waits
    # for that before its server stops, since a loaded machine may stop it between the two
    assert all_delivered(db_url, ids)


def read_csv(data: bytes, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))


def read_xlsx(data: bytes) -> list[list[Any]]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    try:
        assert workbook.sheetnames == ["Leads"]
        return [list(row) for row in workbook["Leads"].iter_rows(values_only=True)]
    finally:
        workbook.close()


# --- SFTP, CSV, a count schedule ---------------------------------------------------------------------


def test_sftp_csv_every_n_leads_with_the_configured_name_and_csv_options(db_url: str, sftp: Sftp) -> None:
    directory = new_directory(sftp.root)
    columns = ["lead_id", "received_at", "source", "first_name", "email"]
    setup(
        db_url,
        file_config(
            {"sftp": sftp.config(directory)},
            {"count": 3},
            delimiter=";",
            quoting="all",
            header=False,
            line_ending="lf",
            columns=columns,
            filename="{partner}_{date}_{count:03d}.{ext}",
        ),
    )
    dates = today_dates()
    started = datetime.now(UTC)
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 9)
        wait_for(lambda: len(listed(server, status="sent")) == 3, timeout=WAIT)
        sent = listed(server, partner=PARTNER)
        waiting = get(server, "/v1/batches/waiting").json()
        wait_for(lambda: all_delivered(db_url, set(posted)), timeout=WAIT)
    dates |= today_dates()
    target = sftp.root / directory
    files = files_in(target)

    # three files, named by the pattern (a second and third file of the day get -2, -3)
    assert len(files) == 3
    names = re.compile(r"^sunco_(\d{4}-\d{2}-\d{2})_003(-2|-3)?\.csv$")
    for name in files:
        match = names.match(name)
        assert match is not None, name
        assert match.group(1) in dates
    assert {name.rsplit("_", 1)[1] for name in files} == {"003.csv", "003-2.csv", "003-3.csv"}

    # the CSV options: ';', every field quoted, LF only, no header, the configured columns
    seen: Counter[str] = Counter()
    for data in files.values():
        assert b"\r" not in data and data.endswith(b"\n")
        lines = data.decode().split("\n")[:-1]
        assert len(lines) == 3
        for line in lines:
            assert line.startswith('"') and line.endswith('"') and line.count('";"') == len(columns) - 1
        for lead_id, received_at, source, first_name, email in read_csv(data, ";"):
            seen[lead_id] += 1
            number = posted[lead_id]
            assert (source, first_name, email) == ("web", f"Lead{number}", f"p{number}@example.com")
            assert started.replace(microsecond=0) <= datetime.fromisoformat(received_at) <= datetime.now(UTC)
    assert seen == Counter(dict.fromkeys(posted, 1))  # every lead in exactly one file

    # the log: three batches of three, each where its file is
    assert len(sent) == 3 and waiting == []
    for item in sent:
        assert item["status"] == "sent" and item["channel"] == "file" and item["lead_count"] == 3
        assert item["attempts"] == 1 and item["reason"] is None and item["trigger"] == "3 leads waiting"
        assert item["location"] == f"sftp://127.0.0.1:{sftp.port}/{directory}/{item['filename']}"
        assert item["bytes"] == len(files[item["filename"]])
    assert_settled(db_url, set(posted), {item["id"] for item in sent})


# --- FTP and FTPS, XLSX, an idle schedule ------------------------------------------------------------


def test_ftp_and_ftps_xlsx_after_an_idle_spell(db_url: str, ftp: Ftp) -> None:
    directory = new_directory(ftp.root)
    setup(
        db_url,
        file_config(
            {"ftp": ftp.config(directory)},
            {"idle": "1s"},
            format="xlsx",
            fields=["first_name", "email", "monthly_bill"],
        ),
    )
    target = ftp.root / directory
    with ServerThread(db_url, **FAST) as server:
        first = post_leads(server, 4)
        wait_for(lambda: len(finished(target)) == 1, timeout=WAIT)
        second = post_leads(server, 2, start=4)  # a second quiet spell, a second file
        wait_for(lambda: len(finished(target)) == 2, timeout=WAIT)
        wait_for(lambda: len(listed(server, status="sent")) == 2, timeout=WAIT)
        sent = listed(server, partner=PARTNER)
        wait_for(lambda: all_delivered(db_url, set(first) | set(second)), timeout=WAIT)
    files = files_in(target)
    scheme = "ftps" if ftp.tls else "ftp"
    by_file: dict[str, list[str]] = {}
    for item in sent:
        assert item["status"] == "sent" and item["trigger"] == "no new lead for 1s"
        name = item["filename"]
        assert re.fullmatch(r"sunco-\d{8}T\d{6}(-2)?\.xlsx", name), name
        assert item["location"] == f"{scheme}://127.0.0.1:{ftp.port}/{directory}/{name}"
        table = read_xlsx(files[name])
        assert table[0] == ["lead_id", "received_at", "source", "first_name", "email", "monthly_bill"]
        for lead_id, _, source, first_name, email, bill in table[1:]:
            number = {**first, **second}[lead_id]
            assert (source, first_name, email) == ("web", f"Lead{number}", f"p{number}@example.com")
            assert bill == 180 and isinstance(bill, int)  # numbers stay numbers
        by_file[name] = [row[0] for row in table[1:]]
        assert item["lead_count"] == len(table) - 1
    assert sorted(map(sorted, by_file.values())) == sorted([sorted(first), sorted(second)])
    if ftp.tls:
        assert ("AUTH", "TLS") in ftp.log and ("PROT", "P") in ftp.log
    assert_settled(db_url, set(first) | set(second), {item["id"] for item in sent})


# --- S3 ----------------------------------------------------------------------------------------------


def test_s3_object_keys_are_the_prefix_and_the_file_name(db_url: str, s3: S3) -> None:
    bucket = s3.new_bucket()
    setup(
        db_url,
        file_config(
            {"s3": s3.config(bucket, prefix="/incoming/sunco/")},
            {"count": 2},
            filename="leads-{count}-{datetime}.{ext}",
        ),
    )
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 4)
        wait_for(lambda: len(listed(server, status="sent")) == 2, timeout=WAIT)
        sent = listed(server, partner=PARTNER)
        wait_for(lambda: all_delivered(db_url, set(posted)), timeout=WAIT)
    listing = s3.client.list_objects_v2(Bucket=bucket)
    keys = sorted(obj["Key"] for obj in listing.get("Contents", []))
    assert keys == sorted(f"incoming/sunco/{item['filename']}" for item in sent)
    seen: Counter[str] = Counter()
    for item in sent:
        key = f"incoming/sunco/{item['filename']}"
        assert re.fullmatch(r"leads-2-\d{8}T\d{6}(-2)?\.csv", item["filename"])
        assert item["location"] == f"s3://{bucket}/{key}"
        stored = s3.client.get_object(Bucket=bucket, Key=key)
        assert stored["ContentType"] == "text/csv; charset=utf-8"
        data = stored["Body"].read()
        assert data.count(b"\r\n") == 3  # the defaults: a header, CRLF
        table = read_csv(data)
        assert table[0][:3] == ["lead_id", "received_at", "source"] and "first_name" in table[0]
        seen.update(row[0] for row in table[1:])
    assert seen == Counter(dict.fromkeys(posted, 1))
    assert_settled(db_url, set(posted), {item["id"] for item in sent})


# --- email -------------------------------------------------------------------------------------------


def test_an_email_destination_mails_the_file(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    setup(
        db_url,
        file_config(
            {"email": {"to": ["ops@sunco.example"], "subject": "{count} leads, {partner}"}},
            {"count": 2},
            smtp_port=port,
            format="xlsx",
            filename="{partner}-{date}.{ext}",
        ),
    )
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 2)
        wait_for(lambda: len(listed(server, status="sent")) == 1, timeout=WAIT)
        [item] = listed(server, partner=PARTNER)
        wait_for(lambda: all_delivered(db_url, set(posted)), timeout=WAIT)
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message["To"] == "ops@sunco.example" and message["Subject"] == "2 leads, sunco"
    body = message.get_body(("plain",))
    assert body is not None and "2 leads for sunco." in body.get_content()
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert part.get_filename() == item["filename"]
    assert re.fullmatch(r"sunco-\d{4}-\d{2}-\d{2}\.xlsx", item["filename"])
    data = part.get_content()
    assert isinstance(data, bytes)
    table = read_xlsx(data)
    assert sorted(row[0] for row in table[1:]) == sorted(posted)
    assert item["location"] == "mailto:ops@sunco.example" and item["bytes"] == len(data)
    assert_settled(db_url, set(posted), {item["id"]})


# --- failures: retried, redelivered, never a lead lost or repeated -----------------------------------


def test_a_stopped_server_is_retried_until_it_answers_then_the_file_lands_once(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()  # the partner's FTP server is down
    root = tmp_path / "ftp"
    root.mkdir()
    directory = new_directory(root)
    destination = {
        "host": "127.0.0.1",
        "port": port,
        "username": USER,
        "password": PASSWORD,
        "directory": directory,
        "timeout": "2s",
    }
    setup(db_url, file_config({"ftp": destination}, {"count": 3}, max_attempts=20))
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 3)

        def failing_twice() -> dict[str, Any] | None:
            items = listed(server, partner=PARTNER)
            if len(items) == 1 and items[0]["status"] == "retry" and items[0]["attempts"] >= 2:
                return items[0]
            return None

        retrying = wait_for(failing_twice, timeout=WAIT)
        assert retrying["reason"] == f"ftp 127.0.0.1:{port}: Connection refused"
        assert retrying["next_attempt_at"] is not None
        log = shown(server, retrying["id"])
        assert len(log["attempts_log"]) >= 2
        assert {a["outcome"] for a in log["attempts_log"]} == {"error"}
        assert [lead_["status"] for lead_ in log["leads"]] == ["batched"] * 3  # kept, not lost
        assert {r.status for r in rows(db_url, select(leads))} != {"delivered"}

        with serve_ftp(root, tmp_path, tls=False, port=port) as live:  # the server comes back
            assert live.port == port
            wait_for(lambda: shown(server, retrying["id"])["status"] == "sent", timeout=WAIT)
            wait_for(lambda: all_delivered(db_url, posted), timeout=WAIT)
            log = shown(server, retrying["id"])
            stores = [arg for cmd, arg in live.log if cmd == "STOR"]
    assert stores == [f"{log['filename']}.part"]  # uploaded once
    outcomes = [a["outcome"] for a in log["attempts_log"]]
    assert outcomes == ["error"] * (len(outcomes) - 1) + ["success"]
    assert [a["number"] for a in log["attempts_log"]] == list(range(1, len(outcomes) + 1))
    assert log["attempts"] == len(outcomes) and log["reason"] is None
    assert [lead_["status"] for lead_ in log["leads"]] == ["delivered"] * 3
    files = files_in(root / directory)
    assert list(files) == [log["filename"]]
    table = read_csv(files[log["filename"]])
    assert sorted(row[0] for row in table[1:]) == sorted(posted)  # each lead once, none lost
    assert len(rows(db_url, select(batches))) == 1
    assert_settled(db_url, set(posted), {log["id"]})
    assert PASSWORD.encode() not in everything_stored(db_url)  # sealed, and in no failure reason


def test_a_missing_directory_fails_the_batch_until_it_is_redelivered(db_url: str, sftp: Sftp) -> None:
    directory = f"later-{uuid.uuid4().hex[:8]}"  # not there yet: no retry will help, an operator must
    setup(db_url, file_config({"sftp": sftp.config(directory)}, {"count": 2}))
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 2)
        wait_for(lambda: len(listed(server, status="failed")) == 1, timeout=WAIT)
        [failed] = listed(server, partner=PARTNER)
        assert failed["attempts"] == 1 and failed["next_attempt_at"] is None
        assert f"{directory}/{failed['filename']}" in failed["reason"]
        dl = rows(db_url, select(deliveries))
        assert {d.status for d in dl} == {"batched"} and {d.batch_id for d in dl} == {failed["id"]}
        assert all(d.reason.startswith(f"batch {failed['id']} not delivered: ") for d in dl)

        (sftp.root / directory).mkdir()  # the partner fixes it
        r = post(server, f"/v1/batches/{failed['id']}/redeliver")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ready" and r.json()["filename"] == failed["filename"]
        wait_for(lambda: shown(server, failed["id"])["status"] == "sent", timeout=WAIT)
        wait_for(lambda: all_delivered(db_url, posted), timeout=WAIT)
        log = shown(server, failed["id"])
    assert [a["outcome"] for a in log["attempts_log"]] == ["error", "success"]
    assert log["attempts_log"][1]["location"] == log["location"]
    assert log["location"] == f"sftp://127.0.0.1:{sftp.port}/{directory}/{failed['filename']}"
    files = files_in(sftp.root / directory)
    assert list(files) == [failed["filename"]]
    assert sorted(row[0] for row in read_csv(files[failed["filename"]])[1:]) == sorted(posted)
    assert_settled(db_url, set(posted), {failed["id"]})
    assert PASSWORD.encode() not in everything_stored(db_url)  # sealed, and in no failure reason


def test_redelivery_from_the_log_replaces_the_same_file_with_the_same_leads(db_url: str, sftp: Sftp) -> None:
    directory = new_directory(sftp.root)
    setup(db_url, file_config({"sftp": sftp.config(directory)}, {"count": 2}))
    target = sftp.root / directory
    with ServerThread(db_url, **FAST) as server:
        posted = post_leads(server, 2)
        wait_for(lambda: len(listed(server, status="sent")) == 1, timeout=WAIT)
        wait_for(lambda: all_delivered(db_url, posted), timeout=WAIT)
        [first] = listed(server, partner=PARTNER)
        name = first["filename"]
        uploaded = files_in(target)[name]
        delivered_at = {d.id: d.delivered_at for d in rows(db_url, select(deliveries))}

        r = get(server, f"/v1/batches/{first['id']}/file")
        assert r.status_code == 200
        assert r.content == uploaded  # the file the partner got
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'

        sftp.log.clear()
        (target / name).write_bytes(b"the partner mangled it\n")
        r = post(server, f"/v1/batches/{first['id']}/redeliver")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ready"
        wait_for(lambda: len(shown(server, first["id"])["attempts_log"]) == 2, timeout=WAIT)
        wait_for(lambda: shown(server, first["id"])["status"] == "sent", timeout=WAIT)
        log = shown(server, first["id"])
        again = get(server, f"/v1/batches/{first['id']}/file").content
        everything = listed(server)
    part = f"{directory}/{name}.part"
    assert sftp.log == [("open", part), ("rename", part, f"{directory}/{name}")]  # uploaded again
    assert files_in(target) == {name: uploaded}  # replaced, not a second file
    assert again == uploaded
    assert [a["outcome"] for a in log["attempts_log"]] == ["success", "success"]
    assert [a["bytes"] for a in log["attempts_log"]] == [len(uploaded)] * 2
    assert log["filename"] == name and log["lead_count"] == 2 and log["attempts"] == 1
    assert sorted(lead_["lead_id"] for lead_ in log["leads"]) == sorted(posted)
    assert {lead_["status"] for lead_ in log["leads"]} == {"delivered"}
    assert [item["id"] for item in everything] == [first["id"]]  # no new batch
    # the deliveries were settled by the first upload; a redelivery does not deliver (or bill) them again
    assert {d.id: d.delivered_at for d in rows(db_url, select(deliveries))} == delivered_at
    assert len(rows(db_url, select(attempts).where(attempts.c.batch_id == first["id"]))) == 2


# --- bad input ---------------------------------------------------------------------------------------


def test_unknown_batches_are_404_and_a_batch_in_flight_is_not_redelivered(db_url: str, sftp: Sftp) -> None:
    directory = new_directory(sftp.root)
    setup(db_url, file_config({"sftp": sftp.config(directory)}, {"count": 1}))
    with ServerThread(db_url, **FAST) as server:
        for r in (
            get(server, "/v1/batches/bat_nosuchbatch"),
            get(server, "/v1/batches/bat_nosuchbatch/file"),
            post(server, "/v1/batches/bat_nosuchbatch/redeliver"),
        ):
            assert r.status_code == 404, r.text
            assert r.json()["detail"] == "unknown batch bat_nosuchbatch"
        assert get(server, "/v1/batches", status="lost").status_code == 422
        posted = post_leads(server, 1)
        wait_for(lambda: len(listed(server, status="sent")) == 1, timeout=WAIT)
        [batch] = listed(server, partner=PARTNER)
        wait_for(lambda: all_delivered(db_url, posted), timeout=WAIT)

    # the API alone (no workers, so no batch sender): a redelivered batch stays ready
    with ServerThread(db_url, workers=0, secret_key=KEY) as api_only:
        r = post(api_only, f"/v1/batches/{batch['id']}/redeliver")
        assert r.status_code == 200 and r.json()["status"] == "ready"
        r = post(api_only, f"/v1/batches/{batch['id']}/redeliver")
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == f"batch {batch['id']} is ready: it is being sent already"
        assert shown(api_only, batch["id"])["status"] == "ready"

    with ServerThread(db_url, **FAST) as server:  # a sender picks it up again
        wait_for(lambda: shown(server, batch["id"])["status"] == "sent", timeout=WAIT)
        log = shown(server, batch["id"])
    assert [a["outcome"] for a in log["attempts_log"]] == ["success", "success"]
    assert list(files_in(sftp.root / directory)) == [batch["filename"]]


def test_a_batch_being_sent_is_not_redelivered(db_url: str, silent_port: int) -> None:
    destination = {
        "host": "127.0.0.1",
        "port": silent_port,  # accepts, then says nothing: the upload hangs until its timeout
        "username": USER,
        "password": PASSWORD,
        "timeout": "2s",
    }
    setup(db_url, file_config({"sftp": destination}, {"count": 1}))
    with ServerThread(db_url, **FAST) as server:
        post_leads(server, 1)
        sending = wait_for(lambda: listed(server, status="sending"), timeout=WAIT)[0]
        r = post(server, f"/v1/batches/{sending['id']}/redeliver")
        assert r.status_code == 409, r.text
        assert r.json()["detail"] == f"batch {sending['id']} is sending: it is being sent already"
        retry = wait_for(lambda: listed(server, status="retry"), timeout=WAIT)[0]
    assert retry["id"] == sending["id"] and "timed out" in retry["reason"]


def test_a_destination_in_a_private_network_is_refused_like_a_webhook(db_url: str, sftp: Sftp) -> None:
    """Without 127.0.0.0/8 in LEADRELAY_ALLOWED_TARGET_NETWORKS the loopback SFTP server is a private
    target: the test delivery fails at once, naming the setting, and nothing is uploaded."""
    directory = new_directory(sftp.root)
    setup(db_url, file_config({"sftp": sftp.config(directory)}, {"count": 3}))
    with ServerThread(db_url, **FAST, allowed_target_networks="") as server:
        r = post(server, f"/v1/partners/{PARTNER}/test-delivery?wait=20")
    detail = r.json()
    assert detail["status"] == "failed", detail
    (attempt,) = detail["deliveries"][0]["batch"]["attempts"]
    assert "destination 127.0.0.1: target 127.0.0.1 is in a private network" in attempt["reason"]
    assert "LEADRELAY_ALLOWED_TARGET_NETWORKS" in attempt["reason"]
    assert files_in(sftp.root / directory) == {}
