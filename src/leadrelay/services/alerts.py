"""Alerts: check every configured rule, send "firing" and "resolved" messages, list rules and messages, and
send a rule a test message.

A check (:meth:`Alerting.check`) reads what the rules need (post and ping observations, day caps, the
queue, failed batches, breakers, wallets), measures each rule (``domain.alert_checks``) and decides
against its stored state (``domain.alerts.decide``); then one short write transaction moves the states
that change, each with a conditional UPDATE on the version it read. Of several worker processes checking
at once, only the one whose UPDATE moved the row sends; the others see their move refused and stay quiet.
The messages go out after the commit; each is then recorded (``alert_events``) with its targets and any
error. A message whose sending fails is recorded with the error and not sent again (a firing rule's
reminder after its cool-down, or its "resolved", are the next messages).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.domain.alert_checks import Observations, held_partners, reading
from leadrelay.domain.alerts import (
    WINDOW_KINDS,
    Action,
    AlertKind,
    AlertMessage,
    AlertSpec,
    AlertState,
    Decision,
    EventState,
    Memory,
    Reading,
    decide,
    message_of,
)
from leadrelay.domain.caps import window_key
from leadrelay.domain.health import ping_result, stored_result
from leadrelay.domain.model import CapPeriod
from leadrelay.errors import NotFound
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ports import (
    AlertTransport,
    Clock,
    IdSource,
    Record,
    Sent,
    Storage,
    Tx,
    system_clock,
    system_ids,
)

log = logging.getLogger("leadrelay.alerts")

_RATE_KINDS = frozenset({AlertKind.FAILURE_RATE, AlertKind.TIMEOUT_RATE, AlertKind.LATENCY})
TEST_DETAIL = "a test message: when this rule fires, its message says what crossed which threshold"


@dataclass(frozen=True, slots=True)
class SentAlert:
    """A message sent (or tried) and each target's outcome."""

    message: AlertMessage
    sent: Sequence[Sent]

    @property
    def error(self) -> str | None:
        errors = [f"{s.target}: {s.error}" for s in self.sent if s.error is not None]
        return "; ".join(errors) if errors else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.message.event_id,
            "alert": self.message.alert,
            "state": str(self.message.state),
            "detail": self.message.detail,
            "sent_at": self.message.at.isoformat(),
            "targets": [s.target for s in self.sent],
            "error": self.error,
        }


def memory_of(row: Record | None) -> Memory:
    if row is None:
        return Memory()
    return Memory(AlertState(row.state), row.since, row.last_fired_at, row.detail, row.version)


def observe(tx: Tx, live: LiveConfig, specs: Sequence[AlertSpec], now: datetime) -> Observations:
    """What the rules ``specs`` need, read once for all of them."""
    kinds = {spec.kind for spec in specs}
    values: dict[str, Any] = {}
    windowed = [spec for spec in specs if spec.kind in _RATE_KINDS]
    if windowed:
        since = now - timedelta(seconds=max(spec.window_s for spec in windowed))
        # read partner by partner: the read's row limit is each partner's, so a busy partner's requests
        # never crowd out another's (read for every partner at once, 50,000 posts of one left none of the
        # others': a failing partner's rule never fired)
        watched = sorted(
            live.specs.partners
            if any(not spec.partners for spec in windowed)
            else {p for spec in windowed for p in spec.partners}
        )
        values["posts"] = [
            (p, at, ms, stored_result(outcome, reason))
            for name in watched
            for p, at, ms, outcome, reason in tx.deliveries.post_observations(since, name)
        ]
        if AlertKind.TIMEOUT_RATE in kinds:
            values["pings"] = [
                (p, at, ms, ping_result(status))
                for name in watched
                for p, at, ms, status in tx.deliveries.ping_observations(since, name)
            ]
    if AlertKind.CAP_EARLY in kinds:
        keys = {
            name: (name, "", window_key(CapPeriod.DAY, ZoneInfo(partner.timezone), now))
            for name, partner in live.specs.partners.items()
            if CapPeriod.DAY in partner.caps
        }
        used = tx.caps.cap_used(list(keys.values()))
        values["day_caps"] = {
            name: (
                live.specs.partners[name].caps[CapPeriod.DAY],
                used[key],
                live.specs.partners[name].timezone,
            )
            for name, key in keys.items()
        }
    if AlertKind.WALLET_LOW in kinds:
        values["wallets"] = {  # the money in each wallet and its credit limit
            partner: (w.balance, w.credit_limit) for partner, w in tx.wallets.wallet_balances().items()
        }
    if kinds & {AlertKind.QUEUE_BACKLOG, AlertKind.QUEUE_AGE}:
        values["ready_jobs"], values["oldest_ready"] = tx.alerts.queue_backlog(now)
    if AlertKind.BATCH_FAILED in kinds:
        widest = max(s.window_s for s in specs if s.kind is AlertKind.BATCH_FAILED)
        values["failed_batches"] = tx.alerts.failed_batches(now - timedelta(seconds=widest))
    if AlertKind.CIRCUIT_OPEN in kinds:
        values["breakers"] = {p: str(row["state"]) for p, row in tx.caps.breakers().items()}
    return Observations(now, **values)


def _state_values(memory: Memory) -> dict[str, Any]:
    return {
        "state": memory.state.value,
        "since": memory.since,
        "last_fired_at": memory.last_fired_at,
        "detail": memory.detail,
    }


