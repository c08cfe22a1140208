"""The `leadrelay` command line as a user runs it, against real SQLite files and PostgreSQL databases
(LEADRELAY_DATABASE_URL), with a real server and simulated buyers where a command needs them. Commands
run in this process (Typer's CliRunner); `db upgrade` also runs as a real process (the smoke test)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, inspect, select

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import downgrade
from leadrelay.adapters.db.schema import metadata
from leadrelay.adapters.db.tables import audit_log, jobs, leads
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import alias_bomb
from tests.support import (
    ADMIN,
    ROOT,
    ServerThread,
    base_config,
    lead,
    leadrelay_cmd,
    prepare,
    reader,
    run_cli,
    source_headers,
    wait_for,
    wait_settled,
)

KINDS = ("smtp", "entities", "sources", "partners", "profiles")
CMD_TIMEOUT = 60


def _env(url: str, **extra: str) -> dict[str, str | None]:
    return {"LEADRELAY_DATABASE_URL": url, "COLUMNS": None, "LINES": None, **extra}  # output as in a pipe


def cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command in this process, as a user would run it against ``url``."""
    return run_cli(args, _env(url, **env))


def cli_process(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A command in a real `python -m leadrelay…` process (the smoke test of the entry point)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["LEADRELAY_DATABASE_URL"] = url
    return subprocess.run(
        leadrelay_cmd(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=CMD_TIMEOUT
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def cli_many(url: str, *commands: Sequence[str], **env: str) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands, one after the other; results in order."""
    return [cli(url, *args, **env) for args in commands]


def changes(stdout: str) -> dict[tuple[str, str], str]:
    """The rows of `apply`'s table: (kind, name) → action."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in KINDS:
            rows[(parts[0], parts[1])] = parts[2]
    return rows


def stored(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        return db.read(config_store.load_objects)
    finally:
        db.dispose()


def count(url: str, table: Any, *where: Any) -> int:
    query = select(func.count()).select_from(table).where(*where)
    return reader(url).read(lambda c: int(c.execute(query).scalar_one()))


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def config_file(tmp_path: Path, buyers: BuyersThread, name: str = "config.yaml", **overrides: Any) -> Path:
    document = base_config(buyers.url, **overrides)
    document["smtp"] = {"host": "127.0.0.1", "port": 2525}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


EXPECTED_OBJECTS = {
    ("smtp", "default"),
    ("entities", "solar"),
    ("sources", "web"),
    ("partners", "sunco"),
    ("partners", "brightpath"),
    ("partners", "voltedge"),
    ("profiles", "solar-main"),
}


# ---------------------------------------------------------------- database


def test_db_upgrade_creates_the_schema(db_url: str) -> None:
    downgrade(db_url, "base")
    # the entry point's smoke test: a real process once (on SQLite), this process on PostgreSQL
    r = (cli_process if db_url.startswith("sqlite") else cli)(db_url, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert "database is up to date" in r.stdout
    db = Database(db_url)
    try:
        tables = set(db.read(lambda c: inspect(c).get_table_names()))
    finally:
        db.dispose()
    assert tables == {*metadata.tables, "alembic_version"}
    again = cli(db_url, "db", "upgrade")
    assert again.returncode == 0, again.stderr


# ---------------------------------------------------------------- apply / export


def test_apply_twice_then_everything_is_unchanged_and_dry_run_changes_nothing(
    db_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    path = config_file(tmp_path, buyers)
    dry = cli(db_url, "apply", "-f", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert changes(dry.stdout) == {key: "created" for key in EXPECTED_OBJECTS}
    assert "nothing was changed" in dry.stdout
    assert stored(db_url) == {}

    first = cli(db_url, "apply", "-f", str(path))
    assert first.returncode == 0, first.stderr
    assert changes(first.stdout) == {key: "created" for key in EXPECTED_OBJECTS}
    state = stored(db_url)
    assert set(state["partners"]) == {"sunco", "brightpath", "voltedge"}

    changed = config_file(tmp_path, buyers, "changed.yaml", sunco={"price": 40})
    second, dry = cli_many(db_url, ["apply", "-f", str(path)], ["apply", "-f", str(changed), "--dry-run"])
    assert second.returncode == 0, second.stderr
    assert changes(second.stdout) == {key: "unchanged" for key in EXPECTED_OBJECTS}
    assert dry.returncode == 0, dry.stderr
    assert changes(dry.stdout)[("partners", "sunco")] == "updated"
    assert [k for k, v in changes(dry.stdout).items() if v != "unchanged"] == [("partners", "sunco")]
    assert stored(db_url) == state

    applied = [e for e in _audit(db_url) if e.actor.startswith("cli")]
    assert len(applied) == len(EXPECTED_OBJECTS)  # one entry per created object, none for dry runs


def _audit(url: str) -> list[Any]:
    db = Database(url)
    try:
        return db.read(lambda c: list(c.execute(select(audit_log).order_by(audit_log.c.id))))
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_export_reapplies_with_everything_unchanged(
    db_url: str, buyers: BuyersThread, tmp_path: Path, sqlite_template: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(sqlite_template, other / "fresh.db")
    fresh_url = f"sqlite:///{other / 'fresh.db'}"
    path = config_file(tmp_path, buyers, sunco={"caps": {"day": 5}, "hours": {"mon-fri": "08:00-18:00"}})
    assert cli(db_url, "apply", "-f", str(path)).returncode == 0
    state = stored(db_url)
    exported = tmp_path / "exported.yaml"
    to_stdout, to_file = cli_many(db_url, ["export"], ["export", "-o", str(exported)])
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_file.returncode == 0, to_file.stderr
    assert exported.read_text(encoding="utf-8") == to_stdout.stdout
    assert yaml.safe_load(to_stdout.stdout)["partners"]["sunco"]["caps"] == {"day": 5}

    same_db, fresh_db = (cli(url, "apply", "-f", str(exported)) for url in (db_url, fresh_url))
    assert same_db.returncode == 0, same_db.stderr
    assert changes(same_db.stdout) == {key: "unchanged" for key in EXPECTED_OBJECTS}
    assert stored(db_url) == state
    assert fresh_db.returncode == 0, fresh_db.stderr
    assert stored(fresh_url) == state  # the export alone rebuilds the same configuration elsewhere


BAD_CONFIG = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      zip: {type: postal_code, required: true}
sources:
  web: {entities: [solar, mortgage]}
partners:
  sunco:
    caps: {day: -1}
    channel: {webhook: {url: "http://127.0.0.1:9/sunco", response: {outcome_search_term: "/[/"}}}
profiles:
  solar-main:
    entity: solar
    rules:
      - name: la
        when: {field: zip, op: startswith, value: "90"}
        send_to: {partner: sunco}
"""


@pytest.mark.sqlite_only
def test_an_invalid_file_is_refused_whole_naming_every_bad_path(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    for expected in (
        "profiles.solar-main.rules[0].when.op: unknown operator 'startswith'; did you mean 'starts_with'?",
        "partners.sunco.caps.day: must be a positive integer",
        "sources.web.entities[1]: unknown entity 'mortgage'",
        "partners.sunco.channel.webhook.response.outcome_search_term: outcome_search_term '/[/' is not",
    ):
        assert any(expected in line for line in lines), (expected, r.stderr)
    assert "nothing was applied" in r.stderr
    assert stored(db_url) == {}
    assert _audit(db_url) == []


def test_unreadable_files_get_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("partners:\n  sunco: {caps: {day: 5}\n", encoding="utf-8")
    missing, directory, bad_yaml = cli_many(
        sqlite_url,
        ["apply", "-f", str(tmp_path / "missing.yaml")],
        ["apply", "-f", str(tmp_path)],
        ["apply", "-f", str(broken)],
    )
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr
    assert f"cannot read {tmp_path / 'missing.yaml'}: No such file or directory" in one_line(missing.stderr)
    assert directory.returncode != 0
    assert "Traceback" not in directory.stderr
    assert f"cannot read {tmp_path}: Is a directory" in one_line(directory.stderr)
    assert bad_yaml.returncode == 2
    assert "invalid YAML at line 3" in one_line(bad_yaml.stderr)
    assert stored(sqlite_url) == {}


def test_a_file_of_nested_aliases_is_refused_naming_the_expansion(sqlite_url: str, tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(alias_bomb(), encoding="utf-8")
    r = cli(sqlite_url, "apply", "-f", str(bomb))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    text = one_line(r.stderr)
    assert "nothing was applied" in text and "the document expands to more than" in text, text
    assert "through aliases" in text
    assert stored(sqlite_url) == {}


# ---------------------------------------------------------------- credentials


@pytest.mark.sqlite_only
def test_admin_create_token_prints_a_token_that_works(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    r = cli(db_url, "admin", "create-token", "--name", "ops")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert len(token) >= 32 and " " not in token
    with ServerThread(db_url) as server, server.client() as http:
        ok = http.get("/v1/partners", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        assert http.get("/v1/partners", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        put = http.put(
            "/v1/partners/nova", json={"timezone": "UTC"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert put.status_code == 200, put.text
        actors = [e["actor"] for e in http.get("/v1/audit", headers=ADMIN).json()["items"]]
    assert actors[0] == "admin:ops"


@pytest.mark.sqlite_only
def test_sources_add_key(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url))
    chosen = "lr_cli_chosen_key_000001"
    new, given, unknown, short = cli_many(
        db_url,
        ["sources", "add-key", "web"],
        ["sources", "add-key", "web", "--key", chosen],
        ["sources", "add-key", "nope"],
        ["sources", "add-key", "web", "--key", "short"],
    )
    assert new.returncode == 0, new.stderr
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip() == chosen
    assert unknown.returncode != 0 and "no source named 'nope'" in unknown.stderr
    assert short.returncode != 0 and "16 characters" in short.stderr
    with ServerThread(db_url) as server, server.client() as http:
        for key in (new.stdout.strip(), chosen):
            r = http.post("/v1/leads", json=lead(), headers={"X-API-Key": key})
            assert r.status_code == 202, r.text


# ---------------------------------------------------------------- the log and its actions


@pytest.mark.sqlite_only
def test_log_list_show_and_actions(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, base_config(buyers.url, voltedge={"paused": True}))
    with ServerThread(db_url) as server, server.client() as http:

        def job_of(**overrides: Any) -> str:
            r = http.post("/v1/leads?wait=10", json=lead(**overrides), headers=source_headers())
            assert r.status_code in (200, 202), r.text
            lead_id = r.json()["lead_id"]
            items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            return str(items[0]["id"])

        def status(job_id: str) -> str:
            return str(http.get(f"/v1/distributions/{job_id}", headers=ADMIN).json()["status"])

        sold = job_of()
        unsold = job_of(state="TX", monthly_bill=50)
        assert (status(sold), status(unsold)) == ("delivered", "unsold")

        listing, filtered, show, show_missing, resend_unsold, rerun_sold, cancel_unsold = cli_many(
            db_url,
            ["log", "list"],
            ["log", "list", "--status", "unsold"],
            ["log", "show", sold],
            ["log", "show", "job_nope"],
            ["log", "resend", unsold],
            ["log", "rerun", sold],
            ["log", "cancel", unsold],
            COLUMNS="250",  # a wide terminal (test_log_list_shows_whole_ids covers the default width)
        )
        assert listing.returncode == 0, listing.stderr
        assert sold in listing.stdout and unsold in listing.stdout
        assert filtered.returncode == 0, filtered.stderr
        assert unsold in filtered.stdout and sold not in filtered.stdout
        assert show.returncode == 0, show.stderr
        shown = json.loads(show.stdout)
        assert shown["id"] == sold and shown["status"] == "delivered"
        assert shown["deliveries"][0]["partner"] == "sunco"
        assert shown["deliveries"][0]["attempts"][0]["outcome"] == "success"
        assert any("west-coast" in line for line in shown["trace"])
        assert show_missing.returncode != 0
        assert "unknown distribution job_nope" in one_line(show_missing.stderr)
        for failed, words in (
            (resend_unsold, "resend is only for delivered"),
            (rerun_sold, "delivered (use resend)"),
            (cancel_unsold, "cancel is only for delivered"),
        ):
            assert failed.returncode != 0, failed.stdout
            assert words in one_line(failed.stderr), failed.stderr
            assert "Traceback" not in failed.stderr
        assert (status(sold), status(unsold)) == ("delivered", "unsold")

        # voltedge is repaired through the API; then a resend and a rerun at once
        r = http.put(
            "/v1/partners/voltedge",
            json={"timezone": "America/New_York", "channel": {"webhook": {"url": buyers.url("voltedge")}}},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        resend, rerun = cli_many(
            db_url,
            ["log", "resend", sold, "--reason", "lost"],
            ["log", "rerun", unsold, "--reason", "voltedge back"],
        )
        assert resend.returncode == 0, resend.stderr
        assert f"resend of {sold}" in resend.stdout
        assert rerun.returncode == 0, rerun.stderr
        assert f"{unsold} reset to received" in rerun.stdout
        wait_for(lambda: buyers.stats()["buyers"]["sunco"]["accepted"] == 2, timeout=15)
        wait_for(lambda: status(unsold) == "delivered", timeout=15)
        wait_settled(server.url)  # the cancel waits for the resend to finish

        cancel = cli(db_url, "log", "cancel", sold, "--reason", "refund")
        assert cancel.returncode == 0, cancel.stderr
        assert f"{sold} cancelled" in cancel.stdout
        assert status(sold) == "cancelled"

        entries = http.get("/v1/audit", headers=ADMIN).json()["items"]
    done = [(e["action"], e["object_id"], e["reason"]) for e in entries if e["actor"].startswith("cli:")]
    assert done[0] == ("distribution.cancel", sold, "refund")
    assert sorted(done[1:]) == [
        ("distribution.rerun", unsold, "voltedge back"),
        ("distribution.resend", sold, "lost"),
    ]


def test_log_list_shows_whole_ids(sqlite_url: str, buyers: BuyersThread) -> None:
    """`log list` is where an operator finds the id for `log show/resend/cancel`: at the default width of
    a pipe (80 columns) the ids must still be printed whole, not cut to 'job_01m81…'."""
    prepare(sqlite_url, base_config(buyers.url))
    with ServerThread(sqlite_url) as server, server.client() as http:
        r = http.post("/v1/leads?wait=10", json=lead(), headers=source_headers())
        assert r.json()["status"] == "delivered", r.text
        job = http.get("/v1/distributions", headers=ADMIN).json()["items"][0]
    listing = cli(sqlite_url, "log", "list")
    assert listing.returncode == 0, listing.stderr
    assert job["id"] in listing.stdout, listing.stdout
    assert job["lead_id"] in listing.stdout, listing.stdout


# ---------------------------------------------------------------- import


@pytest.mark.sqlite_only
def test_import_csv_with_bad_rows(db_url: str, buyers: BuyersThread, tmp_path: Path) -> None:
    prepare(db_url, base_config(buyers.url))
    path = tmp_path / "leads.csv"
    columns = ["first_name", "last_name", "email", "phone", "zip", "state", "monthly_bill"]
    rows = [
        ["Ada", "Lovelace", "ada@example.com", "(512) 555-1212", "94103", "CA", "180"],
        ["Bob", "Bad", "bob@example.com", "12", "94103", "CA", "180"],
        ["Cy", "Young", "cy@example.com", "512-555-1313", "73301", "TX", "150"],
        ["Di", "NoZip", "di@example.com", "512-555-1414", "", "CA", "120"],
        ["Ed", "Ok", "", "512 555 1515", "97201", "OR", ""],
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    assert r.returncode == 0, r.stderr
    assert "imported 5 rows: 3 accepted, 2 rejected" in r.stdout
    rejects = tmp_path / "leads.rejected.csv"
    assert rejects.name in r.stdout.replace("\n", "")
    with rejects.open(newline="", encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert [(row["row"], row["first_name"]) for row in rejected] in (
        [("3", "Bob"), ("5", "Di")],
        [("5", "Di"), ("3", "Bob")],
    )
    reasons = {row["first_name"]: row["errors"] for row in rejected}
    assert "phone: not a valid US number" in reasons["Bob"]
    assert "zip: required" in reasons["Di"]
    assert count(db_url, leads) == 5
    assert count(db_url, leads, leads.c.status == "rejected") == 2
    assert count(db_url, leads, leads.c.source == "web") == 5
    assert count(db_url, jobs) == 3

    # the imported leads are distributed like any other once a worker runs
    with ServerThread(db_url) as server, server.client() as http:
        wait_for(lambda: count(db_url, jobs, jobs.c.status == "delivered") == 3, timeout=15)
        assert http.get("/health").status_code == 200
    assert buyers.stats()["total_accepted"] == 3


def test_import_with_an_unknown_source_or_missing_file(
    sqlite_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    prepare(sqlite_url, base_config(buyers.url))
    path = tmp_path / "leads.csv"
    path.write_text("first_name,phone,zip\nAda,5125551212,94103\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    no_source, no_entity, no_file, no_header = cli_many(
        sqlite_url,
        ["import", str(path), "--entity", "solar", "--source", "nope"],
        ["import", str(path), "--entity", "mortgage", "--source", "web"],
        ["import", str(tmp_path / "missing.csv"), "--entity", "solar", "--source", "web"],
        ["import", str(empty), "--entity", "solar", "--source", "web"],
    )
    assert no_source.returncode != 0 and "no source named 'nope'" in no_source.stderr
    assert no_entity.returncode != 0 and "no entity named 'mortgage'" in no_entity.stderr
    assert no_file.returncode != 0 and "no such file" in no_file.stderr
    assert no_header.returncode != 0 and "empty.csv: the file has no header row" in no_header.stderr
    assert not (tmp_path / "empty.rejected.csv").exists()  # a failed import leaves no rejects file
    assert count(sqlite_url, leads) == 0


# ---------------------------------------------------------------- partners test


@pytest.mark.sqlite_only
def test_partners_test_sends_a_marked_test_lead(db_url: str, buyers: BuyersThread) -> None:
    dead = {"webhook": {"url": "http://127.0.0.1:9/nobody", "timeout": "2s", "max_attempts": 1}}
    prepare(db_url, base_config(buyers.url, voltedge={"channel": dead}))
    ok, failed, unknown = cli_many(
        db_url,
        ["partners", "test", "sunco"],
        ["partners", "test", "voltedge", "--wait", "10"],
        ["partners", "test", "nobody"],
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["status"] == "delivered"
    assert result["kind"] == "test"
    assert [(d["partner"], d["test"]) for d in result["deliveries"]] == [("sunco", True)]
    assert buyers.stats()["buyers"]["sunco"]["tests"] == 1
    assert failed.returncode != 0
    assert json.loads(failed.stdout)["status"] == "failed"
    assert unknown.returncode != 0 and "nobody" in unknown.stderr
    with httpx.Client(timeout=5) as http:
        assert http.get(f"{buyers.base_url}/stats").json()["buyers"]["sunco"]["accepted"] == 1
