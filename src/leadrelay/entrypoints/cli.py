"""The `leadrelay` command line (Typer): serve, worker, db, apply/export, import, log actions, tools."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.migrate import upgrade
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.configuration.load import load_yaml_text
from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.states import JobStatus
from leadrelay.entrypoints.commands import availability
from leadrelay.entrypoints.commands.batches import batches_app
from leadrelay.entrypoints.commands.common import DbOption, actor, err, fail, out, print_rows, settings_for
from leadrelay.entrypoints.commands.credentials import admin_app, sources_app
from leadrelay.entrypoints.commands.dedup import check_dedup_key, dedup_app
from leadrelay.entrypoints.commands.fields import check_field
from leadrelay.entrypoints.commands.keys import keys_app
from leadrelay.entrypoints.commands.leads import leads_app
from leadrelay.entrypoints.commands.response import check_response
from leadrelay.entrypoints.commands.suppression import suppression_app
from leadrelay.errors import ConfigError, LeadrelayError
from leadrelay.services import configure

T = TypeVar("T")
_TEST_ENDED = (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.UNSOLD)  # a test delivery has its answer

app = typer.Typer(help="leadrelay: real-time lead distribution.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
log_app = typer.Typer(help="The distribution log and its actions.", no_args_is_help=True)
partners_app = typer.Typer(help="Partners.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(sources_app, name="sources")
app.add_typer(log_app, name="log")
app.add_typer(partners_app, name="partners")
app.add_typer(suppression_app, name="suppression")
app.add_typer(keys_app, name="keys")
app.add_typer(leads_app, name="leads")
app.add_typer(batches_app, name="batches")
app.add_typer(dedup_app, name="dedup")
partners_app.command("available")(availability.available)
partners_app.command("unavailable")(availability.unavailable)
partners_app.command("availability")(availability.availability)
app.command("check-field")(check_field)
app.command("check-response")(check_response)


def _long_running() -> None:
    """Garbage collection tuned for a server: what exists at start-up is never collected (gc.freeze),
    and the youngest generation is collected less often (each lead allocates many short-lived objects;
    reference counting frees them, the collector only looks for cycles)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (it comes with uvicorn[standard]), as `serve` runs."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _with_runtime(database_url: str | None, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        rt = build_runtime(settings_for(database_url))
        try:
            return await fn(rt)
        finally:
            await rt.stop()

    try:
        return asyncio.run(main())
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc


# ---------------------------------------------------------------- running


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker loops inside this process.")] = None,
    database_url: DbOption = None,
) -> None:
    """Migrate the database, then run the HTTP API and workers in one process."""
    import uvicorn

    from leadrelay.entrypoints.api.app import create_app

    settings = settings_for(database_url)
    _upgrade(settings.database_url)
    check_dedup_key(settings)
    application = create_app(settings, workers=workers)
    _long_running()
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
    )


@app.command()
def worker(
    loops: Annotated[int, typer.Option(help="Worker loops in this process.")] = 1,
    database_url: DbOption = None,
) -> None:
    """Run workers only (any number of processes, on any machine sharing the database)."""
    settings = settings_for(database_url)
    check_dedup_key(settings)

    async def main() -> None:
        rt = build_runtime(settings)
        rt.start_workers(loops)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        err.print(f"worker running ({loops} loop(s)); SIGTERM stops it gracefully")
        _long_running()
        await stop.wait()
        await rt.stop()

    _run_fast(main())


@db_app.command("upgrade")
def db_upgrade(database_url: DbOption = None) -> None:
    """Apply the schema migrations (Alembic) up to the newest."""
    settings = settings_for(database_url)
    _upgrade(settings.database_url)
    out.print("database is up to date")


def _upgrade(url: str) -> None:
    """The migrations; an expected failure (0007 without the secret it needs) is one error line."""
    try:
        upgrade(url)
    except LeadrelayError as exc:
        raise fail(f"database upgrade: {exc.detail}") from exc


# ---------------------------------------------------------------- configuration


