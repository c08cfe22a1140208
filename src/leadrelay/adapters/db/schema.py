"""The whole schema, one for SQLite and PostgreSQL (SQLAlchemy Core metadata; Alembic's target): every
table module's tables, registered on one ``metadata``."""

from __future__ import annotations

from leadrelay.adapters.db import console_tables, money_tables, privacy_tables, tables
from leadrelay.adapters.db.schema_base import metadata

__all__ = ["metadata"]

TABLE_MODULES = (tables, privacy_tables, money_tables, console_tables)  # each registers its tables on import
