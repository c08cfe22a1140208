"""Alembic environment: the metadata of leadrelay.adapters.db.schema (every table module) is the target."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from leadrelay.adapters.db.engine import make_engine
from leadrelay.adapters.db.schema import metadata

config = context.config


# PostgreSQL: one process migrates at a time (API replicas starting together each run `serve`'s upgrade);
# the others wait for its transaction, then find the schema at the head (SQLite's write lock does this)
_MIGRATION_LOCK = 7_263_510_001


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


run_migrations_online()
