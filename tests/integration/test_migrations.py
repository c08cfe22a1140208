"""Alembic migrations on SQLite and PostgreSQL: `upgrade head` matches the metadata exactly, and the
downgrade/upgrade round trip works (and keeps nothing behind)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, MetaData, inspect, select, text
from sqlalchemy.exc import IntegrityError

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import alembic_config, downgrade, upgrade
from leadrelay.adapters.db.schema import metadata
from leadrelay.adapters.db.schema_base import UTCDateTime
from leadrelay.adapters.db.tables import attempts
from tests.support import leadrelay_cmd


def _is_datetime(t: Any) -> bool:
    return isinstance(t, DateTime | UTCDateTime)


def _type_only_datetime(diff: Any) -> bool:
    """("modify_type", schema, table, column, info, old_type, new_type) between DateTime and UTCDateTime."""
    return (
        isinstance(diff, tuple)
        and diff[0] == "modify_type"
        and _is_datetime(diff[5])
        and _is_datetime(diff[6])
        and bool(getattr(diff[5], "timezone", True)) == bool(getattr(diff[6], "timezone", True))
    )


def differences(url: str) -> list[Any]:
    db = Database(url)
    try:

        def compare(conn: Connection) -> list[Any]:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True, "target_metadata": metadata}
            )
            flat: list[Any] = []
            for diff in compare_metadata(ctx, metadata):
                flat.extend(diff if isinstance(diff, list) else [diff])  # column changes come in lists
            return [d for d in flat if not _type_only_datetime(d)]

        return db.read(compare)
    finally:
        db.dispose()


def tables(url: str) -> set[str]:
    db = Database(url)
    try:
        return set(db.read(lambda c: inspect(c).get_table_names()))
    finally:
        db.dispose()


def current_revision(url: str) -> str | None:
    db = Database(url)
    try:
        return db.read(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        db.dispose()


def head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_upgrade_head_matches_the_metadata(db_url: str) -> None:
    assert current_revision(db_url) == head(db_url)
    assert tables(db_url) == {*metadata.tables, "alembic_version"}
    assert differences(db_url) == []


def test_every_index_and_unique_constraint_is_there(db_url: str) -> None:
    db = Database(db_url)
    try:

        def names(conn: Connection) -> tuple[set[str], set[str]]:
            insp = inspect(conn)
            indexes = {i["name"] for t in metadata.tables for i in insp.get_indexes(t) if i["name"]}
            uniques = {
                u["name"] for t in metadata.tables for u in insp.get_unique_constraints(t) if u["name"]
            }
            return indexes, uniques

        indexes, uniques = db.read(names)
    finally:
        db.dispose()
    expected_indexes = {str(i.name) for t in metadata.tables.values() for i in t.indexes}
    assert expected_indexes <= indexes | uniques  # some databases report unique indexes as constraints
    assert "ix_jobs_queue" in indexes


def test_downgrade_to_base_then_upgrade_head(db_url: str) -> None:
    prepared_at = datetime.now(UTC)
    db = Database(db_url)
    try:
        db.transaction(lambda c: config_store.put_object(c, "sources", "web", {"entities": []}, prepared_at))
    finally:
        db.dispose()

    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert tables(db_url) <= {"alembic_version"}  # every table of the schema is gone

    upgrade(db_url)
    assert current_revision(db_url) == head(db_url)
    assert tables(db_url) == {*metadata.tables, "alembic_version"}
    assert differences(db_url) == []
    db = Database(db_url)
    try:
        # the schema works again, and it starts empty
        assert db.read(config_store.load_objects) == {}
        db.transaction(lambda c: config_store.put_object(c, "sources", "web", {"entities": []}, prepared_at))
        row = db.read(lambda c: c.execute(select(metadata.tables["config_objects"])).one())
    finally:
        db.dispose()
    assert row.updated_at == prepared_at


def test_upgrade_head_twice_is_a_no_op(db_url: str) -> None:
    upgrade(db_url)
    assert current_revision(db_url) == head(db_url)
    assert differences(db_url) == []


BATCH_ATTEMPT = {
    "id": "bta_1",
    "batch_id": "bat_1",
    "number": 1,
    "started_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "duration_ms": 12.5,
    "outcome": "success",
    "location": "sftp://files.sunco.example/in/sunco.csv",
    "bytes": 420,
    "reason": None,
}
DELIVERY_ATTEMPT = {
    "id": "att_1",
    "delivery_id": "dlv_1",
    "job_id": "job_1",
    "number": 1,
    "started_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "duration_ms": 3.0,
    "request": {"url": "https://buyer.example/leads"},
    "status_code": 503,
    "response_body": "busy",
    "outcome": "error",
    "reason": "HTTP 503",
}


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        got = db.read(lambda c: list(c.execute(text(f"SELECT * FROM {table} ORDER BY id")).mappings()))
        return [dict(row) for row in got]
    finally:
        db.dispose()


def test_0008_moves_batch_attempts_into_the_one_attempts_table_and_back(db_url: str) -> None:
    downgrade(db_url, "0007")
    assert "batch_attempts" in tables(db_url)
    db = Database(db_url)
    try:
        old = MetaData()
        old.reflect(db.engine, only=["attempts", "batch_attempts"])
        db.transaction(lambda c: c.execute(old.tables["batch_attempts"].insert().values(BATCH_ATTEMPT)))
        db.transaction(lambda c: c.execute(old.tables["attempts"].insert().values(DELIVERY_ATTEMPT)))
    finally:
        db.dispose()

    upgrade(db_url)
    assert "batch_attempts" not in tables(db_url)
    assert differences(db_url) == []
    db = Database(db_url)
    try:
        one = db.read(lambda c: list(c.execute(select(attempts).order_by(attempts.c.number, attempts.c.id))))
    finally:
        db.dispose()
    moved = {row.id: row for row in one}
    assert set(moved) == {"bta_1", "att_1"}
    batch_row = moved["bta_1"]
    assert (batch_row.batch_id, batch_row.delivery_id, batch_row.job_id, batch_row.request) == (
        "bat_1",
        None,
        None,
        None,
    )
    assert (batch_row.location, batch_row.bytes, batch_row.outcome) == (
        BATCH_ATTEMPT["location"],
        420,
        "success",
    )
    assert batch_row.started_at == BATCH_ATTEMPT["started_at"]
    assert (moved["att_1"].batch_id, moved["att_1"].request) == (None, DELIVERY_ATTEMPT["request"])

    downgrade(db_url, "0007")
    back = _rows(db_url, "batch_attempts")
    assert [(r["id"], r["batch_id"], r["bytes"], r["location"]) for r in back] == [
        ("bta_1", "bat_1", 420, BATCH_ATTEMPT["location"])
    ]
    assert [r["id"] for r in _rows(db_url, "attempts")] == ["att_1"]
    assert "batch_id" not in _rows(db_url, "attempts")[0]
    upgrade(db_url)
    assert differences(db_url) == []


def test_an_attempt_is_a_leads_or_a_batchs_never_both(db_url: str) -> None:
    db = Database(db_url)
    try:
        both = {**DELIVERY_ATTEMPT, "batch_id": "bat_1"}
        with pytest.raises(IntegrityError):
            db.transaction(lambda c: c.execute(attempts.insert().values(both)))
        neither = {k: v for k, v in BATCH_ATTEMPT.items() if k != "batch_id"}
        with pytest.raises(IntegrityError):
            db.transaction(lambda c: c.execute(attempts.insert().values(neither)))
    finally:
        db.dispose()


def test_0014_keeps_source_keys_working_and_adds_partners_keys(db_url: str) -> None:
    """``api_keys.source`` becomes ``owner`` beside ``owner_kind``: every key stored before is a source's
    and still authenticates as it; a downgrade drops partners' keys and keeps sources'."""
    made = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    downgrade(db_url, "0013")
    db = Database(db_url)
    try:
        db.transaction(
            lambda c: c.execute(
                text(
                    "INSERT INTO api_keys (id, source, key_hash, prefix, created_at) "
                    "VALUES ('key_old', 'web', :digest, 'lr_old-k', :at)"
                ),
                {"digest": config_store.hash_secret("lr_old-key-from-0014"), "at": made},
            )
        )
    finally:
        db.dispose()

    upgrade(db_url)
    assert differences(db_url) == []
    db = Database(db_url)
    try:
        assert db.read(lambda c: config_store.source_for_key(c, "lr_old-key-from-0014")) == "web"
        found = db.read(lambda c: config_store.find_api_key(c, "lr_old-key-from-0014"))
        assert found is not None and (found.owner_kind, found.owner, found.id) == ("source", "web", "key_old")
        assert [r.id for r in db.read(lambda c: config_store.list_api_keys(c, "web"))] == ["key_old"]
        partner_key = "lrp_sunco-key-xxxxxxxx"
        db.transaction(
            lambda c: config_store.add_api_key(c, "sunco", partner_key, made, owner_kind="partner")
        )
        assert db.read(lambda c: config_store.source_for_key(c, partner_key)) is None  # never a source
        assert db.read(lambda c: config_store.list_api_keys(c, "sunco")) == []
        assert len(db.read(lambda c: config_store.list_api_keys(c, "sunco", owner_kind="partner"))) == 1
        with pytest.raises(IntegrityError):  # only sources and partners own keys
            db.transaction(
                lambda c: config_store.add_api_key(c, "x", "some-admin-key-xx", made, owner_kind="admin")
            )
    finally:
        db.dispose()

    downgrade(db_url, "0013")
    assert [(r["id"], r["source"]) for r in _rows(db_url, "api_keys")] == [("key_old", "web")]
    upgrade(db_url)
    assert differences(db_url) == []


@pytest.mark.postgres
def test_processes_upgrading_an_empty_database_at_once_all_succeed(pg_url: str) -> None:
    """API replicas starting together each run `serve`'s upgrade: on PostgreSQL one migrates and the
    others wait for it, then find the schema at the head (2 of 3 `db upgrade` processes failed on a
    duplicate type: black-box pass, 2026-12-06). Processes, as in production: Alembic's context is one per
    process, not per thread."""
    downgrade(pg_url, "base")
    env = {**os.environ, "LEADRELAY_DATABASE_URL": pg_url, "LEADRELAY_ENV_FILE": ""}
    runs = [
        subprocess.Popen(
            leadrelay_cmd("db", "upgrade"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [(run.wait(timeout=120), run.stderr.read().decode() if run.stderr else "") for run in runs]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert current_revision(pg_url) == head(pg_url)
    assert differences(pg_url) == []
