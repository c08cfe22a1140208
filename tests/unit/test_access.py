"""The role table and the rules of logins and sessions (domain/access.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.domain.access import (
    ROLE_PERMISSIONS,
    LoginLimit,
    Permission,
    Role,
    SessionLimits,
    allows,
    normal_email,
    password_problem,
    refusal,
    roles_with,
    tenant_problem,
)
from leadrelay.domain.client_address import address_group

P = Permission
TABLE = [  # role, what it may do; everything else it may not
    (Role.ADMIN, {P.VIEW, P.ACT, P.FINANCE, P.CONFIGURE, P.SECRETS, P.PRIVACY, P.USERS}),
    (Role.OPERATOR, {P.VIEW, P.ACT}),
    (Role.VIEWER, {P.VIEW}),
    (Role.PARTNER, {P.PARTNER_PORTAL}),
    (Role.SOURCE, {P.SOURCE_PORTAL}),
]


@pytest.mark.parametrize(("role", "granted"), TABLE, ids=[r.value for r, _ in TABLE])
def test_each_role_has_exactly_its_permissions(role: Role, granted: set[Permission]) -> None:
    for permission in Permission:
        assert allows(role, permission) is (permission in granted), permission
    assert ROLE_PERMISSIONS[role] == granted


def test_every_permission_belongs_to_some_role_and_a_refusal_names_both() -> None:
    for permission in Permission:
        assert roles_with(permission)
    assert roles_with(P.ACT) == {Role.ADMIN, Role.OPERATOR}
    assert refusal(Role.VIEWER, P.ACT) == "the viewer role may not act on leads and distributions (act)"


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("  Ann@Example.COM ", "ann@example.com"),
        ("admin@localhost", "admin@localhost"),
        ("no-at-sign", None),
        ("two@@ats", None),
        ("spa ce@x.y", None),
        ("", None),
    ],
)
def test_emails_are_trimmed_and_lower_cased(text: str, email: str | None) -> None:
    assert normal_email(text) == email


def test_passwords_and_tenants() -> None:
    assert password_problem("short") == "must be at least 10 characters"
    assert password_problem("x" * 10) is None
    assert password_problem("x" * 1025) == "must be at most 1024 characters"
    assert tenant_problem(Role.PARTNER, None) == "a partner user needs the partner's name"
    assert tenant_problem(Role.SOURCE, "web") is None
    assert tenant_problem(Role.VIEWER, "web") == "a viewer user belongs to no partner or source"
    assert tenant_problem(Role.ADMIN, None) is None


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


LAST = NOW - timedelta(seconds=2)  # the email's latest attempt


@pytest.mark.parametrize(
    ("by_email", "by_address", "last", "wait"),
    [
        (0, 0, None, None),
        (4, 4, LAST, None),
        (0, 5, None, timedelta(minutes=15)),  # an address over its limit: hard, whatever the password
        (9, 9, LAST, timedelta(minutes=15)),
        (5, 0, LAST, timedelta(seconds=3)),  # an email over its limit: only a short pause after its last
        (50, 4, NOW, timedelta(seconds=5)),
        (50, 4, NOW - timedelta(seconds=5), None),  # past the pause: checked (the admin gets in)
    ],
)
def test_an_address_is_limited_hard_and_an_email_only_throttled(
    by_email: int, by_address: int, last: datetime | None, wait: timedelta | None
) -> None:
    limit = LoginLimit()
    assert limit.wait(by_email, by_address, last, NOW) == wait
    assert limit.since(NOW) == NOW - timedelta(minutes=15)


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same /64: one client
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        ("203.0.113.9:51234", "203.0.113.9"),  # a proxy's address with its port: the port dropped
        ("[2001:db8:1:2::7]:443", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::7]", "2001:db8:1:2::/64"),
        ("host:80", "host:80"),  # no address: as it is
    ],
)
def test_client_addresses_are_counted_by_their_ipv6_64(address: str, group: str) -> None:
    assert address_group(address) == group


@pytest.mark.parametrize(
    "text", ["a\x00b@example.com", "ann@exa\x7fmple.com", "ann@example.com\x85x", "a b@c.d"]
)
def test_an_email_has_no_control_character(text: str) -> None:
    assert normal_email(text) is None


@pytest.mark.parametrize(
    ("created_minutes_ago", "seen_minutes_ago", "alive"),
    [
        (10, 1, True),
        (10, 29, True),
        (40, 30, False),  # idle for the whole idle limit
        (12 * 60 - 1, 0, True),
        (12 * 60, 0, False),  # the absolute limit, however busy
    ],
)
def test_a_session_ends_when_idle_or_too_old(
    created_minutes_ago: int, seen_minutes_ago: int, alive: bool
) -> None:
    limits = SessionLimits()
    created = NOW - timedelta(minutes=created_minutes_ago)
    seen = NOW - timedelta(minutes=seen_minutes_ago)
    assert limits.alive(limits.expires_at(created), seen, NOW) is alive


def test_the_last_use_is_written_once_a_minute() -> None:
    limits = SessionLimits()
    assert not limits.needs_touch(NOW - timedelta(seconds=59), NOW)
    assert limits.needs_touch(NOW - timedelta(seconds=60), NOW)
