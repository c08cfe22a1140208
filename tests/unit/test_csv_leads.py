"""A CSV file of leads through intake (``services/csv_leads.py``, the CLI's and the console's import) on
the fakes: every row ends as a stored lead or a line of the rejects with its reason, whatever fails."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from typing import Any

import pytest

from leadrelay.domain.imports import ImportState
from leadrelay.services.csv_leads import ImportProgress, bounded_lines, import_rows
from tests.fakes.delivery import FakeLeads
from tests.unit.in_memory import Installation


def _import(world: Installation, text: str) -> tuple[ImportProgress, list[dict[str, str]]]:
    data = text.encode("utf-8")
    progress = ImportProgress("imp_1", "web", "solar", "leads.csv", len(data))
    rejects = io.StringIO()
    lines = io.BytesIO(data).readlines()
    asyncio.run(import_rows(world.intake, progress, lines, rejects))
    return progress, list(csv.DictReader(io.StringIO(rejects.getvalue())))


def test_a_row_whose_lead_cannot_be_stored_is_a_reject_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error that is no ``LeadrelayError`` (a bug, a value the database refuses) while storing one
    row's lead: that row is counted as an error and written to the rejects, the others are stored."""
    world = Installation()
    real = FakeLeads.insert_leads

    def insert_leads(self: FakeLeads, rows: Sequence[dict[str, Any]]) -> set[str]:
        if any(row["raw"]["first_name"] == "P3" for row in rows):
            raise RuntimeError("the storage refused it")
        return real(self, rows)

    monkeypatch.setattr(FakeLeads, "insert_leads", insert_leads)
    text = "first_name,phone,zip\n" + "".join(f"P{i},512555{3000 + i},94103\n" for i in range(6))
    progress, rejects = _import(world, text)

    assert progress.state == ImportState.DONE
    assert (progress.rows, progress.accepted, progress.rejected, progress.errors) == (6, 5, 1, 1)
    assert rejects == [
        {
            "row": "5",
            "first_name": "P3",
            "phone": "5125553003",
            "zip": "94103",
            "errors": "not stored: internal error (RuntimeError; see the server log)",
        }
    ]
    assert sorted(r.raw["first_name"] for r in world.storage.rows("leads")) == ["P0", "P1", "P2", "P4", "P5"]


def test_a_header_with_spaces_after_its_commas_names_the_fields_it_checked() -> None:
    """``first_name, phone, zip`` (as many hand-made and exported files have it): the header check reads
    the names stripped, and so are the rows read, so each value reaches its field."""
    world = Installation()
    text = "first_name, phone, zip\nAda, (512) 555-1212, 94103\nBob, 512-555-1313, 94103\n"
    progress, rejects = _import(world, text)

    assert (progress.rows, progress.accepted, progress.rejected) == (2, 2, 0) and rejects == []
    stored = world.storage.rows("leads")
    assert [(r.data["first_name"], r.data["phone"], r.data["zip"]) for r in stored] == [
        ("Ada", "+15125551212", "94103"),
        ("Bob", "+15125551313", "94103"),
    ]
    assert all(set(r.raw) == {"first_name", "phone", "zip"} for r in stored)


def test_the_rejects_of_such_a_file_name_its_columns_stripped() -> None:
    world = Installation()
    progress, rejects = _import(world, "first_name, phone, zip\nAda, 12, 94103\n")
    assert progress.rejected == 1
    assert [set(r) for r in rejects] == [{"row", "first_name", "phone", "zip", "errors"}]
    assert rejects[0]["errors"].startswith("phone: ")


def _import_bytes(
    world: Installation, data: bytes, bound: int = 64 * 1024
) -> tuple[ImportProgress, list[Any]]:
    progress = ImportProgress("imp_2", "web", "solar", "leads.csv", len(data))
    rejects = io.StringIO()
    lines = list(bounded_lines(io.BytesIO(data), bound))
    asyncio.run(import_rows(world.intake, progress, lines, rejects, max_line_bytes=bound))
    return progress, list(csv.DictReader(io.StringIO(rejects.getvalue())))


HEADER = b"first_name,phone,zip,notes\r\n"


def _row(i: int, notes: bytes = b"ok") -> bytes:
    return b"P%d,512555%04d,94103,%s\r\n" % (i, 3000 + i, notes)


