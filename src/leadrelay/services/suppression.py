"""Suppression lists: create, delete (refused while configuration uses the list), entries, checks.

The API's methods are async and run their transactions through ``Storage.run``; parsing a batch of values
runs in a thread, off the event loop (10,000 phone numbers take a while). ``import_file`` is sync, for the
CLI: it streams a file of any size in chunks, each chunk one transaction, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from leadrelay.configuration.schema import NAME_RE, NAME_RULE, unknown
from leadrelay.domain.suppression import (
    KINDS,
    BadValue,
    ListRow,
    check_hashes,
    data_rows,
    entry_of,
    file_layout,
    hash_values,
    referring_objects,
)
from leadrelay.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from leadrelay.services.ports import Clock, Storage, Tx, system_clock
from leadrelay.services.ports import SuppressionLists as ListStore

OBJECT_KIND = "suppression_list"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What adding or removing a batch did: entries changed, entries already so, values refused."""

    changed: int
    unchanged: int
    invalid: list[BadValue]

    def counts(self) -> dict[str, int]:
        return {"changed": self.changed, "unchanged": self.unchanged, "invalid": len(self.invalid)}


def check_new_list(name: Any, kind: Any) -> None:
    """A bad name or kind, with the field it is in (the same name rule as configuration objects)."""
    problems = []
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(FieldProblem("name", f"invalid name {name!r}: {NAME_RULE}"))
    if kind not in KINDS:
        problems.append(FieldProblem("kind", unknown("kind", kind, KINDS) + f" (one of: {', '.join(KINDS)})"))
    if problems:
        raise ValidationFailed(problems, "; ".join(f"{p.field}: {p.error}" for p in problems))


def require_list(tx: Tx, name: str, *, lock: bool = False, count: bool = True) -> ListRow:
    row = tx.suppression.get_list(name, lock=lock, count=count)
    if row is None:
        raise NotFound(f"no suppression list named {name!r}")
    return row


def audit(tx: Tx, actor: str, action: str, name: str, *, clock: Clock = system_clock, **detail: Any) -> None:
    """Like every admin change; the detail holds counts, never a value (the lists are personal data)."""
    tx.config.audit(
        actor=actor,
        action=action,
        object_kind=OBJECT_KIND,
        object_id=name,
        at=clock(),
        detail=detail,
    )


def create_list_tx(
    tx: Tx, name: str, kind: str, description: str | None, actor: str, *, clock: Clock = system_clock
) -> None:
    """Create the list in this transaction (audited); ``Conflict`` when the name is taken."""
    check_new_list(name, kind)
    existing = tx.suppression.get_list(name, count=False)
    if existing is not None:
        raise Conflict(f"a suppression list named {name!r} exists already (kind {existing.kind})")
    tx.suppression.create_list(name, kind, description, clock())
    audit(tx, actor, "suppression.list_created", name, clock=clock, kind=kind, description=description)


