"""Leads rendered into the bytes of a batch file: CSV through the ``csv`` module, XLSX through openpyxl.

Both are written whole in memory: a batch is at most a day of one partner's leads, and the bytes go to
an upload that wants them whole anyway. Text is UTF-8 without a BOM. In XLSX, numbers stay numbers, but
a string is always a string: a lead field such as ``=HYPERLINK(…)`` is never turned into a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from leadrelay.domain.files import MEDIA_TYPES, FileFormat, spreadsheet_text

if TYPE_CHECKING:  # openpyxl is imported when an XLSX file is written, not by every process
    from openpyxl.cell.cell import Cell
    from openpyxl.styles import Font
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = ["MEDIA_TYPES", "columns_of", "render_file"]

_QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "nonnumeric": csv.QUOTE_NONNUMERIC,
    "none": csv.QUOTE_NONE,
}
_CRLF = "\r\n"
_LINE_ENDINGS = {"crlf": _CRLF, "lf": "\n"}
_EXACT_INT = 2**53  # Excel keeps 15 significant digits: a bigger integer is written as text, not rounded
_SHEET = "Leads"
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # openpyxl's ILLEGAL_CHARACTERS_RE


def render_file(fmt: FileFormat, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The file's bytes: one row per lead, the columns of ``fmt`` (or every field seen), a header if asked."""
    columns = columns_of(fmt, rows)
    if fmt.kind == "xlsx":
        return _xlsx(fmt, columns, rows)
    return _csv(fmt, columns, rows)


def columns_of(fmt: FileFormat, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The configured columns, or the union of the rows' fields in the order they were first seen."""
    if fmt.columns is not None:
        return fmt.columns
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return tuple(seen)


def _csv(fmt: FileFormat, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The CSV text. The ``csv`` module quotes (or escapes) only the characters of its line terminator, so
    each row is written with CRLF, which makes a value holding a CR or a LF quoted (``none``: escaped)
    whatever the file's line ending, and the row's CRLF is then replaced by the file's line ending."""
    buffer = io.StringIO(newline="")
    line = io.StringIO(newline="")
    writer = csv.writer(
        line,
        delimiter=fmt.delimiter,
        quoting=_QUOTING[fmt.quoting],
        lineterminator=_CRLF,
        escapechar="\\" if fmt.quoting == "none" else None,
        doublequote=True,
    )
    ending = _LINE_ENDINGS[fmt.line_ending]

    def write(values: Sequence[Any]) -> None:
        line.seek(0)
        line.truncate()
        writer.writerow(values)
        buffer.write(line.getvalue().removesuffix(_CRLF) + ending)

    if fmt.header:
        write(columns)
    for row in rows:
        write([_csv_cell(row.get(column), fmt.formula_guard) for column in columns])
    return buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any, formula_guard: bool = True) -> str | int | float | Decimal:
    """Numbers stay numbers (so ``nonnumeric`` leaves them unquoted); everything else is text, which a
    spreadsheet never runs as a formula (``FileFormat.formula_guard``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    return spreadsheet_text(_text(value)) if formula_guard else _text(value)


def _xlsx(fmt: FileFormat, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = workbook.create_sheet(_SHEET)
    if fmt.header:
        bold = Font(bold=True) if fmt.bold_header else None
        sheet.append([_xlsx_cell(sheet, column, bold) for column in columns])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, row.get(column)) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Any, font: Font | None = None) -> Cell:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=_xlsx_value(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    if font is not None:
        cell.font = font
    return cell


def _xlsx_value(value: Any) -> Any:
    """A value Excel can hold as it is, else its text."""
    if value is None or isinstance(value, bool | Decimal):
        return value
    if isinstance(value, int):
        return value if abs(value) < _EXACT_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        # Excel has no time zones: an aware datetime is kept as ISO text rather than silently shifted
        return value if value.tzinfo is None else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value
    return _ILLEGAL.sub("", _text(value))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return str(value)