def _event_row(done: SentAlert) -> dict[str, Any]:
    m = done.message
    return {
        "id": m.event_id,
        "alert": m.alert,
        "state": m.state.value,
        "detail": m.detail,
        "sent_at": m.at,
        "targets": [s.target for s in done.sent],
        "error": done.error,
    }


class Alerting:
    """The alerts of an installation: checks (the worker runs them), the list, tests of a rule."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        transport: AlertTransport,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.transport = transport
        self.clock = clock
        self.ids = ids

    def _plan(self, tx: Tx, now: datetime) -> list[tuple[AlertSpec, Reading, Decision, int]]:
        """Measure every rule (a read): the decisions to fire or resolve, each with the version it read."""
        live = self.configs.current(tx)
        specs = [live.specs.alerts[name] for name in sorted(live.specs.alerts)]
        if not specs:
            return []
        stored = tx.alerts.states()
        obs = observe(tx, live, specs, now)
        plans = []
        for spec in specs:
            memory = memory_of(stored.get(spec.name))
            # cap_early holds the partners whose day cap it found full early, for the rest of their day:
            # those its stored detail names (the latest reading's, kept below even without a message)
            early = spec.kind is AlertKind.CAP_EARLY
            held = held_partners(memory.detail) if early else frozenset()
            measured = reading(spec, obs, held=held)
            decision = decide(measured, memory, spec.cool_down_s, now)
            if decision.action is not Action.NOTHING:
                plans.append((spec, measured, decision, memory.version))
            elif early and held_partners(measured.detail) != held:
                # within the cool-down (firing, or just resolved): a partner that filled its cap early
                # since is remembered, one no longer full is let go; stored without a message
                kept = replace(memory, detail=measured.detail, version=memory.version + 1)
                plans.append((spec, measured, Decision(Action.NOTHING, kept), memory.version))
        return plans

    def _claim(
        self, tx: Tx, plans: Sequence[tuple[AlertSpec, Reading, Decision, int]], now: datetime
    ) -> list[tuple[AlertSpec, AlertMessage]]:
        """Move the states still at the versions read; the messages of the moves this transaction made
        (another process that moved a rule first sends its message, and this one nothing)."""
        return [
            (spec, message_of(spec, decision.action, measured, now, self.ids("alev")))
            for spec, measured, decision, version in plans
            if tx.alerts.move_state(spec.name, version, _state_values(decision.memory))
            and decision.action is not Action.NOTHING
        ]

    async def check(self) -> list[SentAlert]:
        """One check of every rule at the service's clock: the messages sent (and their outcomes). The
        measuring reads outside the write transaction, which only moves the states that change."""
        now = self.clock()
        plans = await self.storage.run_read(lambda tx: self._plan(tx, now))
        if not plans:
            return []
        owned = await self.storage.run(lambda tx: self._claim(tx, plans, now), background=True)
        return await self._send(owned)

    async def _send(self, owned: Sequence[tuple[AlertSpec, AlertMessage]]) -> list[SentAlert]:
        done = [SentAlert(message, await self.transport.send(spec, message)) for spec, message in owned]
        for item in done:
            if item.error is not None:
                log.warning("alert %s (%s): %s", item.message.alert, item.message.state, item.error)
        if done:
            rows = [_event_row(item) for item in done]

            def record(tx: Tx) -> None:
                for row in rows:
                    tx.alerts.insert_event(row)

            await self.storage.run(record, background=True)
        return done

    async def test(self, name: str) -> SentAlert:
        """Send the rule ``name`` a sample message (recorded as a ``test`` event); ``NotFound`` when there
        is no such rule."""
        live = await self.configs.get(self.storage)
        spec = live.specs.alerts.get(name)
        if spec is None:
            known = ", ".join(sorted(live.specs.alerts)) or "none is configured"
            raise NotFound(f"no alert named {name!r} (alerts: {known})")
        message = AlertMessage(
            spec.name, spec.kind, EventState.TEST, TEST_DETAIL, self.clock(), self.ids("alev")
        )
        (done,) = await self._send([(spec, message)])
        return done

    async def overview(self, events: int = 50) -> dict[str, Any]:
        """Every rule with its current state, and the latest messages sent."""

        def read(tx: Tx) -> dict[str, Any]:
            live = self.configs.current(tx)
            stored = tx.alerts.states()
            rules = [_rule(live.specs.alerts[name], stored.get(name)) for name in sorted(live.specs.alerts)]
            return {"items": rules, "events": [_event(r) for r in tx.alerts.events(None, events)]}

        return await self.storage.run_read(read)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _rule(spec: AlertSpec, row: Record | None) -> dict[str, Any]:
    memory = memory_of(row)
    threshold = spec.threshold
    return {
        "name": spec.name,
        "kind": str(spec.kind),
        "threshold": str(threshold) if threshold is not None else None,
        "window_s": spec.window_s if spec.kind in WINDOW_KINDS else None,
        "partners": list(spec.partners),
        "cool_down_s": spec.cool_down_s,
        "targets": spec.targets(),
        "state": str(memory.state),
        "since": _iso(memory.since),
        "last_fired_at": _iso(memory.last_fired_at),
        "detail": memory.detail,
    }


def _event(r: Record) -> dict[str, Any]:
    return {
        "id": r.id,
        "alert": r.alert,
        "state": r.state,
        "detail": r.detail,
        "sent_at": _iso(r.sent_at),
        "targets": list(r.targets),
        "error": r.error,
    }
