"""CSV import: stream rows (any file size) through intake, with a Rich progress bar and a rejects file.
The rows go through ``services.csv_leads.import_rows``, as the console's import does."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from leadrelay.bootstrap import Runtime
from leadrelay.domain.imports import ImportState
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import LeadrelayError
from leadrelay.services.csv_leads import ImportProgress, bounded_lines, import_rows


async def run_import(
    rt: Runtime, file: Path, entity: str, source: str, rejects: Path, out: Console
) -> Counter[str]:
    """Import every row; a rejected row goes to ``rejects`` with its reasons. Memory stays bounded:
    rows are read one at a time (a line longer than ``csv_leads.MAX_LINE_BYTES`` is skipped unread: its
    row is rejected) and at most ``csv_leads.IN_FLIGHT`` are pending."""
    live = await rt.configs.get(rt.storage)
    if source not in live.specs.sources:
        raise LeadrelayError(f"--source: no source named {source!r}")
    if entity not in live.specs.entities:
        raise LeadrelayError(f"--entity: no entity named {entity!r}")
    size = file.stat().st_size
    progress = ImportProgress("cli", source, entity, file.name, size)

    def lines() -> Iterator[bytes]:
        with file.open("rb") as fh:
            yield from bounded_lines(fh)  # a line past csv_leads.MAX_LINE_BYTES: a rejected row

    try:
        rej_fh = rejects.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise LeadrelayError(f"--rejects: cannot write {rejects}: {exc.strerror}") from exc
    with (
        rej_fh,
        Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("bytes"),
            TimeRemainingColumn(),
            console=out,
        ) as bar,
    ):
        task = bar.add_task("import", total=size)
        job = asyncio.create_task(import_rows(rt.intake, progress, lines(), rej_fh))
        while not job.done():
            await asyncio.wait({job}, timeout=0.2)
            bar.update(task, completed=progress.read_bytes)
        job.result()
    if progress.state == ImportState.FAILED:
        if not progress.rows:
            rejects.unlink(missing_ok=True)
            raise LeadrelayError(f"{file}: {progress.error}")
        # the rows before the line it could not read on are imported: said, and their rejects kept
        kept = f"; their rejected rows: {rejects}" if progress.rejected else ""
        if not progress.rejected:
            rejects.unlink(missing_ok=True)
        raise LeadrelayError(
            f"{file}: {progress.error}; the {progress.rows} rows before it were imported "
            f"({progress.accepted} accepted, {progress.rejected} rejected){kept}"
        )
    counts: Counter[str] = Counter(progress.counts)
    if progress.errors:
        counts["errors"] = progress.errors
    # counted as each row's lead was stored: a row that was neither stored nor refused would show as a
    # shortfall here, never as accepted
    total, accepted, rejected = progress.rows, progress.accepted, counts[LeadStatus.REJECTED]
    out.print(
        f"imported {total} rows: {accepted} accepted, {rejected} rejected"
        + (f", {progress.errors} errors" if progress.errors else "")
    )
    if progress.rejected:
        out.print(f"rejected rows with reasons: {rejects}")
    else:
        rejects.unlink(missing_ok=True)
    return counts
