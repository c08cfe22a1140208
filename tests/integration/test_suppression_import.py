"""`leadrelay suppression import` and `lists` as a user runs them (in this process, Typer's CliRunner)
against real SQLite files and PostgreSQL databases. CSV with a header column, plain files, pre-hashed
files, bad lines, and re-imports that count what is already there."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import suppression_entries, suppression_lists
from leadrelay.adapters.db.tables import audit_log
from tests.support import run_cli


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LEADRELAY_DATABASE_URL": url, "COLUMNS": None, "LINES": None}
    return run_cli(["suppression", *args], env)


def one_line(text: str) -> str:
    return " ".join(text.split())


def entries(url: str, name: str) -> set[str]:
    db = Database(url)
    try:
        query = select(suppression_entries.c.value_hash).where(suppression_entries.c.list == name)
        return set(db.read(lambda c: c.execute(query).scalars().all()))
    finally:
        db.dispose()


def audit_rows(url: str) -> list[tuple[str, str, dict[str, object]]]:
    db = Database(url)
    try:
        query = select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail).order_by(audit_log.c.at)
        return [(r.action, r.actor, r.detail) for r in db.read(lambda c: c.execute(query).all())]
    finally:
        db.dispose()


CUSTOMERS = """\
Name,Email,Phone
Ada Lovelace,Ada@Example.com,(512) 555-1212
"Smith, John",john@x.com,512.555.3434
Nobody,,512.555.5656
Grace,GRACE@navy.mil,+1 512 555 7878
"""


def test_csv_column_import_then_reimport_counts_already_present(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "customers.csv"
    file.write_text(CUSTOMERS)
    r = cli(db_url, "import", str(file), "--list", "customers", "--kind", "email", "--column", "email")
    assert r.returncode == 0, r.stderr
    out = one_line(r.stdout)
    assert "created email list 'customers'" in out
    assert "values read from column 'Email'" in out
    assert (
        "imported 3 values into 'customers': 3 added, 0 already present, 0 invalid (1 blank rows skipped)"
        in out
    )
    assert entries(db_url, "customers") == {sha("ada@example.com"), sha("john@x.com"), sha("grace@navy.mil")}

    r = cli(db_url, "import", str(file), "--list", "customers", "--column", "Email")
    assert r.returncode == 0, r.stderr
    assert "3 values into 'customers': 0 added, 3 already present, 0 invalid" in one_line(r.stdout)
    assert "created" not in r.stdout

    r = cli(db_url, "import", str(file), "--list", "dnc", "--kind", "phone", "--column", "phone")
    assert r.returncode == 0, r.stderr
    assert "4 values into 'dnc': 4 added" in one_line(r.stdout)
    assert sha("+15125557878") in entries(db_url, "dnc")

    r = cli(db_url, "lists")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "name\tkind\tentries\tdescription",
        "customers\temail\t3\t",
        "dnc\tphone\t4\t",
    ]
    actions = [(a, d.get("added")) for a, _, d in audit_rows(db_url)]
    assert actions == [
        ("suppression.list_created", None),
        ("suppression.imported", 3),
        ("suppression.imported", 0),
        ("suppression.list_created", None),
        ("suppression.imported", 4),
    ]
    assert all(actor.startswith("cli") for _, actor, _ in audit_rows(db_url))


@pytest.mark.sqlite_only
def test_plain_file_with_bad_lines(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "dnc.txt"
    lines = [
        "(512) 555-1212",
        "512.555.1212",
        "",
        "555-1212",
        "5125553434",
        "call me maybe",
        "+1 512 555 5656",
    ]
    file.write_text("\n".join(lines) + "\n")
    r = cli(db_url, "import", str(file), "--list", "dnc", "--kind", "phone", "--description", "do not call")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "imported 6 values into 'dnc': 3 added, 1 already present, 2 invalid" in one_line(out)
    assert "line 4: '555-1212': not a valid US number" in out
    assert "line 6: 'call me maybe': not a valid US number" in out
    assert "header" not in out
    assert entries(db_url, "dnc") == {sha("+15125551212"), sha("+15125553434"), sha("+15125555656")}


@pytest.mark.sqlite_only
def test_plain_file_with_a_header_word_and_zip_codes(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "zips.txt"
    file.write_text("zip\r\n78704\r\n78704-1234\r\nK1A 0B1\r\n9410\r\n")
    r = cli(db_url, "import", str(file), "--list", "closed", "--kind", "postal_code")
    assert r.returncode == 0, r.stderr
    assert "header row: values read from column 'zip'" in r.stdout
    assert "imported 4 values into 'closed': 2 added, 1 already present, 1 invalid" in one_line(r.stdout)
    assert "line 5: '9410': not a valid postal code" in r.stdout
    assert entries(db_url, "closed") == {sha("78704"), sha("K1A 0B1")}


@pytest.mark.sqlite_only
def test_pre_hashed_file(db_url: str, tmp_path: Path) -> None:
    hashes = [sha(f"+1512555{n:04d}") for n in range(1000, 1005)]
    file = tmp_path / "hashed.txt"
    file.write_text(
        "\n".join([hashes[0].upper(), *hashes[1:], hashes[0], "not-a-hash", hashes[2][:40]]) + "\n"
    )
    r = cli(db_url, "import", str(file), "--list", "litigators", "--kind", "phone", "--hashed")
    assert r.returncode == 0, r.stderr
    assert "imported 8 values into 'litigators': 5 added, 1 already present, 2 invalid" in one_line(r.stdout)
    assert "line 7: 'not-a-hash': not a SHA-256 hash" in r.stdout
    assert entries(db_url, "litigators") == set(hashes)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--list", "ghost"], "no suppression list named 'ghost'; give --kind to create it"),
        (["--list", "dnc", "--column", "phon"], "no column named 'phon'; did you mean 'phone'?"),
        (["--list", "new", "--kind", "phones"], "did you mean 'phone'"),
        (["--list", "dnc", "--kind", "email"], "holds phone values, not email"),
        (["--list", "Bad List", "--kind", "phone"], "invalid name"),
    ],
)
@pytest.mark.sqlite_only
def test_refusals_exit_1_with_a_message(db_url: str, tmp_path: Path, args: list[str], words: str) -> None:
    file = tmp_path / "list.csv"
    file.write_text("name,phone\nAda,5125551212\n")
    assert (
        cli(db_url, "import", str(file), "--list", "dnc", "--kind", "phone", "--column", "phone").returncode
        == 0
    )
    r = cli(db_url, "import", str(file), *args)
    assert r.returncode == 1, r.stdout
    assert words in one_line(r.stderr), r.stderr
    assert "Traceback" not in r.stderr
    db = Database(db_url)
    try:
        names = db.read(lambda c: c.execute(select(suppression_lists.c.name)).scalars().all())
    finally:
        db.dispose()
    assert names == ["dnc"]  # a refused import creates no list


@pytest.mark.sqlite_only
def test_a_missing_file(db_url: str, tmp_path: Path) -> None:
    r = cli(db_url, "import", str(tmp_path / "nope.txt"), "--list", "dnc", "--kind", "phone")
    assert r.returncode == 1
    assert "no such file" in r.stderr and "Traceback" not in r.stderr
