"""Console users on SQLite and PostgreSQL (services/users.py over adapters/db/user_store.py): create,
invite and accept, log in, the failed-login limit per email and per address, idle and absolute session
expiry, logout, disable and reset (which end sessions), every change audited; and `leadrelay users …`."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

from leadrelay.adapters.db.console_tables import users
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.entrypoints.cli import app
from leadrelay.errors import Conflict, Gone, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from leadrelay.services.users import Accounts
from tests.support import base_config, prepare, rows, run_async

PASSWORD = "correct horse battery"
FAST = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # tests only


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def accounts(db_url: str) -> Any:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(db_url)
    clock = Clock()
    yield Accounts(SqlStorage(db), FAST, clock=clock), clock
    db.dispose()


def actions(url: str) -> list[tuple[str, str, str]]:
    query = select(audit_log.c.action, audit_log.c.actor, audit_log.c.detail).where(
        audit_log.c.object_kind == "users"
    )
    # the entries of one call share its time (the test's clock): within it, by action (created, invited)
    ordered = query.order_by(audit_log.c.at, audit_log.c.action)
    return [(r.action, r.actor, r.detail["email"]) for r in rows(url, ordered)]


def test_create_log_in_session_and_log_out(db_url: str, accounts: Any) -> None:
    acc, clock = accounts
    made = acc.create_user(" Ann@Example.com ", "operator", password=PASSWORD, actor="cli:me")
    assert made["email"] == "ann@example.com" and made["role"] == "operator" and made["has_password"]
    with pytest.raises(Conflict):
        acc.create_user("ann@example.com", "viewer", password=PASSWORD, actor="cli:me")
    [stored] = rows(db_url, select(users.c.password_hash))
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash

    session = run_async(acc.login("ANN@example.com", PASSWORD, "10.0.0.1"))
    assert session.user.role == Role.OPERATOR and session.user.actor == "user:ann@example.com"
    who = run_async(acc.session(session.cookie))
    assert who is not None and who.csrf_ok(session.user.csrf_secret) and not who.csrf_ok("forged")
    assert run_async(acc.session("not-a-session")) is None

    clock.now += timedelta(minutes=20)  # used within the idle limit: touched, so it lives on
    assert run_async(acc.session(session.cookie)) is not None
    clock.now += timedelta(minutes=29)
    assert run_async(acc.session(session.cookie)) is not None
    clock.now += timedelta(minutes=31)  # idle too long
    assert run_async(acc.session(session.cookie)) is None

    again = run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.1"))
    for _ in range(25):  # busy all day (25 × 29 min > 12 h): the absolute limit (12 h) still ends it
        clock.now += timedelta(minutes=29)
        run_async(acc.session(again.cookie))
    assert run_async(acc.session(again.cookie)) is None

    third = run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.1"))
    run_async(acc.logout(third.cookie))
    assert run_async(acc.session(third.cookie)) is None
    assert actions(db_url) == [("user.created", "cli:me", "ann@example.com")]


def test_failed_logins_are_limited_per_email_and_per_address(db_url: str, accounts: Any) -> None:
    acc, clock = accounts
    acc.create_user("ann@example.com", "viewer", password=PASSWORD, actor="t")
    for _ in range(5):
        with pytest.raises(Unauthorized, match="wrong email or password"):
            run_async(acc.login("ann@example.com", "wrong password!", "10.0.0.1"))
    with pytest.raises(TooManyRequests) as limited:  # that address: hard, even the right password
        run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.1"))
    assert limited.value.retry_after == 900
    # the email failed too often: from elsewhere, a password is checked at most once per 5 s for it
    with pytest.raises(TooManyRequests) as paused:
        run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.2"))
    assert paused.value.retry_after == 5
    clock.now += timedelta(seconds=5)
    with pytest.raises(Unauthorized):  # a guess from a fresh address, past the pause: checked, wrong
        run_async(acc.login("ann@example.com", "wrong again!", "10.0.0.3"))
    with pytest.raises(TooManyRequests):
        run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.2"))
    clock.now += timedelta(seconds=5)  # nobody locks ann out: she waits a few seconds and gets in
    assert run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.2")).user.email == "ann@example.com"

    for i in range(5):  # one address guessing many emails (that do not exist: counted all the same)
        with pytest.raises(Unauthorized):
            run_async(acc.login(f"nobody{i}@example.com", "x", "10.9.9.9"))
    with pytest.raises(TooManyRequests):
        run_async(acc.login("someone@example.com", "x", "10.9.9.9"))
    clock.now += timedelta(minutes=15, seconds=1)  # the failures left the window
    assert run_async(acc.login("ann@example.com", PASSWORD, "10.0.0.1")).user.email == "ann@example.com"


def test_ipv6_clients_are_counted_by_their_64(accounts: Any) -> None:
    acc, _ = accounts
    for i in range(5):  # five addresses of one /64: one client
        with pytest.raises(Unauthorized):
            run_async(acc.login(f"nobody{i}@example.com", "x", f"2001:db8:1:2::{i + 1}"))
    with pytest.raises(TooManyRequests):
        run_async(acc.login("someone@example.com", "x", "2001:db8:1:2:ffff:ffff:ffff:ffff"))
    with pytest.raises(Unauthorized):  # the next /64 is another client
        run_async(acc.login("someone@example.com", "x", "2001:db8:1:3::1"))


def test_a_login_with_a_control_character_in_the_email_is_a_wrong_login(accounts: Any) -> None:
    """PostgreSQL's text holds no NUL: it used to answer 500."""
    acc, _ = accounts
    for email in ("a\x00b@example.com", "ann\x00", "\x00", "a@b\x1b.c"):
        with pytest.raises(Unauthorized):
            run_async(acc.login(email, "x" * 12, "10.0.0.1"))


