"""Process settings, read once: the environment (``LEADRELAY_*``) over the installation's settings file.

Every process of one installation (``serve``, ``worker``, every CLI command) must deliver a lead the same
way, so the settings that decide it (allowed target networks, SMTP, the secret key) belong in one file
that all of them read: ``.env`` in the working directory (where the SQLite database is by default), or the
file named by ``LEADRELAY_ENV_FILE``. A variable set in a process's environment wins over the file.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadrelay.errors import ConfigError, ConfigProblem


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADRELAY_", extra="ignore")

    database_url: str = "sqlite:///leadrelay.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024
    )  # a lead (POST /v1/leads, /v1/ping, a hosted form's post)
    # any other request's body (a file upload has its own bound): read no further, answered 413
    max_request_bytes: int = 4 * 1024 * 1024
    workers: int = Field(default=1, ge=0)  # worker loops inside `serve`
    worker_concurrency: int = Field(default=64, ge=1)  # deliveries in flight per worker loop
    claim_batch: int = Field(default=100, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0)
    poll_interval: float = 0.1
    # the processes of one installation tell each other of new jobs and of leads done (PostgreSQL's
    # LISTEN/NOTIFY, adapters/db/wakeups.py; datagrams on SQLite, adapters/db/local_wakeups.py), so that
    # a worker in another process than the API starts a lead at once and a waiting request (?wait) is
    # answered at once; the polls stay as the safety net
    wakeups: bool = True
    shutdown_grace: float = Field(default=10.0, ge=0)
    # deliveries: the first retry delay after a retryable error (doubling, spread ±25 %, at most
    # retry_max_delay), and how soon a job whose transaction failed goes back to the queue
    retry_base: float = 1.0
    retry_max_delay: float = 300.0
    release_delay: float = 1.0
    # SMTP for email channels (a configuration document's `smtp` section takes precedence)
    smtp_host: str = "127.0.0.1"
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # None: by security (25, 587, 465)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "leadrelay@localhost"
    # privacy: the secret that wraps the data keys of sensitive fields and from which the dedup key is
    # derived (adapters/dedup_keys.py); the same in every process; personal data kept this long
    secret_key: SecretStr | None = None
    # None: kept until erased; at least a day (a negative one would erase what was just received), at most
    # a hundred years (past that the cut-off is before the calendar)
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    # batched delivery (email digests, batch files): how often schedules are checked, how long a sender
    # holds a batch, the first retry delay after a failed upload (doubling, spread ±25 %, at most
    # batch_retry_max_delay: the delivery retry policy of domain/retry.py with the batch's own figures)
    batch_interval: float = 1.0
    batch_lease_seconds: float = 300.0
    batch_retry_base: float = 30.0
    batch_retry_max_delay: float = 3600.0
    # alerts: how often a worker process checks the alert rules (one worker loop per process does)
    alert_interval: float = 30.0
    # webhooks may not reach private networks (SSRF) except these CIDRs, e.g. "127.0.0.0/8,10.1.0.0/16"
    block_private_targets: bool = True
    allowed_target_networks: str = ""
    # postbacks: the URL buyers reach this installation at (the postback URLs start with it; empty:
    # http://{host}:{port}); how often relayed postbacks to sources are looked for, and their retry
    # schedule (domain/retry.py: first delay, doubling, spread ±25 %, at most the max delay, attempts)
    public_url: str = ""
    postback_interval: float = 1.0
    postback_lease_seconds: float = 60.0
    postback_retry_base: float = 10.0
    postback_retry_max_delay: float = 3600.0
    postback_max_attempts: int = 8

    # the console's sessions: ended after this many minutes without a request, and this many hours after the
    # login; the cookie is marked Secure when the request came over https, or always when this is true
    # (behind a proxy that ends TLS)
    session_idle_minutes: float = Field(default=30.0, gt=0)
    session_max_hours: float = Field(default=12.0, gt=0)
    secure_cookies: bool = False
    # the console's CSV lead import: an upload larger than this many bytes is refused (413, nothing read
    # past the limit, nothing imported)
    import_max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)

    def base_url(self) -> str:
        """Where buyers reach this installation (``public_url``, else the address it listens on)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    # operations: log lines as JSON ("json"), readable text ("console") or JSON unless on a terminal
    # ("auto"); the level; `/ready` fails when the job waiting longest to be claimed has waited longer
    # than this many seconds (workers down or far behind; 0 turns that check off)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    ready_max_job_age: float = Field(default=60.0, ge=0)

    @field_validator("log_format", "log_level", "smtp_security", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_target_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        """Comma-separated CIDRs (``127.0.0.0/8,10.1.0.0/16``): one that is not is named at start, not in
        the first delivery."""
        for part in (p.strip() for p in value.split(",")):
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError:
                    raise ValueError(f"{part!r} is not a network (e.g. 127.0.0.0/8)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0].lower()
        if ":" in value and scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                "leadrelay stores its data in SQLite (sqlite:///…) or PostgreSQL (postgresql://…)"
            )
        return value


DEFAULT_ENV_FILE = ".env"


def settings_file() -> Path | None:
    """The installation's settings file: ``LEADRELAY_ENV_FILE`` (which must exist), else ``./.env`` when
    there is one. ``LEADRELAY_ENV_FILE=`` (empty) reads no file."""
    named = os.environ.get("LEADRELAY_ENV_FILE")
    if named is None:
        default = Path(DEFAULT_ENV_FILE)
        return default if default.is_file() else None
    if not named:
        return None
    path = Path(named)
    if not path.is_file():
        raise ConfigError([ConfigProblem("LEADRELAY_ENV_FILE", f"no such file: {named}")])
    return path


def load_settings() -> Settings:
    """The settings; a value that is not valid is a ``ConfigError`` naming its variable."""
    path = settings_file()
    try:
        return Settings(_env_file=path) if path is not None else Settings()
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem("LEADRELAY_ENV_FILE", f"{path} is not UTF-8 text ({exc.reason})")]
        ) from exc
    except ValidationError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    f"LEADRELAY_{'_'.join(str(p) for p in e['loc']).upper()}",
                    e["msg"].removeprefix("Value error, "),
                )
                for e in exc.errors()
            ]
        ) from exc
