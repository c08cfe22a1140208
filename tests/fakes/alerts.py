"""The alerts repository in memory (``services.ports.alerts.Alerts``), as ``alert_store`` does it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadrelay.domain.states import QueueState
from tests.fakes.tables import FakeRow, Tables


class FakeAlerts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def states(self) -> dict[str, FakeRow]:
        rows = sorted(self._t.stored("alert_states"), key=lambda r: r["alert"])
        return {r["alert"]: self._t.row("alert_states", r) for r in rows}

    def move_state(self, alert: str, version: int, values: Mapping[str, Any]) -> bool:
        row = self._t.find("alert_states", alert)
        if row is None and version == 0:
            row = self._t.insert("alert_states", {"alert": alert, "state": "ok", "version": 0})
        if row is None or row["version"] != version:
            return False
        self._t.update("alert_states", row, {**values, "version": version + 1})
        return True

    def forget_state(self, alert: str) -> None:
        row = self._t.find("alert_states", alert)
        if row is not None:
            self._t.delete("alert_states", row)

    def insert_event(self, row: Mapping[str, Any]) -> None:
        self._t.insert("alert_events", row)

    def events(self, alert: str | None, limit: int) -> list[FakeRow]:
        rows = [r for r in self._t.stored("alert_events") if alert is None or r["alert"] == alert]
        rows.sort(key=lambda r: (r["sent_at"], r["id"]), reverse=True)
        return [self._t.row("alert_events", r) for r in rows[:limit]]

    def queue_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        due = [
            r["run_at"]
            for r in self._t.stored("jobs")
            if r["queue_state"] == QueueState.READY and r["run_at"] <= now
        ]
        return len(due), min(due, default=None)

    def failed_batches(self, since: datetime, limit: int = 1000) -> list[tuple[str, str, datetime]]:
        return []  # the fakes keep no batches (tests/fakes/schema.py)
