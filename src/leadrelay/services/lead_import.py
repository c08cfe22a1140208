"""The console's CSV imports of leads (``ConsoleImports``), kept in the database (``ports.LeadImports``): the
rows go through ``services.csv_leads.import_rows`` (the CLI's import too); the process that runs one
writes its progress every ``heartbeat`` seconds, so any process shows it; one not heard of for
``imports.STALE_AFTER`` is taken for interrupted when read; the same file posted again by the same user is
answered with the earlier import (``imports.reuses``); a finished import is audited (``lead.import``), and
its rejected rows are kept as a file with the reason of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from leadrelay.domain.imports import KEPT_FOR, STALE_AFTER, Earlier, ImportState, interrupted, reuses
from leadrelay.services.csv_leads import READ_CHUNK, ImportProgress, import_rows
from leadrelay.services.intake import Intake
from leadrelay.services.ports import (
    Clock,
    IdSource,
    Record,
    Sealer,
    Storage,
    Tx,
    system_clock,
    system_ids,
)


def _packed(rejects: IO[str]) -> bytes:
    """The rejects stream's text, gzipped chunk by chunk (the plain text is never held whole)."""
    rejects.flush()
    rejects.seek(0)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as packer:
        while chunk := rejects.read(READ_CHUNK):
            packer.write(chunk.encode("utf-8"))
    return out.getvalue()


def view_of(row: Record, *, reused: bool = False) -> dict[str, Any]:
    """An import's stored row as the console shows it (``ImportProgress.as_dict``'s keys, and whether it
    was started before and answers a post of the same file again: ``reused``)."""
    running = row.state == ImportState.RUNNING
    return {
        "id": row.id,
        "source": row.source,
        "entity": row.entity,
        "filename": row.filename,
        "state": str(row.state),
        "error": row.error,
        "total_bytes": int(row.total_bytes),
        "read_bytes": int(row.read_bytes),
        "percent": int(100 * row.read_bytes / max(row.total_bytes, 1)) if running else 100,
        "rows": int(row.rows_done),
        "accepted": int(row.rows_accepted),
        "rejected": int(row.rows_rejected),
        "errors": int(row.rows_errors),
        "counts": dict(row.counts or {}),
        "has_rejects": bool(getattr(row, "has_rejects", False)),
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "reused": reused,
    }


def _progress_values(progress: ImportProgress, now: datetime) -> dict[str, Any]:
    return {
        "read_bytes": progress.read_bytes,
        "rows_done": progress.rows,
        "rows_accepted": progress.accepted,
        "rows_rejected": progress.rejected,
        "rows_errors": progress.errors,
        "counts": {str(status): n for status, n in progress.counts.items()},
        "updated_at": now,
    }


def _audit(tx: Tx, row: Record, now: datetime, state: str, **detail: Any) -> None:
    tx.config.audit(
        actor=row.actor,
        action="lead.import",
        object_kind="lead_import",
        object_id=row.id,
        at=now,
        detail={
            "filename": row.filename,
            "sha256": row.sha256,
            "source": row.source,
            "entity": row.entity,
            "state": state,
            **detail,
        },
    )


_PLAIN, _SEALED = b"z", b"s"  # the stored rejects: gzip as is, or a sealed token of it
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Started:
    """``ConsoleImports.begin``'s answer: the import (``view_of``), and whether it is an earlier one of
    the same file (then nothing is to be imported)."""

    view: dict[str, Any]
    reused: bool


