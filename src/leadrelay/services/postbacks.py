"""Receiving postbacks (issue 11, point 5): a buyer reports what became of a lead it bought.

``GET`` or ``POST /v1/postbacks/{delivery_id}?sig=…`` (``entrypoints.api.postbacks``) hands the parameters
here. In order:

1. the signature: ``sig`` must be this delivery's (``domain.postbacks``): else 403, whatever the rest says;
2. the report: outcome, revenue (a Decimal in cents), event id, note: else 422 naming the field;
3. in one transaction: the delivery must exist (404) and be delivered (409); a replay is refused (409): the
   same ``event_id`` again for the delivery, or, without one, an outcome already reported for it; the move
   must be allowed by the ``OUTCOME`` machine (409 with the reason). Then the postback is stored, the
   delivery's ``outcome`` moved (a conditional UPDATE: a concurrent postback makes this one 409), the
   audit log gets an entry (actor ``partner:<name>``), and the source gets the event relayed when it
   subscribes to it (``services.postback_relay``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadrelay.domain.postback_relay import RelayEvent
from leadrelay.domain.postbacks import Report, next_outcome, read_report
from leadrelay.domain.states import DeliveryStatus
from leadrelay.errors import Conflict, Forbidden, NotFound
from leadrelay.services import postback_relay
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ports import Clock, IdSource, Storage, Tx, system_clock, system_ids
from leadrelay.services.postback_links import PostbackLinks

__all__ = ["Postbacks", "record_postback"]


def record_postback(
    tx: Tx, configs: ConfigCache, delivery_id: str, report: Report, now: datetime, ids: IdSource
) -> dict[str, Any]:
    """Step 3 of the module docstring, in the caller's transaction; the answer's body."""
    d = tx.postbacks.delivery(delivery_id)
    if d is None:
        raise NotFound(f"unknown delivery {delivery_id}")
    if d.status != DeliveryStatus.DELIVERED:
        raise Conflict(f"delivery {delivery_id} is {d.status}, not delivered: it has no outcome to report")
    earlier = tx.postbacks.of_delivery(delivery_id)
    if report.event_id is not None and any(p.event_id == report.event_id for p in earlier):
        raise Conflict(f"replay: event_id {report.event_id!r} was already received for this delivery")
    if report.event_id is None and any(p.outcome == report.outcome for p in earlier):
        raise Conflict(f"replay: {report.outcome} was already reported for this delivery (send an event_id)")
    outcome = next_outcome(d.outcome, report.outcome)
    postback_id = ids("pb")
    row = {
        "id": postback_id,
        "delivery_id": delivery_id,
        "lead_id": d.lead_id,
        "partner": d.partner,
        "outcome": outcome,
        "revenue_cents": None if report.revenue is None else int(report.revenue * 100),
        "event_id": report.event_id,
        "note": report.note,
        "received_at": now,
    }
    if not tx.postbacks.insert(row):
        raise Conflict(f"replay: event_id {report.event_id!r} was already received for this delivery")
    if not tx.postbacks.set_outcome(delivery_id, d.outcome, outcome):
        raise Conflict("another postback for this delivery was recorded meanwhile; send this one again")
    detail: dict[str, Any] = {"postback_id": postback_id, "outcome": outcome, "previous": d.outcome}
    if report.revenue is not None:
        detail["revenue"] = str(report.revenue)
    if report.event_id is not None:
        detail["event_id"] = report.event_id
    tx.config.audit(
        actor=f"partner:{d.partner}",
        action="postback",
        object_kind="delivery",
        object_id=delivery_id,
        at=now,
        detail=detail,  # the buyer's note stays with the postback (where erasure finds it), not in the log
    )
    relayed = None
    if not d.is_test:
        relayed = postback_relay.enqueue(
            tx,
            configs.current(tx),
            ids,
            now,
            lead_id=d.lead_id,
            delivery_id=delivery_id,
            partner=d.partner,
            event=RelayEvent(outcome.value),
            source=d.source,
            revenue=report.revenue,
            note=report.note,
        )
    return {
        "postback_id": postback_id,
        "delivery_id": delivery_id,
        "outcome": outcome.value,
        "previous": d.outcome,
        "revenue": None if report.revenue is None else str(report.revenue),
        "event_id": report.event_id,
        "relayed": relayed is not None,
    }


class Postbacks:
    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        links: PostbackLinks,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.links = links
        self.clock = clock
        self.ids = ids

    async def receive(self, delivery_id: str, sig: object, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check and record one postback (see the module docstring); the answer's body."""
        if not await self.links.check(delivery_id, sig):
            raise Forbidden(
                "the postback signature does not match this delivery: use its postback URL unchanged"
            )
        report = read_report(params)
        now = self.clock()
        return await self.storage.run(
            lambda tx: record_postback(tx, self.configs, delivery_id, report, now, self.ids)
        )
