"""CSV import: stream rows (any file size) through intake, with a Rich progress bar and a rejects file."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from leadrelay.bootstrap import Runtime
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import LeadrelayError
from leadrelay.services.intake import IntakeRequest

_IN_FLIGHT = 256  # rows being accepted at once: they share group-commit transactions


async def run_import(
    rt: Runtime, file: Path, entity: str, source: str, rejects: Path, out: Console
) -> Counter[str]:
    """Import every row; a rejected row goes to ``rejects`` with its reasons. Memory stays bounded:
    rows are read one at a time and at most ``_IN_FLIGHT`` are pending."""
    live = await rt.configs.get(rt.storage)
    if source not in live.specs.sources:
        raise LeadrelayError(f"--source: no source named {source!r}")
    if entity not in live.specs.entities:
        raise LeadrelayError(f"--entity: no entity named {entity!r}")
    counts: Counter[str] = Counter()
    size = file.stat().st_size
    consumed = 0

    def lines(raw: BinaryIO) -> Iterator[str]:
        """Decoded lines, counting bytes read for the progress bar (text files cannot tell() mid-loop)."""
        nonlocal consumed
        for number, chunk in enumerate(raw):
            consumed += len(chunk)
            text = chunk.decode("utf-8", errors="replace")
            yield text.removeprefix("\ufeff") if number == 0 else text

    with (
        file.open("rb") as fh,
        rejects.open("w", newline="", encoding="utf-8") as rej_fh,
        Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bytes"),
            TimeRemainingColumn(),
            console=out,
        ) as progress,
    ):
        reader = csv.DictReader(lines(fh))
        if not reader.fieldnames:
            raise LeadrelayError(f"{file}: no header row")
        rej = csv.writer(rej_fh)
        rej.writerow(["row", *reader.fieldnames, "errors"])
        task = progress.add_task("import", total=size)
        pending: set[asyncio.Task[None]] = set()

        async def one(row_no: int, row: dict[str, str]) -> None:
            values = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
            try:
                answer = await rt.intake.accept(IntakeRequest(source, entity, values))
            except LeadrelayError as exc:
                counts["errors"] += 1
                rej.writerow([row_no, *(row.get(f, "") for f in reader.fieldnames or []), exc.detail])
                return
            counts[answer.status] += 1
            if answer.problems:
                reasons = "; ".join(f"{p.field}: {p.error}" for p in answer.problems)
                rej.writerow([row_no, *(row.get(f, "") for f in reader.fieldnames or []), reasons])

        for row_no, row in enumerate(reader, start=2):
            task_ = asyncio.create_task(one(row_no, row))
            pending.add(task_)
            task_.add_done_callback(pending.discard)
            if len(pending) >= _IN_FLIGHT:
                await asyncio.wait(set(pending), return_when=asyncio.FIRST_COMPLETED)
                progress.update(task, completed=consumed)
        if pending:
            await asyncio.wait(set(pending))
        progress.update(task, completed=size)
    total = sum(counts.values())
    rejected = counts[LeadStatus.REJECTED]
    accepted = total - rejected - counts["errors"]
    out.print(
        f"imported {total} rows: {accepted} accepted, {rejected} rejected"
        + (f", {counts['errors']} errors" if counts["errors"] else "")
    )
    if rejected or counts["errors"]:
        out.print(f"rejected rows with reasons: {rejects}")
    else:
        rejects.unlink(missing_ok=True)
    return counts
