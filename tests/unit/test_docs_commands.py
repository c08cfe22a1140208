"""Every ``leadrelay apply …`` written in the README, the examples, the Makefile and the sources parses
with the real command line (issue 9: ``examples/demo.yaml`` said ``leadrelay apply examples/demo.yaml``,
which ``apply`` refuses: it takes the file with ``-f``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import typer.main

from leadrelay.entrypoints.cli import app
from tests.support import ROOT

_APPLY_RE = re.compile(r"leadrelay apply\b([^`#\n\"]*)")


def _documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "Makefile"]
    for folder, pattern in (("examples", "*"), ("docs", "*.md"), ("src", "*.py")):
        found.extend(p for p in sorted((ROOT / folder).rglob(pattern)) if p.is_file())
    return [p for p in found if p.exists()]


def _written_apply_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for path in _documents():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for match in _APPLY_RE.finditer(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                commands.append((where, shlex.split(match[1].replace("…", ""))))
    return commands


def test_every_written_apply_command_parses() -> None:
    commands = _written_apply_commands()
    assert any(where.startswith("examples/demo.yaml") for where, _ in commands)
    apply = typer.main.get_command(app).commands["apply"]  # type: ignore[attr-defined]
    for where, args in commands:
        try:
            apply.make_context("apply", list(args))  # parses and checks the arguments, runs nothing
        except click.UsageError as exc:
            raise AssertionError(
                f"{where}: leadrelay apply {' '.join(args)}: {exc.format_message()}"
            ) from exc
