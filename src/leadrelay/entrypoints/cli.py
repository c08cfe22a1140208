"""The `leadrelay` command line (Typer): serve, worker, db, apply/export, import, log actions, tools.

The command groups and most commands live in ``entrypoints.commands``; this module builds the app from
them and holds the commands that run the installation (serve, worker, db upgrade).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from leadrelay.adapters.db.migrate import upgrade
from leadrelay.adapters.observability.logs import configure_logging
from leadrelay.bootstrap import build_runtime
from leadrelay.entrypoints.commands.alerts import alerts_app
from leadrelay.entrypoints.commands.batches import batches_app
from leadrelay.entrypoints.commands.common import DbOption, err, fail, out, settings_for
from leadrelay.entrypoints.commands.configuration import apply, export
from leadrelay.entrypoints.commands.credentials import admin_app, sources_app
from leadrelay.entrypoints.commands.dedup import check_dedup_key, dedup_app
from leadrelay.entrypoints.commands.fields import check_field
from leadrelay.entrypoints.commands.invoices import invoices_app
from leadrelay.entrypoints.commands.keys import keys_app
from leadrelay.entrypoints.commands.leads import leads_app
from leadrelay.entrypoints.commands.ledger import ledger_app
from leadrelay.entrypoints.commands.log import log_app
from leadrelay.entrypoints.commands.partners import partners_app
from leadrelay.entrypoints.commands.processes import WorkerProcesses, metrics_directory
from leadrelay.entrypoints.commands.reports import report
from leadrelay.entrypoints.commands.response import check_response
from leadrelay.entrypoints.commands.returns import returns_app
from leadrelay.entrypoints.commands.simulate import simulate
from leadrelay.entrypoints.commands.suppression import suppression_app
from leadrelay.entrypoints.commands.tools import import_csv, simulate_buyers
from leadrelay.entrypoints.commands.users import users_app
from leadrelay.entrypoints.commands.wallets import wallets_app
from leadrelay.errors import LeadrelayError

T = TypeVar("T")


class _Commands(TyperGroup):
    """The command tree: an error of leadrelay's that no command expected (the database unreachable, its
    URL mistyped) ends the command with one line and exit 1, as an expected one does, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except LeadrelayError as exc:
            raise fail(exc.detail) from exc


app = typer.Typer(
    cls=_Commands, help="leadrelay: real-time lead distribution.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(sources_app, name="sources")
app.add_typer(log_app, name="log")
app.add_typer(partners_app, name="partners")
app.add_typer(wallets_app, name="wallets")
app.add_typer(suppression_app, name="suppression")
app.add_typer(keys_app, name="keys")
app.add_typer(leads_app, name="leads")
app.add_typer(batches_app, name="batches")
app.add_typer(dedup_app, name="dedup")
app.add_typer(ledger_app, name="ledger")
app.add_typer(alerts_app, name="alerts")
app.add_typer(returns_app, name="returns")
app.add_typer(invoices_app, name="invoices")
app.add_typer(users_app, name="users")
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
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(min=0, help="Worker loops inside this process.")] = None,
    worker_processes: Annotated[
        int,
        typer.Option(
            min=0, help="Worker processes beside the API (each `leadrelay worker` with --workers loops)."
        ),
    ] = 0,
    database_url: DbOption = None,
) -> None:
    """Migrate the database, then run the HTTP API and workers: loops in this process (--workers), and
    worker processes beside it (--worker-processes), whose metrics /metrics sums with its own."""
    import uvicorn

    settings = settings_for(database_url)
    # the address it listens on is the one its links name (LEADRELAY_PUBLIC_URL unset): this process's
    # and its worker processes' (a postback URL rendered by a worker), which read it from the environment
    if port is not None or host is not None:
        settings = settings.model_copy(update={"port": port or settings.port, "host": host or settings.host})
        if worker_processes:
            os.environ.update(LEADRELAY_PORT=str(settings.port), LEADRELAY_HOST=settings.host)
    configure_logging(settings.log_format, settings.log_level)
    _upgrade(settings.database_url)
    check_dedup_key(settings)
    with metrics_directory(needed=worker_processes > 0):
        from leadrelay.entrypoints.api.app import create_app

        loops = settings.workers if workers is None else workers
        # with worker processes, the API process runs no loops of its own unless --workers says so
        application = create_app(
            settings, workers=loops if workers is not None or not worker_processes else 0
        )
        others = WorkerProcesses(
            worker_processes, max(1, loops), settings.database_url, settings.shutdown_grace
        )
        others.start()
        # uvicorn sends the SIGTERM it caught on after its graceful shutdown: this handler turns it into
        # an exit that runs the cleanup below (the worker processes, the metrics directory)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            _long_running()
            uvicorn.run(
                application,
                host=host or settings.host,
                port=port or settings.port,
                log_level="warning",
                log_config=None,  # uvicorn's lines go through leadrelay's log handler
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
            )
        finally:
            others.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@app.command()
def worker(
    loops: Annotated[int, typer.Option(min=1, help="Worker loops in this process.")] = 1,
    database_url: DbOption = None,
) -> None:
    """Run workers only (any number of processes, on any machine sharing the database)."""
    settings = settings_for(database_url)
    configure_logging(settings.log_format, settings.log_level)
    check_dedup_key(settings)

    async def main() -> None:
        rt = build_runtime(settings)  # counts into PROMETHEUS_MULTIPROC_DIR when one is set (serve's)
        rt.start_wakeups()
        rt.start_workers(loops)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        err.print(f"worker running ({loops} loop(s)); SIGTERM stops it gracefully")
        _long_running()
        await stop.wait()
        await rt.stop()

    with metrics_directory(needed=False):  # an operator's PROMETHEUS_MULTIPROC_DIR: made if missing
        _run_fast(main())


@db_app.command("upgrade")
def db_upgrade(database_url: DbOption = None) -> None:
    """Apply the schema migrations (Alembic) up to the newest."""
    settings = settings_for(database_url)
    _upgrade(settings.database_url)
    out.print("database is up to date")


def _upgrade(url: str) -> None:
    """The migrations; an expected failure (0007 without the secret it needs, a database that cannot be
    reached, a schema newer than this version knows) is one error line, not a traceback."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        upgrade(url)
    except LeadrelayError as exc:
        raise fail(f"database upgrade: {exc.detail}") from exc
    except (SQLAlchemyError, CommandError) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise fail(f"database upgrade: {first or type(exc).__name__}") from exc


# ---------------------------------------------------------------- the other commands (entrypoints.commands)

app.command()(apply)
app.command()(export)
app.command("import")(import_csv)
app.command("simulate-buyers")(simulate_buyers)
app.command("simulate")(simulate)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
