"""The installation's settings file: ./.env (or LEADRELAY_ENV_FILE), read by every process; the
environment wins over it."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import ANY

import pytest

from leadrelay.config import load_settings
from leadrelay.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LEADRELAY_ENV_FILE", "LEADRELAY_ALLOWED_TARGET_NETWORKS", "LEADRELAY_SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_dot_env_in_the_working_directory_is_read(home: Path) -> None:
    (home / ".env").write_text(
        "# the installation\nLEADRELAY_ALLOWED_TARGET_NETWORKS=127.0.0.0/8\n"
        "LEADRELAY_SMTP_PORT=2525\nOTHER=x\n"
    )
    settings = load_settings()
    assert settings.allowed_target_networks == "127.0.0.0/8" and settings.smtp_port == 2525


def test_without_a_file_the_defaults_hold(home: Path) -> None:
    assert load_settings().allowed_target_networks == ""


def test_the_environment_wins_over_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / ".env").write_text("LEADRELAY_ALLOWED_TARGET_NETWORKS=127.0.0.0/8\n")
    monkeypatch.setenv("LEADRELAY_ALLOWED_TARGET_NETWORKS", "10.0.0.0/8")
    assert load_settings().allowed_target_networks == "10.0.0.0/8"


def test_leadrelay_env_file_names_another_file_or_none(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / ".env").write_text("LEADRELAY_SMTP_PORT=2525\n")
    (home / "prod.env").write_text("LEADRELAY_SMTP_PORT=587\n")
    monkeypatch.setenv("LEADRELAY_ENV_FILE", str(home / "prod.env"))
    assert load_settings().smtp_port == 587
    monkeypatch.setenv("LEADRELAY_ENV_FILE", "")
    assert load_settings().smtp_port is None  # not set: the port follows the security
    monkeypatch.setenv("LEADRELAY_ENV_FILE", str(home / "missing.env"))
    with pytest.raises(ConfigError, match=r"LEADRELAY_ENV_FILE: no such file: .*missing\.env"):
        load_settings()


def test_the_operations_settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEADRELAY_LOG_FORMAT", "LEADRELAY_LOG_LEVEL", "LEADRELAY_READY_MAX_JOB_AGE"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert (defaults.log_format, defaults.log_level, defaults.ready_max_job_age) == ("auto", "info", 60.0)
    monkeypatch.setenv("LEADRELAY_LOG_FORMAT", "JSON")
    monkeypatch.setenv("LEADRELAY_LOG_LEVEL", "Debug")
    monkeypatch.setenv("LEADRELAY_READY_MAX_JOB_AGE", "0")
    settings = load_settings()
    assert (settings.log_format, settings.log_level, settings.ready_max_job_age) == ("json", "debug", 0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADRELAY_LOG_FORMAT", "yaml"),
        ("LEADRELAY_LOG_LEVEL", "loud"),
        ("LEADRELAY_READY_MAX_JOB_AGE", "-1"),
        ("LEADRELAY_IMPORT_MAX_BYTES", "0"),
        ("LEADRELAY_IMPORT_MAX_BYTES", "50MB"),
    ],
)
def test_a_bad_value_names_its_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert problem.path == variable, caught.value.detail


def test_the_console_import_limit_defaults_to_50_mb(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADRELAY_IMPORT_MAX_BYTES", raising=False)
    assert load_settings().import_max_bytes == 50 * 1024 * 1024
    (home / ".env").write_text("LEADRELAY_IMPORT_MAX_BYTES=1048576\n")
    assert load_settings().import_max_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("ALLOWED_TARGET_NETWORKS", "notacidr", "'notacidr' is not a network"),
        ("SMTP_SECURITY", "ssl", "'none', 'starttls' or 'tls'"),
        ("DATABASE_URL", "mysql://x", "SQLite (sqlite:///…) or PostgreSQL"),
        ("WORKER_CONCURRENCY", "0", "greater than or equal to 1"),
        ("CLAIM_BATCH", "0", "greater than or equal to 1"),
        ("SMTP_PORT", "99999", "less than or equal to 65535"),
        ("MAX_BODY_BYTES", "0", "greater than or equal to 1024"),
        ("LEASE_SECONDS", "0", "greater than 0"),
        ("SHUTDOWN_GRACE", "-1", "greater than or equal to 0"),
    ],
)
def test_a_setting_no_process_could_run_with_is_named_when_read(
    home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    """Accepted before, they crashed later with a traceback (a network, the SMTP security, a database
    leadrelay has no driver for), or left a worker that claimed nothing (black-box pass, 2026-12-06)."""
    monkeypatch.setenv(f"LEADRELAY_{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert {p.path: p.message for p in caught.value.problems} == {f"LEADRELAY_{name}": ANY}
    assert said in caught.value.problems[0].message, caught.value.problems


def test_networks_a_security_in_any_case_and_postgres_urls_are_read(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADRELAY_ALLOWED_TARGET_NETWORKS", "127.0.0.0/8, ::1/128")
    monkeypatch.setenv("LEADRELAY_SMTP_SECURITY", "STARTTLS")
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", "postgres://u@h/db")
    got = load_settings()
    assert (got.smtp_security, got.database_url) == ("starttls", "postgres://u@h/db")
