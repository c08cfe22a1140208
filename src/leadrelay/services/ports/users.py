"""Console users as the services see them: the ``Users`` repository (users, invitations, sessions, failed
logins) and ``Passwords`` (the password hash, argon2id in ``adapters.passwords``).

Invitation tokens and session ids reach the repository already hashed (SHA-256): neither is stored as it
travels. A user row has ``id``, ``email``, ``display_name``, ``role``, ``tenant``, ``password_hash``,
``created_at``, ``disabled_at`` and ``last_login_at``; a session row (``session``) has the session's
columns and its user's (``email``, ``display_name``, ``role``, ``tenant``, ``disabled_at``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from leadrelay.services.ports.records import Record


class Users(Protocol):
    def add_user(self, row: Mapping[str, Any]) -> None: ...

    def find_user(self, email: str) -> Record | None: ...

    def get_user(self, user_id: str) -> Record | None: ...

    def list_users(self) -> list[Record]: ...

    def count_users(self) -> int: ...

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> None: ...

    def add_invitation(
        self, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    def find_invitation(self, token_hash: str) -> Record | None: ...

    def use_invitation(self, token_hash: str, now: datetime) -> bool:
        """Mark it used; False when it was used already (two tabs, a replay)."""
        ...

    def revoke_invitations(self, user_id: str, now: datetime) -> int:
        """Mark every open invitation of the user used (how many)."""
        ...

    def add_session(self, row: Mapping[str, Any]) -> None: ...

    def session(self, id_hash: str) -> Record | None:
        """The live-or-not session and its user's columns, or None."""
        ...

    def touch_session(self, id_hash: str, now: datetime) -> None: ...

    def end_session(self, id_hash: str, now: datetime) -> None: ...

    def end_user_sessions(self, user_id: str, now: datetime) -> int: ...

    def lock_login(self, email: str, address: str) -> None:
        """Until the transaction ends, no other transaction counts or records attempts for this email or
        from this address (PostgreSQL: advisory locks; SQLite's write transaction already serializes)."""
        ...

    def add_login_failure(self, email: str, address: str, at: datetime) -> None: ...

    def login_failures(self, email: str, address: str, since: datetime) -> tuple[int, int, datetime | None]:
        """Failures since then: (for this email, from this address, the email's latest one's time)."""
        ...

    def forget_login_failures(self, email: str | None, before: datetime, address: str | None = None) -> None:
        """Drop everyone's failures older than ``before``, and the email's (from ``address`` only, when
        given) after a good login."""
        ...


class Passwords(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...
