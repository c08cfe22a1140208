"""What the hash-keyed rows would cost in other table shapes: a design question of issue 9's intake budget.

Every lead with dedup on writes four rows whose keys are HMACs (two dedup marks, two lookup keys), and each
lands on a random page of its index: in `bench/intake_floor.py` they are most of what SQLite alone costs a
lead. This script stores only such rows, 32 leads a transaction (WAL, `synchronous=FULL`, as intake), into
tables already holding ``--prefill`` leads' rows (a steady state, not an empty file), in four shapes:

1. today's (rowid tables, the key as 64 hex characters, an index on the lead id);
2. the same as WITHOUT ROWID tables (the primary key is the table);
3. WITHOUT ROWID, the key as 16 bytes (a 128-bit HMAC) instead of 64 characters;
4. the same without the lead-id indexes (an erasure would find a lead's rows by its values' keys instead).

It prints CPU µs per lead for the statements (which intake runs on its event loop's thread) and for the
COMMIT (on the commit thread), and the database's size. One process, no HTTP; compare figures of one run.

    python bench/keyed_rows.py [--prefill 200000] [--leads 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sqlite3
import tempfile
import time

BATCH = 32
KEY = b"bench dedup key, 32 bytes long!!"
SEEN_AT = "2026-12-05 08:00:00.000000"

_MARKS = "CREATE TABLE dedup_marks (scope VARCHAR(140) NOT NULL, key_hash {key} NOT NULL, "
_MARKS += "lead_id VARCHAR(40) NOT NULL, seen_at DATETIME NOT NULL, PRIMARY KEY (scope, key_hash)){rowid};"
_LOOKUP = "CREATE TABLE lead_lookup (key_hash {key} NOT NULL, lead_id VARCHAR(40) NOT NULL, "
_LOOKUP += "PRIMARY KEY (key_hash, lead_id)){rowid};"
_BY_LEAD = (
    "CREATE INDEX ix_dm_lead ON dedup_marks (lead_id); CREATE INDEX ix_ll_lead ON lead_lookup (lead_id);"
)


def _schema(key: str, without_rowid: bool, by_lead: bool) -> str:
    rowid = " WITHOUT ROWID" if without_rowid else ""
    return "\n".join(
        [
            _MARKS.format(key=key, rowid=rowid),
            _LOOKUP.format(key=key, rowid=rowid),
            _BY_LEAD if by_lead else "",
        ]
    )


SHAPES = {  # name: (schema, keys as 16 bytes)
    "today's (rowid, 64 hex, lead-id indexes)": (_schema("VARCHAR(64)", False, True), False),
    "WITHOUT ROWID, 64 hex": (_schema("VARCHAR(64)", True, True), False),
    "WITHOUT ROWID, 16 bytes": (_schema("BLOB", True, True), True),
    "WITHOUT ROWID, 16 bytes, no lead-id index": (_schema("BLOB", True, False), True),
}


def _key(material: str, short: bool) -> str | bytes:
    digest = hmac.new(KEY, material.encode(), hashlib.sha256).digest()
    return digest[:16] if short else digest.hex()


def rows(first: int, last: int, short: bool) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The marks and the lookup keys of leads ``first`` to ``last`` (an email and a phone each)."""
    marks: list[tuple[object, ...]] = []
    lookups: list[tuple[object, ...]] = []
    for i in range(first, last):
        lead_id = f"lead_{i:020d}"
        for kind in ("email", "phone"):
            marks.append((f"entity:solar:{kind}", _key(f"mark {kind} {i}", short), lead_id, SEEN_AT))
            lookups.append((_key(f"lookup {kind} {i}", short), lead_id))
    return marks, lookups


def write(
    conn: sqlite3.Connection, marks: list[tuple[object, ...]], lookups: list[tuple[object, ...]]
) -> None:
    conn.executemany("INSERT INTO dedup_marks VALUES (?, ?, ?, ?)", marks)
    conn.executemany("INSERT INTO lead_lookup VALUES (?, ?)", lookups)


def measure(schema: str, short: bool, prefill: int, leads: int) -> tuple[float, float, int]:
    """(statements' CPU µs per lead, the COMMIT's, the database's bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/keyed.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(schema)
        for first in range(0, prefill, 10_000):
            conn.execute("BEGIN")
            write(conn, *rows(first, min(first + 10_000, prefill), short))
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        batches = [rows(prefill + i, prefill + min(i + BATCH, leads), short) for i in range(0, leads, BATCH)]
        statements = commits = 0.0
        for marks, lookups in batches:
            started = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            write(conn, marks, lookups)
            written = time.process_time()
            conn.execute("COMMIT")
            statements += written - started
            commits += time.process_time() - written
        conn.close()
        return 1e6 * statements / leads, 1e6 * commits / leads, os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefill", type=int, default=200_000, help="leads' rows in the tables beforehand")
    parser.add_argument("--leads", type=int, default=20_000, help="leads measured")
    args = parser.parse_args()
    print(
        f"a lead's 4 hash-keyed rows, {BATCH} leads a transaction: {args.leads:,} leads "
        f"after {args.prefill:,} (CPU µs per lead)"
    )
    width = max(len(name) for name in SHAPES)
    print(f"  {'shape':<{width}}  statements  COMMIT  in all  database")
    for name, (schema, short) in SHAPES.items():
        statements, commit, size = measure(schema, short, args.prefill, args.leads)
        print(
            f"  {name:<{width}}  {statements:>10.1f}  {commit:>6.1f}  {statements + commit:>6.1f}"
            f"  {size / 1e6:>5.0f} MB"
        )


if __name__ == "__main__":
    main()
