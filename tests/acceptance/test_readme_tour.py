"""The README's 5-minute tour, run as a newcomer runs it: `make run`, then every command of its bash blocks.

`make run` is the real Makefile recipe (its `install` step skipped: the package is on PYTHONPATH), run in a
fresh directory that holds what the recipe reads (examples/demo.yaml and examples/demo.env) and a
`.venv/bin/leadrelay` that starts this checkout's code. The environment is as clean as a new terminal's:
no LEADRELAY_* variable (the test suite's loopback allowance is removed), so every process reads only the
`.env` that `make run` writes. Each command of the tour then runs in bash, as printed; only the ports
(free ones instead of 8000, 9100 and 8025, which other work on this machine may hold) and the `job_…`
placeholders (a real id, taken from an earlier command's output) are substituted.

The demo buyers accept 80% of leads, so the first lead is delivered (to sunco, or brightpath after a
refusal) or, rarely, unsold; the log actions are then checked against what the log says about that lead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow

CMD_TIMEOUT = 60
JOB_PLACEHOLDER = re.compile(r"job_[0-9a-z]*…")


def tour_commands(readme: str) -> list[str]:
    """The shell commands of the bash blocks of the README's "A 5-minute tour" section, in order: lines
    joined where a command continues (a trailing backslash, an open quote); comments left out."""
    section = readme.split("## A 5-minute tour", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending = f"{pending}\n{line}" if pending else line
            if pending.endswith("\\"):
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            commands.append(pending)
            pending = ""
        assert not pending, f"unfinished command in the tour: {pending!r}"
    return commands


@dataclass
class Tour:
    """A `make run` installation in ``home`` and a terminal's environment carried from command to command."""

    home: Path
    ports: dict[int, int]  # the README's port → the one used here
    env: dict[str, str]
    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports[8000]}"

    def localize(self, text: str) -> str:
        for readme_port, port in self.ports.items():
            text = text.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
        return text

    def run(self, command: str, job: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one command of the tour in bash; variables it exports stay for the next ones."""
        if JOB_PLACEHOLDER.search(command):
            assert job is not None, f"no distribution id for {command!r}"
            command = JOB_PLACEHOLDER.sub(job, command)
        env_file = self.home / ".tour-env"
        script = f"{self.localize(command)}\n__rc=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $__rc\n"
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CMD_TIMEOUT,
        )
        if env_file.exists():
            pairs = (item.partition("=") for item in env_file.read_text().split("\0") if item)
            self.env = {k: v for k, _, v in pairs}
        self.outputs.append((command, done))
        return done

    def distribution(self, job_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.env['LEADRELAY_TOKEN']}"}
        r = httpx.get(f"{self.api}/v1/distributions/{job_id}", headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def finished(self, job_id: str) -> dict[str, Any]:
        final = ("delivered", "failed", "unsold")
        found: dict[str, Any] = wait_for(
            lambda: (d := self.distribution(job_id))["status"] in final and d, timeout=30, interval=0.1
        )
        return found


def _clean_env(home: Path) -> dict[str, str]:
    """A new terminal's environment: no LEADRELAY_* variable; this checkout's code first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.pop("COLUMNS", None)
    env["PYTHONPATH"] = str(ROOT / "src")
    env["HOME"] = str(home)
    return env


def _install(home: Path, ports: dict[int, int]) -> None:
    """What `make run` reads: the demo configuration (its ports moved) and a `.venv/bin/leadrelay`."""
    examples = home / "examples"
    examples.mkdir()
    demo = (ROOT / "examples" / "demo.yaml").read_text()
    demo = demo.replace("127.0.0.1:9100", f"127.0.0.1:{ports[9100]}").replace(
        "port: 8025", f"port: {ports[8025]}"
    )
    (examples / "demo.yaml").write_text(demo)
    shutil.copy(ROOT / "examples" / "demo.env", examples / "demo.env")
    bin_dir = home / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "leadrelay"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m leadrelay "$@"\n')
    shim.chmod(0o755)


@pytest.fixture
def tour(tmp_path: Path) -> Iterator[Tour]:
    missing = [tool for tool in ("make", "curl") if shutil.which(tool) is None]
    if missing:  # .ci/run installs both; a newcomer's machine has them too
        pytest.fail(f"the README tour needs {' and '.join(missing)}, which this machine lacks")
    home = tmp_path / "leadrelay"
    home.mkdir()
    ports = {8000: free_port(), 9100: free_port(), 8025: free_port()}
    _install(home, ports)
    env = _clean_env(home)
    log = (tmp_path / "make-run.log").open("wb")
    make = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(ROOT / "Makefile"),
            "-o",
            "install",  # the package is on PYTHONPATH; nothing to pip install
            "run",
            f"BIN={home / '.venv' / 'bin'}",
            f"PORT={ports[8000]}",
            f"BUYERS_PORT={ports[9100]}",
            f"SMTP_PORT={ports[8025]}",
        ],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # `make run` and its children (buyers, server) end together
    )
    try:
        session = Tour(home, ports, env)

        def up() -> bool:
            if make.poll() is not None:
                raise AssertionError(f"make run ended: {(tmp_path / 'make-run.log').read_text()}")
            try:
                return all(
                    httpx.get(url, timeout=2).status_code == 200
                    for url in (f"{session.api}/health", f"http://127.0.0.1:{ports[9100]}/stats")
                )
            except httpx.TransportError:
                return False

        wait_for(up, timeout=90, interval=0.2)
        yield session
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)
        log.close()
        output = (tmp_path / "make-run.log").read_text(errors="replace")
        print(output)  # shown when the test fails


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow_start(25)
def test_every_command_of_the_readme_tour_works_as_printed(tour: Tour) -> None:
    commands = tour_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert (tour.home / ".env").read_text() == (ROOT / "examples" / "demo.env").read_text()
    state: dict[str, Any] = {}
    seen: list[str] = []
    for command in commands:
        for name, pattern, check in CHECKS:
            if re.search(pattern, command):
                seen.append(name)
                check(tour, command, state)
                break
        else:
            raise AssertionError(f"the tour has a command this test does not check: {command!r}")
    assert seen == [name for name, _, _ in CHECKS], "the tour's commands changed; update the checks"


