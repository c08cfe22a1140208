"""Batch files: file-name patterns, CSV options, XLSX round trips."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from leadrelay.adapters.files.writers import columns_of, render_file
from leadrelay.domain.batch_format import CutFormat, as_cut
from leadrelay.domain.batches import BatchSchedule
from leadrelay.domain.files import (
    EmailDestination,
    FileFormat,
    batch_columns,
    check_filename,
    check_pattern,
    filename,
    spreadsheet_text,
)
from leadrelay.domain.model import FileChannel

UTC = dt.UTC
EMAIL = EmailDestination(to=("ops@sunco.example",))
NOW = dt.datetime(2024, 3, 10, 6, 30, 5, tzinfo=UTC)  # 22:30:05 on the 9th in Los Angeles

ROWS: list[dict[str, Any]] = [
    {"first_name": "Zoë", "last_name": "O'Brien", "monthly_bill": 120, "note": 'says "hi", twice'},
    {"first_name": "Łukasz", "note": "line one\nline two", "monthly_bill": 99.5, "city": "Köln; NRW"},
    {"first_name": "Ann", "last_name": None, "monthly_bill": Decimal("10.25"), "verified": True},
]


# --- file names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "tz", "expected"),
    [
        ("leads_{date}.csv", "America/Los_Angeles", "leads_2024-03-09.csv"),
        ("leads_{date}.csv", "UTC", "leads_2024-03-10.csv"),
        ("leads_{date}_{time}.csv", "Europe/Berlin", "leads_2024-03-10_073005.csv"),
        ("{partner}-{datetime}.xlsx", "Asia/Kolkata", "sunco-20240310T120005.xlsx"),
        ("{partner}_{count}.csv", "UTC", "sunco_42.csv"),
        ("{partner}_{count:05d}.csv", "UTC", "sunco_00042.csv"),
        ("batch {date}.csv", "UTC", "batch_2024-03-10.csv"),  # a space is not kept
        ("{{literal}}_{date}.csv", "UTC", "_literal__2024-03-10.csv"),
    ],
)
def test_filename_renders_on_the_partners_clock(pattern: str, tz: str, expected: str) -> None:
    assert filename(pattern, partner="sunco", count=42, now=NOW, tz=tz) == expected


def test_filename_follows_daylight_saving_time() -> None:
    summer = dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    winter = dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert filename("{time}", partner="p", count=1, now=summer, tz="America/New_York") == "080000"
    assert filename("{time}", partner="p", count=1, now=winter, tz="America/New_York") == "070000"
    assert (
        filename("{time}", partner="p", count=1, now=winter, tz=dt.timezone(dt.timedelta(hours=2)))
        == "140000"
    )


@pytest.mark.parametrize(
    ("partner", "expected"),
    [
        ("../../etc/passwd", "_._etc_passwd.csv"),
        ("acme/solar", "acme_solar.csv"),
        ("acme\\solar", "acme_solar.csv"),
        ("..hidden", "hidden.csv"),
        ("Sünco Energy: West", "S_nco_Energy__West.csv"),
        ("a\x00b\nc", "a_b_c.csv"),
    ],
)
def test_partner_names_cannot_escape_the_directory(partner: str, expected: str) -> None:
    name = filename("{partner}.csv", partner=partner, count=1, now=NOW, tz="UTC")
    assert name == expected
    assert "/" not in name and ".." not in name and not name.startswith(".")


def test_unknown_placeholders_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholders \{day\}, \{vendor\}; known: \{date\}"):
        check_pattern("{vendor}_{day}_{date}.csv")
    with pytest.raises(ValueError, match=r"\{vendor\}"):
        filename("{vendor}.csv", partner="p", count=1, now=NOW, tz="UTC")


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("leads_{date.csv", "malformed"),
        ("leads_}.csv", "malformed"),
        ("{}.csv", "unknown placeholders"),
        ("{0}.csv", "unknown placeholders"),
        ("out/{date}.csv", "not a path"),
        ("..\\{date}.csv", "not a path"),
        ("{partner!r}.csv", "no conversion"),
        ("{date:d}.csv", "cannot be rendered"),
        ("   ", "empty"),
    ],
)
def test_bad_patterns_fail_at_configuration_time(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_pattern(pattern)


def test_naive_times_and_empty_names_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        filename("{date}", partner="p", count=1, now=dt.datetime(2024, 1, 1), tz="UTC")
    with pytest.raises(ValueError, match="empty"):
        filename("{partner}", partner="...", count=1, now=NOW, tz="UTC")
    with pytest.raises(ValueError, match="longer than 255"):
        filename("{partner}.csv", partner="x" * 300, count=1, now=NOW, tz="UTC")


@pytest.mark.parametrize("name", ["", ".", "..", ".profile", "a/b.csv", "a\\b", "x..y", "a\nb", "../x"])
def test_check_filename_refuses_anything_but_a_plain_name(name: str) -> None:
    with pytest.raises(ValueError, match="unsafe file name"):
        check_filename(name)
    assert check_filename("leads_2024-01-01.csv") == "leads_2024-01-01.csv"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"kind": "json"}, "kind"),
        ({"quoting": "always"}, "quoting"),
        ({"line_ending": "cr"}, "line_ending"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"columns": ()}, "columns is empty"),
        ({"columns": ("a", "b", "a")}, "named twice: a"),
    ],
)
def test_file_format_options_are_checked(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FileFormat(**options)


# --- CSV ---------------------------------------------------------------------------------------------


def _read_csv(data: bytes, fmt: FileFormat) -> list[list[str]]:
    text = data.decode("utf-8")
    if fmt.quoting == "none":
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=fmt.delimiter, quoting=csv.QUOTE_NONE, escapechar="\\"
        )
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter)
    return list(reader)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("quoting", ["minimal", "all", "nonnumeric", "none"])
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("line_ending", ["crlf", "lf"])
def test_csv_round_trips_with_every_option(
    delimiter: str, quoting: Any, header: bool, line_ending: Any
) -> None:
    fmt = FileFormat(delimiter=delimiter, quoting=quoting, header=header, line_ending=line_ending)
    data = render_file(fmt, ROWS)
    columns = ["first_name", "last_name", "monthly_bill", "note", "city", "verified"]
    expected = [
        ["Zoë", "O'Brien", "120", 'says "hi", twice', "", ""],
        ["Łukasz", "", "99.5", "line one\nline two", "Köln; NRW", ""],
        ["Ann", "", "10.25", "", "", "true"],
    ]
    assert _read_csv(data, fmt) == ([columns] if header else []) + expected
    ending = b"\r\n" if line_ending == "crlf" else b"\n"
    assert data.endswith(ending)
    if line_ending == "lf":
        assert b"\r" not in data
    else:
        assert data.count(b"\r\n") == len(expected) + header
    assert data.startswith(
        b"first_name" if header and quoting in ("minimal", "none") else b'"' if header else b""
    )


def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text_unless_the_guard_is_off() -> None:
    """A lead's ``=cmd|' /C calc'!A0`` reached the buyer's CSV as it was, and Excel runs it when the file
    is opened (black-box pass, 2026-12-06); the holds' and invoices' CSV already guarded against it."""
    rows = [
        {"first_name": "=cmd|' /C calc'!A0", "last_name": "@x", "note": "+SUM(1,2)", "phone": "+15125551212"},
        {"first_name": "-2+3", "last_name": "Ann", "note": "-12.5", "phone": "\t=1"},
    ]
    guarded = _read_csv(render_file(FileFormat(header=False), rows), FileFormat())
    assert guarded == [
        ["'=cmd|' /C calc'!A0", "'@x", "'+SUM(1,2)", "+15125551212"],  # a signed number stays a number
        ["'-2+3", "Ann", "-12.5", "'\t=1"],
    ]
    raw = render_file(FileFormat(header=False, formula_guard=False), rows)
    assert _read_csv(raw, FileFormat())[0][0] == "=cmd|' /C calc'!A0"  # as the lead has it, asked for


@pytest.mark.parametrize("quoting", ["minimal", "all", "nonnumeric", "none"])
@pytest.mark.parametrize("line_ending", ["crlf", "lf"])
def test_a_value_with_a_carriage_return_or_a_line_feed_stays_in_its_row(
    quoting: Any, line_ending: Any
) -> None:
    """A lone CR, a LF or a CRLF inside a value is quoted (``none``: escaped) whatever the line ending, so
    a reader gets the row whole (the ``csv`` module alone quotes only its line terminator's characters)."""
    fmt = FileFormat(quoting=quoting, line_ending=line_ending)
    rows = [{"first_name": "Ann\rMarie", "last_name": "Lee", "note": "a\nb", "city": "c\r\nd"}]
    data = render_file(fmt, rows)
    assert _read_csv(data, fmt) == [
        ["first_name", "last_name", "note", "city"],
        ["Ann\rMarie", "Lee", "a\nb", "c\r\nd"],
    ], data
    if quoting == "minimal":
        ending = "\r\n" if line_ending == "crlf" else "\n"
        assert (
            data.decode() == f'first_name,last_name,note,city{ending}"Ann\rMarie",Lee,"a\nb","c\r\nd"{ending}'
        )


def test_csv_quoting_styles_byte_for_byte() -> None:
    rows = [{"name": "Ann", "bill": 120, "rate": 1.5, "ok": False, "empty": None}]
    assert render_file(FileFormat(quoting="minimal", header=False), rows) == b"Ann,120,1.5,false,\r\n"
    assert render_file(FileFormat(quoting="all", header=False), rows) == b'"Ann","120","1.5","false",""\r\n'
    assert (
        render_file(FileFormat(quoting="nonnumeric", header=False), rows) == b'"Ann",120,1.5,"false",""\r\n'
    )
    assert (
        render_file(FileFormat(quoting="none", header=False, line_ending="lf"), rows)
        == b"Ann,120,1.5,false,\n"
    )
    quirky = [{"a": 'x,"y"', "b": "back\\slash"}]
    assert render_file(FileFormat(header=False), quirky) == b'"x,""y""",back\\slash\r\n'
    assert render_file(FileFormat(quoting="none", header=False), quirky) == b'x\\,\\"y\\",back\\\\slash\r\n'


def test_csv_columns_are_configured_or_first_seen() -> None:
    fmt = FileFormat(columns=("monthly_bill", "first_name", "missing"), line_ending="lf")
    assert render_file(fmt, ROWS).decode().splitlines() == [
        "monthly_bill,first_name,missing",
        "120,Zoë,",
        "99.5,Łukasz,",
        "10.25,Ann,",
    ]
    assert columns_of(FileFormat(), ROWS) == (
        "first_name",
        "last_name",
        "monthly_bill",
        "note",
        "city",
        "verified",
    )
    assert render_file(FileFormat(), []) == b"\r\n"  # no leads, no columns: an empty header line
    assert render_file(FileFormat(header=False), []) == b""


def test_csv_writes_dates_and_structures_as_text() -> None:
    rows = [
        {
            "d": dt.date(2024, 5, 1),
            "t": dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
            "l": ["a", "ü"],
            "m": {"k": 1},
        }
    ]
    text = render_file(FileFormat(header=False, line_ending="lf"), rows).decode()
    assert text == '2024-05-01,2024-05-01T08:00:00+00:00,"[""a"",""ü""]","{""k"":1}"\n'


# --- XLSX --------------------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> tuple[list[tuple[Any, ...]], Any]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook["Leads"]
    return [tuple(row) for row in sheet.iter_rows(values_only=True)], sheet


def test_xlsx_round_trip_keeps_types() -> None:
    rows = [
        {
            "name": "Zoë",
            "bill": 120,
            "rate": 99.5,
            "exact": Decimal("10.25"),
            "ok": True,
            "when": dt.date(2024, 5, 1),
        },
        {"name": '=HYPERLINK("http://evil")', "bill": 2**60, "at": dt.datetime(2024, 5, 1, 8, 0, tzinfo=UTC)},
        {
            "name": "tab\tbell\x07",
            "local": dt.datetime(2024, 5, 1, 8, 30),
            "rate": float("nan"),
            "tags": ["x"],
        },
    ]
    values, sheet = _read_xlsx(render_file(FileFormat(kind="xlsx"), rows))
    assert values == [
        ("name", "bill", "rate", "exact", "ok", "when", "at", "local", "tags"),
        ("Zoë", 120, 99.5, 10.25, True, dt.datetime(2024, 5, 1), None, None, None),
        (
            '=HYPERLINK("http://evil")',
            str(2**60),
            None,
            None,
            None,
            None,
            "2024-05-01T08:00:00+00:00",
            None,
            None,
        ),
        ("tab\tbell", None, "nan", None, None, None, None, dt.datetime(2024, 5, 1, 8, 30), '["x"]'),
    ]
    assert sheet["A3"].data_type == "s"  # text, never a formula
    assert isinstance(sheet["B2"].value, int) and isinstance(sheet["C2"].value, float)
    assert all(cell.font.b for cell in sheet[1])
    assert not sheet["A2"].font.b


def test_xlsx_header_options_and_columns() -> None:
    plain, sheet = _read_xlsx(
        render_file(
            FileFormat(kind="xlsx", bold_header=False, columns=("monthly_bill", "first_name")), ROWS[:1]
        )
    )
    assert plain == [("monthly_bill", "first_name"), (120, "Zoë")]
    assert not sheet["A1"].font.b
    headless, _ = _read_xlsx(render_file(FileFormat(kind="xlsx", header=False), ROWS[:2]))
    assert headless == [
        ("Zoë", "O'Brien", 120, 'says "hi", twice', None),
        ("Łukasz", None, 99.5, "line one\nline two", "Köln; NRW"),
    ]


def test_batch_columns_are_the_configuration_s_not_the_leads() -> None:
    """Without ``columns``, a batched channel's columns are the built-in ones and its ``fields``, else every
    field of every entity (in entity order, each once): the same in every file, whatever its leads have."""
    entities = [["first_name", "last_name", "zip"], ["zip", "roof"]]
    assert batch_columns(FileFormat(), None, entities) == (
        "lead_id",
        "received_at",
        "source",
        "first_name",
        "last_name",
        "zip",
        "roof",
    )
    assert batch_columns(FileFormat(), ("zip", "first_name"), entities) == (
        "lead_id",
        "received_at",
        "source",
        "zip",
        "first_name",
    )
    assert batch_columns(FileFormat(columns=("zip",)), ("first_name",), entities) == ("zip",)
    fmt = FileFormat(header=False, line_ending="lf", columns=batch_columns(FileFormat(), None, entities))
    sparse = render_file(fmt, [{"lead_id": "lead_1", "first_name": "Ann", "roof": "tile"}])
    assert sparse == b"lead_1,,,Ann,,,tile\n"


def test_a_batch_keeps_the_format_it_was_cut_with() -> None:
    """The options a batch is cut with survive their stored (JSON) form; a batch cut before they were kept
    is rendered with its channel's options."""
    fmt = FileFormat(
        kind="csv", delimiter=";", quoting="all", header=False, line_ending="lf", formula_guard=False
    )
    spec = FileChannel(destination=EMAIL, schedule=BatchSchedule(count=1), format=fmt, fields=("zip",))
    cut = CutFormat.of(spec, [["first_name", "zip"]])
    assert cut.format.columns == ("lead_id", "received_at", "source", "zip")
    assert CutFormat.from_record(cut.record()) == cut  # formula_guard: false too (it was lost: review)
    before = {k: v for k, v in cut.record().items() if k != "formula_guard"}  # stored before it was kept
    assert CutFormat.from_record(before).format.formula_guard is True
    later = FileChannel(destination=EMAIL, schedule=BatchSchedule(count=1), format=FileFormat(kind="xlsx"))
    assert as_cut(cut.record(), later) == cut
    assert as_cut(None, later) == CutFormat(FileFormat(kind="xlsx"), None)


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://evil.example","Open")', '\'=HYPERLINK("http://evil.example","Open")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("+15125551212", "+15125551212"),  # a phone in E.164: a number, kept as it is
        ("-12.50", "-12.50"),
        ("Ada", "Ada"),
    ],
)
def test_a_csv_cell_never_starts_a_formula_but_a_signed_number_stays_one(text: str, cell: str) -> None:
    assert spreadsheet_text(text) == cell
