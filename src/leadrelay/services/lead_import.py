"""A CSV import of leads started from the console: every row through intake (``Intake.accept``, as
``leadrelay import`` does), its progress readable while it runs, and the rows refused written to a rejects
file with the reason of each.

The caller gives the file's lines (bytes) and a text stream for the rejects; memory stays bounded: rows
are read one at a time and at most ``IN_FLIGHT`` are pending (they share group-commit transactions).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from leadrelay.domain.states import LeadStatus
from leadrelay.errors import LeadrelayError
from leadrelay.services.intake import Intake, IntakeRequest

IN_FLIGHT = 256


@dataclass
class ImportProgress:
    """What the console's progress bar polls."""

    id: str
    source: str
    entity: str
    filename: str
    total_bytes: int
    read_bytes: int = 0
    rows: int = 0
    accepted: int = 0
    rejected: int = 0  # rows with problems, and rows intake refused outright
    errors: int = 0  # of which refused outright (an error, not a rejected lead)
    state: str = "running"  # running | done | failed
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # per lead status

    @property
    def done(self) -> bool:
        return self.state != "running"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "entity": self.entity,
            "filename": self.filename,
            "state": self.state,
            "error": self.error,
            "total_bytes": self.total_bytes,
            "read_bytes": self.read_bytes,
            "percent": 100 if self.done else int(100 * self.read_bytes / max(self.total_bytes, 1)),
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "counts": dict(self.counts),
        }


async def import_rows(
    intake: Intake, progress: ImportProgress, lines: Iterable[bytes], rejects: IO[str]
) -> ImportProgress:
    """Import every row of the CSV ``lines`` (a header row first); a refused row goes to ``rejects``
    (``row``, the row's columns, ``errors``). A file without a header ends the import as failed."""

    def decoded() -> Iterator[str]:
        for number, chunk in enumerate(lines):
            progress.read_bytes += len(chunk)
            text = chunk.decode("utf-8", errors="replace")
            yield text.removeprefix("\ufeff") if number == 0 else text

    reader = csv.DictReader(decoded())
    names = reader.fieldnames
    if not names:
        progress.state, progress.error = "failed", "the file has no header row"
        return progress
    out = csv.writer(rejects)
    out.writerow(["row", *names, "errors"])
    pending: set[asyncio.Task[None]] = set()

    def refuse(row_no: int, row: dict[str, str], why: str) -> None:
        progress.rejected += 1
        out.writerow([row_no, *(row.get(f, "") for f in names), why])

    async def one(row_no: int, row: dict[str, str]) -> None:
        values = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        try:
            answer = await intake.accept(IntakeRequest(progress.source, progress.entity, values))
        except LeadrelayError as exc:
            progress.errors += 1
            refuse(row_no, row, exc.detail)
            return
        progress.counts[answer.status] = progress.counts.get(answer.status, 0) + 1
        if answer.problems:
            refuse(row_no, row, "; ".join(f"{p.field}: {p.error}" for p in answer.problems))
        elif answer.status != LeadStatus.REJECTED:
            progress.accepted += 1

    try:
        for row_no, row in enumerate(reader, start=2):
            progress.rows += 1
            task = asyncio.create_task(one(row_no, row))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if len(pending) >= IN_FLIGHT:
                await asyncio.wait(set(pending), return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0)  # let the intake and the progress polls in
        if pending:
            await asyncio.wait(set(pending))
    except Exception as exc:  # the file could not be read on: say so on the page
        progress.state, progress.error = "failed", str(exc) or type(exc).__name__
        return progress
    progress.read_bytes = progress.total_bytes
    progress.state = "done"
    return progress
