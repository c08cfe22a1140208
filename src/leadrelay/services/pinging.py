"""Pinging a partner: its ping request (``PartnerSpec.ping``) through the channel port, read into a bid.

``Pings.test`` is ``leadrelay partners test NAME --ping``: a clearly marked test lead, made of the
entity's sample values or the operator's own, reduced to what a ping may carry, sent once through the
partner's ping, and shown with the answer and the bid it gives. Nothing of the lead is stored; the test is
audited. The auction and the ping tree (issue 10, points 2 and 3) send pings the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadrelay.domain.fields.sample import build_test_lead
from leadrelay.domain.ping import bid_of, ping_view
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ports import Channel, Clock, IdSource, Storage, Tx, system_clock, system_ids

__all__ = ["Pings"]


class Pings:
    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        channel: Channel,
        *,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.channel = channel
        self.clock = clock
        self.ids = ids

    async def test(
        self,
        partner: str,
        *,
        actor: str,
        entity: str | None = None,
        lead: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Ping ``partner`` with a test lead (``lead``, checked against the entity, or a sample of its
        fields; the entity as for a test delivery) and return the request as sent (secrets redacted), the
        answer and the bid: ``{partner, entity, request, answer, bid}``."""
        live = await self.configs.get(self.storage)
        spec = live.specs.partners.get(partner)
        if spec is None:
            raise NotFound(f"unknown partner {partner!r}")
        if spec.ping is None:
            raise InvalidTransition(f"partner {partner} has no ping (give it 'ping: {{url: …}}')")
        now = self.clock()
        test = build_test_lead(
            partner, live.specs.entities, live.specs.profiles.values(), now.date(), entity=entity, lead=lead
        )
        lead_id = self.ids("lead")
        view = ping_view(spec, test.entity, lead_id, test.values, key=f"{lead_id}-ping-{partner}", test=True)
        result = (await self.channel.send(view, spec.ping)).redacted(view.redactor)
        bid = bid_of(result, spec.price)

        def work(tx: Tx) -> None:
            tx.config.audit(
                actor=actor,
                action="partner.test_ping",
                object_kind="partner",
                object_id=partner,
                at=now,
                detail={"entity": test.entity_name, "bid": bid.status.value, "price": bid.price},
            )

        await self.storage.run(work)
        return {
            "partner": partner,
            "entity": test.entity_name,
            "request": dict(result.request),
            "answer": {
                "outcome": result.outcome.value,
                "status_code": result.status_code,
                "body": result.response_body,
                "duration_ms": round(result.duration_ms, 1),
                "reason": result.reason,
            },
            "bid": bid.as_dict(),
        }