class CountingPasswords:
    """The tests' argon2, counting the passwords it checks."""

    def __init__(self) -> None:
        self.verified = 0
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return FAST.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.verified += 1
        return FAST.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return FAST.needs_rehash(password_hash)


@pytest.mark.parametrize("addresses", ["one", "many"])
def test_parallel_wrong_logins_check_at_most_the_limit_of_passwords(
    db_url: str, accounts: Any, addresses: str
) -> None:
    """40 logins at once: the attempt is recorded before its password is checked, in the transaction that
    counts the earlier ones (per email and address, locked), so at most 5 passwords are checked — from one
    address (its hard limit) or from 40 (the email's pause: the clock stands still here)."""
    acc, clock = accounts
    acc.create_user("ann@example.com", Role.ADMIN, password=PASSWORD, actor="t")
    counting = CountingPasswords()
    racing = Accounts(acc.storage, counting, clock=clock)

    async def one(i: int) -> str:
        address = "10.0.0.9" if addresses == "one" else f"10.0.1.{i}"
        try:
            await racing.login("ann@example.com", f"guess number {i}", address)
        except (Unauthorized, TooManyRequests) as exc:
            return type(exc).__name__
        return "ok"

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(40)))

    got = run_async(all_at_once())
    assert got.count("Unauthorized") == 5 and got.count("TooManyRequests") == 35
    assert counting.verified == 5, f"{counting.verified} passwords were checked, the limit is 5"


def test_invitation_sets_the_password_once_then_disable_and_reset_end_sessions(
    db_url: str, accounts: Any
) -> None:
    acc, clock = accounts
    view, token = acc.invite("pat@example.com", "partner", actor="cli:me", tenant="sunco")
    assert view["tenant"] == "sunco" and not view["has_password"]
    with pytest.raises(Unauthorized):  # no password yet
        run_async(acc.login("pat@example.com", "", "10.0.0.1"))
    assert run_async(acc.invitation(token))["email"] == "pat@example.com"
    with pytest.raises(ValidationFailed) as short:
        run_async(acc.accept_invitation(token, "short"))
    assert short.value.problems[0].field == "password"
    clock.now += timedelta(seconds=1)  # each step at its own time: audit entries in the order of the steps
    run_async(acc.accept_invitation(token, PASSWORD))
    with pytest.raises(Gone, match="used already"):
        run_async(acc.accept_invitation(token, PASSWORD))
    with pytest.raises(NotFound):
        run_async(acc.invitation("made-up"))
    with pytest.raises(Conflict, match="has a password already"):
        acc.invite("pat@example.com", "partner", actor="cli:me", tenant="sunco")
    clock.now += timedelta(seconds=1)
    _, late = acc.invite("late@example.com", "viewer", actor="cli:me")
    clock.now += timedelta(days=7)
    with pytest.raises(Gone, match="expired"):
        run_async(acc.invitation(late))

    session = run_async(acc.login("pat@example.com", PASSWORD, "10.0.0.1"))
    assert session.user.tenant == "sunco"
    acc.reset_password("pat@example.com", "another long one", actor="cli:me")
    assert run_async(acc.session(session.cookie)) is None
    session = run_async(acc.login("pat@example.com", "another long one", "10.0.0.1"))
    clock.now += timedelta(seconds=1)
    acc.disable("pat@example.com", actor="cli:me")
    assert run_async(acc.session(session.cookie)) is None
    with pytest.raises(Unauthorized):
        run_async(acc.login("pat@example.com", "another long one", "10.0.0.1"))
    assert actions(db_url) == [
        ("user.created", "cli:me", "pat@example.com"),
        ("user.invited", "cli:me", "pat@example.com"),
        ("user.password_set", "user:pat@example.com", "pat@example.com"),
        ("user.created", "cli:me", "late@example.com"),
        ("user.invited", "cli:me", "late@example.com"),
        ("user.password_reset", "cli:me", "pat@example.com"),
        ("user.disabled", "cli:me", "pat@example.com"),
    ]


