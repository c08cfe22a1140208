"""A CSV file of leads through intake: every row as a lead (``Intake.accept``), its progress readable while
it runs, and the rows refused written to a rejects stream with the reason of each.

``import_rows`` is the import itself (the CLI's ``leadrelay import`` and the console's,
``services.lead_import``). The caller gives the file's lines (bytes: ``bounded_lines`` reads them with a
bound on a line's length) and a text stream for the rejects; memory stays bounded: rows are read one at a
time, a line longer than ``MAX_LINE_BYTES`` is skipped without being held (its row is a reject: "line N is
longer than ..."), and at most ``IN_FLIGHT`` rows are pending (they share group-commit transactions).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from leadrelay.domain.imports import ImportState
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import LeadrelayError
from leadrelay.services.intake import Intake
from leadrelay.services.intake_answers import IntakeRequest

log = logging.getLogger("leadrelay.imports")

IN_FLIGHT = 256
# a physical line of the file longer than this (its line ending included) is not read into memory: its
# row is rejected. Well under the csv module's own field limit (128 KiB), which a quoted value spanning
# many lines can still reach: that ends the import as failed ("line N: field larger than field limit").
MAX_LINE_BYTES = 64 * 1024
READ_CHUNK = 1 << 16  # what is read of a file (or a rejects stream) at a time
_MARK = "\x00leadrelay-overlong-line\x00"  # stands for a skipped line in the text the csv reader reads


class Overlong(bytes):
    """Stands for a line longer than the bound among the lines: empty, with the line's ``size``, its
    ``shape`` (its double quotes and commas in order, each run of other bytes one U+FFFD: what the csv
    reader makes of the line's structure, opening and closing its quoted values as the line does), and,
    where even the shape passed the bound (None), how many double quotes it held."""

    size: int = 0
    quotes: int = 0
    shape: bytes | None = None


_LINE_END = re.compile(rb"\r\n|\r|\n")  # universal newlines: a carriage return alone ends a line too
_TEXT_RUN = re.compile(rb'[^",\r\n]+')
_PLACEHOLDER = "\ufffd".encode()


def bounded_lines(fh: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The file's lines (with their line endings: CRLF, LF, or a CR alone, as old spreadsheets wrote); a
    line longer than ``limit`` bytes comes as an ``Overlong`` (read through in chunks, never held whole)."""
    buf, eof = b"", False

    def line_end(data: bytes) -> re.Match[bytes] | None:
        """The first line ending in ``data``, unless it is a CR at its very end (a CRLF's first half?)."""
        m = _LINE_END.search(data)
        return None if m is None or (not eof and m.group() == b"\r" and m.end() == len(data)) else m

    while True:
        while not eof and line_end(buf) is None and len(buf) <= limit:
            chunk = fh.read(READ_CHUNK)
            eof = not chunk
            buf += chunk
        if not buf:
            return
        m = line_end(buf)
        if m is not None and m.end() <= limit:
            yield buf[: m.end()]
            buf = buf[m.end() :]
            continue
        if m is None and eof and len(buf) <= limit:  # the last line, without a line ending
            yield buf
            return
        skipped = Overlong()
        shape: bytearray | None = bytearray()
        while True:  # read through to the line's end, keeping its size, quotes and shape
            m = line_end(buf)
            cut = m.end() if m is not None else len(buf) - (0 if eof or not buf.endswith(b"\r") else 1)
            part, buf = buf[:cut], buf[cut:]
            skipped.size += len(part)
            skipped.quotes += part.count(b'"')
            if shape is not None:
                shape += _TEXT_RUN.sub(_PLACEHOLDER, part.rstrip(b"\r\n"))
                shape = shape if len(shape) <= limit else None
            if m is not None or eof:
                break
            chunk = fh.read(READ_CHUNK)
            eof = not chunk
            buf += chunk
        skipped.shape = bytes(shape) if shape is not None else None
        yield skipped


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
    accepted: int = 0  # rows stored as leads that were not rejected
    rejected: int = 0  # rows with problems, and rows intake refused outright (none of them accepted)
    errors: int = 0  # of which not stored at all (refused outright, or a fault), each in the rejects
    state: str = ImportState.RUNNING
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # per lead status

    @property
    def done(self) -> bool:
        return self.state != ImportState.RUNNING

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "entity": self.entity,
            "filename": self.filename,
            "state": str(self.state),
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


# a line's pieces for the csv reader: a carriage return alone ends a line too (as Python's universal
# newlines read a file, and old spreadsheets wrote one); inside a quoted value it stays in the value
_PIECES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_LINE_END_TEXT = re.compile(r"\r\n|\r|\n")


def _pieces(text: str) -> list[str]:
    if "\r" not in text or (text.count("\r") == 1 and text.endswith("\r\n")):
        return [text]
    return _PIECES.findall(text)


def _marked(text: str, number: int) -> str:
    """The line with the mark of line ``number`` before its line ending: it stays in whatever value the
    line ends in (a quoted one going on, or the row's last), and the line's quotes and commas are read as
    they are, so the rows after it are read as the file has them."""
    body = text.rstrip("\r\n")
    return f"{body}{_MARK}{number}{_MARK}{text[len(body) :]}"


def _unreadable(value: str) -> bool:
    """A value of a line not read as written (its mark, or what stands for bytes that are not UTF-8)."""
    return _MARK in value or "\ufffd" in value


def _skipped_line(value: Any) -> int | None:
    """The line number a skipped line's mark carries, when ``value`` (a cell or a list of them) has one."""
    values = value if isinstance(value, list) else [value]
    for text in values:
        if isinstance(text, str) and _MARK in text:
            number = text.split(_MARK)[1]
            return int(number) if number.isdigit() else 0
    return None


def _header_problem(names: Sequence[str] | None, fields: Collection[str], entity: str) -> str | None:
    """Why the header row cannot be the columns' names: a column without a name, a name given twice (the
    first column's values would be lost), or no name of the entity's fields at all (a file without its
    header: its first lead would be taken for one). None when it can."""
    if not names:
        return None
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        if not name.strip():
            return f"the header row's column {i} has no name"
        if name.strip() in seen:
            return f"the header row names {name.strip()!r} twice"
        seen.add(name.strip())
    if fields and seen.isdisjoint(fields):
        return f"the header row names none of entity {entity!r}'s fields: is the file's header row missing?"
    return None


async def import_rows(
    intake: Intake,
    progress: ImportProgress,
    lines: Iterable[bytes],
    rejects: IO[str],
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ImportProgress:
    """Import every row of the CSV ``lines`` (a header row first); a refused row goes to ``rejects``
    (``row``: its line in the file, the row's columns, ``errors``). A file without a header, or one the
    csv reader cannot read on (a quoted value never closed), ends the import as failed; an ``Overlong``
    line (``bounded_lines``) is a rejected row. ``max_line_bytes``: the bound the lines were read with
    (named in the reason)."""

    unread: dict[int, str] = {}  # line number -> why it was not read (its row is rejected)

    def decoded() -> Iterator[str]:
        number = 0  # the lines as the csv reader counts them (a lone carriage return ends one)
        for chunk in lines:
            if isinstance(chunk, Overlong):  # not held: its shape and mark, read as the line would be
                number += 1
                progress.read_bytes += chunk.size
                unread[number] = f"is longer than {max_line_bytes} bytes"
                if chunk.shape is not None:
                    yield _marked(chunk.shape.decode("utf-8") + "\n", number)
                else:  # a shape past the bound too: its quotes' parity, opening or closing a quoted value
                    yield ('"' if chunk.quotes % 2 else "") + f"{_MARK}{number}{_MARK}\n"
                continue
            progress.read_bytes += len(chunk)
            bad = None
            try:  # a value is never stored altered: a line that is not UTF-8 is a rejected row
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:  # read on as it is written (its ASCII quotes and commas)
                text, bad = chunk.decode("utf-8", "replace"), f"is not UTF-8 text (byte {exc.start + 1})"
            if number == 0:
                text = text.removeprefix("\ufeff")
            for piece in _pieces(text):
                number += 1
                if bad is not None:
                    unread[number] = bad
                    piece = _marked(piece, number)
                yield piece

    reader = csv.DictReader(decoded())
    try:
        names = reader.fieldnames
    except csv.Error as exc:
        names, progress.error = None, f"line 1: {exc}"
    problem = _header_problem(names, await intake.entity_fields(progress.entity), progress.entity)
    if names and (header_line := next((n for n in map(_skipped_line, names) if n is not None), None)):
        problem = f"the header row {unread.get(header_line, 'was not read')}"
    if problem is not None or not names:
        progress.state = ImportState.FAILED
        progress.error = progress.error or problem or "the file has no header row"
        return progress
    # the rows are read under the names the check read: "first_name, phone" names "phone", not " phone"
    names = reader.fieldnames = [name.strip() for name in names]
    out = csv.writer(rejects)
    out.writerow(["row", *names, "errors"])
    pending: set[asyncio.Task[None]] = set()

    def refuse(row_no: int, row: dict[str, str], why: str) -> None:
        progress.rejected += 1
        out.writerow([row_no, *(row.get(f, "") for f in names), why])

    async def one(row_no: int, row: dict[str, str]) -> None:
        values = {k: v for k, v in row.items() if v not in (None, "")}
        try:
            answer = await intake.accept(IntakeRequest(progress.source, progress.entity, values))
        except LeadrelayError as exc:
            progress.errors += 1
            refuse(row_no, row, exc.detail)
            return
        except Exception as exc:  # not stored (a fault): said in the rejects, never lost nor counted accepted
            log.exception("import %s: row %d was not stored", progress.id, row_no)
            progress.errors += 1
            refuse(row_no, row, f"not stored: internal error ({type(exc).__name__}; see the server log)")
            return
        progress.counts[answer.status] = progress.counts.get(answer.status, 0) + 1
        if answer.problems:
            refuse(row_no, row, "; ".join(f"{p.field}: {p.error}" for p in answer.problems))
        elif answer.status != LeadStatus.REJECTED:
            progress.accepted += 1

    try:
        for row in reader:
            progress.rows += 1
            skipped = [n for v in row.values() if (n := _skipped_line(v)) is not None]
            if skipped:  # not read: refused before intake, the row's other values kept in the rejects
                progress.errors += 1
                kept = {k: v for k, v in row.items() if isinstance(v, str) and not _unreadable(v)}
                refuse(skipped[0], kept, f"line {skipped[0]} {unread.get(skipped[0], 'was')}: not read")
                continue
            extra = row.pop(None, None)
            # the line the row starts on: the reader counts the lines read, a quoted value's too
            first = reader.line_num - sum(
                len(_LINE_END_TEXT.findall(v)) for v in [*row.values(), *(extra or ())] if isinstance(v, str)
            )
            if extra:  # a value past the header's columns (an unquoted comma?): nothing is dropped unsaid
                progress.errors += 1
                refuse(first, row, f"{len(extra)} more value(s) than the header's {len(names)} columns")
                continue
            task = asyncio.create_task(one(first, row))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if len(pending) >= IN_FLIGHT:
                await asyncio.wait(set(pending), return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0)  # let the intake and the progress polls in
        if pending:
            await asyncio.wait(set(pending))
    except Exception as exc:  # the file could not be read on: say so on the page
        if pending:
            await asyncio.wait(set(pending))
        where = f"line {reader.line_num}: " if isinstance(exc, csv.Error) else ""
        progress.state, progress.error = ImportState.FAILED, where + (str(exc) or type(exc).__name__)
        return progress
    progress.read_bytes = progress.total_bytes
    progress.state = ImportState.DONE
    return progress


# ---------------------------------------------------------------- the console's imports, stored
