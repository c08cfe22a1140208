"""Dedup marks: read, lock and write them inside the caller's transaction.

Exactness under concurrency: on PostgreSQL, every transaction that may write a key first takes a
transaction-scoped advisory lock on it, all of a batch's keys in one sorted order (no deadlock), then
reads the marks; a concurrent transaction with the same key waits until this one commits and then sees
its mark. On SQLite the write transaction (BEGIN IMMEDIATE) already serializes writers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, select, text, tuple_, update

from leadrelay.adapters.db.privacy_tables import dedup_marks, lead_lookup
from leadrelay.adapters.db.row_writer import RowWriter
from leadrelay.adapters.db.schema_base import UTCDateTime
from leadrelay.adapters.db.tables import leads
from leadrelay.domain.dedup import Mark

_CHUNK = 500


def _lock_id(scope: str, key_hash: str) -> int:
    """A signed 64-bit advisory lock id for one key."""
    digest = hashlib.sha256(f"{scope}\x00{key_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) s"
)


def lock_keys(conn: Connection, keys: Collection[tuple[str, str]]) -> None:
    if conn.dialect.name != "postgresql" or not keys:
        return
    conn.execute(_LOCK, {"ids": sorted({_lock_id(scope, key) for scope, key in keys})})


def _marks_query(dialect: str, sizes: tuple[int, ...]) -> str:
    """One SELECT for the keys of every scope (``sizes``: how many hashes each scope has), each scope an
    index range of the primary key. Text SQL, cached per shape: building a Core statement with expanding
    parameters costs more per batch than the lookups themselves."""
    mark = "?" if dialect == "sqlite" else "%s"
    ors = " OR ".join(f"(scope = {mark} AND key_hash IN ({', '.join([mark] * n)}))" for n in sizes)
    return f"SELECT scope, key_hash, lead_id, seen_at FROM dedup_marks WHERE {ors}"


_marks_sql = functools.lru_cache(maxsize=256)(_marks_query)
_SEEN_AT = UTCDateTime()


def load_marks(conn: Connection, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]:
    """The marks of these keys: one query per 500 keys (every scope together), an index lookup per key."""
    by_scope: dict[str, list[str]] = {}
    for scope, key in set(keys):
        by_scope.setdefault(scope, []).append(key)
    dialect = conn.dialect.name
    found: dict[tuple[str, str], Mark] = {}
    for groups in _packed(sorted((scope, sorted(hashes)) for scope, hashes in by_scope.items())):
        params: list[str] = []
        for scope, hashes in groups:
            params.append(scope)
            params.extend(hashes)
        sql = _marks_sql(dialect, tuple(len(hashes) for _, hashes in groups))
        for scope, key_hash, lead_id, seen in conn.exec_driver_sql(sql, tuple(params)):
            at = _SEEN_AT.process_result_value(seen, conn.dialect)
            assert at is not None  # NOT NULL
            found[(scope, key_hash)] = Mark(lead_id, at)
    return found


def _packed(groups: list[tuple[str, list[str]]]) -> Iterator[list[tuple[str, list[str]]]]:
    """(scope, hashes) groups packed into queries of at most ``_CHUNK`` hashes, a long group split."""
    query: list[tuple[str, list[str]]] = []
    size = 0
    for scope, hashes in groups:
        for i in range(0, len(hashes), _CHUNK):
            part = hashes[i : i + _CHUNK]
            if query and size + len(part) > _CHUNK:
                yield query
                query, size = [], 0
            query.append((scope, part))
            size += len(part)
    if query:
        yield query


_UPSERT = RowWriter(dedup_marks, conflict=("scope", "key_hash"), update=("lead_id", "seen_at"))


def put_marks(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or move marks to their new lead (``scope, key_hash, lead_id, seen_at``)."""
    if not rows:
        return
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # one row per key: a statement may not touch the same row twice on PostgreSQL
        last[(row["scope"], row["key_hash"])] = row
    _UPSERT.write(conn, list(last.values()))