class SuppressionLists:
    """What the admin API does with lists; every change writes an ``audit_log`` row in its transaction."""

    def __init__(self, storage: Storage, *, clock: Clock = system_clock) -> None:
        self.storage = storage
        self.clock = clock

    async def create(self, name: str, kind: str, description: str | None, *, actor: str) -> ListRow:
        check_new_list(name, kind)

        def create(tx: Tx) -> ListRow:
            create_list_tx(tx, name, kind, description, actor, clock=self.clock)
            return require_list(tx, name)

        return await self.storage.run(create)

    async def delete(self, name: str, *, actor: str) -> int:
        """Delete a list and its entries; refused (``Conflict``) while a configuration object names it.

        The references are read from the stored documents in the same transaction as the delete, under
        the configuration's lock (as every change of it takes first), so the answer is about the
        configuration of that moment, and no change naming the list can commit in between."""

        def delete(tx: Tx) -> int:
            tx.config.lock_config()  # before the list's row: the order every configuration change takes
            row = require_list(tx, name, lock=True, count=False)
            users = referring_objects(tx.config.load_objects(), name)
            if users:
                raise Conflict(
                    f"suppression list {name!r} is used by {', '.join(users)}; "
                    "remove it from their 'suppression' first"
                )
            removed = tx.suppression.delete_list(name)
            audit(
                tx, actor, "suppression.list_deleted", name, clock=self.clock, kind=row.kind, entries=removed
            )
            return removed

        return await self.storage.run(delete)

    async def lists(self) -> list[ListRow]:
        return await self.storage.run_read(lambda tx: tx.suppression.lists())

    async def show(self, name: str, *, count: bool = True) -> ListRow:
        return await self.storage.run_read(lambda tx: require_list(tx, name, count=count))

    async def add(self, name: str, values: Sequence[Any], *, hashed: bool, actor: str) -> Outcome:
        """Add values (or hashes); ``changed`` = added, ``unchanged`` = already present."""
        return await self._change(
            name, values, hashed, actor, lambda lists, n, h: lists.add_hashes(n, h), "added"
        )

    async def remove(self, name: str, values: Sequence[Any], *, hashed: bool, actor: str) -> Outcome:
        """Remove values (or hashes); ``changed`` = removed, ``unchanged`` = not on the list."""
        return await self._change(
            name, values, hashed, actor, lambda lists, n, h: lists.remove_hashes(n, h), "removed"
        )

    async def _change(
        self,
        name: str,
        values: Sequence[Any],
        hashed: bool,
        actor: str,
        write: Callable[[ListStore, str, list[str]], int],
        verb: str,
    ) -> Outcome:
        row = await self.show(name, count=False)
        hashes, invalid = await asyncio.to_thread(hash_values, row.kind, values, hashed=hashed)

        def change(tx: Tx) -> Outcome:
            require_list(tx, name, lock=True, count=False)
            changed = write(tx.suppression, name, hashes)
            outcome = Outcome(changed, len(hashes) - changed, invalid)
            detail = {"given": "hashes" if hashed else "values", **outcome.counts()}
            audit(tx, actor, f"suppression.entries_{verb}", name, clock=self.clock, **detail)
            return outcome

        return await self.storage.run(change)

    async def check(self, name: str, value: str) -> bool:
        """Whether ``value`` is on the list; ``ValidationFailed`` (field ``value``) when it is not a valid
        value of the list's kind."""
        row = await self.show(name, count=False)
        hashes, error = check_hashes(row.kind, value)
        if not hashes:
            raise ValidationFailed([FieldProblem("value", error or "invalid")], f"not a valid {row.kind}")
        found = await self.storage.run_read(lambda tx: tx.suppression.listed([name], hashes))
        return bool(found)


# ---------------------------------------------------------------- importing a file

IMPORT_CHUNK = 50_000
"""Rows per transaction: large enough that commits cost little, small enough to bound memory (two
chunks of hashes, ~12 MB). The hashes are random, so on SQLite a chunk's rows land on pages all over the
primary key's index and every page touched is written again at commit: 50,000 rows a chunk write a
million in about half the time of 10,000 (fewer rewrites of the same pages), 100,000 gain much less."""
MAX_EXAMPLES = 20


@dataclass
class ImportReport:
    list_name: str
    kind: str = ""
    created: bool = False
    header: str | None = None  # the header cell of the column read, when the file has a header row
    total: int = 0  # rows with a value
    added: int = 0
    already_present: int = 0
    invalid: int = 0
    blank: int = 0
    examples: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, why), the first few


