"""``leadrelay serve --worker-processes 2``: the API and two worker processes count into one
multiprocess metrics directory, and ``/metrics`` sums them (SQLite and PostgreSQL); the directory ``serve``
makes for a run is removed at its end, and a worker process that dies keeps its counts in the sums."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_metrics import Samples, scrape, value
from tests.support import (
    base_config,
    free_port,
    lead,
    leadrelay_cmd,
    prepare,
    process,
    source_headers,
    wait_for,
    wait_http,
)

STARTUP = 60.0  # seconds: a Python process starting on a loaded 2-core machine

pytestmark = pytest.mark.slow

ATTEMPTS = "leadrelay_delivery_attempts_total"


@pytest.fixture
def slow_buyers() -> Iterator[BuyersThread]:
    # each post takes 0.15 s and each worker holds one job at a time: both workers get some of them
    with BuyersThread(count=0, latency_ms=150, accept_rate=1.0) as b:
        yield b


@contextmanager
def serve(url: str, tmp_path: Path, **env: str) -> Iterator[tuple[httpx.Client, int]]:
    port = free_port()
    args = leadrelay_cmd("serve", "--port", str(port), "--worker-processes", "2")
    full = {
        "LEADRELAY_DATABASE_URL": url,
        "LEADRELAY_ENV_FILE": "",
        "LEADRELAY_POLL_INTERVAL": "0.02",
        "LEADRELAY_CLAIM_BATCH": "1",
        "LEADRELAY_WORKER_CONCURRENCY": "1",
        **env,
    }
    with process(args, full, log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", timeout=STARTUP, proc=proc)
        log = tmp_path / "serve.log"
        wait_for(lambda: log.read_text().count("worker running") >= 2, timeout=STARTUP)
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http, proc.pid
    assert proc.returncode is not None


def post_leads(http: httpx.Client, n: int) -> None:
    for i in range(n):
        r = http.post("/v1/leads", json=lead(email=f"p{i}@example.com"), headers=source_headers())
        assert r.status_code == 202, r.text


def delivered(http: httpx.Client, n: int) -> Samples:
    def done() -> Samples | None:
        samples = scrape(http)
        return samples if value(samples, ATTEMPTS, partner="sunco", outcome="success") >= n else None

    result: Samples = wait_for(done, timeout=STARTUP, interval=0.1)
    return result


def per_process(directory: Path, name: str) -> dict[int, float]:
    """Each process's own count of ``name`` (summed over labels), read from its file in the directory."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):  # type: ignore[no-untyped-call]
            for s in family.samples:
                if s.name == name:
                    counts[pid] = counts.get(pid, 0.0) + s.value
    return counts


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_the_api_sums_the_counts_of_two_worker_processes(
    db_url: str, slow_buyers: BuyersThread, tmp_path: Path
) -> None:
    prepare(db_url, base_config(slow_buyers.url))
    directory = tmp_path / "metrics"  # the operator's directory: serve uses it as it is
    with serve(db_url, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(directory)) as (http, api_pid):
        post_leads(http, 6)
        samples = delivered(http, 6)
        workers = children(api_pid)
        attempts = per_process(directory, ATTEMPTS)
        intake = per_process(directory, "leadrelay_intake_leads_total")
    assert value(samples, ATTEMPTS, partner="sunco", outcome="success") == 6
    assert value(samples, "leadrelay_delivery_seconds_count", partner="sunco") == 6
    assert value(samples, "leadrelay_intake_leads_total", status="queued") == 6
    assert value(samples, "leadrelay_routing_total", outcome="delivering") == 6
    # the deliveries were counted by the two worker processes, and /metrics gave their sum
    assert len(workers) == 2
    assert set(attempts) == workers, (attempts, workers)
    assert all(n > 0 for n in attempts.values()) and sum(attempts.values()) == 6
    assert intake == {api_pid: 6}  # intake is the API process's


def test_the_run_directory_is_removed_and_a_dead_workers_counts_stay(
    sqlite_url: str, slow_buyers: BuyersThread, tmp_path: Path
) -> None:
    prepare(sqlite_url, base_config(slow_buyers.url))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with serve(sqlite_url, tmp_path, **env) as (http, api_pid):
        assert [p.name.startswith("leadrelay-metrics-") for p in temp.iterdir()] == [True]
        post_leads(http, 4)
        delivered(http, 4)
        first = children(api_pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(
            lambda: (now := children(api_pid)) - first and len(now) == 2 and now, timeout=STARTUP
        )
        assert victim not in replaced
        after = scrape(http)  # the dead worker's deliveries still count
        assert value(after, ATTEMPTS, partner="sunco", outcome="success") == 4
        post_leads(http, 2)
        delivered(http, 6)
    assert list(temp.iterdir()) == []  # serve removed its directory