# ---------------------------------------------------------------- one check per command of the tour


def post_ada(tour: Tour, command: str, state: dict[str, Any]) -> None:
    answer = _json(tour.run(command))
    assert answer["lead_id"].startswith("lead_")
    if answer["status"] == "delivered":  # sunco (80%), else brightpath, both answering price 10.0
        assert answer["partner"] in ("sunco", "brightpath") and answer["price"] == 10.0
    else:  # both buyers refused (4% of runs)
        assert answer == {"lead_id": answer["lead_id"], "status": "unsold", "reason": "no eligible partner"}
    state["ada"] = answer


def post_auctioned(tour: Tour, command: str, state: dict[str, Any]) -> None:
    """Grace's Texas lead goes to auction: every partner is pinged (no personal field in the pings the
    buyers received), the answers are stored as bids, and a sale is at the winning bid."""
    answer = _json(tour.run(command))
    headers = {"Authorization": f"Bearer {tour.env['LEADRELAY_TOKEN']}"}
    r = httpx.get(f"{tour.api}/v1/distributions", params={"lead": answer["lead_id"]}, headers=headers)
    [item] = r.json()["items"]
    job = tour.finished(item["id"])
    trace = job["trace"]
    assert trace[:2] == [
        "rule texas-auction matched",
        "auction: pinging sunco, brightpath, voltedge (deadline 750 ms)",
    ], trace
    assert {b["partner"] for b in job["bids"]} == {"sunco", "brightpath", "voltedge"}
    if answer["status"] == "delivered":
        winner = answer["partner"]
        [bid] = [b for b in job["bids"] if b["partner"] == winner]
        assert bid["status"] == "accepted" and bid["price"] == answer["price"] >= 8
        assert any(line.startswith(f"{winner}: chosen (auction, bid ") for line in trace), trace
    else:  # every bidder refused or bid under $8, or every post was refused
        assert answer["status"] == "unsold", answer
    for name in ("sunco", "brightpath", "voltedge"):
        pings = httpx.get(f"http://127.0.0.1:{tour.ports[9100]}/buyer/{name}/pings", timeout=5).json()
        assert pings["fields"] and {"first_name", "last_name", "email", "phone"}.isdisjoint(pings["fields"])


def post_bad_lead(tour: Tour, command: str, state: dict[str, Any]) -> None:
    answer = _json(tour.run(command))
    assert answer["status"] == "rejected" and answer["lead_id"].startswith("lead_")
    errors = {e["field"]: e["error"] for e in answer["errors"]}
    assert errors["last_name"] == "required" and errors["phone"] == "not a valid US number"


def post_duplicate(tour: Tour, command: str, state: dict[str, Any]) -> None:
    answer = _json(tour.run(command))
    assert answer["status"] == "duplicate" and answer["lead_id"].startswith("lead_")


def check_field(tour: Tour, command: str, state: dict[str, Any]) -> None:
    done = tour.run(command)
    assert done.returncode == 0, done.stderr
    assert "+15125551212" in done.stdout and "512" in done.stdout


def create_token(tour: Tour, command: str, state: dict[str, Any]) -> None:
    done = tour.run(command)
    assert done.returncode == 0, done.stderr
    assert tour.env["LEADRELAY_TOKEN"].startswith("lra_")


