"""Who may do what: the console's roles, the permissions every route declares, and the rules of logins and
sessions (how many failures before a pause, when a session is over). Pure: the time is an argument.

The table (``ROLE_PERMISSIONS``) is the one place that says which role reaches what; the API and the
console ask ``allows(role, permission)``. Partners and sources reach only their own portal: a portal
permission needs the caller's own partner or source, so an admin reaches that data through the operator
routes instead (which show every tenant's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    PARTNER = "partner"
    SOURCE = "source"


class Permission(StrEnum):
    VIEW = "view"  # read leads, the log, reports, configuration (no secrets)
    ACT = "act"  # resend, rerun, cancel; holds, batches, returns, availability
    FINANCE = "finance"  # move money: manual ledger entries, wallet top-ups, invoices
    CONFIGURE = "configure"  # change the configuration and suppression lists
    SECRETS = "secrets"  # API keys and admin tokens
    PRIVACY = "privacy"  # plaintext personal data, erasure
    USERS = "users"  # console users and invitations
    PARTNER_PORTAL = "partner_portal"  # a partner's own leads, returns, availability
    SOURCE_PORTAL = "source_portal"  # a source's own submissions (and sending leads, with its key)


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.VIEW,
            Permission.ACT,
            Permission.FINANCE,
            Permission.CONFIGURE,
            Permission.SECRETS,
            Permission.PRIVACY,
            Permission.USERS,
        }
    ),
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.ACT}),
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.PARTNER: frozenset({Permission.PARTNER_PORTAL}),
    Role.SOURCE: frozenset({Permission.SOURCE_PORTAL}),
}

STAFF_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER})
TENANT_ROLES = frozenset({Role.PARTNER, Role.SOURCE})

WHAT = {  # for "the viewer role may not …"
    Permission.VIEW: "read the operations' data",
    Permission.ACT: "act on leads and distributions",
    Permission.FINANCE: "move money",
    Permission.CONFIGURE: "change the configuration",
    Permission.SECRETS: "manage keys and tokens",
    Permission.PRIVACY: "see plaintext personal data or erase it",
    Permission.USERS: "manage users",
    Permission.PARTNER_PORTAL: "use a partner's portal",
    Permission.SOURCE_PORTAL: "use a source's portal",
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def refusal(role: Role, permission: Permission) -> str:
    return f"the {role.value} role may not {WHAT[permission]} ({permission.value})"


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)


# ---------------------------------------------------------------- users

_CONTROL = r"\x00-\x1f\x7f-\x9f"  # control characters (C0, DEL, C1): never in an email
_EMAIL = re.compile(rf"^[^@\s{_CONTROL}]{{1,64}}@[^@\s{_CONTROL}]{{1,255}}$")
MIN_PASSWORD = 10


def normal_email(text: str) -> str | None:
    """The email as stored (trimmed, lower case), or None when it is not one."""
    email = text.strip().lower()
    return email if _EMAIL.match(email) else None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


def tenant_problem(role: Role, tenant: str | None) -> str | None:
    """A partner's or a source's user names its partner or source; other roles name none."""
    if role in TENANT_ROLES and not tenant:
        return f"a {role.value} user needs the {role.value}'s name"
    if role not in TENANT_ROLES and tenant:
        return f"a {role.value} user belongs to no partner or source"
    return None


# ---------------------------------------------------------------- logins and sessions


@dataclass(frozen=True, slots=True)
class LoginLimit:
    """The failed-login limits, counted over ``window`` (an attempt is recorded *before* its password is
    checked, so parallel attempts count too; a good login removes its own record):

    - per client address (its /64 for IPv6, ``client_address.address_group``): hard. After ``failures``
      the address gets 429 until the oldest failure leaves the window, whatever the password.
    - per email: a throttle, not a lockout. After ``failures`` for the email (from anywhere), a password
      is checked at most once per ``email_pause`` for it: an attempt closer than that to the last one
      answers 429 (retry in a few seconds); one past the pause is checked, and the right password logs in.
      Guessing a password from many addresses is slowed to one guess per pause, yet nobody can lock the
      admin out by failing on purpose: the admin waits the pause and logs in.
    """

    failures: int = 5
    window: timedelta = timedelta(minutes=15)
    email_pause: timedelta = timedelta(seconds=5)

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def wait(
        self, by_email: int, by_address: int, last_for_email: datetime | None, now: datetime
    ) -> timedelta | None:
        """None: check the password; else how long the caller must wait (answered 429). The counts are
        the window's attempts before this one; ``last_for_email``: the email's latest attempt."""
        if by_address >= self.failures:
            return self.window
        if by_email >= self.failures and last_for_email is not None:
            since_last = now - last_for_email
            if since_last < self.email_pause:
                return self.email_pause - since_last
        return None


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """A session ends after ``idle`` without a request, and ``absolute`` after the login whatever happens;
    its last use is written at most every ``touch_every``."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    touch_every: timedelta = timedelta(minutes=1)

    def expires_at(self, created_at: datetime) -> datetime:
        return created_at + self.absolute

    def alive(self, expires_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        return now < expires_at and now - last_seen_at < self.idle

    def needs_touch(self, last_seen_at: datetime, now: datetime) -> bool:
        """Whether to write the last use now: every ``touch_every``, and at least twice within ``idle`` (an
        idle limit of a minute or less would end a session in use)."""
        return now - last_seen_at >= min(self.touch_every, self.idle / 2)
