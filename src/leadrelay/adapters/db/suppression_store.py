"""SQL for suppression lists and their entries (hashes only), on SQLite and PostgreSQL.

Entries are written in statements of at most ``CHUNK`` rows: few round trips, yet far under either
database's limit on bound parameters, and IN-lists stay short enough for the primary key index.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import DBAPIError

from leadrelay.adapters.db.privacy_tables import suppression_entries, suppression_lists
from leadrelay.domain.suppression import ListRow

CHUNK = 500

_entries = suppression_entries.c
_lists = suppression_lists.c


def _chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def create_list(conn: Connection, name: str, kind: str, description: str | None, now: datetime) -> None:
    conn.execute(
        suppression_lists.insert().values(name=name, kind=kind, description=description, created_at=now)
    )


def count_entries(conn: Connection, name: str) -> int:
    got = conn.execute(select(func.count()).select_from(suppression_entries).where(_entries.list == name))
    return int(got.scalar_one())


def get_list(conn: Connection, name: str, *, lock: bool = False, count: bool = True) -> ListRow | None:
    """One list, with its entry count if ``count``; ``lock``: the row stays locked until the transaction
    ends (PostgreSQL; SQLite's write transactions take the database's lock anyway)."""
    query = select(suppression_lists).where(_lists.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    entries = count_entries(conn, name) if count else None
    return ListRow(row.name, row.kind, row.description, row.created_at, entries)


def lists(conn: Connection) -> list[ListRow]:
    """Every list, by name, with its entry count."""
    counts = select(_entries.list, func.count().label("n")).group_by(_entries.list).subquery("counts")
    query = (
        select(suppression_lists, func.coalesce(counts.c.n, 0).label("n"))
        .select_from(suppression_lists.outerjoin(counts, counts.c.list == _lists.name))
        .order_by(_lists.name)
    )
    return [ListRow(r.name, r.kind, r.description, r.created_at, int(r.n)) for r in conn.execute(query)]


def list_names(conn: Connection) -> set[str]:
    """The names of every list (no entry counts)."""
    return set(conn.execute(select(_lists.name)).scalars())


def delete_list(conn: Connection, name: str) -> int:
    """Delete the list and its entries; how many entries went with it."""
    removed = conn.execute(delete(suppression_entries).where(_entries.list == name)).rowcount
    conn.execute(delete(suppression_lists).where(_lists.name == name))
    return int(removed)


def add_hashes(conn: Connection, list_name: str, hashes: Iterable[str]) -> int:
    """Insert the hashes not in the list yet; how many were new (repeats within ``hashes`` count once).

    Written through the driver, not SQLAlchemy's insert-many (an import adds millions), and sorted, so
    one statement walks the primary key's B-tree in order instead of jumping around it. SQLite: one
    ``executemany`` of ``INSERT OR IGNORE`` (its rowcount counts only the rows inserted). PostgreSQL:
    ``COPY`` into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``. A driver
    error is raised as SQLAlchemy's (``DBAPIError``), like every other statement's."""
    unique = sorted(set(hashes))
    if not unique:
        return 0
    driver: Any = conn.connection.driver_connection
    try:
        if conn.dialect.name == "postgresql":
            return _copy_new(driver, list_name, unique)
        cursor = driver.cursor()
        try:
            cursor.executemany(_SQLITE_INSERT, zip(itertools.repeat(list_name), unique))
            return int(cursor.rowcount)
        finally:
            cursor.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            "add_hashes", None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True
        ) from exc


_SQLITE_INSERT = "INSERT OR IGNORE INTO suppression_entries (list, value_hash) VALUES (?, ?)"


def _copy_new(driver: Any, list_name: str, unique: list[str]) -> int:
    with driver.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS suppression_incoming (value_hash text)"
            " ON COMMIT DELETE ROWS"
        )
        cursor.execute("DELETE FROM suppression_incoming")  # an earlier call in this transaction
        with cursor.copy("COPY suppression_incoming (value_hash) FROM STDIN") as copy:
            copy.write("".join(h + "\n" for h in unique))  # hex digits: nothing to escape
        cursor.execute(
            "INSERT INTO suppression_entries (list, value_hash) SELECT %s, value_hash"
            " FROM suppression_incoming ON CONFLICT DO NOTHING",
            (list_name,),
        )
        return int(cursor.rowcount)


def remove_hashes(conn: Connection, list_name: str, hashes: Iterable[str]) -> int:
    """Delete the hashes from the list; how many were there."""
    removed = 0
    for chunk in _chunks(dict.fromkeys(hashes)):
        result = conn.execute(
            delete(suppression_entries).where(_entries.list == list_name, _entries.value_hash.in_(chunk))
        )
        removed += int(result.rowcount)
    return removed


def listed(conn: Connection, lists: Sequence[str], hashes: Collection[str]) -> set[tuple[str, str]]:
    """Which ``(list, hash)`` pairs are present: one query (one per ``CHUNK`` hashes beyond that)."""
    if not lists or not hashes:
        return set()
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(hashes):
        query = select(_entries.list, _entries.value_hash).where(
            _entries.list.in_(list(lists)), _entries.value_hash.in_(chunk)
        )
        found.update((str(r.list), str(r.value_hash)) for r in conn.execute(query))
    return found