def list_by_api(tour: Tour, command: str, state: dict[str, Any]) -> None:
    page = _json(tour.run(command))
    ada = [item for item in page["items"] if item["lead_id"] == state["ada"]["lead_id"]]
    assert len(ada) == 1 and ada[0]["id"].startswith("job_") and ada[0]["profile"] == "solar-main"
    state["job"] = ada[0]["id"]


def log_list(tour: Tour, command: str, state: dict[str, Any]) -> None:
    done = tour.run(command)
    assert done.returncode == 0, done.stderr
    header, *rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert header == ["id", "lead", "profile", "status", "rule", "deliveries", "error"]
    ada = [row for row in rows if row[1] == state["ada"]["lead_id"]]
    assert len(ada) == 1 and ada[0][0] == state["job"]
    assert ada[0][3] == state["ada"]["status"] and ada[0][4] == "west-coast"


def log_show(tour: Tour, command: str, state: dict[str, Any]) -> None:
    detail = _json(tour.run(command, state["job"]))
    assert detail["id"] == state["job"] and detail["status"] == state["ada"]["status"]
    assert detail["trace"][0] == "rule west-coast matched"
    assert "sunco: chosen (priority)" in detail["trace"]
    if state["ada"]["status"] == "delivered":
        partner = state["ada"]["partner"]
        assert any(line.startswith(f"{partner}: delivered (ref {partner}-") for line in detail["trace"])
        delivered = [d for d in detail["deliveries"] if d["status"] == "delivered"]
        assert [d["partner"] for d in delivered] == [partner]
        assert delivered[0]["attempts"][0]["request"]["headers"]  # the request as sent, redacted


def log_resend(tour: Tour, command: str, state: dict[str, Any]) -> None:
    done = tour.run(command, state["job"])
    if state["ada"]["status"] == "delivered":
        assert done.returncode == 0, done.stderr
        found = re.fullmatch(rf"queued (job_\w+) \(resend of {state['job']}\)\n", done.stdout)
        assert found, done.stdout
        state["resend"] = tour.finished(found.group(1))
    else:
        assert done.returncode != 0
        assert f"{state['job']} is unsold (use rerun)" in " ".join(done.stderr.split())


def log_rerun(tour: Tour, command: str, state: dict[str, Any]) -> None:
    """Rerun is for a failed or unsold distribution: Ada's if she was not sold, else her resend if the
    buyer refused it; when both were sold, the answer says why it does not apply."""
    resend = state.get("resend")
    job = resend["id"] if resend is not None else state["job"]
    done = tour.run(command, job)
    if state["ada"]["status"] != "delivered" or resend["status"] != "delivered":
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{job} reset to received\n"
        assert tour.finished(job)["kind"] in ("route", "resend")
    else:
        assert done.returncode != 0
        assert "(use resend" in " ".join(done.stderr.split())


def log_cancel(tour: Tour, command: str, state: dict[str, Any]) -> None:
    done = tour.run(command, state["job"])
    if state["ada"]["status"] == "delivered":
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{state['job']} cancelled\n"
        assert tour.distribution(state["job"])["status"] == "cancelled"
    else:
        assert done.returncode != 0
        assert "cancel is only for delivered distributions" in " ".join(done.stderr.split())


def partners_test(tour: Tour, command: str, state: dict[str, Any]) -> None:
    before = httpx.get(f"http://127.0.0.1:{tour.ports[9100]}/stats", timeout=5).json()
    result = _json(tour.run(command))
    assert result["status"] == "delivered" and result["kind"] == "test"
    [delivery] = result["deliveries"]
    assert (delivery["partner"], delivery["test"], delivery["status"]) == ("sunco", True, "delivered")
    sent = json.loads(delivery["attempts"][0]["request"]["body"])
    assert sent["first_name"] == "Test" and sent["zip"] == "78701" and sent["monthly_bill"] == 150
    after = httpx.get(f"http://127.0.0.1:{tour.ports[9100]}/stats", timeout=5).json()
    assert after["buyers"]["sunco"]["tests"] == before["buyers"].get("sunco", {}).get("tests", 0) + 1


CHECKS = [
    ("post a lead", r"v1/leads\?wait=5(?s:.*)Ada", post_ada),
    ("a bad lead", r"phone=123", post_bad_lead),
    ("the same person again", r"512\.555\.1212", post_duplicate),
    ("check-field", r"check-field phone", check_field),
    ("an admin token", r"export LEADRELAY_TOKEN=", create_token),
    ("the log by the API", r"curl -s http://127\.0\.0\.1:8000/v1/distributions", list_by_api),
    ("log list", r"leadrelay log list", log_list),
    ("log show", r"leadrelay log show", log_show),
    ("an auctioned lead", r"Grace", post_auctioned),
    ("log resend", r"leadrelay log resend", log_resend),
    ("log rerun", r"leadrelay log rerun", log_rerun),
    ("log cancel", r"leadrelay log cancel", log_cancel),
    ("partners test", r"leadrelay partners test sunco", partners_test),
]
