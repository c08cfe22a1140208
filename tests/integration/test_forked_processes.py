"""The `leadrelay` processes the tests fork (``tests.forked``) behave as the subprocesses they replace: their
own environment, working directory, output and exit status, and the operating system's signals."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests import forked
from tests.support import free_port, leadrelay_cmd, process, wait_http


def test_a_command_gives_its_output_and_its_own_exit_code(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    proc = forked.start(
        leadrelay_cmd("check-field", "phone", "(512) 789-1111 x123"), os.environ, log=log, cwd=tmp_path
    )
    assert isinstance(proc, forked.Forked) or forked.measured()  # forked, unless coverage measures the run
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "+15127891111;ext=123" in log.read_text()
    assert "\x1b[" not in log.read_text()  # no terminal colours: the output goes to a file

    refused = forked.start(leadrelay_cmd("check-field", "phone", "nope"), os.environ, log=log, cwd=tmp_path)
    assert refused.wait(timeout=60) == 1  # the command's own exit code
    usage = forked.start(leadrelay_cmd("no-such-command"), os.environ, log=log, cwd=tmp_path)
    assert usage.wait(timeout=60) == 2
    assert "No such command" in log.read_text()


def test_the_environment_and_the_directory_are_the_processes_own(tmp_path: Path) -> None:
    """Exactly the environment given, in the directory given: without ``LEADRELAY_ENV_FILE`` (which this
    process, and so the fork server, has set to no file) the command reads ``./.env`` of its directory,
    and the relative database path there is taken from the same directory."""
    assert os.environ.get("LEADRELAY_ENV_FILE") == ""  # tests/conftest.py
    (tmp_path / ".env").write_text("LEADRELAY_DATABASE_URL=sqlite:///from-env-file.db\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LEADRELAY_ENV_FILE", "LEADRELAY_DATABASE_URL")}
    proc = forked.start(leadrelay_cmd("db", "upgrade"), env, log=tmp_path / "out.log", cwd=tmp_path)
    assert proc.wait(timeout=60) == 0, (tmp_path / "out.log").read_text()
    assert (tmp_path / "from-env-file.db").exists()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGKILL, -signal.SIGKILL)])
def test_a_server_ends_by_the_operating_systems_signals(tmp_path: Path, sig: int, code: int) -> None:
    """SIGTERM: the graceful shutdown and exit 0; kill -9: the kernel's, ``-9`` as ``Popen`` says it."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    args = leadrelay_cmd("serve", "--workers", "0", "--port", str(port))
    with process(args, {"LEADRELAY_DATABASE_URL": url}, log=tmp_path / "serve.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
        with pytest.raises(subprocess.TimeoutExpired):  # a wait that runs out says so, as Popen's does
            proc.wait(timeout=0.01)
        assert proc.poll() is None and proc.returncode is None
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == code, (tmp_path / "serve.log").read_text()
        assert proc.returncode == code
