"""`leadrelay simulate`: route one lead through the configuration or a draft (``--lead ID``, or
``--lead-file F.json --entity E --source S``), or backtest a draft on the last leads (``--config
draft.yaml --since 7d``); Rich tables, or ``--json``. Nothing is delivered and nothing moves
(``services.simulation``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadrelay.bootstrap import Runtime
from leadrelay.entrypoints.commands.common import DbOption, err, fail, out
from leadrelay.entrypoints.commands.runtime import print_json, with_runtime
from leadrelay.errors import ConfigError, ValidationFailed
from leadrelay.services.simulation import DEFAULT_LIMIT, MAX_LIMIT, parse_since
from leadrelay.services.simulation_views import backtest_dict, simulation_dict

_OPTION = {
    "lead_id": "--lead",
    "lead": "--lead-file",
    "entity": "--entity",
    "source": "--source",
    "since": "--since",
    "limit": "--limit",
}


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{option}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise fail(f"{option}: cannot read {path}: not UTF-8 text (byte {exc.start})") from exc


def _lead_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(_read(path, "--lead-file"))
    except ValueError as exc:
        raise fail(f"--lead-file: {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail(f"--lead-file: {path} must hold a JSON object (field: value)")
    return doc


def simulate(
    lead: Annotated[str | None, typer.Option("--lead", help="A stored lead's id.")] = None,
    lead_file: Annotated[
        Path | None, typer.Option("--lead-file", help="A JSON file with a lead to paste (field: value).")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="The pasted lead's entity.")] = None,
    source: Annotated[str | None, typer.Option(help="The pasted lead's source.")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A draft configuration (YAML, as `apply` takes it); never stored."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Backtest the draft on the leads since then: 7d, 12h, or an ISO date.")
    ] = None,
    limit: Annotated[int, typer.Option(help="The most leads a backtest replays.")] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Machine output (JSON).")] = False,
    database_url: DbOption = None,
) -> None:
    """Show which rule matches a lead, each partner's eligibility and why, the pick order and the expected
    price, for the configuration in force or a draft (--config); or, with --since, replay the last leads
    through the draft and compare volume, revenue and each partner's share with what happened. Nothing
    is delivered, no buyer is contacted and no counter moves."""
    draft = _read(config, "--config") if config is not None else None
    if since is not None:
        if draft is None:
            raise fail("--config: a backtest (--since) needs a draft configuration", code=2)
        if lead is not None or lead_file is not None:
            raise fail("--since: a backtest replays past leads; leave out --lead and --lead-file", code=2)
        if not 1 <= limit <= MAX_LIMIT:
            raise fail(f"--limit: must be between 1 and {MAX_LIMIT}", code=2)
        _backtest(draft, since, limit, as_json, database_url)
        return
    if (lead is None) == (lead_file is None):
        raise fail(
            "--lead: give a stored lead's id (--lead) or a lead file (--lead-file), one of them", code=2
        )
    pasted = None
    if lead_file is not None:
        if entity is None or source is None:
            raise fail(f"{'--entity' if entity is None else '--source'}: needed with --lead-file", code=2)
        pasted = _lead_file(lead_file)

    async def run(rt: Runtime) -> dict[str, Any]:
        result = await rt.simulator.simulate(
            lead_id=lead, entity=entity, source=source, lead=pasted, draft=draft
        )
        return simulation_dict(result)

    shown = _run(run, database_url)
    if as_json:
        print_json(shown)
        return
    _print_simulation(shown)


def _backtest(draft: str, since: str, limit: int, as_json: bool, database_url: str | None) -> None:
    async def run(rt: Runtime) -> dict[str, Any]:
        start = parse_since(since, rt.simulator.now())
        return backtest_dict(await rt.simulator.backtest(draft, since=start, limit=limit))

    shown = _run(run, database_url)
    if as_json:
        print_json(shown)
        return
    _print_backtest(shown)


def _run(fn: Any, database_url: str | None) -> dict[str, Any]:
    try:
        result: dict[str, Any] = with_runtime(database_url, _checked(fn))
    except _Bad as bad:
        raise fail(bad.message) from None
    return result


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _checked(fn: Any) -> Any:
    """``fn`` with the draft's problems named by configuration path and the lead's by option."""

    async def run(rt: Runtime) -> Any:
        try:
            return await fn(rt)
        except ConfigError as exc:
            lines = [f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems]
            for line in lines[1:]:
                err.print(f"  --config: {line}", highlight=False, markup=False)
            raise _Bad(
                f"--config: {lines[0]}" + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")
            ) from exc
        except ValidationFailed as exc:
            words = [f"{_OPTION.get(p.field, '--lead-file: ' + p.field)}: {p.error}" for p in exc.problems]
            raise _Bad("; ".join(words)) from exc

    return run


def _print_simulation(s: dict[str, Any]) -> None:
    who = f"lead {s['lead_id']}" if s["lead_id"] else "pasted lead"
    out.print(
        f"{who} ({s['entity']} from {s['source']}), configuration {s['config']} (version {s['version']}): "
        "nothing delivered",
        highlight=False,
    )
    for p in s["profiles"]:
        rule = p["rule"] or "none"
        out.print(
            f"\nprofile [bold]{p['profile']}[/]: rule {rule}, strategy {p['strategy'] or '-'}, "
            f"outcome {p['outcome']}, expected revenue {p['expected_revenue']}"
            + (f" ({p['reason']})" if p["reason"] else ""),
            highlight=False,
        )
        if p["order"]:
            out.print(f"pick order: {', '.join(p['order'])}", highlight=False)
        if p["auction_prices"]:
            out.print(f"auction on {p['auction_prices']}", highlight=False)
        table = Table(title=None, box=None)
        for column in ("partner", "verdict", "order", "price", "why"):
            table.add_column(column)
        for v in p["partners"]:
            price = f"{v['price']} ({v['price_basis']})" if v["price"] is not None else "-"
            position = str(v["position"]) if v["position"] is not None else "-"
            table.add_row(v["partner"], v["verdict"], position, price, "; ".join(v["reasons"]) or "-")
        out.print(table)
    for note in s["notes"]:
        out.print(f"note: {note}", highlight=False)


def _print_backtest(b: dict[str, Any]) -> None:
    out.print(
        f"backtest of the draft on {b['leads']} leads from {b['since']} to {b['until']}"
        + (f" (the first {b['limit']}: more were left out)" if b["truncated"] else ""),
        highlight=False,
    )
    totals = Table(box=None)
    for column in ("", "leads", "routed", "sold", "unsold", "revenue"):
        totals.add_column(column)
    for side in ("actual", "draft", "difference"):
        t = b[side]
        totals.add_row(
            side, str(t["leads"]), str(t["routed"]), str(t["sold"]), str(t["unsold"]), t["revenue"]
        )
    out.print(totals)
    shares = Table(box=None)
    for column in (
        "partner",
        "actual",
        "share",
        "draft",
        "share ",
        "difference",
        "actual revenue",
        "draft revenue",
    ):
        shares.add_column(column)
    for p in b["partners"]:
        shares.add_row(
            p["partner"],
            str(p["actual"]),
            f"{p['actual_share']}%",
            str(p["draft"]),
            f"{p['draft_share']}%",
            f"{p['difference']:+d}",
            p["actual_revenue"],
            p["draft_revenue"],
        )
    out.print(shares)
    a = b["auctions"]
    if a["on_recorded_bids"] or a["on_list_prices"]:
        out.print(
            f"auctions: {a['on_recorded_bids']} decided on recorded bids, "
            f"{a['on_list_prices']} on list prices (no recorded bids)",
            highlight=False,
        )
    for note in b["notes"]:
        out.print(f"note: {note}", highlight=False)