class ConsoleImports:
    """The console's CSV imports, stored: started (or found again), run with a heartbeat, read by their
    owner from any process."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
        heartbeat: float = 0.5,
        stale_after: timedelta = STALE_AFTER,
        sealer: Sealer | None = None,
    ) -> None:
        self.storage = storage
        self.sealer = sealer  # with a secret key, the rejects (personal data) are stored sealed
        self.clock = clock
        self.ids = ids
        self.heartbeat = heartbeat
        self.stale_after = stale_after

    def _checked(self, tx: Tx, row: Record, now: datetime) -> Record:
        """The row, marked interrupted (and audited) first when its heartbeat is too old."""
        if not interrupted(row.state, row.updated_at, now, self.stale_after):
            return row
        why = f"interrupted: no progress from the process running it since {row.updated_at.isoformat()}"
        values = {"state": ImportState.INTERRUPTED, "error": why, "finished_at": now}
        if tx.lead_imports.update_import(row.id, values, running_only=True):
            _audit(
                tx,
                row,
                now,
                ImportState.INTERRUPTED,
                rows=row.rows_done,
                accepted=row.rows_accepted,
                rejected=row.rows_rejected,
            )
        return tx.lead_imports.get_import(row.id)

    async def begin(
        self,
        *,
        owner: str,
        actor: str,
        filename: str,
        sha256: str,
        source: str,
        entity: str,
        total_bytes: int,
    ) -> Started:
        """A new running import of the file, or the owner's earlier import of the same file (same
        SHA-256) to the same source and entity when it is running or finished (not failed) within
        ``imports.REUSE_WITHIN``."""

        def work(tx: Tx) -> Started:
            tx.lead_imports.lock_file(owner, sha256, source, entity)
            now = self.clock()
            earlier = tx.lead_imports.latest_of_file(owner, sha256, source, entity)
            if earlier is not None:
                earlier = self._checked(tx, earlier, now)
                if reuses(Earlier(earlier.state, earlier.updated_at, earlier.finished_at), now):
                    return Started(view_of(earlier, reused=True), True)
            import_id = self.ids("imp")
            tx.lead_imports.add_import(
                {
                    "id": import_id,
                    "owner": owner,
                    "actor": actor,
                    "filename": filename[:255],
                    "sha256": sha256,
                    "source": source,
                    "entity": entity,
                    "state": ImportState.RUNNING,
                    "total_bytes": total_bytes,
                    "read_bytes": 0,
                    "rows_done": 0,
                    "rows_accepted": 0,
                    "rows_rejected": 0,
                    "rows_errors": 0,
                    "counts": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return Started(view_of(tx.lead_imports.get_import(import_id)), False)

        return await self.storage.run(work)

    async def save(self, progress: ImportProgress) -> bool:
        """Write the progress (the heartbeat); False when the import is no longer running."""
        values = _progress_values(progress, self.clock())
        return await self.storage.run(
            lambda tx: tx.lead_imports.update_import(progress.id, values, running_only=True), quick=True
        )

    async def finish(self, progress: ImportProgress, rejects: bytes | None, *, packed: bool = False) -> None:
        """Write its end (state, counts, the rejects file gzipped when there are rejected rows; ``packed``:
        ``rejects`` is gzipped already) and audit it: who, the file, the rows accepted and rejected. An
        import taken for interrupted meanwhile (its heartbeat stalled) ends as it really did."""
        now = self.clock()
        if rejects and not packed:
            rejects = gzip.compress(rejects)
        if rejects:
            rejects = await self._stored(progress.id, rejects)
        values = {
            **_progress_values(progress, now),
            "state": progress.state,
            "error": progress.error,
            "rows_total": progress.rows,
            "finished_at": now,
            "rejects": rejects if rejects and progress.rejected else None,
        }

        def work(tx: Tx) -> None:
            tx.lead_imports.update_import(progress.id, values, running_only=False)
            row = tx.lead_imports.get_import(progress.id)
            if row is not None:
                _audit(
                    tx,
                    row,
                    now,
                    progress.state,
                    rows=progress.rows,
                    accepted=progress.accepted,
                    rejected=progress.rejected,
                    errors=progress.errors,
                    **({"error": progress.error} if progress.error else {}),
                )

        await self.storage.run(work)

    async def run(
        self, intake: Intake, progress: ImportProgress, lines: Iterable[bytes], rejects: IO[str]
    ) -> ImportProgress:
        """``import_rows`` with the progress written every ``heartbeat`` seconds, then ``finish``.
        ``rejects`` must be readable too (``w+``): its text is stored when the import ends."""
        job = asyncio.create_task(import_rows(intake, progress, lines, rejects))
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=self.heartbeat)
                if not job.done():
                    with contextlib.suppress(Exception):  # a missed heartbeat is not the import's end
                        await self.save(progress)
            job.result()
        except Exception as exc:
            progress.state, progress.error = ImportState.FAILED, str(exc) or type(exc).__name__
        await self.finish(progress, _packed(rejects) if progress.rejected else None, packed=True)
        return progress

    async def view(self, import_id: str, owner: str) -> dict[str, Any] | None:
        """The import if ``owner`` started it (to anyone else it does not exist); a running one whose
        heartbeat is too old is marked interrupted first."""
        row = await self.storage.run_read(lambda tx: tx.lead_imports.get_import(import_id))
        if row is None or row.owner != owner:
            return None
        if interrupted(row.state, row.updated_at, self.clock(), self.stale_after):
            row = await self.storage.run(lambda tx: self._checked(tx, row, self.clock()))
        return view_of(row)

    async def rejects(self, import_id: str, owner: str) -> bytes | None:
        """The finished import's rejects file (CSV) if ``owner`` started it and it has one."""

        def read(tx: Tx) -> bytes | None:
            row = tx.lead_imports.get_import(import_id)
            if row is None or row.owner != owner or row.state == ImportState.RUNNING:
                return None
            return tx.lead_imports.import_rejects(import_id)

        stored = await self.storage.run_read(read)
        return gzip.decompress(await self._unsealed(import_id, stored)) if stored is not None else None

    async def _stored(self, import_id: str, packed: bytes) -> bytes:
        """The gzipped rejects as stored: sealed under the installation's data keys when it has a secret
        (they hold the rows' values, sensitive ones too, as sent: the same care as a lead's), bound to
        the import's id; marked so that reading knows which."""
        if self.sealer is None or not self.sealer.available:
            return _PLAIN + packed
        ring = await self.sealer.ring()
        return _SEALED + ring.seal(packed, import_id.encode()).encode()

    async def _unsealed(self, import_id: str, stored: bytes) -> bytes:
        mark, body = stored[:1], stored[1:]
        if stored[:2] == _GZIP_MAGIC:  # stored before the mark existed (the day after an upgrade)
            return stored
        if mark == _PLAIN:
            return body
        if mark != _SEALED or self.sealer is None:
            raise ValueError(f"import {import_id}: rejects stored in an unknown form")
        token = body.decode()
        ring = await self.sealer.ring(token)
        return ring.open(token, import_id.encode())

    async def forget_old(self) -> int:
        """Drop the rejects files of imports finished more than ``imports.KEPT_FOR`` ago."""
        before = self.clock() - KEPT_FOR
        return await self.storage.run(lambda tx: tx.lead_imports.forget_rejects(before), background=True)
