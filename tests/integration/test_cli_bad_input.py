"""Bad input to the command line is a clean error naming the file, option or column, and nothing is lost
or stored altered: files that are not UTF-8, an unwritable rejects path, CSV headers that cannot be the
columns' names, rows with more values than the header, an unknown status, and simulated buyers' options."""

from __future__ import annotations

import resource
import socket
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import leads
from tests.integration.test_cli import cli
from tests.support import base_config, leadrelay_cmd, prepare, rows

# what the command line does with bad input does not depend on the database: SQLite only
pytestmark = pytest.mark.sqlite_only

HEADER = "first_name,last_name,email,phone,zip,state,monthly_bill\n"


def nowhere(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr[-2000:]


def _buyers(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # bound the memory a runaway option may take
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        return subprocess.run(leadrelay_cmd("simulate-buyers", *args), capture_output=True, text=True,
                              timeout=timeout, preexec_fn=limit)  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # it started serving: the option was not refused
        return subprocess.CompletedProcess(exc.cmd, 0, str(exc.stdout), "started serving")


def test_apply_of_a_non_utf8_file_is_a_cli_error(db_url: str, tmp_path: Path) -> None:
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"entities:\n  solar:\n    fields:\n      pr\xe9nom: {type: string}\n")
    r = cli(db_url, "apply", "-f", str(path))
    _no_traceback(r)
    assert r.returncode == 1 and "latin1.yaml: not UTF-8 text" in r.stderr, r.stderr


def test_simulate_with_a_non_utf8_draft_is_a_cli_error(db_url: str, tmp_path: Path) -> None:
    prepare(db_url, base_config(nowhere))
    draft = tmp_path / "draft.yaml"
    draft.write_bytes(b"entities:\n  \xff\xfe: {}\n")
    lead = tmp_path / "lead.json"
    lead.write_text('{"first_name": "Ada", "phone": "5125551212", "zip": "94103"}', encoding="utf-8")
    r = cli(db_url, "simulate", "--config", str(draft), "--lead-file", str(lead), "--entity", "solar",
            "--source", "web")  # fmt: skip
    _no_traceback(r)
    assert r.returncode != 0 and "--config" in r.stderr


# ------------------------------------------------------------- CSV import


def test_import_with_an_unwritable_rejects_path_is_a_cli_error(db_url: str, tmp_path: Path) -> None:
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + "Ada,L,a@x.com,(512) 555-1212,94103,CA,180\n", encoding="utf-8")
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web",
            "--rejects", str(tmp_path / "no-such-dir" / "rejects.csv"))  # fmt: skip
    _no_traceback(r)
    assert r.returncode != 0 and "--rejects" in r.stderr


def test_import_of_a_file_without_its_header_loses_no_row_silently(db_url: str, tmp_path: Path) -> None:
    """The first data row is taken for the header: it is neither imported nor rejected, and the
    command says 'imported 0 rows' with exit 0."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    path.write_text("Ada,L,a@x.com,(512) 555-1212,94103,CA,180\n", encoding="utf-8")
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    assert r.returncode != 0, r.stdout
    assert "header" in r.stderr


def test_import_of_a_non_utf8_row_does_not_store_altered_values(db_url: str, tmp_path: Path) -> None:
    """'Jos\\xe9' (Latin-1) is stored as 'Jos\\ufffd' and the row counted as accepted; the API refuses
    the same bytes (400)."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER.encode() + b"Jos\xe9,L,a@x.com,(512) 555-1212,94103,CA,180\n")
    cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    stored_names = [row.data.get("first_name") for row in rows(db_url, select(leads.c.data))]
    assert not any("\ufffd" in (name or "") for name in stored_names), stored_names


def test_an_import_that_cannot_read_on_says_which_rows_before_it_were_imported(
    db_url: str, tmp_path: Path
) -> None:
    """A quoted value never closed grows past the csv module's field limit: the import ends there, and the
    command says that the rows before it were imported (it said only the error, as if nothing was)."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    endless = b'Bo,L,b@x.com,(512) 555-1313,94103,CA,"' + b"".join([b"x" * 50_000 + b"\n"] * 4)
    path.write_bytes(HEADER.encode() + b"Ada,L,a@x.com,(512) 555-1212,94103,CA,180\n" + endless)
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    _no_traceback(r)
    assert r.returncode == 1 and "field larger than field limit" in r.stderr, r.stderr
    assert "the 1 rows before it were imported (1 accepted, 0 rejected)" in r.stderr, r.stderr
    assert [row.data.get("first_name") for row in rows(db_url, select(leads.c.data))] == ["Ada"]


def test_import_of_a_row_with_more_cells_than_the_header_is_rejected(db_url: str, tmp_path: Path) -> None:
    """The cells past the header are dropped without a word and the row is accepted."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    path.write_text(
        HEADER + "Ada,L,a@x.com,(512) 555-1212,94103,CA,180,Sun Company, Inc.\n", encoding="utf-8"
    )
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    assert r.returncode == 0, r.stderr
    rejected = (tmp_path / "leads.rejected.csv").read_text(encoding="utf-8")
    assert "2 more value(s) than the header's 7 columns" in rejected, rejected
    assert rows(db_url, select(leads.c.id)) == []  # nothing dropped unsaid, nothing half-imported


def test_import_with_a_repeated_header_column_is_refused(db_url: str, tmp_path: Path) -> None:
    """`first_name,first_name`: the first column's values are silently overwritten by the second's."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "leads.csv"
    path.write_text(
        "first_name,first_name,last_name,email,phone,zip,state\nAda,Bob,L,a@x.com,(512) 555-1212,94103,CA\n",
        encoding="utf-8",
    )
    r = cli(db_url, "import", str(path), "--entity", "solar", "--source", "web")
    assert r.returncode != 0 and "first_name" in r.stderr, r.stdout


# ------------------------------------------------------------- log list filter


def test_log_list_with_an_unknown_status_is_a_cli_error(db_url: str) -> None:
    """GET /v1/distributions?status=bogus is a 422 naming `status`; the command lists nothing, exit 0."""
    prepare(db_url, base_config(nowhere))
    r = cli(db_url, "log", "list", "--status", "bogus")
    assert r.returncode != 0 and "status" in r.stderr, r.stdout


# ------------------------------------------------------------- simulate-buyers options


def test_simulate_buyers_smtp_port_out_of_range_is_a_cli_error() -> None:
    r = _buyers("--port", "0", "--smtp-port", "99999")
    _no_traceback(r)
    assert r.returncode == 2 and "--smtp-port" in r.stderr, r.stderr


def test_simulate_buyers_port_in_use_is_a_cli_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = _buyers("--port", str(busy.getsockname()[1]))
    _no_traceback(r)
    assert r.returncode == 1 and "in use" in r.stderr


def test_simulate_buyers_count_is_bounded() -> None:
    """--count is bounded (a million buyers took 5 GB and never listened)."""
    r = _buyers("--port", "0", "--count", "100000000", timeout=20)
    _no_traceback(r)
    assert r.returncode != 0 and "count" in r.stderr, (r.returncode, r.stderr[-500:])


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", "database upgrade: connection failed"),
        ("sqlite:////nonexistent-directory/x.db", "database upgrade: unable to open database file"),
    ],
)
def test_db_upgrade_of_a_database_it_cannot_reach_is_one_line(url: str, said: str) -> None:
    """It was a traceback of some 450 lines (black-box pass, 2026-12-06); `serve` migrates the same way."""
    r = cli(url, "db", "upgrade")
    _no_traceback(r)
    assert r.returncode == 1 and said in r.stderr, r.stderr
