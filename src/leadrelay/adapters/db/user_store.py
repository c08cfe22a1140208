"""The SQL of console users, invitations, sessions and failed logins (``ports.users.Users``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, or_, select, update

from leadrelay.adapters.db.console_tables import login_failures, user_invitations, user_sessions, users
from leadrelay.adapters.db.dedup_store import lock_keys

_SESSION_COLUMNS = (
    *user_sessions.c,
    users.c.email,
    users.c.display_name,
    users.c.role,
    users.c.tenant,
    users.c.disabled_at,
)


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_user(self, row: Mapping[str, Any]) -> None:
        self._conn.execute(users.insert().values(**row))

    def find_user(self, email: str) -> Row[Any] | None:
        return self._conn.execute(select(users).where(users.c.email == email)).first()

    def get_user(self, user_id: str) -> Row[Any] | None:
        return self._conn.execute(select(users).where(users.c.id == user_id)).first()

    def list_users(self) -> list[Row[Any]]:
        return list(self._conn.execute(select(users).order_by(users.c.email)))

    def count_users(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(users)).scalar_one())

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> None:
        self._conn.execute(update(users).where(users.c.id == user_id).values(**values))

    def add_invitation(
        self, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self._conn.execute(
            user_invitations.insert().values(
                token_hash=token_hash, user_id=user_id, created_at=created_at, expires_at=expires_at
            )
        )

    def find_invitation(self, token_hash: str) -> Row[Any] | None:
        query = select(user_invitations).where(user_invitations.c.token_hash == token_hash)
        return self._conn.execute(query).first()

    def use_invitation(self, token_hash: str, now: datetime) -> bool:
        done = self._conn.execute(
            update(user_invitations)
            .where(user_invitations.c.token_hash == token_hash, user_invitations.c.used_at.is_(None))
            .values(used_at=now)
        )
        return done.rowcount == 1

    def revoke_invitations(self, user_id: str, now: datetime) -> int:
        done = self._conn.execute(
            update(user_invitations)
            .where(user_invitations.c.user_id == user_id, user_invitations.c.used_at.is_(None))
            .values(used_at=now)
        )
        return int(done.rowcount)

    def add_session(self, row: Mapping[str, Any]) -> None:
        self._conn.execute(user_sessions.insert().values(**row))

    def session(self, id_hash: str) -> Row[Any] | None:
        query = (
            select(*_SESSION_COLUMNS)
            .join(users, users.c.id == user_sessions.c.user_id)
            .where(user_sessions.c.id_hash == id_hash)
        )
        return self._conn.execute(query).first()

    def touch_session(self, id_hash: str, now: datetime) -> None:
        self._conn.execute(
            update(user_sessions)
            .where(user_sessions.c.id_hash == id_hash, user_sessions.c.last_seen_at < now)
            .values(last_seen_at=now)
        )

    def end_session(self, id_hash: str, now: datetime) -> None:
        self._conn.execute(
            update(user_sessions)
            .where(user_sessions.c.id_hash == id_hash, user_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )

    def end_user_sessions(self, user_id: str, now: datetime) -> int:
        done = self._conn.execute(
            update(user_sessions)
            .where(user_sessions.c.user_id == user_id, user_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return int(done.rowcount)

    def lock_login(self, email: str, address: str) -> None:
        lock_keys(self._conn, [("login-email", email), ("login-address", address)])

    def add_login_failure(self, email: str, address: str, at: datetime) -> None:
        self._conn.execute(login_failures.insert().values(email=email, address=address, at=at))

    def login_failures(self, email: str, address: str, since: datetime) -> tuple[int, int, datetime | None]:
        recent = login_failures.c.at >= since
        by_email = select(func.count(), func.max(login_failures.c.at)).where(
            recent, login_failures.c.email == email
        )
        by_address = (
            select(func.count())
            .select_from(login_failures)
            .where(recent, login_failures.c.address == address)
        )
        count, last = self._conn.execute(by_email).one()  # max() keeps the column's type (UTC aware)
        return int(count), int(self._conn.execute(by_address).scalar_one()), last

    def forget_login_failures(self, email: str | None, before: datetime, address: str | None = None) -> None:
        old = login_failures.c.at < before
        if email is None:
            self._conn.execute(delete(login_failures).where(old))
            return
        mine = login_failures.c.email == email
        if address is not None:
            mine = and_(mine, login_failures.c.address == address)
        self._conn.execute(delete(login_failures).where(or_(mine, old)))
