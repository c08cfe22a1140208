"""The SQL of the console's CSV lead imports (``ports.lead_imports.LeadImports``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, literal, select, update

from leadrelay.adapters.db.console_tables import lead_imports
from leadrelay.adapters.db.dedup_store import lock_keys
from leadrelay.domain.imports import ImportState

_WITHOUT_REJECTS = (
    *(c for c in lead_imports.c if c.name != "rejects"),
    literal(None).label("rejects"),
    lead_imports.c.rejects.is_not(None).label("has_rejects"),
)


class SqlLeadImports:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lock_file(self, owner: str, sha256: str, source: str, entity: str) -> None:
        lock_keys(self._conn, [("lead-import", f"{owner}:{sha256}:{source}:{entity}")])

    def latest_of_file(self, owner: str, sha256: str, source: str, entity: str) -> Row[Any] | None:
        query = (
            select(*_WITHOUT_REJECTS)
            .where(
                lead_imports.c.owner == owner,
                lead_imports.c.sha256 == sha256,
                lead_imports.c.source == source,
                lead_imports.c.entity == entity,
            )
            .order_by(lead_imports.c.created_at.desc(), lead_imports.c.id.desc())
            .limit(1)
        )
        return self._conn.execute(query).first()

    def add_import(self, row: Mapping[str, Any]) -> None:
        self._conn.execute(lead_imports.insert().values(**row))

    def get_import(self, import_id: str) -> Row[Any] | None:
        return self._conn.execute(select(*_WITHOUT_REJECTS).where(lead_imports.c.id == import_id)).first()

    def import_rejects(self, import_id: str) -> bytes | None:
        found = self._conn.execute(select(lead_imports.c.rejects).where(lead_imports.c.id == import_id))
        value = found.scalar_one_or_none()
        return bytes(value) if value is not None else None

    def update_import(self, import_id: str, values: Mapping[str, Any], *, running_only: bool = True) -> bool:
        query = update(lead_imports).where(lead_imports.c.id == import_id)
        if running_only:
            query = query.where(lead_imports.c.state == ImportState.RUNNING)
        return self._conn.execute(query.values(**values)).rowcount == 1

    def forget_rejects(self, finished_before: datetime) -> int:
        done = self._conn.execute(
            update(lead_imports)
            .where(lead_imports.c.finished_at < finished_before, lead_imports.c.rejects.is_not(None))
            .values(rejects=None)
        )
        return int(done.rowcount)
