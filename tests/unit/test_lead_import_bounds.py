"""The pure parts of the console's CSV import: when a running import is taken for interrupted, when a file
posted again is answered with an earlier import (``domain.imports``), and how the file's lines are read
with a bound on a line's length (``csv_leads.bounded_lines``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from leadrelay.domain.imports import Earlier, ImportState, interrupted, reuses
from leadrelay.services.csv_leads import Overlong, bounded_lines

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_running_import_is_interrupted_after_five_minutes_without_a_heartbeat() -> None:
    assert not interrupted(ImportState.RUNNING, NOW - timedelta(minutes=5), NOW)
    assert interrupted(ImportState.RUNNING, NOW - timedelta(minutes=5, seconds=1), NOW)
    assert not interrupted(ImportState.DONE, NOW - timedelta(days=3), NOW)


def test_an_earlier_import_is_reused_while_running_or_for_a_day_after_it_was_done() -> None:
    assert reuses(Earlier(ImportState.RUNNING, NOW - timedelta(minutes=1), None), NOW)
    assert not reuses(Earlier(ImportState.RUNNING, NOW - timedelta(minutes=6), None), NOW)  # its process died
    assert reuses(Earlier(ImportState.DONE, NOW, NOW - timedelta(hours=24)), NOW)
    assert not reuses(Earlier(ImportState.DONE, NOW, NOW - timedelta(hours=24, seconds=1)), NOW)
    for state in (ImportState.INTERRUPTED, ImportState.FAILED):  # posting it again is how it is redone
        assert not reuses(Earlier(state, NOW, NOW - timedelta(minutes=1)), NOW)


class CountingReads(io.BytesIO):
    """A file that remembers the largest read asked of it (no line is read whole past the bound)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line


def test_a_line_past_the_bound_comes_as_an_overlong_of_its_size_without_being_read_whole() -> None:
    huge = b"x" * 1_000_000
    data = b"a,b\n" + b"1,2\n" + huge + b"\n" + b"3,4\r\n" + b"12345678\n" + b"5,6"
    fh = CountingReads(data)
    lines = list(bounded_lines(fh, limit=9))
    assert lines[:2] == [b"a,b\n", b"1,2\n"]
    assert isinstance(lines[2], Overlong) and lines[2].size == len(huge) + 1 and lines[2] == b""
    assert lines[3:] == [b"3,4\r\n", b"12345678\n", b"5,6"]  # exactly the bound (its newline counted)
    assert fh.largest <= 1 << 16  # the long line was drained in chunks
    tail = list(bounded_lines(io.BytesIO(b"a\n" + b"y" * 50), limit=9))  # a long last line without newline
    assert tail[0] == b"a\n" and isinstance(tail[1], Overlong) and tail[1].size == 50