def release_partner_marks(conn: Connection, partner: str, lead_id: str) -> None:
    """A delivery that finally failed or was cancelled: the partner did not get this person after all."""
    conn.execute(
        delete(dedup_marks).where(
            dedup_marks.c.lead_id == lead_id,
            dedup_marks.c.scope.startswith(f"partner:{partner}:", autoescape=True),
        )
    )


def forget_leads(conn: Connection, lead_ids: Sequence[str]) -> int:
    """Erasure: hashes of a person's data are personal data too (its dedup marks and lookup keys); returns
    how many dedup marks went."""
    count = 0
    for i in range(0, len(lead_ids), _CHUNK):
        chunk = list(lead_ids[i : i + _CHUNK])
        count += conn.execute(delete(dedup_marks).where(dedup_marks.c.lead_id.in_(chunk))).rowcount
        conn.execute(delete(lead_lookup).where(lead_lookup.c.lead_id.in_(chunk)))
    return count


# ---------------------------------------------------------------- lookup keys (the console's lead search)

_LOOKUP = RowWriter(lead_lookup, conflict=("key_hash", "lead_id"))


def put_lookups(conn: Connection, rows: Sequence[tuple[str, str]]) -> None:
    """``(lead_id, key_hash)`` rows, in one executemany (a repeated pair is kept once)."""
    if rows:
        _LOOKUP.write(conn, [{"key_hash": key, "lead_id": lead} for lead, key in sorted(set(rows))])


def forget_lookups(conn: Connection, lead_ids: Sequence[str]) -> None:
    for i in range(0, len(lead_ids), _CHUNK):
        conn.execute(delete(lead_lookup).where(lead_lookup.c.lead_id.in_(list(lead_ids[i : i + _CHUNK]))))


def replace_lookups(
    conn: Connection, lead_ids: Sequence[str], rows: Sequence[tuple[str, str]], *, wait: bool
) -> tuple[int, list[str]]:
    """The lookup keys of these leads replaced by ``rows`` (``(lead_id, key_hash)``, computed from values
    read in an earlier transaction), for the leads still not erased only; returns the ids of the leads
    skipped because another transaction holds their row (PostgreSQL, ``wait`` False only).

    Why an erased lead never gets keys back (``leadrelay leads reindex`` against an erasure): erasure
    updates the lead row (``blank_leads``: ``erased_at``) before it deletes the lead's keys, in one
    transaction. Here each lead row is first read with ``erased_at IS NULL`` and, on PostgreSQL, locked
    ``FOR SHARE`` (which an UPDATE waits for) until this transaction commits:

    - erasure committed before: the lead is not returned, no key is written for it;
    - erasure has updated the row but not committed: the lock waits for it, then PostgreSQL checks the
      condition again on the new version (erased), and the lead is left out;
    - this lock came first: erasure's UPDATE waits until these keys are committed, and its DELETE (a new
      snapshot in READ COMMITTED) then sees and deletes them.

    A guard alone (INSERT … SELECT … WHERE not erased) would not do on PostgreSQL: an erasure committing
    after the guard's snapshot deletes only the keys it can see, not these uncommitted ones. On SQLite
    the write transaction (BEGIN IMMEDIATE) already excludes the erasure, so the read is enough.

    ``wait`` False takes the locks ``SKIP LOCKED``: a batch never waits while holding other leads' locks,
    so it cannot deadlock with an erasure of several leads locking them in another order; the caller
    does the skipped leads again one per transaction with ``wait`` True (a single lock held: no cycle)."""
    ids = sorted(set(lead_ids))
    live: set[str] = set()
    pg = conn.dialect.name == "postgresql"
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        q = select(leads.c.id).where(leads.c.id.in_(chunk), leads.c.erased_at.is_(None)).order_by(leads.c.id)
        if pg:
            q = q.with_for_update(read=True, skip_locked=not wait)
        live.update(conn.execute(q).scalars())
    skipped: list[str] = []
    if pg and not wait and len(live) < len(ids):  # left out: erased, or held by another transaction
        for i in range(0, len(ids), _CHUNK):
            chunk = [lead for lead in ids[i : i + _CHUNK] if lead not in live]
            if chunk:
                unerased = select(leads.c.id).where(leads.c.id.in_(chunk), leads.c.erased_at.is_(None))
                skipped.extend(conn.execute(unerased).scalars())
    forget_lookups(conn, sorted(live))
    put_lookups(conn, [(lead, key) for lead, key in rows if lead in live])
    return len(live), sorted(skipped)


