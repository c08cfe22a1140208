"""Importing returns from a CSV file (``leadrelay returns import FILE.csv``): one return per row.

Columns (a header row, in any order): ``lead_id`` or ``delivery_id`` (one per row), ``partner``,
``reason``, ``note`` (optional). Each row is its own transaction: a good row is kept, a bad one is
reported with its line number and why, and nothing of a row is half-applied.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from leadrelay.errors import FieldProblem, LeadrelayError, ValidationFailed
from leadrelay.services.returns import ReturnRequest, Returns

__all__ = ["COLUMNS", "ImportedRow", "ReturnsImport", "import_returns", "read_rows"]

COLUMNS = ("lead_id", "delivery_id", "partner", "reason", "note")
MAX_NOTE = 2000


@dataclass(frozen=True, slots=True)
class ImportedRow:
    line: int
    ok: bool
    return_id: str | None = None
    status: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "ok": self.ok,
            "return_id": self.return_id,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class ReturnsImport:
    rows: list[ImportedRow] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return sum(1 for r in self.rows if r.ok)

    @property
    def refused(self) -> int:
        return sum(1 for r in self.rows if not r.ok)


def read_rows(text: str) -> list[tuple[int, dict[str, str] | ValidationFailed]]:
    """Each data row with its line number (the header is line 1), as a mapping of the known columns, or
    the problem of its shape. The whole file is read before any row is taken: a file the CSV reader cannot
    read, or a header without ``partner``, ``reason`` and an id column, is refused whole."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        lines = [(reader.line_num, cells) for cells in reader]
    except csv.Error as exc:
        problem = FieldProblem("file", f"line {reader.line_num + 1}: {exc}")
        raise ValidationFailed([problem], f"not a CSV file: line {reader.line_num + 1}: {exc}") from None
    if not lines:
        raise ValidationFailed(
            [FieldProblem("file", "empty: a header row is needed")], "the CSV file is empty"
        )
    header = [h.strip().lower() for h in lines[0][1]]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in ("partner", "reason") if c not in header]
    no_id = not ({"lead_id", "delivery_id"} & set(header))
    if unknown or missing or no_id or len(set(header)) != len(header):
        problems = [
            FieldProblem(f"header.{h}", f"unknown column; known: {', '.join(COLUMNS)}") for h in unknown
        ]
        problems += [FieldProblem(f"header.{c}", "missing column") for c in missing]
        if no_id:
            problems.append(FieldProblem("header.lead_id", "a lead_id or delivery_id column is needed"))
        if len(set(header)) != len(header):
            problems.append(FieldProblem("header", "a column is named twice"))
        said = "; ".join(f"{p.field}: {p.error}" for p in problems)
        raise ValidationFailed(problems, f"the CSV header is not a returns file's: {said}")
    rows: list[tuple[int, dict[str, str] | ValidationFailed]] = []
    for line, cells in lines[1:]:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problem = FieldProblem("row", f"{len(cells)} cells where the header has {len(header)}")
            rows.append((line, ValidationFailed([problem])))
            continue
        if any("\x00" in c for c in cells):
            rows.append((line, ValidationFailed([FieldProblem("row", "a cell holds a NUL character")])))
            continue
        rows.append((line, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    return rows


def _request(row: dict[str, str]) -> ReturnRequest:
    problems = [FieldProblem(c, "required") for c in ("partner", "reason") if not row.get(c)]
    lead_id, delivery_id = row.get("lead_id") or None, row.get("delivery_id") or None
    if (lead_id is None) == (delivery_id is None):
        problems.append(FieldProblem("lead_id", "give exactly one of lead_id or delivery_id"))
    note = row.get("note") or None
    if note is not None and len(note) > MAX_NOTE:
        problems.append(FieldProblem("note", f"at most {MAX_NOTE} characters"))
    if problems:
        raise ValidationFailed(problems)
    return ReturnRequest(row["partner"], row["reason"], delivery_id=delivery_id, lead_id=lead_id, note=note)


def _why(exc: LeadrelayError) -> str:
    if isinstance(exc, ValidationFailed) and exc.problems:
        return "; ".join(f"{p.field}: {p.error}" for p in exc.problems)
    return exc.detail


async def import_returns(returns: Returns, text: str, *, actor: str) -> ReturnsImport:
    """Every row of the CSV ``text`` requested as a return (each in its own transaction)."""
    report = ReturnsImport()
    for line, row in read_rows(text):
        try:
            if isinstance(row, ValidationFailed):
                raise row
            rec = await returns.request(_request(row), actor=actor)
        except LeadrelayError as exc:
            report.rows.append(ImportedRow(line, False, error=_why(exc)))
        else:
            report.rows.append(ImportedRow(line, True, rec.id, rec.status.value))
    return report
