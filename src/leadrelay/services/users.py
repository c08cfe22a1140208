"""Console users: create, invite, list, disable, reset a password; log in (rate-limited), sessions,
log out. Every change to a user is audited (``user.created|invited|password_set|password_reset|
disabled``).

Invitation tokens and session ids are random values handed out once; only their SHA-256 is stored. A
session carries its own CSRF secret: every form of the console and every unsafe API request made with the
session's cookie must show it. Password hashes (argon2id) are computed off the event loop, outside any
transaction.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.access import (
    LoginLimit,
    Role,
    SessionLimits,
    normal_email,
    tenant_problem,
)
from leadrelay.domain.client_address import address_group
from leadrelay.errors import (
    Conflict,
    Gone,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from leadrelay.services.ports import Clock, Record, Storage, Tx, system_clock, system_ids
from leadrelay.services.ports.users import Passwords
from leadrelay.services.user_values import (
    WRONG_LOGIN,
    NewSession,
    SessionUser,
    checked_email,
    checked_password,
    checked_role,
    digest,
    field_problem,
    iso,
    login_name,
    user_view,
    whole_seconds,
)


def _audit(
    tx: Tx, actor: str, action: str, row: Record | dict[str, Any], now: datetime, **detail: Any
) -> None:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    tx.config.audit(
        actor=actor,
        action=action,
        object_kind="users",
        object_id=str(get("id")),
        at=now,
        detail={"email": get("email"), **detail},
    )


def _user(tx: Tx, email: str) -> Record:
    row = tx.users.find_user(checked_email(email))
    if row is None:
        raise NotFound(f"no user with the email {email!r}")
    return row


@dataclass
class Accounts:
    """The users' use cases. The CLI calls the synchronous ones; the console the ``async`` ones."""

    storage: Storage
    passwords: Passwords
    clock: Clock = system_clock
    login_limit: LoginLimit = field(default_factory=LoginLimit)
    session_limits: SessionLimits = field(default_factory=SessionLimits)
    invitation_life: timedelta = timedelta(days=7)
    _dummy_hash: str | None = field(default=None, init=False, repr=False)  # verified for unknown emails

    # ------------------------------------------------------------ administration (CLI, later the console)

    def create_user(
        self,
        email: str,
        role: str | Role,
        *,
        password: str | None,
        actor: str,
        display_name: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """A new user; without a password it can only log in after an invitation or a reset."""
        email, role = checked_email(email), checked_role(role)
        problem = tenant_problem(role, tenant)
        if problem is not None:  # named as the CLI's options: --partner, --source (or --role)
            raise field_problem(role.value if role in (Role.PARTNER, Role.SOURCE) else "role", problem)
        hashed = self.passwords.hash(checked_password(password)) if password is not None else None
        now = self.clock()

        def write(tx: Tx) -> dict[str, Any]:
            if tx.users.find_user(email) is not None:
                raise Conflict(f"a user with the email {email!r} exists already")
            if tenant is not None:
                kind = "partners" if role == Role.PARTNER else "sources"
                if tenant not in tx.config.load_objects().get(kind, {}):
                    raise field_problem(role.value, f"no {role.value} named {tenant!r} is configured")
            row = {
                "id": system_ids("usr"),
                "email": email,
                "display_name": (display_name or email.split("@")[0])[:200],
                "role": role.value,
                "tenant": tenant,
                "password_hash": hashed,
                "created_at": now,
                "disabled_at": None,
                "last_login_at": None,
            }
            tx.users.add_user(row)
            _audit(tx, actor, "user.created", row, now, role=role.value, tenant=tenant)
            created = tx.users.get_user(str(row["id"]))
            assert created is not None
            return user_view(created)

        return self.storage.transaction(write)

    def invite(
        self,
        email: str,
        role: str | Role,
        *,
        actor: str,
        display_name: str | None = None,
        tenant: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """An invitation (the token of ``/console/invite/{token}``) for a new user, or for a user who has
        no password yet: invited again, it gets the role (and partner or source) of this invitation, and
        the links sent before stop working."""
        email = checked_email(email)
        now = self.clock()
        token = secrets.token_urlsafe(32)
        existing = self.storage.read(lambda tx: tx.users.find_user(email))
        if existing is None:
            view = self.create_user(
                email, role, password=None, actor=actor, display_name=display_name, tenant=tenant
            )
        elif existing.password_hash is not None:
            raise Conflict(f"{email} has a password already: use `leadrelay users reset-password`")
        else:
            view = user_view(existing)
        wanted = checked_role(role)
        changed = existing is not None and (existing.role != wanted.value or existing.tenant != tenant)
        if changed:
            problem = tenant_problem(wanted, tenant)
            if problem is not None:
                raise field_problem(
                    wanted.value if wanted in (Role.PARTNER, Role.SOURCE) else "role", problem
                )

        def write(tx: Tx) -> None:
            if existing is not None:
                tx.users.revoke_invitations(view["id"], now)  # one link at a time: the newest
            if changed:
                assert existing is not None
                if tenant is not None:
                    kind = "partners" if wanted == Role.PARTNER else "sources"
                    if tenant not in tx.config.load_objects().get(kind, {}):
                        raise field_problem(wanted.value, f"no {wanted.value} named {tenant!r} is configured")
                tx.users.update_user(existing.id, {"role": wanted.value, "tenant": tenant})
                _audit(tx, actor, "user.role_changed", existing, now, role=wanted.value, tenant=tenant,
                       previous_role=existing.role, previous_tenant=existing.tenant)  # fmt: skip
                view.update(user_view(tx.users.get_user(existing.id) or existing))
            tx.users.add_invitation(digest(token), view["id"], now, now + self.invitation_life)
            _audit(tx, actor, "user.invited", view, now, expires_at=iso(now + self.invitation_life))

        self.storage.transaction(write)
        return view, token

    def list_users(self) -> list[dict[str, Any]]:
        return self.storage.read(lambda tx: [user_view(r) for r in tx.users.list_users()])

    def disable(self, email: str, *, actor: str) -> dict[str, Any]:
        """Refuse the user's logins from now on and end its sessions."""
        now = self.clock()

        def write(tx: Tx) -> dict[str, Any]:
            row = _user(tx, email)
            if row.disabled_at is None:
                tx.users.update_user(row.id, {"disabled_at": now})
                ended = tx.users.end_user_sessions(row.id, now)
                revoked = tx.users.revoke_invitations(row.id, now)
                _audit(
                    tx, actor, "user.disabled", row, now, sessions_ended=ended, invitations_revoked=revoked
                )
            updated = tx.users.get_user(row.id)
            assert updated is not None
            return user_view(updated)

        return self.storage.transaction(write)

    def reset_password(self, email: str, password: str, *, actor: str) -> dict[str, Any]:
        """A new password; the user's sessions end."""
        hashed = self.passwords.hash(checked_password(password))
        now = self.clock()

        def write(tx: Tx) -> dict[str, Any]:
            row = _user(tx, email)
            tx.users.update_user(row.id, {"password_hash": hashed})
            ended = tx.users.end_user_sessions(row.id, now)
            revoked = tx.users.revoke_invitations(row.id, now)  # an older link must not undo the reset
            _audit(
                tx,
                actor,
                "user.password_reset",
                row,
                now,
                sessions_ended=ended,
                invitations_revoked=revoked,
            )
            updated = tx.users.get_user(row.id)
            assert updated is not None
            return user_view(updated)

        return self.storage.transaction(write)

    def ensure_admin(self, email: str, *, actor: str) -> tuple[dict[str, Any], str] | None:
        """On an installation without users: an admin with a new random password, returned once. None
        when any user exists (nothing is changed)."""
        if self.storage.read(lambda tx: tx.users.count_users()) > 0:
            return None
        password = secrets.token_urlsafe(12)
        try:
            view = self.create_user(email, Role.ADMIN, password=password, actor=actor, display_name="Admin")
        except Conflict:  # another process made it between the count and the insert
            return None
        return view, password

    # ------------------------------------------------------------ invitations (the console's invite page)

    def _open_invitation(self, tx: Tx, token: str) -> tuple[Record, Record]:
        invitation = tx.users.find_invitation(digest(token))
        if invitation is None:
            raise NotFound("this invitation link is not valid")
        if invitation.used_at is not None:
            raise Gone("this invitation was used already")
        if invitation.expires_at <= self.clock():
            raise Gone("this invitation has expired: ask an admin for a new one")
        user = tx.users.get_user(invitation.user_id)
        if user is None or user.disabled_at is not None:
            raise Gone("this invitation's user is disabled")
        if user.password_hash is not None:  # set by another invitation or a reset: this link is stale
            raise Gone("this user has a password already: log in, or ask an admin to reset it")
        return invitation, user

    async def invitation(self, token: str) -> dict[str, Any]:
        _, user = await self.storage.run_read(lambda tx: self._open_invitation(tx, token))
        return user_view(user)

    async def accept_invitation(self, token: str, password: str) -> dict[str, Any]:
        """Set the invited user's password: once per invitation, and only while the user has none (all of
        the user's open invitations are used up by the first one accepted; a reset and a disable revoke
        them too)."""
        hashed = await asyncio.to_thread(self.passwords.hash, checked_password(password))
        now = self.clock()

        def write(tx: Tx) -> dict[str, Any]:
            _, user = self._open_invitation(tx, token)
            tx.users.update_user(user.id, {"password_hash": hashed})  # first: two links wait on the row
            if not tx.users.use_invitation(digest(token), now):
                raise Gone("this invitation was used already")
            tx.users.revoke_invitations(user.id, now)  # the user's other links (a resent invitation) die
            tx.users.end_user_sessions(user.id, now)
            _audit(tx, f"user:{user.email}", "user.password_set", user, now, via="invitation")
            return user_view(user)

        return await self.storage.run(write)

    # ------------------------------------------------------------ logging in and sessions

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    async def login(self, email_text: str, password: str, address: str) -> NewSession:
        """A new session; ``Unauthorized`` for a wrong email or password (which one is not said),
        ``TooManyRequests`` after too many failures from this address, or within a few seconds of the
        last attempt for an email that failed too often (``LoginLimit``).

        Each attempt is recorded as a failure *before* its password is checked, in the transaction that
        counts the earlier ones (per email and per address, locked against parallel attempts): however many
        arrive at once, at most the limit's number of passwords are checked. A good login removes its
        record (and this address's other failures for the email)."""
        now = self.clock()
        email = normal_email(email_text) or login_name(email_text)
        group = address_group(address)
        since = self.login_limit.since(now)

        def attempt(tx: Tx) -> timedelta | None:
            tx.users.lock_login(email, group)
            tx.users.forget_login_failures(None, since)  # only the window's failures are kept
            by_email, by_address, last = tx.users.login_failures(email, group, since)
            wait = self.login_limit.wait(by_email, by_address, last, now)
            if wait is None:
                tx.users.add_login_failure(email, group, now)  # a failure until the password is right
            return wait

        wait = await self.storage.run(attempt)
        if wait is not None:
            raise TooManyRequests(
                "too many failed logins: try again in a few minutes"
                if wait >= timedelta(minutes=1)
                else f"too many failed logins for this email: try again in {whole_seconds(wait)} s",
                retry_after=whole_seconds(wait),
            )
        user = await self.storage.run_read(lambda tx: tx.users.find_user(email))
        usable = user is not None and user.disabled_at is None and user.password_hash is not None
        stored = user.password_hash if usable and user is not None else await asyncio.to_thread(self._dummy)
        good = await asyncio.to_thread(self.passwords.verify, stored, password)
        if not (usable and good) or user is None:
            raise Unauthorized(WRONG_LOGIN)  # its failure is recorded already
        rehash = self.passwords.needs_rehash(stored)
        new_hash = await asyncio.to_thread(self.passwords.hash, password) if rehash else None
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires_at = self.session_limits.expires_at(now)

        def write(tx: Tx) -> None:
            tx.users.add_session(
                {
                    "id_hash": digest(cookie),
                    "user_id": user.id,
                    "created_at": now,
                    "expires_at": expires_at,
                    "last_seen_at": now,
                    "csrf_secret": csrf,
                    "ended_at": None,
                }
            )
            values: dict[str, Any] = {"last_login_at": now}
            if new_hash is not None:
                values["password_hash"] = new_hash
            tx.users.update_user(user.id, values)
            tx.users.forget_login_failures(email, since, group)  # this attempt's record too

        await self.storage.run(write)
        who = SessionUser(user.id, user.email, user.display_name, Role(user.role), user.tenant, csrf)
        return NewSession(cookie, who, expires_at)

    async def session(self, cookie: str | None) -> SessionUser | None:
        """The live session the cookie names (its last use recorded), else None."""
        if not cookie:
            return None
        id_hash = digest(cookie)
        row = await self.storage.run_read(lambda tx: tx.users.session(id_hash))
        now = self.clock()
        if (
            row is None
            or row.ended_at is not None
            or row.disabled_at is not None
            or not self.session_limits.alive(row.expires_at, row.last_seen_at, now)
        ):
            return None
        if self.session_limits.needs_touch(row.last_seen_at, now):
            await self.storage.run(lambda tx: tx.users.touch_session(id_hash, now), quick=True)
        return SessionUser(
            row.user_id, row.email, row.display_name, Role(row.role), row.tenant, row.csrf_secret
        )

    async def logout(self, cookie: str | None) -> None:
        if cookie:
            now = self.clock()
            await self.storage.run(lambda tx: tx.users.end_session(digest(cookie), now), quick=True)
