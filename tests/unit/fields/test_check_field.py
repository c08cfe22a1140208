"""The ``check-field`` command: what it prints and its exit codes."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from leadrelay.entrypoints.commands.fields import check_field

app = typer.Typer()
app.command()(check_field)


@app.callback()
def _group() -> None:
    """Keep ``check-field`` a sub-command, as it is in the real CLI."""


runner = CliRunner()


def test_valid_value_shows_normal_parts_and_flags() -> None:
    result = runner.invoke(app, ["check-field", "phone", "(877) 555-1212 x12"])
    assert result.exit_code == 0, result.output
    assert "+18775551212" in result.output
    assert "extension" in result.output and "12" in result.output
    assert "toll_free" in result.output


def test_invalid_value_exits_1_with_the_error() -> None:
    result = runner.invoke(app, ["check-field", "phone", "12", "--region", "CA"])
    assert result.exit_code == 1
    assert "not a valid CA number" in result.output


def test_enum_choices() -> None:
    result = runner.invoke(app, ["check-field", "enum", "own", "--choice", "Own", "--choice", "Rent"])
    assert result.exit_code == 0
    assert "Own" in result.output
    assert runner.invoke(app, ["check-field", "enum", "lease", "--choice", "Own"]).exit_code == 1


def test_unknown_type_exits_2() -> None:
    result = runner.invoke(app, ["check-field", "telephone", "x"])
    assert result.exit_code == 2
    assert "unknown field type 'telephone'" in result.output
