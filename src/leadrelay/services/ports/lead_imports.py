"""The console's CSV lead imports as stored (``lead_imports``): one row per import, its progress written
by the process that runs it and read by any process. A row has the table's columns: ``id``, ``owner``,
``actor``, ``filename``, ``sha256``, ``source``, ``entity``, ``state`` (``domain.imports.ImportState``),
``error``, ``total_bytes``, ``read_bytes``, ``rows_total``, ``rows_done``, ``rows_accepted``,
``rows_rejected``, ``rows_errors``, ``counts``, ``rejects`` (gzip bytes or None), ``created_at``,
``updated_at`` and ``finished_at``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from leadrelay.services.ports.records import Record


class LeadImports(Protocol):
    def lock_file(self, owner: str, sha256: str, source: str, entity: str) -> None:
        """Until the transaction ends, no other transaction starts an import of this file for this owner,
        source and entity (PostgreSQL: an advisory lock; SQLite's write transaction already serializes)."""
        ...

    def latest_of_file(self, owner: str, sha256: str, source: str, entity: str) -> Record | None:
        """The owner's most recent import of the file with this SHA-256 for this source and entity
        (without its rejects)."""
        ...

    def add_import(self, row: Mapping[str, Any]) -> None: ...

    def get_import(self, import_id: str) -> Record | None:
        """The import without its rejects (``rejects`` is None; ``has_rejects`` says whether it has)."""
        ...

    def import_rejects(self, import_id: str) -> bytes | None: ...

    def update_import(self, import_id: str, values: Mapping[str, Any], *, running_only: bool = True) -> bool:
        """Write ``values``; with ``running_only``, only while its state is running (an import taken for
        interrupted stays so). False when no row was written."""
        ...

    def forget_rejects(self, finished_before: datetime) -> int:
        """Drop the rejects files of imports finished before then (they hold the rows' plain values)."""
        ...
