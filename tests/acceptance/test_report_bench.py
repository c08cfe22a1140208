"""`bench/report_bench.py --quick` (the reports benchmark `make bench` runs) runs end to end: it seeds 20,000
leads on SQLite, rolls them up and times every report shape, and prints its table. The figures themselves
are not checked here (the machine is shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow_start(30)
def test_the_report_benchmark_runs_end_to_end_and_prints_its_figures() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report_bench.py"), "--quick"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "seeded 20,000 leads" in out, out
    rollup = re.search(r"rollup of 30 days into ([\d,]+) rows", out)
    assert rollup is not None and int(rollup[1].replace(",", "")) > 0, out
    shapes = re.findall(r"\[sqlite\] (by [^\n]+?)\s+(\d+)ms\s+(\d+)ms\s+(\d+)\n", out)
    assert len(shapes) == 5, out
    assert all(int(lines) > 0 and int(median) <= int(slowest) for _, median, slowest, lines in shapes), out
    assert re.search(r"slowest report: \d+ ms", out), out
