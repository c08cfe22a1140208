"""Alerts: rules an operator configures (``alerts:`` in the YAML), and the decision each check makes.

A rule (:class:`AlertSpec`) has a kind (:class:`AlertKind`), a threshold, an optional partner filter, a
cool-down and where to send its messages (email addresses, a webhook). A check measures the rule's
condition (a :class:`Reading`, made by ``domain.alert_checks``) and :func:`decide` compares it with the
rule's last state (:class:`Memory`)::

    ok --(the condition holds, no firing message within the cool-down)--> firing   "firing" sent
    ok --(the condition holds, a firing message within the cool-down)--> ok       nothing (quiet)
    firing --(the condition still holds, the cool-down is over)--> firing          "firing" sent again
    firing --(the condition cleared)--> ok                                         "resolved" sent

So a rule never sends two "firing" messages within its cool-down (a flapping condition stays quiet), a
condition that lasts is repeated once per cool-down, and every "firing" is followed by a "resolved" once the
condition clears.

Pure: standard library only; the time is always an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from leadrelay.errors import InvalidTransition

__all__ = [
    "ALERT_TRANSITIONS",
    "Action",
    "AlertKind",
    "AlertMessage",
    "AlertSpec",
    "AlertState",
    "Decision",
    "EventState",
    "Memory",
    "Reading",
    "WebhookTarget",
    "decide",
    "message_of",
]


class AlertKind(StrEnum):
    FAILURE_RATE = "failure_rate"  # a partner's posts ending in an error or a timeout, in percent
    TIMEOUT_RATE = "timeout_rate"  # a partner's posts and pings that timed out, in percent
    LATENCY = "latency"  # a partner's p95 post latency, in ms
    CAP_EARLY = "cap_early"  # a partner's day cap used up (threshold %) before a local time
    WALLET_LOW = "wallet_low"  # a partner's wallet balance plus credit below an amount (pending wallet)
    QUEUE_BACKLOG = "queue_backlog"  # jobs ready to run (due now) above a number
    QUEUE_AGE = "queue_age"  # the oldest job ready to run waiting longer than a duration
    BATCH_FAILED = "batch_failed"  # batches (files, digests) given up on, waiting for an operator
    CIRCUIT_OPEN = "circuit_open"  # a partner's circuit breaker open (or half open)


PARTNER_KINDS = frozenset(
    {
        AlertKind.FAILURE_RATE,
        AlertKind.TIMEOUT_RATE,
        AlertKind.LATENCY,
        AlertKind.CAP_EARLY,
        AlertKind.WALLET_LOW,
        AlertKind.BATCH_FAILED,
        AlertKind.CIRCUIT_OPEN,
    }
)
"""The kinds measured per partner: a rule of these may name the partners it watches (else: all)."""
WINDOW_KINDS = frozenset(
    {AlertKind.FAILURE_RATE, AlertKind.TIMEOUT_RATE, AlertKind.LATENCY, AlertKind.BATCH_FAILED}
)
"""The kinds measured over a window of time before now."""


class AlertState(StrEnum):
    """A rule's state (``alert_states.state``)."""

    OK = "ok"
    FIRING = "firing"


ALERT_TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    AlertState.OK: frozenset({AlertState.FIRING}),
    AlertState.FIRING: frozenset({AlertState.OK, AlertState.FIRING}),  # firing → firing: the reminder
}


class EventState(StrEnum):
    """What a sent message said (``alert_events.state``)."""

    FIRING = "firing"
    RESOLVED = "resolved"
    TEST = "test"  # ``leadrelay alerts test``: a sample, no state changed


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where a rule's messages are POSTed as JSON; ``secret``: Standard Webhooks signing (or None)."""

    url: str
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    name: str
    kind: AlertKind
    threshold: float | Decimal | None  # the kind's unit: %, ms, jobs, seconds, money, batches
    cool_down_s: float = 1800.0
    window_s: float = 900.0
    partners: tuple[str, ...] = ()  # empty: every partner
    min_requests: int = 10  # rates and latency: fewer requests in the window say nothing
    before: time | None = None  # cap_early: the partner's local time the cap must last until
    emails: tuple[str, ...] = ()
    webhook: WebhookTarget | None = None

    def watches(self, partner: str) -> bool:
        return not self.partners or partner in self.partners

    def targets(self) -> list[str]:
        """The targets as shown and recorded: ``mailto:a,b`` (one message to every address) and the
        webhook's URL."""
        out = [f"mailto:{','.join(self.emails)}"] if self.emails else []
        if self.webhook is not None:
            out.append(self.webhook.url)
        return out