def test_a_stale_invitation_takes_no_account_over(accounts: Any) -> None:
    """Accepting one invitation uses up the user's others (a resent link); a user with a password is
    refused; a reset and a disable revoke the open invitations."""
    acc, _ = accounts
    _, first = acc.invite("ann@example.com", Role.ADMIN, actor="cli")
    _, second = acc.invite("ann@example.com", Role.ADMIN, actor="cli")  # resent: the first stays open
    run_async(acc.accept_invitation(second, PASSWORD))
    session = run_async(acc.login("ann@example.com", PASSWORD, "1.1.1.1"))
    with pytest.raises(Gone):  # whoever holds the first link (a forwarded mail) days later
        run_async(acc.accept_invitation(first, "attacker password!"))
    with pytest.raises(Gone):
        run_async(acc.invitation(first))
    assert run_async(acc.session(session.cookie)) is not None  # ann stays logged in
    with pytest.raises(Unauthorized):
        run_async(acc.login("ann@example.com", "attacker password!", "2.2.2.2"))

    _, bobs = acc.invite("bob@example.com", Role.VIEWER, actor="cli")
    acc.reset_password("bob@example.com", "admin set password", actor="cli")
    with pytest.raises(Gone):
        run_async(acc.accept_invitation(bobs, "attacker password!"))
    assert run_async(acc.login("bob@example.com", "admin set password", "1.1.1.1")).user.email

    _, cats = acc.invite("cat@example.com", Role.VIEWER, actor="cli")
    acc.disable("cat@example.com", actor="cli")
    with pytest.raises(Gone):
        run_async(acc.accept_invitation(cats, "attacker password!"))


@pytest.mark.parametrize(
    ("role", "tenant", "field"),
    [
        ("partner", None, "partner"),
        ("source", None, "source"),
        ("partner", "nobody", "partner"),
        ("chef", None, "role"),
    ],
)
def test_bad_users_name_the_field(accounts: Any, role: str, tenant: str | None, field: str) -> None:
    acc, _ = accounts
    with pytest.raises(ValidationFailed) as bad:
        acc.create_user("x@example.com", role, password=PASSWORD, actor="t", tenant=tenant)
    assert bad.value.problems[0].field == field


def cli(url: str, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(
        app, list(args), input=input, env={"LEADRELAY_DATABASE_URL": url, "COLUMNS": "200"}
    )


@pytest.mark.sqlite_only
def test_the_users_commands(db_url: str) -> None:
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    first = cli(db_url, "users", "ensure-admin")
    assert first.exit_code == 0, first.output
    assert "console: http://127.0.0.1:8000/console" in first.output
    assert "first admin login: admin@localhost  password: " in first.output
    again = cli(db_url, "users", "ensure-admin")  # idempotent: nothing is made again
    assert "users exist" in again.output and "password" not in again.output

    made = cli(db_url, "users", "create", "op@example.com", "--role", "operator", input="long enough pw\n")
    assert made.exit_code == 1 and "no terminal" in made.output  # CliRunner's stdin is not a terminal
    made = cli(
        db_url,
        "users",
        "create",
        "op@example.com",
        "--role",
        "operator",
        "--password-stdin",
        input="long enough pw\n",
    )
    assert made.exit_code == 0, made.output
    invited = cli(db_url, "users", "invite", "pat@example.com", "--role", "partner", "--partner", "sunco")
    assert invited.exit_code == 0 and "http://127.0.0.1:8000/console/invite/" in invited.output
    bad = cli(db_url, "users", "invite", "src@example.com", "--role", "source")
    assert bad.exit_code == 1 and "--source: a source user needs the source's name" in bad.output
    bad = cli(db_url, "users", "create", "not-an-email", "--random-password")
    assert bad.exit_code == 1 and "email: is not an email address" in bad.output
    reset = cli(db_url, "users", "reset-password", "op@example.com", "--random-password")
    assert reset.exit_code == 0 and "password: " in reset.output
    assert cli(db_url, "users", "disable", "op@example.com").exit_code == 0
    missing = cli(db_url, "users", "disable", "who@example.com")
    assert missing.exit_code == 1 and "no user with the email" in missing.output
    listed = cli(db_url, "users", "list").output.splitlines()
    assert listed[0].split("\t") == ["email", "name", "role", "of", "last login", "disabled", "password"]
    assert [line.split("\t")[:4] for line in listed[1:]] == [
        ["admin@localhost", "Admin", "admin", "-"],
        ["op@example.com", "op", "operator", "-"],
        ["pat@example.com", "pat", "partner", "sunco"],
    ]
    token = cli(db_url, "admin", "create-token", "--role", "viewer", "--name", "grafana")
    assert token.exit_code == 0 and token.output.startswith("lra_")
    assert "\tgrafana\tviewer\t" in cli(db_url, "admin", "tokens").output
    bad = cli(db_url, "admin", "create-token", "--role", "partner")
    assert bad.exit_code == 1 and "--role: an admin token's role is admin, operator or viewer" in bad.output