def leads_by_lookup(
    conn: Connection, keys: Collection[str], limit: int, before: str | None = None
) -> list[str]:
    """The ids of the leads holding any of these lookup keys (an index range per key), newest id first,
    below the id ``before`` when given (the next page)."""
    if not keys:
        return []
    q = select(lead_lookup.c.lead_id).where(lead_lookup.c.key_hash.in_(sorted(set(keys))))
    if before is not None:
        q = q.where(lead_lookup.c.lead_id < before)
    q = q.distinct().order_by(lead_lookup.c.lead_id.desc()).limit(limit)
    return list(conn.execute(q).scalars())


# ---------------------------------------------------------------- recomputing marks (a key change)


def any_marks(conn: Connection) -> bool:
    return conn.execute(select(dedup_marks.c.scope).limit(1)).first() is not None


def count_marks(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(dedup_marks)).scalar_one())


def marks_after(conn: Connection, after: tuple[str, str] | None, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` marks in (scope, key_hash) order, after ``after``."""
    c = dedup_marks.c
    q = select(c.scope, c.key_hash, c.lead_id, c.seen_at)  # the columns migration 0007 knows
    if after is not None:
        q = q.where(tuple_(c.scope, c.key_hash) > tuple_(*after))  # a range of the primary key's index
    return list(conn.execute(q.order_by(c.scope, c.key_hash).limit(limit)))


_DROP = delete(dedup_marks).where(
    dedup_marks.c.scope == bindparam("b_scope"), dedup_marks.c.key_hash == bindparam("b_hash")
)
_MOVE = (
    update(dedup_marks)
    .where(dedup_marks.c.scope == bindparam("b_scope"), dedup_marks.c.key_hash == bindparam("b_old"))
    .values(key_hash=bindparam("b_new"))
)


def drop_marks(conn: Connection, keys: Collection[tuple[str, str]]) -> None:
    if keys:
        conn.execute(_DROP, [{"b_scope": scope, "b_hash": key} for scope, key in keys])


def move_marks(conn: Connection, moves: Sequence[tuple[Row[Any], str]]) -> None:
    """Gives marks their new hashes (``(mark, new hash)``), a batch in three statements. Where two marks
    would get the same hash (one already has it), the later one stays."""
    best: dict[tuple[str, str], Row[Any]] = {}
    drop: list[tuple[str, str]] = []
    for mark, new in moves:
        key = (mark.scope, new)
        rival = best.get(key)
        if rival is not None and rival.seen_at >= mark.seen_at:
            drop.append((mark.scope, mark.key_hash))
            continue
        if rival is not None:
            drop.append((rival.scope, rival.key_hash))
        best[key] = mark
    for key, there in load_marks(conn, list(best)).items():
        if there.seen_at >= best[key].seen_at:
            mark = best.pop(key)
            drop.append((mark.scope, mark.key_hash))
        else:
            drop.append(key)  # the mark already under the new hash is older: it goes
    drop_marks(conn, drop)
    if best:
        rows = [{"b_scope": s, "b_old": m.key_hash, "b_new": new} for (s, new), m in best.items()]
        conn.execute(_MOVE, rows)
