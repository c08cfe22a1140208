"""Alerts' storage and transport: the ``Alerts`` repository (``adapters.db.alert_store``) and the
``AlertTransport`` that sends a message to a rule's targets (``adapters.channels.alerts``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from leadrelay.domain.alerts import AlertMessage, AlertSpec
from leadrelay.services.ports.records import Record


class Alerts(Protocol):
    """Alert rules' states, the messages sent, and the readings no other repository gives."""

    def states(self) -> dict[str, Record]:
        """Every stored rule state (``alert_states`` rows), by alert name."""
        ...

    def move_state(self, alert: str, version: int, values: Mapping[str, Any]) -> bool:
        """Set the rule's state to ``values`` if its stored ``version`` is the one given (no row: 0); True
        when this transaction moved it (of several processes, one does)."""
        ...

    def forget_state(self, alert: str) -> None:
        """Drop the rule's stored state (the rule was deleted, or is new: a rule created under the name of
        a deleted one starts ok, not with the old one's firing)."""
        ...

    def insert_event(self, row: Mapping[str, Any]) -> None: ...

    def events(self, alert: str | None, limit: int) -> list[Record]:
        """The messages sent (of one rule, or all), newest first."""
        ...

    def queue_backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """The jobs ready to run at ``now``, and when the longest-waiting of them became due."""
        ...

    def failed_batches(self, since: datetime, limit: int = 1000) -> list[tuple[str, str, datetime]]:
        """Batches cut since ``since`` and given up on: (partner, batch id, cut at)."""
        ...


@dataclass(frozen=True, slots=True)
class Sent:
    """One target's outcome: ``target`` as recorded (``mailto:…`` or the URL), ``error`` (None: taken)."""

    target: str
    error: str | None = None


class AlertTransport(Protocol):
    """Sends an alert message to every target of its rule (email through the installation's SMTP
    settings, a webhook POST); never raises for transport trouble, each target's outcome is returned."""

    async def send(self, spec: AlertSpec, message: AlertMessage) -> Sequence[Sent]: ...
