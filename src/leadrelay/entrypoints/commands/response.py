"""``leadrelay check-response``: how a buyer's answer reads under a partner's response rules, to write and
debug those rules against a real answer before any lead is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from leadrelay.configuration.load import load_yaml_text
from leadrelay.domain.delivery.response import ResponseRules, ResponseRulesError, interpret_response
from leadrelay.entrypoints.commands.common import fail, out
from leadrelay.errors import ConfigError

_STYLES = {"success": "green", "failure": "yellow", "error": "red"}


def check_response(
    rules: Annotated[
        Path, typer.Option("--rules", help="YAML or JSON mapping of response options (LeadConduit's names).")
    ],
    body_file: Annotated[Path, typer.Option("--body-file", help="The answer's body, as received.")],
    status: Annotated[int, typer.Option("--status", help="The answer's HTTP status.")] = 200,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help='An answer header, "Name: value" (repeat the option).'),
    ] = None,
) -> None:
    """Interpret the answer in BODY_FILE under RULES and print its outcome, reason, price and reference."""
    checked = _load_rules(rules)
    headers: dict[str, str] = {}
    for line in header or []:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise fail(escape(f"--header {line!r} is not 'Name: value'"))
        headers[name.strip()] = value.strip()
    try:
        body = body_file.read_bytes()
    except OSError as exc:
        raise fail(escape(f"cannot read the body file {str(body_file)!r}: {exc.strerror or exc}")) from exc
    result = interpret_response(checked, status, headers, body)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    style = _STYLES[result.outcome]
    table.add_row("outcome", f"[{style}]{result.outcome}[/{style}]")
    table.add_row("reason", Text("-" if result.reason is None else result.reason))
    table.add_row("price", f"{result.price:g}")
    table.add_row("reference", Text("-" if result.reference is None else result.reference))
    out.print(table, highlight=False)


def _load_rules(path: Path) -> ResponseRules:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise fail(escape(f"cannot read the rules file {str(path)!r}: {reason}")) from exc
    try:  # YAML as ``apply`` reads it (``load_yaml_text``: ON, 07 stay text)
        options: Any = json.loads(text) if path.suffix.lower() == ".json" else load_yaml_text(text)
    except ValueError as exc:
        raise fail(escape(f"the rules file {str(path)!r} is not valid JSON: {exc}")) from exc
    except ConfigError as exc:
        why = "; ".join(problem.message for problem in exc.problems)
        raise fail(escape(f"the rules file {str(path)!r} is not valid YAML: {why}")) from exc
    if options is None:
        options = {}
    if not isinstance(options, dict) or not all(isinstance(name, str) for name in options):
        raise fail(escape(f"the rules file {str(path)!r} must hold a mapping of option names to values"))
    try:
        return ResponseRules.from_mapping(options)
    except ResponseRulesError as exc:
        raise fail(escape(str(exc))) from exc
