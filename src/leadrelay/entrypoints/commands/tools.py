"""`leadrelay import` (leads from a CSV file) and `leadrelay simulate-buyers` (buyer endpoints for demos)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrelay.entrypoints.commands.common import DbOption, fail, out
from leadrelay.entrypoints.commands.runtime import with_runtime

MAX_BUYERS = 1000  # simulated buyers in one process (each is a name, a state and its draws)


def import_csv(
    file: Path,
    entity: Annotated[str, typer.Option(help="The entity of the rows.")],
    source: Annotated[str, typer.Option(help="The source the leads are attributed to.")],
    rejects: Annotated[Path | None, typer.Option(help="Where to write rejected rows with reasons.")] = None,
    database_url: DbOption = None,
) -> None:
    """Import leads from a CSV file (streamed: any size), with progress and a report of rejected rows."""
    from leadrelay.entrypoints.importer import run_import

    if not file.is_file():
        raise fail(f"no such file: {file}")
    rejects = rejects or file.with_name(file.stem + ".rejected.csv")
    with_runtime(database_url, lambda rt: run_import(rt, file, entity, source, rejects, out))


def simulate_buyers(
    port: Annotated[int, typer.Option(min=0, max=65535)] = 9100,
    count: Annotated[int, typer.Option(min=1, max=MAX_BUYERS, help="How many buyers (each a name).")] = 3,
    latency_ms: Annotated[float, typer.Option(min=0)] = 50.0,
    accept_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.8,
    error_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    host: Annotated[str, typer.Option(help="Loopback only.")] = "127.0.0.1",
    smtp_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Also run a demo mailbox (SMTP) on this port; 0: none.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seeds every draw (posts and pings) for repeatable runs.")] = 0,
    ping_latency_ms: Annotated[
        float | None, typer.Option(min=0, help="Fixed ping answer latency (default: --latency-ms).")
    ] = None,
    ping_latency: Annotated[
        str | None,
        typer.Option(help="Ping latency distribution (ms): 50, normal:50,10, uniform:20,80 or exp:30."),
    ] = None,
    bid_min: Annotated[float, typer.Option(min=0, help="Lowest bid.")] = 5.0,
    bid_max: Annotated[float, typer.Option(min=0, help="Highest bid.")] = 25.0,
    refusal_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of pings refused (422).")] = 0.2,
    timeout_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of pings answered only after --timeout-delay-ms.")
    ] = 0.0,
    timeout_delay_ms: Annotated[
        float, typer.Option(min=0, max=60000, help="How late a 'timeout' ping is answered.")
    ] = 30000.0,
) -> None:
    """Run simulated buyer endpoints on loopback (POST /buyer/NAME, pings at /buyer/NAME/ping; GET /stats)."""
    from leadrelay.simulate.bidding import BiddingOptions, Latency, parse_latency
    from leadrelay.simulate.buyers import run_buyers
    from leadrelay.simulate.mailbox import start_mailbox

    try:
        if ping_latency is not None and ping_latency_ms is not None:
            raise ValueError("give --ping-latency-ms or --ping-latency, not both")
        if ping_latency is not None:
            latency = parse_latency(ping_latency)
        else:
            latency = Latency.fixed(latency_ms if ping_latency_ms is None else ping_latency_ms)
        bidding = BiddingOptions(
            latency=latency,
            bid_min=bid_min,
            bid_max=bid_max,
            refusal_rate=refusal_rate,
            timeout_rate=timeout_rate,
            timeout_delay_s=timeout_delay_ms / 1000.0,
        )
        mailbox = start_mailbox(host, smtp_port)[0] if smtp_port else None
        if mailbox is not None:
            print(f"demo mailbox (SMTP) at {host}:{smtp_port}")
        try:
            run_buyers(host, port, count, latency_ms, accept_rate, error_rate, seed=seed, bidding=bidding)
        finally:
            if mailbox is not None:
                mailbox.stop()
    except ValueError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:  # a port in use, or not ours to take
        ports = f"port {port}" + (f" or SMTP port {smtp_port}" if smtp_port else "")
        raise fail(f"simulated buyers on {host} ({ports}): {exc.strerror or exc}") from exc
