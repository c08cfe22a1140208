"""The whole schema, one for SQLite and PostgreSQL (SQLAlchemy Core metadata; Alembic's target): every
table module's tables, registered on one ``metadata``."""

from __future__ import annotations

# imported for what importing them does: each registers its tables on ``metadata``
from leadrelay.adapters.db import console_tables, money_tables, privacy_tables, tables  # noqa: F401
from leadrelay.adapters.db.schema_base import metadata

__all__ = ["metadata"]
