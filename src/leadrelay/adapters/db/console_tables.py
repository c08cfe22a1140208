"""The console and operations: alerts, users with their invitations, sessions and failed logins, the CSV
imports, and the hosted form's rate limit."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from leadrelay.adapters.db.schema_base import ID, NAME, UTCDateTime, metadata, one_of
from leadrelay.domain.access import Role
from leadrelay.domain.alerts import AlertState, EventState
from leadrelay.domain.imports import ImportState

# ---------------------------------------------------------------- alerts (issue 11 point 9)

alert_states = Table(
    "alert_states",
    metadata,
    # an alert rule's last state (``leadrelay.domain.alerts``); no row: ok, never fired. ``version`` moves
    # with every change: a conditional UPDATE on it lets one process of many move the rule (and send).
    Column("alert", NAME, primary_key=True),
    Column("state", String(16), nullable=False),  # AlertState
    Column("since", UTCDateTime),
    Column("last_fired_at", UTCDateTime),  # the last "firing" message
    Column("detail", Text),
    Column("version", Integer, nullable=False),
    one_of("state", AlertState),
)

alert_events = Table(
    "alert_events",
    metadata,
    # every alert message sent (or tried): firing, resolved, or a test of the rule's targets
    Column("id", ID, primary_key=True),
    Column("alert", NAME, nullable=False),
    Column("state", String(16), nullable=False),  # EventState
    Column("detail", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("targets", JSON, nullable=False),  # ["mailto:ops@example.com", "https://hooks…"]
    Column("error", Text),  # what failed, target by target (NULL: every target took it)
    Index("ix_alert_events_alert_sent_at", "alert", "sent_at"),
    Index("ix_alert_events_sent_at", "sent_at"),
    one_of("state", EventState),
)

# ---------------------------------------------------------------- console users (domain/access.py)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # trimmed, lower case
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # access.Role
    Column("tenant", NAME),  # the partner's or source's name for those roles, else None
    Column("password_hash", String(200)),  # argon2id; None until an invitation is accepted
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
    one_of("role", Role),
)

user_invitations = Table(
    "user_invitations",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's value
    Column("user_id", ID, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # absolute
    Column("last_seen_at", UTCDateTime, nullable=False),  # idle expiry counts from it
    Column("csrf_secret", String(64), nullable=False),
    Column("ended_at", UTCDateTime),  # logout, a disabled user, a password reset
)

login_failures = Table(  # failed logins of the last minutes, counted per email and per client address
    "login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_login_failures_email_at", "email", "at"),
    Index("ix_login_failures_address_at", "address", "at"),
)

lead_imports = Table(  # the console's CSV imports: progress read by any process, a file posted twice found
    "lead_imports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner", ID, nullable=False),  # the user who started it: the only one it is shown to
    Column("actor", String(100), nullable=False),  # the owner as the audit log names them
    Column("filename", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the uploaded file: the same file posted again
    Column("source", NAME, nullable=False),
    Column("entity", NAME, nullable=False),
    Column("state", String(16), nullable=False),  # imports.ImportState
    Column("error", Text),
    Column("total_bytes", BigInteger, nullable=False),
    Column("read_bytes", BigInteger, nullable=False, default=0),
    Column("rows_total", Integer),  # known once it finished
    Column("rows_done", Integer, nullable=False, default=0),
    Column("rows_accepted", Integer, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("rows_errors", Integer, nullable=False, default=0),  # of the rejected: refused outright
    Column("counts", JSON, nullable=False),  # rows per lead status
    Column("rejects", LargeBinary),  # the rejects file, gzip; cleared a day after it finished
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # the heartbeat of the process that runs it
    Column("finished_at", UTCDateTime),
    one_of("state", ImportState),
    Index("ix_lead_imports_owner_sha256", "owner", "sha256"),
)

# ---------------------------------------------------------------- the hosted form's rate limit (0027)

form_posts = Table(  # posts per source and client address (an IPv6 client by its /64) per minute window
    "form_posts",
    metadata,
    Column("source", NAME, nullable=False),
    Column("client", String(64), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("posts", Integer, nullable=False),
    PrimaryKeyConstraint("source", "client", "window_start"),
    Index("ix_form_posts_window_start", "window_start"),  # old windows deleted by range
)
