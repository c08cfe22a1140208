"""Relaying postbacks to sources: which events a source subscribes to, and what it is sent.

A source configured with ``postback: {url, events, secret | secret_env, click_id_field}`` is told, at its
URL, when one of its leads is sold (an event ``sold``: a delivery reached ``delivered``) and when a buyer
reports an outcome (``contacted``, ``converted``, ``rejected``, ``returned``), among the events it lists.
Each event names the lead by its id and by the source's own click id: the lead's value of
``click_id_field`` (default ``click_id``), from its validated fields or, when that is not a field of the
entity, from the body the source posted (``POST /v1/leads`` keeps every key it was sent).

What names the buyer or tells what it paid or earned goes only to a source that may see the buyer
(``show_buyer: true``, as in its answers and its portal): the partner, a postback's revenue and the buyer's
note. For any other source these are null; the body's keys are the same either way.

The body follows Standard Webhooks' payload shape (``{type, timestamp, data}``); the request is signed with
its headers (``webhook-id``: the event id, the same on every retry; ``webhook-timestamp``;
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from leadrelay.domain.after_sale_states import DeliveryOutcome
from leadrelay.domain.partner_auth import SigningSpec

__all__ = [
    "BUYER_KEYS",
    "DEFAULT_CLICK_ID_FIELD",
    "RelayEvent",
    "SourcePostback",
    "click_id_of",
    "event_body",
    "for_source",
]

DEFAULT_CLICK_ID_FIELD = "click_id"
BUYER_KEYS = ("partner", "revenue", "note")  # of an event's data: the buyer's name, figure and words


class RelayEvent(StrEnum):
    SOLD = "sold"
    CONTACTED = DeliveryOutcome.CONTACTED.value
    CONVERTED = DeliveryOutcome.CONVERTED.value
    REJECTED = DeliveryOutcome.REJECTED.value
    RETURNED = DeliveryOutcome.RETURNED.value


@dataclass(frozen=True, slots=True)
class SourcePostback:
    """A source's outbound postback: where, which events, the signing secret (``${ENV}`` resolved when
    sending), the click id's field."""

    url: str
    events: frozenset[RelayEvent]
    signing: SigningSpec
    click_id_field: str = DEFAULT_CLICK_ID_FIELD

    def wants(self, event: RelayEvent | str) -> bool:
        return event in self.events


def click_id_of(field: str, values: Mapping[str, Any], raw: Mapping[str, Any] | None) -> str | None:
    """The lead's click id: its value of ``field``, else the posted body's (None when neither has one)."""
    for source in (values, raw or {}):
        value = source.get(field)
        if value is not None and value != "":
            return str(value)[:500]
    return None


def event_body(
    event_id: str,
    event: RelayEvent,
    at: datetime,
    *,
    lead_id: str,
    click_id: str | None,
    delivery_id: str,
    partner: str,
    show_buyer: bool,
    revenue: Decimal | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """What the source is sent (fixed when the event is stored: every retry sends the same). The buyer's
    name, revenue and note only when the source may see the buyer (``show_buyer``), else null."""
    data: dict[str, Any] = {
        "event_id": event_id,
        "event": event.value,
        "lead_id": lead_id,
        "click_id": click_id,
        "delivery_id": delivery_id,
        "partner": partner,
        "revenue": None if revenue is None else str(revenue),
        "note": note or None,
    }
    body = {"type": f"lead.{event.value}", "timestamp": at.isoformat(), "data": data}
    return for_source(body, show_buyer)


def for_source(body: Mapping[str, Any], show_buyer: bool) -> dict[str, Any]:
    """A stored event's body as a source with this ``show_buyer`` may see it: as it is, or with the buyer's
    keys null (an event stored before the source stopped seeing the buyer is sent without them)."""
    data = body.get("data")
    if show_buyer or not isinstance(data, Mapping):
        return dict(body)
    return {**body, "data": {**data, **dict.fromkeys(BUYER_KEYS)}}
