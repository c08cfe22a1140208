"""`leadrelay alerts list` (rules, their state, the latest messages) and `leadrelay alerts test NAME` (a
sample message to the rule's targets). See ``services.alerts``."""

from __future__ import annotations

from typing import Annotated

import typer

from leadrelay.bootstrap import Runtime
from leadrelay.entrypoints.commands.common import DbOption, err, out, print_rows
from leadrelay.entrypoints.commands.runtime import print_json, with_runtime
from leadrelay.services.alerts import SentAlert

alerts_app = typer.Typer(help="Alert rules (the `alerts:` list of the configuration).", no_args_is_help=True)

RULES = ("alert", "kind", "threshold", "state", "since", "last fired", "detail", "targets")
EVENTS = ("sent at", "alert", "state", "detail", "targets", "error")


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


@alerts_app.command("list")
def list_alerts(
    events: Annotated[
        int, typer.Option(min=0, max=1000, help="How many of the latest messages to show (0 to 1000).")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database_url: DbOption = None,
) -> None:
    """Every alert rule with its state (ok or firing, since when, what it measured), and the latest
    alert messages sent."""

    async def run(rt: Runtime) -> dict[str, object]:
        return await rt.alerts.overview(events)

    data = with_runtime(database_url, run)
    if as_json:
        print_json(data)
        return
    rules = data["items"]
    assert isinstance(rules, list)
    print_rows(
        RULES,
        [
            (
                r["name"],
                r["kind"],
                r["threshold"] or "",
                r["state"],
                _when(r["since"]),
                _when(r["last_fired_at"]),
                r["detail"] or "",
                " ".join(r["targets"]),
            )
            for r in rules
        ],
    )
    sent = data["events"]
    assert isinstance(sent, list)
    if sent:
        out.print()
        print_rows(
            EVENTS,
            [
                (
                    _when(e["sent_at"]),
                    e["alert"],
                    e["state"],
                    e["detail"],
                    " ".join(e["targets"]),
                    e["error"] or "",
                )
                for e in sent
            ],
        )


@alerts_app.command("test")
def test_alert(
    name: Annotated[str, typer.Argument(help="The alert rule's name.")],
    database_url: DbOption = None,
) -> None:
    """Send the rule's targets a sample message; say where it went, or what failed (exit status 1)."""

    async def run(rt: Runtime) -> SentAlert:
        return await rt.alerts.test(name)

    done = with_runtime(database_url, run)
    for sent in done.sent:
        if sent.error is None:
            out.print(f"sent to {sent.target}", highlight=False)
        else:
            err.print(f"[bold red]failed:[/] {sent.target}: {sent.error}", highlight=False)
    if done.error is not None:
        raise typer.Exit(1)