class _Lines:
    """A binary file's lines, decoded, counting the bytes read (for a progress bar by bytes)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.consumed = 0

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.fh):
            self.consumed += len(raw)
            text = raw.decode("utf-8", errors="replace")
            yield text.removeprefix("\ufeff") if number == 0 else text


def import_file(
    storage: Storage,
    path: Path,
    list_name: str,
    *,
    column: str | None = None,
    hashed: bool = False,
    kind: str | None = None,
    description: str | None = None,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
    clock: Clock = system_clock,
) -> ImportReport:
    """Import a file into a list (created when missing if ``kind`` is given): one value per line, or one
    column of a CSV (``column`` by its header, else the first); ``hashed``: the values are SHA-256 hashes.

    Rows are read one at a time and written ``IMPORT_CHUNK`` at a time, each chunk in its own (relaxed)
    transaction: an interrupted import keeps what it wrote, and running it again is safe (entries already
    there count as already present). ``progress`` gets the bytes read so far after each chunk.
    """
    if kind is not None and kind not in KINDS:
        check_new_list(list_name, kind)
    if not path.is_file():
        raise NotFound(f"no such file: {path}")
    existing = storage.read(lambda tx: tx.suppression.get_list(list_name, count=False))
    if existing is None and kind is None:
        raise NotFound(f"no suppression list named {list_name!r}; give --kind to create it")
    if existing is not None and kind is not None and existing.kind != kind:
        raise Conflict(f"suppression list {list_name!r} holds {existing.kind} values, not {kind}")
    report = ImportReport(list_name, existing.kind if existing else str(kind))
    with path.open("rb") as fh:
        lines = _Lines(fh)
        iterator = iter(lines)
        first = next(iterator, "")
        try:
            layout = file_layout(first, column, report.kind, hashed=hashed)
        except ValueError as exc:
            raise ValidationFailed([FieldProblem("column", str(exc))], f"--column: {exc}") from exc
        report.header = layout.header
        if existing is None:
            storage.transaction(
                lambda tx: create_list_tx(tx, list_name, report.kind, description, actor, clock=clock)
            )
            report.created = True
        rows = data_rows(itertools.chain([first], iterator), layout)
        try:
            _stream(storage, report, rows, hashed, lambda: progress(lines.consumed) if progress else None)
        finally:
            if report.total or report.blank:  # what was written, even when interrupted
                detail = {k: getattr(report, k) for k in ("total", "added", "already_present", "invalid")}
                storage.transaction(
                    lambda tx: audit(
                        tx, actor, "suppression.imported", list_name, clock=clock, file=path.name, **detail
                    )
                )
    return report


def _stream(
    storage: Storage,
    report: ImportReport,
    rows: Iterable[tuple[int, str]],
    hashed: bool,
    tick: Callable[[], Any],
) -> None:
    """Parse rows here while the previous chunk is written in a thread (SQLite and psycopg release the
    GIL while they work): at most two chunks are in memory, one filling and one being written."""
    chunk: list[str] = []
    writing: Future[tuple[int, int]] | None = None

    def write(hashes: list[str]) -> tuple[int, int]:
        def add(tx: Tx) -> int:
            require_list(tx, report.list_name, lock=True, count=False)
            return tx.suppression.add_hashes(report.list_name, hashes)

        return len(hashes), storage.transaction(add, relaxed=True)

    def settle() -> None:
        nonlocal writing
        if writing is not None:
            done, writing = writing, None
            written, added = done.result()
            report.added += added
            report.already_present += written - added
            tick()

    with ThreadPoolExecutor(1, thread_name_prefix="leadrelay-import") as writer:
        try:
            for number, cell in rows:
                if not cell:
                    report.blank += 1
                    continue
                report.total += 1
                digest, error = entry_of(report.kind, cell, hashed=hashed)
                if digest is None:
                    report.invalid += 1
                    if len(report.examples) < MAX_EXAMPLES:
                        report.examples.append((number, cell[:80], error or "invalid"))
                    continue
                chunk.append(digest)
                if len(chunk) >= IMPORT_CHUNK:
                    settle()
                    writing, chunk = writer.submit(write, chunk), []
            settle()
            if chunk:
                writing = writer.submit(write, chunk)
        finally:
            settle()


def check_file(path: Path, kind: str, *, column: str | None = None, hashed: bool = False) -> None:
    """Refuse, before anything is written, a file ``import_file`` would only half read: an empty one, one
    that is not text (a spreadsheet, an image: NUL bytes in its first 64 KiB, or not UTF-8 there), one
    whose header has no ``column``. ``ValidationFailed`` names the field (``file`` or ``column``)."""
    with path.open("rb") as fh:
        head = fh.read(65_536)
    if not head.strip():
        raise ValidationFailed([FieldProblem("file", "the file is empty")], "file: the file is empty")
    not_text = "is not a text file: give a CSV or one value per line (UTF-8)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the end of the 64 KiB is fine
            raise ValidationFailed([FieldProblem("file", not_text)], f"file: {not_text}") from None
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        raise ValidationFailed([FieldProblem("file", not_text)], f"file: {not_text}")
    first = text.removeprefix("\ufeff").splitlines()[0] if text.strip() else ""
    try:
        file_layout(first, column, kind, hashed=hashed)
    except ValueError as exc:
        raise ValidationFailed([FieldProblem("column", str(exc))], f"column: {exc}") from exc
