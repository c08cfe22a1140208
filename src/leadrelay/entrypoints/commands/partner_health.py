"""`leadrelay partners health [NAME]`: each partner's post and ping latency (p50/p95/p99), error and timeout
rates over its breaker's window, and its circuit breaker (see ``services.health``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.domain.health import Stats, format_rate
from leadrelay.entrypoints.commands.common import DbOption, fail, print_rows, settings_for
from leadrelay.errors import LeadrelayError
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.health_report import Health, health_tx

COLUMNS = ("partner", "breaker", "since", "retry at", "reason", "window", "post", "ping")


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def _stats(stats: Stats) -> str:
    """``20 req, errors 15%, timeouts 0%, p50/p95/p99 12/40/95 ms`` (``-`` without requests)."""
    if not stats.count:
        return "-"
    rates = f"errors {format_rate(stats.error_rate)}, timeouts {format_rate(stats.timeout_rate)}"
    return (
        f"{stats.count} req, {rates},"
        f" p50/p95/p99 {_ms(stats.p50_ms)}/{_ms(stats.p95_ms)}/{_ms(stats.p99_ms)} ms"
    )


def _row(h: Health) -> tuple[str, ...]:
    b = h.breaker
    state = b.state.value if h.breaker_enabled else f"{b.state.value} (off)"
    return (
        h.partner,
        state,
        b.changed_at.isoformat(timespec="seconds") if b.changed_at else "",
        b.retry_at.isoformat(timespec="seconds") if b.retry_at else "",
        b.reason or "",
        f"{h.window_s:g}s",
        _stats(h.post),
        _stats(h.ping),
    )


def health(
    name: Annotated[str | None, typer.Argument(help="One partner (default: all).")] = None,
    database_url: DbOption = None,
) -> None:
    """Every partner's health over its breaker's window (post and ping requests, error and timeout rates,
    p50/p95/p99 latency) and its circuit breaker: closed, open (skipped until 'retry at') or half_open."""
    db = Database(settings_for(database_url).database_url)
    now = datetime.now(UTC)
    try:
        configs = ConfigCache()
        rows = SqlStorage(db).read(lambda tx: health_tx(tx, configs.current(tx), now, name))
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()
    print_rows(COLUMNS, [_row(h) for h in rows])