@dataclass(frozen=True, slots=True)
class Reading:
    """A check's measurement: whether the rule's condition holds, and what crossed what (``detail``:
    "acme: failure rate 100% (5 of 5 posts in 15m) at or above 50%"; when it does not hold, what there
    is to say about it, e.g. "failure rate below 50% for every partner")."""

    breached: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Memory:
    """A rule's last state (``alert_states``): since when, and when its last "firing" message went.
    ``version`` changes with every move, so that of several processes only one moves it (and sends)."""

    state: AlertState = AlertState.OK
    since: datetime | None = None
    last_fired_at: datetime | None = None
    detail: str | None = None
    version: int = 0


class Action(StrEnum):
    NOTHING = "nothing"
    FIRE = "fire"  # send "firing" (first time, or the reminder once the cool-down is over)
    RESOLVE = "resolve"  # send "resolved"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    memory: Memory  # the state to store (the same as before for NOTHING)


def decide(reading: Reading, memory: Memory, cool_down_s: float, now: datetime) -> Decision:
    """What to do with a reading, given the rule's last state (see the module docstring)."""
    cooled = memory.last_fired_at is None or now - memory.last_fired_at >= timedelta(seconds=cool_down_s)
    if reading.breached:
        if not cooled:
            return Decision(Action.NOTHING, memory)
        since = memory.since if memory.state is AlertState.FIRING else now
        moved = Memory(AlertState.FIRING, since, now, reading.detail, memory.version + 1)
        return Decision(Action.FIRE, _checked(memory, moved))
    if memory.state is AlertState.FIRING:
        moved = Memory(AlertState.OK, now, memory.last_fired_at, reading.detail, memory.version + 1)
        return Decision(Action.RESOLVE, _checked(memory, moved))
    return Decision(Action.NOTHING, memory)


def _checked(before: Memory, after: Memory) -> Memory:
    if after.state not in ALERT_TRANSITIONS[before.state]:
        raise InvalidTransition(f"alert state {before.state} cannot become {after.state}")
    return after


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One message to a rule's targets: its subject and text (email), and its JSON (webhook)."""

    alert: str
    kind: AlertKind
    state: EventState
    detail: str
    at: datetime
    event_id: str

    @property
    def subject(self) -> str:
        label = {EventState.FIRING: "FIRING", EventState.RESOLVED: "RESOLVED", EventState.TEST: "TEST"}
        return f"[leadrelay] {label[self.state]} {self.alert}: {self.detail}"[:250]

    def text(self) -> str:
        lines = {
            EventState.FIRING: f"Alert {self.alert} ({self.kind}) is firing: {self.detail}.",
            EventState.RESOLVED: f"Alert {self.alert} ({self.kind}) is resolved: {self.detail}.",
            EventState.TEST: f"A test of alert {self.alert} ({self.kind}): {self.detail}.",
        }
        return f"{lines[self.state]}\n\nAt {self.at.isoformat(timespec='seconds')}.\n"

    def payload(self) -> dict[str, object]:
        return {
            "type": f"alert.{self.state}",
            "id": self.event_id,
            "alert": self.alert,
            "kind": str(self.kind),
            "state": str(self.state),
            "detail": self.detail,
            "at": self.at.isoformat(),
            "test": self.state is EventState.TEST,
        }


def message_of(
    spec: AlertSpec, action: Action, reading: Reading, now: datetime, event_id: str
) -> AlertMessage:
    """The message of a decision to fire or resolve."""
    state = EventState.FIRING if action is Action.FIRE else EventState.RESOLVED
    return AlertMessage(spec.name, spec.kind, state, reading.detail, now, event_id)
