"""The hosted form's post counts (``leadrelay.services.ports.FormPosts``): ``form_posts``.

A post is counted by one conditional upsert, ``INSERT … ON CONFLICT (source, client, window_start) DO
UPDATE SET posts = posts + 1 WHERE posts < :limit RETURNING posts``, which both databases run atomically:
on PostgreSQL the conflicting row is locked and the condition checked on its latest committed version (two
processes inserting the first post of a window meet on the primary key, the second one updates), on
SQLite the write transaction holds the database's write lock. So no advisory lock is needed (as the login
throttle takes for its count-then-insert), and a refused post changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.console_tables import form_posts


class SqlFormPosts:
    """The hosted form's post counts per source, client address and window."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def count_post(self, source: str, client: str, window_start: datetime, limit: int) -> bool:
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        new = insert(form_posts).values(source=source, client=client, window_start=window_start, posts=1)
        counted = new.on_conflict_do_update(
            index_elements=["source", "client", "window_start"],
            set_={"posts": form_posts.c.posts + 1},
            where=form_posts.c.posts < limit,
        ).returning(form_posts.c.posts)
        return self._conn.execute(counted).first() is not None

    def forget_windows(self, before: datetime, *, limit: int) -> int:
        key = (form_posts.c.source, form_posts.c.client, form_posts.c.window_start)
        oldest = select(*key).where(form_posts.c.window_start < before).limit(limit)  # an index range
        return int(self._conn.execute(delete(form_posts).where(tuple_(*key).in_(oldest))).rowcount)
