"""Configuration and the CLI at their edges (a review of 2026-12-06 found each): a clear error naming the
config path for a too-long time zone, a field type given as a list, a URL's bad port, a numeric field
name; an export that re-applies unchanged; one line, no traceback, for an export to a missing folder, an
unreachable database, a mistyped database URL, a settings file not UTF-8; and a queued lead never routed
by its profile after the profile moved to another entity."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import ADMIN, ServerThread, base_config, lead, prepare, run_cli, source_headers, wait_for


def nowhere(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


def _env(url: str, **extra: str | None) -> dict[str, str | None]:
    return {"LEADRELAY_DATABASE_URL": url, "COLUMNS": None, "LINES": None, **extra}


def cli(url: str, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, _env(url, **env))


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr[-1500:]


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _actions(stdout: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("smtp", "entities", "sources", "partners", "profiles", "alerts"):
            rows[(parts[0], parts[1])] = parts[2]
    return rows


@pytest.fixture
def http(db_url: str) -> Iterator[httpx.Client]:
    prepare(db_url, base_config(nowhere))
    with ServerThread(db_url) as server, server.client() as client:
        yield client


# ---------------------------------------------------------------- validation: a path for every bad value


def refused_at(http: httpx.Client, partner: dict[str, Any], path: str) -> None:
    """``PUT /v1/partners/nova`` with ``partner`` is a 422 naming ``path``."""
    r = http.put("/v1/partners/nova", headers=ADMIN, json=partner)
    assert r.status_code == 422, f"{partner}: {r.status_code} {r.text[:300]}"
    assert path in [e["path"] for e in r.json()["errors"]], r.text


@pytest.mark.sqlite_only
def test_a_too_long_timezone_is_a_422_naming_its_path_not_a_500(http: httpx.Client) -> None:
    """configuration/values.py:_timezone catches ZoneInfoNotFoundError and ValueError, not the OSError
    (ENAMETOOLONG) zoneinfo raises for a long name: an unhandled exception instead of the path."""
    refused_at(http, {"timezone": "A" * 300}, "partners.nova.timezone")


@pytest.mark.sqlite_only
def test_a_too_long_source_timezone_in_apply_is_a_cli_error_naming_its_path(
    db_url: str, tmp_path: Path
) -> None:
    prepare(db_url, base_config(nowhere))
    path = _write(tmp_path, "tz.yaml", {"sources": {"web2": {"entities": ["solar"], "timezone": "Z" * 300}}})
    r = cli(db_url, "apply", "-f", str(path))
    _no_traceback(r)
    assert r.returncode == 2 and "sources.web2.timezone" in r.stderr, r.stderr[-500:]


@pytest.mark.sqlite_only
def test_a_field_type_given_as_a_list_is_a_path_error_when_a_source_has_a_form(http: httpx.Client) -> None:
    """configuration/hosted_form.py:120 (form_problems) tests ``spec.get("type") in NOT_ON_THE_FORM`` on the
    raw entity document: a type written as a list or a mapping raises TypeError (unhashable) instead of the
    field's own 'unknown field type' problem."""
    document = copy.deepcopy(base_config(nowhere))
    document["entities"]["solar"]["fields"]["first_name"]["type"] = ["string"]
    document["sources"]["web"]["form"] = {"consent_text": "I agree to be contacted."}
    r = http.post("/v1/config", headers=ADMIN, json=document)
    assert r.status_code == 422, f"{r.status_code}: {r.text[:300]}"
    assert "entities.solar.fields.first_name.type" in [e["path"] for e in r.json()["errors"]], r.text


# ---------------------------------------------------------------- export then apply: nothing changes