@app.command()
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="A YAML configuration document.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    database_url: DbOption = None,
) -> None:
    """Create or update entities, sources, partners and profiles from YAML (all or nothing)."""
    try:
        data = load_yaml_text(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from exc
    except ConfigError as exc:
        raise _config_fail(exc) from exc
    settings = settings_for(database_url)
    db = Database(settings.database_url)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        sealer = Sealer(db, secret)
        changes = configure.apply_document_sync(
            SqlStorage(db), data, actor=actor(), dry_run=dry_run, sealer=sealer
        )
    except ConfigError as exc:
        raise _config_fail(exc) from exc
    finally:
        db.dispose()
    table = Table("kind", "name", "action" if not dry_run else "would be", box=None)
    for c in changes:
        colour = {"created": "green", "updated": "yellow", "unchanged": "dim"}.get(c.action, "")
        table.add_row(c.kind, c.name, f"[{colour}]{c.action}[/]")
    out.print(table)
    if dry_run:
        out.print("dry run: nothing was changed")


def _config_fail(exc: ConfigError) -> typer.Exit:
    err.print(f"[bold red]invalid configuration[/] ({len(exc.problems)} problem(s)); nothing was applied:")
    for p in exc.problems:
        err.print(f"  {p}", highlight=False, markup=False)
    return typer.Exit(2)


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Write the stored configuration as YAML that re-applies to the same state."""
    db = Database(settings_for(database_url).database_url)
    try:
        text = configure.export_yaml(SqlStorage(db))
    finally:
        db.dispose()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------- the log


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


@log_app.command("list")
def log_list(
    status: Annotated[str | None, typer.Option()] = None,
    partner: Annotated[str | None, typer.Option()] = None,
    profile: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    lead: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    database_url: DbOption = None,
) -> None:
    """The newest distributions."""
    f = DistributionFilter(status, partner, profile, source, lead, limit=limit)
    page = _with_runtime(database_url, lambda rt: rt.logview.distributions(f))
    columns = ("id", "lead", "profile", "status", "rule", "deliveries", "error")
    rows = [
        (
            item["id"],
            item["lead_id"],
            item["profile"],
            item["status"],
            item["rule"] or "",
            ", ".join(item["deliveries"]),
            item["error"] or "",
        )
        for item in page["items"]
    ]
    print_rows(columns, rows, no_wrap=("id", "lead"))


@log_app.command("show")
def log_show(job_id: str, database_url: DbOption = None) -> None:
    """One distribution with its routing trace and delivery attempts."""
    _print_json(_with_runtime(database_url, lambda rt: rt.logview.distribution(job_id)))


ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


@log_app.command("resend")
def log_resend(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Resend a delivered distribution to the same partner (a new linked job)."""
    new = _with_runtime(database_url, lambda rt: rt.actions.resend(job_id, actor=actor(), reason=reason))
    out.print(f"queued {', '.join(new)} (resend of {job_id})")


@log_app.command("rerun")
def log_rerun(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Route a failed or stuck distribution again."""
    _with_runtime(database_url, lambda rt: rt.actions.rerun(job_id, actor=actor(), reason=reason))
    out.print(f"{job_id} reset to received")


@log_app.command("cancel")
def log_cancel(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Cancel a delivered, not invoiced distribution within the partner's cancellation period."""
    new = _with_runtime(database_url, lambda rt: rt.actions.cancel(job_id, actor=actor(), reason=reason))
    out.print(f"{job_id} cancelled" + (f"; redistributed as {new}" if new else ""))


HANDOFF_S = 1.0  # how long `partners test` leaves its job to the installation's running workers


@partners_app.command("test")
def partners_test(
    name: str,
    lead: Annotated[
        Path | None, typer.Option(help="A JSON file with the lead to send (else one is made up).")
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="The entity of the test lead, when the partner takes several.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the outcome.")] = 15.0,
    ping: Annotated[
        bool, typer.Option("--ping", help="Ping instead: show the rendered ping, the answer and the bid.")
    ] = False,
    database_url: DbOption = None,
) -> None:
    """Send a clearly marked test lead through the partner's channel and show the result.

    The installation's running workers (`serve`, `worker`) deliver it, as they deliver real leads; when
    none takes it within a second (nothing running), this command delivers it itself. With --ping, this
    command sends the partner's ping itself (once, within its timeout; nothing of the lead is stored) and
    exits 1 unless the bid is accepted."""
    given = _lead_file(lead) if lead is not None else None
    if ping:
        shown = _with_runtime(
            database_url, lambda rt: rt.pings.test(name, actor=actor(), entity=entity, lead=given)
        )
        _print_json(shown)
        if not shown["bid"]["accepted"]:
            raise typer.Exit(1)
        return

    async def run(rt: Runtime) -> dict[str, Any]:
        job_id = await rt.actions.test_delivery(name, actor=actor(), entity=entity, lead=given)
        loop = asyncio.get_running_loop()
        started = loop.time()
        local = False
        while True:
            detail = await rt.logview.distribution(job_id)
            if detail["status"] in _TEST_ENDED or loop.time() > started + wait:
                return await rt.batches.with_previews(detail)
            if not local and detail["status"] == JobStatus.RECEIVED and loop.time() > started + HANDOFF_S:
                rt.start_workers(1, only={job_id})  # no worker took it: deliver it here (this job only)
                local = True
            await asyncio.sleep(0.05)

    detail = _with_runtime(database_url, run)
    _print_json(detail)
    if detail["status"] != JobStatus.DELIVERED:
        raise typer.Exit(1)


def _lead_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"--lead: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise fail(f"--lead: {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail(f"--lead: {path} must hold a JSON object (field: value)")
    return doc


# ---------------------------------------------------------------- tools


@app.command("import")
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
    _with_runtime(database_url, lambda rt: run_import(rt, file, entity, source, rejects, out))


@app.command("simulate-buyers")
def simulate_buyers(
    port: Annotated[int, typer.Option()] = 9100,
    count: Annotated[int, typer.Option(min=1)] = 3,
    latency_ms: Annotated[float, typer.Option(min=0)] = 50.0,
    accept_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.8,
    error_rate: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    host: Annotated[str, typer.Option(help="Loopback only.")] = "127.0.0.1",
    smtp_port: Annotated[int, typer.Option(help="Also run a demo mailbox (SMTP) on this port; 0: none.")] = 0,
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
