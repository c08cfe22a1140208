"""The `leadrelay` command line (Typer): serve, worker, db, apply/export, import, log actions, tools.

The command groups and most commands live in ``entrypoints.commands``; this module builds the app from
them and holds the commands that run the installation (serve, worker, db upgrade).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from leadrelay.adapters.db.migrate import upgrade
from leadrelay.bootstrap import build_runtime
from leadrelay.entrypoints.commands.batches import batches_app
from leadrelay.entrypoints.commands.common import DbOption, err, fail, out, settings_for
from leadrelay.entrypoints.commands.configuration import apply, export
from leadrelay.entrypoints.commands.credentials import admin_app, sources_app
from leadrelay.entrypoints.commands.dedup import check_dedup_key, dedup_app
from leadrelay.entrypoints.commands.fields import check_field
from leadrelay.entrypoints.commands.keys import keys_app
from leadrelay.entrypoints.commands.leads import leads_app
from leadrelay.entrypoints.commands.log import log_app
from leadrelay.entrypoints.commands.partners import partners_app
from leadrelay.entrypoints.commands.reports import report
from leadrelay.entrypoints.commands.response import check_response
from leadrelay.entrypoints.commands.suppression import suppression_app
from leadrelay.entrypoints.commands.tools import import_csv, simulate_buyers
from leadrelay.errors import LeadrelayError

T = TypeVar("T")

app = typer.Typer(help="leadrelay: real-time lead distribution.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
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
app.command("check-field")(check_field)
app.command("check-response")(check_response)
app.command("report")(report)


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


# ---------------------------------------------------------------- the other commands (entrypoints.commands)

app.command()(apply)
app.command()(export)
app.command("import")(import_csv)
app.command("simulate-buyers")(simulate_buyers)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
