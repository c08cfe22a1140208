"""`bench/auction_bench.py --quick` (the auction benchmark `make bench` runs) runs end to end: simulated
bidding buyers, `leadrelay serve` on SQLite, the bare client's reference, the open-loop generator, the sweep
and the slow-buyer check, and prints its table. The figures themselves are not checked here (the machine is
shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _bench(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``bench/<script>`` with ``args``, on this checkout's ``src``; its output captured."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow_start(40)
def test_the_auction_benchmark_runs_end_to_end_and_prints_its_figures() -> None:
    done = _bench("auction_bench.py", "--quick", timeout=180)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    main = re.search(r"50/s for 2 s \(overhead\)\s+50\s+(\d+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)", out)
    assert main is not None, out
    answers, p50, p99, most = int(main[1]), float(main[2]), float(main[3]), float(main[4])
    assert answers == 100 and p50 <= p99 <= most, out  # every arrival answered; the quantiles in order
    # the reference: every bare auction sold, its row before the main run's, and the difference printed
    bare = re.search(
        r"bare client, 50/s \(reference\)\s+50\s+(\d+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+.*delivered 100", out
    )
    assert bare is not None and int(bare[1]) == 100 and bare.start() < main.start(), out
    assert float(bare[2]) >= 0, out  # the buyers answered pings after their 50 ms
    less = re.search(
        r"the main run less the reference, quantile by quantile .*: p50 (-?[\d.]+) ms, p99 (-?[\d.]+) ms", out
    )
    assert less is not None, out
    assert abs(float(less[1]) - (p50 - float(bare[2]))) <= 0.16, out  # three figures rounded to 0.1 ms
    assert abs(float(less[2]) - (p99 - float(bare[3]))) <= 0.16, out
    # the floor on SQLite: the minimal server sold every lead at the same rate, after the main run
    floor = re.search(
        r"minimal server, 50/s \(the floor\)\s+50\s+(\d+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s.*delivered 100"
        r"  \(writes: commit-thread\)",
        out,
    )
    assert floor is not None and int(floor[1]) == 100 and floor.start() > main.start(), out
    less_floor = re.search(
        r"the main run less the floor, quantile by quantile: p50 (-?[\d.]+) ms, p99 (-?[\d.]+)", out
    )
    assert less_floor is not None, out
    assert abs(float(less_floor[1]) - (p50 - float(floor[2]))) <= 0.16, out
    assert abs(float(less_floor[2]) - (p99 - float(floor[3]))) <= 0.16, out
    # where the overhead goes: each database step of the main run, once per auction, and in the two-process
    # layout too (the worker's steps summed into the API's /metrics)
    steps = re.findall(r"database steps, mean \(per auction\): (.*)", out)
    assert len(steps) == 3, out  # the main run, the sweep's one rate, the API + worker run
    for line in (steps[0], steps[2]):
        found = dict(re.findall(r"(\w+) [\d.]+ ms ×([\d.]+)", line))
        assert set(found) == {"store", "route", "award", "record", "answer"}, line
        assert all(found[s] == "1.0" for s in ("store", "route", "award", "record")), line  # one per lead
    assert "sweep 50/s for 1 s" in out, out
    assert re.search(r"highest rate with p99 overhead under 50 ms: (50/s|none of)", out), out
    split = re.search(r"API \+ worker process \(overhead\)\s+20\s+(\d+)", out)  # two processes
    assert split is not None and int(split[1]) == 20, out
    slow = re.search(r"slow buyer: max answer ([\d.]+) ms; (\d+) of (\d+) later than 760 ms", out)
    assert slow is not None and int(slow[3]) == 20, out
    assert float(slow[1]) < 5000, out  # never waited for the buyer that answers after 5 s


def test_the_auction_floor_runs_a_minimal_server_through_the_same_auctions() -> None:
    """`bench/auction_floor.py` (docs/benchmarks.md, *The floor under the budget*): its minimal server sells
    every lead of the same open-loop arrivals to the same simulated buyers, writing as it was told (the
    row carries what the server itself says), and the figures print beside the bare client's."""
    quick = ("--rate", "20", "--seconds", "1", "--warm-up", "0.5", "--writes", "thread", "--no-fsync")
    done = _bench("auction_floor.py", *quick, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    bare = re.search(r"bare client, 20/s \(reference\)\s+20\s+20\s+.*delivered 20", out)
    floor = re.search(
        r"minimal server, 20/s\s+20\s+20\s+[-\d.]+\s+[-\d.]+\s+[-\d.]+\s+([\d,]+)\s.*delivered 20"
        r"  \(writes: thread, no fsync\)$",
        out,
        re.M,
    )
    assert bare is not None and floor is not None, out
    assert int(floor[1].replace(",", "")) > 0, out  # the server's own CPU per auction: it did the work