def test_an_alert_rule_with_an_empty_partner_list_re_applies_unchanged(db_url: str, tmp_path: Path) -> None:
    """configuration/export.py:_rule leaves out ``partners: []`` while the stored rule keeps ``[]``: the
    export re-applied reports the rule ``updated`` (and rewrites and audits it)."""
    document = base_config(nowhere)
    document["alerts"] = [
        {"name": "failing", "kind": "failure_rate", "threshold": 50, "partners": [],
         "notify": {"email": ["ops@example.com"]}}
    ]  # fmt: skip
    prepare(db_url, document)
    exported = cli(db_url, "export")
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / "exported.yaml"
    path.write_text(exported.stdout, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _actions(r.stdout).get(("alerts", "failing")) == "unchanged", r.stdout


def test_an_empty_partner_cap_in_a_profile_re_applies_unchanged(db_url: str, tmp_path: Path) -> None:
    """configuration/export.py:_implied drops ``partner_caps: {sunco: {}}`` (an empty mapping) while the
    stored profile keeps it: the export re-applied reports the profile ``updated``."""
    document = base_config(nowhere)
    document["profiles"]["solar-main"]["partner_caps"] = {"sunco": {}, "voltedge": {"day": 5}}
    prepare(db_url, document)
    exported = cli(db_url, "export")
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / "exported.yaml"
    path.write_text(exported.stdout, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _actions(r.stdout).get(("profiles", "solar-main")) == "unchanged", r.stdout


# ---------------------------------------------------------------- the CLI: one line, no traceback


@pytest.mark.sqlite_only
def test_export_to_a_missing_directory_is_a_one_line_error(sqlite_url: str, tmp_path: Path) -> None:
    """entrypoints/commands/configuration.py:export writes ``output`` unguarded: FileNotFoundError."""
    prepare(sqlite_url, base_config(nowhere))
    r = cli(sqlite_url, "export", "-o", str(tmp_path / "no-such-dir" / "config.yaml"))
    _no_traceback(r)
    assert r.returncode in (1, 2) and "no-such-dir" in r.stderr, r.stderr[-500:]


@pytest.mark.sqlite_only
def test_export_onto_a_folder_is_a_one_line_error_naming_the_option(sqlite_url: str, tmp_path: Path) -> None:
    """A path that cannot be written (here a folder by that name): one line naming --output."""
    prepare(sqlite_url, base_config(nowhere))
    (tmp_path / "config.yaml").mkdir()
    r = cli(sqlite_url, "export", "-o", str(tmp_path / "config.yaml"))
    _no_traceback(r)
    assert r.returncode == 1 and "--output: cannot write" in r.stderr, r.stderr[-500:]


@pytest.mark.sqlite_only
def test_export_and_apply_against_an_unreachable_database_are_one_line_errors(tmp_path: Path) -> None:
    """entrypoints/commands/configuration.py: apply and export let StorageError through (``wallets list``
    against the same database prints ``error: database error: unable to open database file``)."""
    url = f"sqlite:///{tmp_path}/missing-dir/leadrelay.db"
    doc = _write(tmp_path, "c.yaml", base_config(nowhere))
    for args in (("export",), ("apply", "-f", str(doc))):
        r = cli(url, *args)
        _no_traceback(r)
        assert r.returncode != 0 and "unable to open database file" in r.stderr, (args, r.stderr[-500:])


@pytest.mark.sqlite_only
def test_a_malformed_database_url_is_a_one_line_error(tmp_path: Path) -> None:
    """No command checks LEADRELAY_DATABASE_URL / --database-url: SQLAlchemy's ArgumentError escapes."""
    for args in (("export",), ("db", "upgrade"), ("export", "--database-url", "not a url")):
        r = cli("nonsense", *args)
        _no_traceback(r)
        assert r.returncode != 0 and "database" in r.stderr.lower(), (args, r.stderr[-500:])


@pytest.mark.sqlite_only
def test_a_settings_file_that_is_not_utf8_is_a_one_line_error(sqlite_url: str, tmp_path: Path) -> None:
    """config.py:load_settings turns a ValidationError into a ConfigError but not the UnicodeDecodeError of
    reading a non-UTF-8 .env: every command dies with a traceback."""
    env_file = tmp_path / "settings.env"
    env_file.write_bytes(b"LEADRELAY_LOG_LEVEL=info\nLEADRELAY_SMTP_SENDER=caf\xe9@example.com\n")
    prepare(sqlite_url, base_config(nowhere))
    r = cli(sqlite_url, "export", LEADRELAY_ENV_FILE=str(env_file))
    _no_traceback(r)
    assert r.returncode != 0 and "settings.env" in r.stderr, r.stderr[-500:]


@pytest.mark.sqlite_only
def test_a_webhook_url_whose_port_is_not_a_port_is_refused_naming_its_path(http: httpx.Client) -> None:
    """configuration/values.py:_url checks the scheme and the host, not the port: ``:abc`` and ``:99999``
    are accepted, and then every delivery to the partner fails 'invalid URL ... (not retryable)'."""
    for url in ("https://buyer.example:abc/leads", "https://buyer.example:99999/leads"):
        refused_at(http, {"channel": {"webhook": {"url": url}}}, "partners.nova.channel.webhook.url")


@pytest.mark.sqlite_only
def test_a_numeric_field_name_is_a_path_error_when_a_partner_lists_fields(
    db_url: str, tmp_path: Path
) -> None:
    """configuration/document_checks.py:133 sorts the known field names, and a YAML key such as ``2024``
    is an int: TypeError (a traceback from `apply`) instead of 'invalid field name' at its path."""
    prepare(db_url, base_config(nowhere))
    path = tmp_path / "numeric.yaml"
    path.write_text(
        "entities:\n  solar:\n    fields:\n      first_name: {type: string}\n      2024: {type: string}\n"
        "partners:\n  nova:\n    channel:\n"
        "      webhook: {url: 'https://buyer.example/x', fields: [first_name]}\n",
        encoding="utf-8",
    )
    r = cli(db_url, "apply", "-f", str(path))
    _no_traceback(r)
    assert r.returncode == 2 and "entities.solar.fields[2024]" in r.stderr, r.stderr[-800:]


# ---------------------------------------------------------------- work in flight when the config changes


def test_a_queued_lead_is_not_routed_by_its_profile_after_the_profile_moved_to_another_entity(
    db_url: str, healthy: Any
) -> None:
    """services/distribution.py:route_job routes a queued job by ``job.profile`` whatever entity that
    profile is for now: a solar lead queued under solar-main, whose ``entity`` is then changed to roofing,
    is evaluated by the roofing rules and posted to the roofing buyer."""
    document = base_config(healthy.url)
    fields = {"first_name": {"type": "string"}, "phone": {"type": "phone"}, "zip": {"type": "postal_code"}}
    document["entities"]["roofing"] = {"fields": fields}
    document["partners"]["roofer"] = {"channel": {"webhook": {"url": healthy.url("roofer"), "timeout": "5s"}}}
    prepare(db_url, document)
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        r = http.post("/v1/leads", headers={**source_headers(), "Content-Type": "application/json"},
                      json={"entity": "solar", **lead()})  # fmt: skip
        assert r.status_code in (200, 201, 202), r.text
        lead_id = r.json()["lead_id"]
        moved = {"entity": "roofing", "default": {"partners": ["roofer"], "strategy": "priority"}}
        r = http.put("/v1/profiles/solar-main", headers=ADMIN, json=moved)
        assert r.status_code == 200, r.text
    with ServerThread(db_url, workers=1) as server, server.client() as http:

        def finished() -> Any:
            items = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN).json()["items"]
            return (
                items
                if items and all(i["status"] not in ("received", "routing", "delivering") for i in items)
                else None
            )

        jobs = wait_for(finished)
        details = [http.get(f"/v1/distributions/{j['id']}", headers=ADMIN).json() for j in jobs]
    sent_to = [d["partner"] for job in details for d in job["deliveries"]]
    assert "roofer" not in sent_to, (
        f"the solar lead went to the roofing buyer: {[j['trace'] for j in details]}"
    )
