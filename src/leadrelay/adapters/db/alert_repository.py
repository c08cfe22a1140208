"""The alerts repository of a ``SqlTx`` (``leadrelay.services.ports.alerts.Alerts``): the functions of
``alert_store`` bound to the transaction's connection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from leadrelay.adapters.db import alert_store


class SqlAlerts:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def states(self) -> dict[str, Row[Any]]:
        return alert_store.states(self._conn)

    def move_state(self, alert: str, version: int, values: Mapping[str, Any]) -> bool:
        return alert_store.move_state(self._conn, alert, version, values)

    def forget_state(self, alert: str) -> None:
        alert_store.forget_state(self._conn, alert)

    def insert_event(self, row: Mapping[str, Any]) -> None:
        alert_store.insert_event(self._conn, row)

    def events(self, alert: str | None, limit: int) -> list[Row[Any]]:
        return alert_store.events(self._conn, alert, limit)

    def queue_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        return alert_store.queue_backlog(self._conn, now)

    def failed_batches(self, since: datetime, limit: int = 1000) -> list[tuple[str, str, datetime]]:
        return alert_store.failed_batches(self._conn, since, limit)