def _stored(world: Installation) -> list[str]:
    return sorted(r.raw["first_name"] for r in world.storage.rows("leads"))


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('"multi\r\ncaf\xe9 end"'.encode("latin-1"), "line 4 is not UTF-8 text (byte 4): not read"),
        (b'"multi\r\n' + b"x" * 300 + b' end"', "line 4 is longer than 200 bytes: not read"),
        (b'"multi\r\n""quoted"" caf\xe9\r\nend"', "line 4 is not UTF-8 text (byte 15): not read"),
    ],
)
def test_an_unreadable_line_inside_a_quoted_value_rejects_its_row_and_no_other(bad: bytes, why: str) -> None:
    """The line's quotes are read as it has them: the quoted value closes where the file closes it, and
    the rows after it are imported (before, the mark that stood for the line dropped its closing quote,
    the reader stayed inside the value to the end of the file, and those rows were neither stored nor
    rejected: black-box pass, 2026-12-06)."""
    world = Installation()
    data = HEADER + _row(1) + _row(2, bad) + _row(3) + _row(4) + _row(5)
    progress, rejects = _import_bytes(world, data, bound=200)

    assert progress.state == ImportState.DONE, progress.error
    assert (progress.rows, progress.accepted, progress.rejected, progress.errors) == (5, 4, 1, 1)
    assert [(r["row"], r["first_name"], r["errors"]) for r in rejects] == [("4", "P2", why)]  # its line
    assert _stored(world) == ["P1", "P3", "P4", "P5"]


def test_a_carriage_return_alone_ends_a_line_as_universal_newlines_read_a_file() -> None:
    """A lone CR (old spreadsheets' line ending, or one left in a value) no longer ends the import as
    failed after the rows before it were stored ("new-line character seen in unquoted field"): it ends
    the line, and inside a quoted value it stays in the value."""
    world = Installation()
    data = HEADER.replace(b"\r\n", b"\r") + b'P1,5125553001,94103,ok\rP2,5125553002,94103,"two\rlines"\r'
    progress, rejects = _import_bytes(world, data + b"P3,5125553003,94103,ok\r")

    assert progress.state == ImportState.DONE, progress.error
    assert (progress.rows, progress.accepted, rejects) == (3, 3, [])
    notes = {r.raw["first_name"]: r.raw["notes"] for r in world.storage.rows("leads")}
    assert notes == {"P1": "ok", "P2": "two\rlines", "P3": "ok"}


def test_an_over_long_line_with_a_quote_inside_an_unquoted_value_rejects_only_its_row() -> None:
    """``55" screen`` in an over-long line: a quote inside an unquoted value opens nothing, and the line's
    stand-in has the line's own quotes and commas, so the reader reads on as the file has it (a stand-in
    by the quotes' parity opened a quoted value that swallowed every later row: review, 2026-12-06)."""
    world = Installation()
    long_line = b'P2,5125553002,94103,55" screen ' + b"x" * 300 + b"\r\n"
    progress, rejects = _import_bytes(world, HEADER + _row(1) + long_line + _row(3) + _row(4), bound=200)

    assert progress.state == ImportState.DONE, progress.error
    assert (progress.rows, progress.accepted, progress.errors) == (4, 3, 1)
    assert [(r["row"], r["first_name"], r["errors"]) for r in rejects] == [
        ("3", "", "line 3 is longer than 200 bytes: not read")  # none of the line's values is kept
    ]
    assert _stored(world) == ["P1", "P3", "P4"]


def test_a_file_with_cr_line_endings_longer_than_the_bound_is_read_line_by_line() -> None:
    world = Installation()
    rows = b"".join(b"P%d,512555%04d,94103,ok\r" % (i, 3000 + i) for i in range(60))
    data = HEADER.replace(b"\r\n", b"\r") + rows
    assert len(data) > 1000
    progress, rejects = _import_bytes(world, data, bound=200)
    assert progress.state == ImportState.DONE, progress.error
    assert (progress.rows, progress.accepted, rejects) == (60, 60, [])


def test_a_rejected_row_after_a_value_holding_a_lone_cr_is_numbered_by_its_first_line() -> None:
    world = Installation()
    data = HEADER + b'"Ada\rX",12,94103,ok\r\n' + _row(3)
    progress, rejects = _import_bytes(world, data)
    assert progress.state == ImportState.DONE, progress.error
    assert [(r["row"], r["first_name"]) for r in rejects] == [("2", "Ada\rX")], rejects  # its phone is bad
