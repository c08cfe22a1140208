"""Input that is well formed but out of range gets a clear 4xx or CLI usage error naming the parameter, never
a 500, a traceback or a change half made (a sweep of the CLI and the admin API, SQLite: the checks run
before the database is asked):

- instants whose UTC reading is outside the calendar (``0001-01-01T00:00:00+05:00`` is in the year 0 in
  UTC), and an invoice period at the calendar's end (9999-12);
- ``LEADRELAY_RETENTION_DAYS=-1`` (the workers erased every lead received, hourly) and a purge age past the
  calendar; ``keys rotate --grace inf`` (the new key was made active before the grace overflowed);
- ``serve --port 99999`` (it listened on 34463), ``--port -1``, ``worker --loops -1`` (a worker doing
  nothing);
- a chosen API key no request can send (padded with spaces, not ASCII, a NUL): stored, then 401 forever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadrelay.config import load_settings
from leadrelay.errors import ConfigError
from tests.integration.test_cli import cli
from tests.support import ADMIN, ServerThread, base_config, prepare

pytestmark = pytest.mark.sqlite_only

EARLY = "0001-01-01T00:00:00+05:00"
LATE = "9999-12-31T23:59:59-05:00"
SECRET = "a-test-secret-of-enough-length-0001"


def config() -> dict[str, Any]:
    return base_config(lambda name: f"http://127.0.0.1:9/{name}")


def refused(result: Any, name: str) -> None:
    said = result.stderr + result.stdout
    assert "Traceback" not in said, said[-400:]
    assert result.returncode in (1, 2) and name in said, (result.returncode, said[-400:])


def test_the_admin_api_answers_422_naming_the_parameter(sqlite_url: str) -> None:
    prepare(sqlite_url, config())
    asks = [
        ("/v1/ledger", {"since": EARLY}, "since"),
        ("/v1/ledger", {"until": LATE}, "until"),
        ("/v1/distributions", {"since": EARLY}, "since"),
        ("/v1/distributions", {"until": LATE}, "until"),
        (
            "/v1/reports",
            {"since": "0001-01-01T00:00", "until": "0001-01-02", "tz": "America/New_York"},
            "since",
        ),
    ]
    with ServerThread(sqlite_url, workers=0) as server, server.client() as http:
        for path, params, name in asks:
            r = http.get(path, params=params, headers=ADMIN)
            assert r.status_code == 422 and name in {e["field"] for e in r.json()["errors"]}, (path, r.text)
        for period in ("9999-12", "9999-12-31", "2026-W01"):
            r = http.post("/v1/invoices", json={"partner": "sunco", "period": period}, headers=ADMIN)
            assert r.status_code == 422 and "period" in r.text, (period, r.text)
        for key in (" " * 20, "  padded-key-0123456789", "ключ-ключ-ключ-ключ", "abcdefghijklmnop\u0000"):
            r = http.post("/v1/sources/web/keys", json={"key": key}, headers=ADMIN)
            assert r.status_code == 422 and "key" in r.text, (repr(key), r.text)


def test_the_cli_refuses_naming_the_option(sqlite_url: str, tmp_path: Path) -> None:
    prepare(sqlite_url, config())
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(config()))
    refused(cli(sqlite_url, "ledger", "list", "--since", EARLY), "--since")
    refused(
        cli(
            sqlite_url,
            "report",
            "--since",
            "0001-01-01T00:00",
            "--until",
            "0001-01-02",
            "--tz",
            "America/New_York",
        ),
        "since",
    )
    refused(cli(sqlite_url, "simulate", "--config", str(draft), "--since", EARLY), "since")
    refused(cli(sqlite_url, "invoices", "draft", "--partner", "sunco", "--period", "9999-12"), "period")
    refused(cli(sqlite_url, "leads", "purge", "--older-than-days", "1000000"), "--older-than-days")
    refused(cli(sqlite_url, "leads", "purge", "--older-than-days", "-5"), "--older-than-days")
    refused(cli(sqlite_url, "serve", "--port", "99999"), "--port")
    refused(cli(sqlite_url, "serve", "--port", "-1"), "--port")
    refused(cli(sqlite_url, "worker", "--loops", "-1"), "--loops")
    refused(cli(sqlite_url, "sources", "add-key", "web", "--key", "  padded-key-0123456789"), "key")
    for wait in ("nan", "-1", "inf"):  # as the API's 0 to 60
        refused(cli(sqlite_url, "partners", "test", "sunco", "--wait", wait), "--wait")


@pytest.mark.parametrize("grace", ["inf", "1e308", "1e11"])
def test_a_key_rotation_with_an_out_of_range_grace_changes_nothing(sqlite_url: str, grace: str) -> None:
    before = cli(sqlite_url, "keys", "list", LEADRELAY_SECRET_KEY=SECRET)
    refused(cli(sqlite_url, "keys", "rotate", "--grace", grace, LEADRELAY_SECRET_KEY=SECRET), "--grace")
    assert cli(sqlite_url, "keys", "list", LEADRELAY_SECRET_KEY=SECRET).stdout == before.stdout


@pytest.mark.parametrize("days", ["-1", "0", "36501"])
def test_a_retention_out_of_range_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("LEADRELAY_ENV_FILE", "")
    monkeypatch.setenv("LEADRELAY_RETENTION_DAYS", days)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "LEADRELAY_RETENTION_DAYS" in {p.path for p in caught.value.problems}


def test_a_malformed_page_cursor_is_a_422_naming_it(sqlite_url: str) -> None:
    """A cursor is the page before's ``next_cursor``, an id of the list's kind; any other text paged to
    nowhere (or everything) with a 200."""
    prepare(sqlite_url, config())
    with ServerThread(sqlite_url, workers=0) as server, server.client() as http:
        for path in ("/v1/distributions", "/v1/audit"):
            for cursor in ("zzz", "job_1", "aud_' OR 1=1"):
                r = http.get(path, params={"cursor": cursor}, headers=ADMIN)
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", (path, r.text)
            assert http.get(path, headers=ADMIN).status_code == 200
