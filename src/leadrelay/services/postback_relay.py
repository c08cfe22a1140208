"""Relaying events to sources (issue 11, point 5): a sale or a buyer's reported outcome, told to the lead's
source at its ``postback`` URL (``domain.postback_relay``), signed with Standard Webhooks.

An event is stored (``outbound_postbacks``, status ``ready``) in the transaction that makes it happen: the
one that records the delivery as delivered (``sold``, ``services.settlement``) or the one that accepts the
buyer's postback (its outcome, ``services.postbacks``); one per delivery and event. The relay loop
(:class:`PostbackRelay`, one per process beside the workers, like the batch loop) leases due events with
the shared lease mechanism (a conditional UPDATE; SKIP LOCKED on PostgreSQL), so with several processes each
event goes out once at a time; it sends them through the webhook channel (the target guard, the signature,
the answer's reading) and ends the lease: ``sent`` on a 2xx, ``retry`` at the policy's next time
(``domain.retry.RetryPolicy``), ``failed`` when refused or out of attempts. A relay loop that dies while
sending loses its lease; the event is claimed again once the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from leadrelay.domain.after_sale_states import RelayStatus
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome, bounded
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.postback_relay import RelayEvent, click_id_of, event_body, for_source
from leadrelay.domain.privacy import redact_url
from leadrelay.domain.retry import GiveUp, RetryPolicy
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.ports import (
    Channel,
    Clock,
    IdSource,
    RandomSource,
    Record,
    Storage,
    Tx,
    system_clock,
    system_ids,
    system_random,
)

__all__ = ["PostbackRelay", "enqueue", "relays_sold", "sold_in_batch"]

log = logging.getLogger("leadrelay.postbacks")

SEND_TIMEOUT_S = 10.0
MAX_ANSWER_CHARS = 2000


def relays_sold(live: LiveConfig) -> bool:
    """Whether some source subscribes to sales (a cheap check before reading a lead's source)."""
    return any(
        s.postback is not None and s.postback.wants(RelayEvent.SOLD) for s in live.specs.sources.values()
    )


def enqueue(
    tx: Tx,
    live: LiveConfig,
    ids: IdSource,
    now: datetime,
    *,
    lead_id: str,
    delivery_id: str,
    partner: str,
    event: RelayEvent,
    source: str | None = None,
    revenue: Decimal | None = None,
    note: str | None = None,
) -> str | None:
    """Store ``event`` of a delivery for its lead's source when the source subscribes to it; its id, or
    None (not subscribed, or already stored). The buyer (``partner``), ``revenue`` and ``note`` are in it
    only when the source may see the buyer (``show_buyer``)."""
    lead = tx.leads.get_lead(lead_id)
    if lead is None:
        return None
    spec = live.specs.sources.get(source or lead.source)
    pb = spec.postback if spec is not None else None
    if pb is None or not pb.wants(event):
        return None
    relay_id = ids("pbo")
    click_id = click_id_of(pb.click_id_field, lead.data or {}, lead.raw or {})
    body = event_body(
        relay_id,
        event,
        now,
        lead_id=lead_id,
        click_id=click_id,
        delivery_id=delivery_id,
        partner=partner,
        show_buyer=spec is not None and spec.show_buyer,
        revenue=revenue,
        note=note,
    )
    row = {
        "id": relay_id,
        "lead_id": lead_id,
        "source": lead.source,
        "delivery_id": delivery_id,
        "event": event.value,
        "url": pb.url,
        "body": body,
        "status": RelayStatus.READY,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return relay_id if tx.relays.insert(row) else None


def sold_in_batch(tx: Tx, live: LiveConfig, batch_id: str, now: datetime, ids: IdSource = system_ids) -> int:
    """Store the sale of every delivery a sent batch (file or digest) delivered, for the sources that
    subscribe to sales; how many."""
    if not relays_sold(live):
        return 0
    stored = 0
    for d in tx.postbacks.delivered_of_batch(batch_id):
        if not d.is_test:
            event = RelayEvent.SOLD
            got = enqueue(
                tx,
                live,
                ids,
                now,
                lead_id=d.lead_id,
                delivery_id=d.id,
                partner=d.partner,
                event=event,
                source=d.source,
            )
            stored += got is not None
    return stored


class PostbackRelay:
    """The relay loop: every ``interval_s``, lease the due events and send them (see the module
    docstring). ``run_once`` is one pass, for tests (drive ``clock``) and one-shot runs."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        channel: Channel,
        *,
        owner: str,
        interval_s: float = 1.0,
        lease_s: float = 60.0,
        retry: RetryPolicy | None = None,
        batch: int = 20,
        clock: Clock = system_clock,
        rand: RandomSource = system_random,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.channel = channel
        self.owner = owner
        self.interval_s = interval_s
        self.lease = timedelta(seconds=lease_s)
        self.retry = retry or RetryPolicy(max_attempts=8, base_s=10.0, max_delay_s=3600.0)
        self.batch = batch
        self.clock = clock
        self.rand = rand
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.run_once() and not self._stopping.is_set():
                    pass
            except Exception:  # the database is away: the next pass tries again
                log.exception("relaying postbacks failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    async def run_once(self) -> int:
        """Send the events due now; returns how many were claimed."""
        now = self.clock()
        # read first (on SQLite on the loop's thread, without the write lock): a pass that finds nothing
        # due, nearly every pass, takes no lock from the workers' transactions
        if not await self.storage.run_read(lambda tx: tx.relays.any_due(now), quick=True):
            return 0
        claimed: list[Record] = await self.storage.run(
            lambda tx: tx.relays.claim(self.owner, self.batch, now, now + self.lease), background=True
        )
        if not claimed:
            return 0
        live = await self.configs.get(self.storage)
        results = await asyncio.gather(*(self._send(live, row) for row in claimed))
        done = self.clock()
        await self.storage.run(lambda tx: self._record(tx, claimed, results, done), background=True)
        return len(claimed)

    async def _send(self, live: LiveConfig, row: Record) -> AttemptResult:
        spec = live.specs.sources.get(row.source)
        pb = spec.postback if spec is not None else None
        if pb is None:
            return AttemptResult(Outcome.FAILURE, reason="the source's postback is no longer configured")
        channel = WebhookChannel(
            url=row.url,
            format="json",
            timeout_s=SEND_TIMEOUT_S,
            max_attempts=self.retry.max_attempts,
            signing=pb.signing,
        )
        # the body is the stored event (no mapping: sent as it is); its id is the webhook-id on every retry;
        # without the buyer when the source may no longer see it (show_buyer turned off since it was stored)
        body = for_source(row.body, spec is not None and spec.show_buyer)
        view = LeadView(row.lead_id, "", row.source, body, row.id)
        try:
            return await self.channel.send(view, channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a channel bug must not lose the event: an error, retried
            log.exception("relaying %s raised", row.id)
            return AttemptResult(
                Outcome.ERROR, reason=f"internal error: {type(exc).__name__}", retryable=True
            )

    def _record(
        self, tx: Tx, rows: Sequence[Record], results: Sequence[AttemptResult], now: datetime
    ) -> None:
        for row, res in zip(rows, results, strict=True):
            attempt = row.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempt,
                "last_status_code": res.status_code,
                "last_answer": bounded(res.response_body, MAX_ANSWER_CHARS),
            }
            decision = self.retry.decide(res, attempt, self.rand())
            if res.outcome is Outcome.SUCCESS:
                status = RelayStatus.SENT
                values |= {"sent_at": now, "reason": None, "next_attempt_at": None}
            elif isinstance(decision, GiveUp):
                status = RelayStatus.FAILED
                values |= {"reason": bounded(decision.reason, 2000), "next_attempt_at": None}
            else:
                status = RelayStatus.RETRY
                values |= {
                    "reason": bounded(res.reason, 2000),
                    "next_attempt_at": now + timedelta(seconds=decision.delay_s),
                }
            tx.relays.finish(row.id, self.owner, status, **values)


def relay_rows(tx: Tx, lead_id: str) -> list[dict[str, Any]]:
    """The lead's relayed events as the distribution detail shows them."""
    return [
        {
            "id": r.id,
            "event": r.event,
            "url": redact_url(r.url),  # the source's credentials in it are not shown
            "status": r.status,
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            "last_status_code": r.last_status_code,
            "last_answer": r.last_answer,
            "reason": r.reason,
            "created_at": r.created_at.isoformat(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
        }
        for r in tx.relays.of_lead(lead_id)
    ]
