"""A million-line unsubscribe file (email addresses) imported by `leadrelay suppression import` (a real
subprocess, SQLite): every line is counted and stored, and the process's peak memory does not grow with
the file. Email, not phone numbers: the import's streaming and chunking are the same for every kind, and
parsing a million phone numbers (phonenumbers: about 35 µs each) would cost the suite 20 s more for nothing
this test checks; phone lines are imported, normalized and counted by
``tests/integration/test_suppression_import.py``.

The bound: the import holds at most two chunks of 50,000 hashes (~12 MB) beside the interpreter and its
libraries (~90 MB: SQLAlchemy, phonenumbers' metadata, Typer/Rich). Holding every hash of the file would
add well over 100 MB (a million 64-character strings plus a set), so the peak must stay within
``GROWTH_MB`` of the same command importing ten lines, and under ``PEAK_MB`` outright. The peak is that
of the command alone: its own ``VmHWM`` (the high-water mark of its memory since ``exec``), which it writes
at exit. Not ``ru_maxrss``: on Linux that keeps the peak of the memory the child had before ``exec``, a
copy of this test process, which grows with every test run before this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import suppression_entries
from tests.support import ROOT

pytestmark = pytest.mark.slow

LINES = 1_000_000
PEAK_MB = 200
GROWTH_MB = 50
FORMATS = ["person.{i}@example{d}.com", " Person.{i}@Example{d}.COM", "PERSON.{i}@EXAMPLE{d}.com "]


def write_emails(path: Path, count: int) -> None:
    """``count`` different addresses, written three ways (case, spaces: so every line is normalized for
    real)."""
    with path.open("w") as fh:
        for i in range(count):
            fh.write(FORMATS[i % len(FORMATS)].format(i=i, d=i % 97) + "\n")


# the leadrelay command, writing its own peak memory (VmHWM, in kB) to $PEAK_FILE when it exits
_WITH_PEAK = """
import atexit, os, re, runpy, sys

def peak():
    with open("/proc/self/status") as fh:
        kb = re.search(r"^VmHWM:\\s+(\\d+) kB", fh.read(), re.M).group(1)
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(kb)

atexit.register(peak)
sys.argv = ["leadrelay", *sys.argv[1:]]
runpy.run_module("leadrelay", run_name="__main__")
"""


def run_import(url: str, file: Path, name: str, log: Path) -> tuple[int, float, float]:
    """Exit code, seconds and peak memory (MB) of one `leadrelay suppression import` process."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["LEADRELAY_DATABASE_URL"] = url
    env["PEAK_FILE"] = str(log.with_suffix(".peak"))
    args = [sys.executable, "-c", _WITH_PEAK, "suppression", "import", str(file), "--list", name]
    args += ["--kind", "email"]
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.run(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=600
        ).returncode
    peak_kb = int(Path(env["PEAK_FILE"]).read_text())
    return code, time.monotonic() - started, peak_kb / 1024


@pytest.mark.slow_start(15)
def test_a_million_line_import_in_bounded_memory(sqlite_url: str, tmp_path: Path) -> None:
    small, big = tmp_path / "ten.txt", tmp_path / "unsubscribed.txt"
    write_emails(small, 10)
    write_emails(big, LINES)

    code, _, baseline_mb = run_import(sqlite_url, small, "warmup", tmp_path / "small.log")
    assert code == 0, (tmp_path / "small.log").read_text()

    code, seconds, peak_mb = run_import(sqlite_url, big, "unsubscribed", tmp_path / "big.log")
    output = " ".join((tmp_path / "big.log").read_text().split())
    print(f"\nimported {LINES} lines in {seconds:.1f} s; peak RSS {peak_mb:.0f} MB", end="")
    print(f" (10 lines: {baseline_mb:.0f} MB)")
    assert code == 0, output
    assert (
        f"imported {LINES} values into 'unsubscribed': {LINES} added, 0 already present, 0 invalid" in output
    )

    db = Database(sqlite_url)
    try:
        query = select(func.count()).where(suppression_entries.c.list == "unsubscribed")
        assert db.read(lambda c: c.execute(query).scalar_one()) == LINES
    finally:
        db.dispose()
    assert peak_mb < PEAK_MB, f"peak RSS {peak_mb:.0f} MB"
    assert peak_mb - baseline_mb < GROWTH_MB, (
        f"peak RSS {peak_mb:.0f} MB vs {baseline_mb:.0f} MB for 10 lines"
    )
