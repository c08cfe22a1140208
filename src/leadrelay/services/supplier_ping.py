"""Supplier-side ping (issue 10, point 6): a source asks what a lead would fetch before sending it.

``POST /v1/ping`` carries the lead's non-personal values only (a personal field is refused, by name). The
source's profiles of the entity are evaluated on them; each one routed to an auction (``strategy:
auction``) runs it as a lead's routing would (``services.auction_pings.prepare``: eligible partners,
available, with cap room; floors; post-only list prices), the pings go out from the API process, and the
bids are ranked. Stored (``supplier_pings``): the bids, the best of them, and a keyed digest of each value
pinged; never a lead value. The source gets ``{accepted, price, payout, ping_token, expires_at}``, as a lead's
answer tells it (``services.intake_answers``): ``price``, the best winning bid, only when it may see buyers'
prices (``show_buyer``); ``payout``, what the lead would earn it, when it is paid for the entity.

``POST /v1/leads`` with that token (body field ``ping_token``) within its life: the token is checked here
(:meth:`SupplierPings.redeem`: signed by this installation for this source, not expired, not used), the
lead's values are checked against the pinged ones (:func:`check_values`: the bids were made for those), then
the token is used in the transaction that stores the lead (``services.intake``), which gives each of the
lead's jobs its profile's ranked bids. Routing then finds them stored (``services.auction.open_or_resume``)
and posts to the winning bid first, at its bid, without pinging again; when that post is refused, to the
next bid as usual. Should the lead fall under another rule than the ping did (a rule on a field the ping did
not carry), the bids do not stand: the lead is auctioned afresh.

Errors, each naming ``ping_token``: malformed or altered (or not issued here) 422, a lead whose pinged
fields differ from the ping's 422 (naming them), issued to another source 403, expired 410, already used 409.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from leadrelay.domain.auction import Offer, Sale, bid_line, decide
from leadrelay.domain.fields import validate_lead
from leadrelay.domain.ledger import PayoutModel, money, payout_terms
from leadrelay.domain.model import EntitySpec, Strategy
from leadrelay.domain.ping_tokens import (
    KEY_LABEL,
    differing_values,
    key_material,
    read_token,
    sign_token,
    signature_ok,
    value_marks,
)
from leadrelay.domain.routing import evaluate
from leadrelay.errors import (
    Conflict,
    Expired,
    FieldProblem,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from leadrelay.services.auction_pings import prepare, run_pings
from leadrelay.services.config_in_force import ConfigCache, LiveConfig
from leadrelay.services.health import policy_of
from leadrelay.services.ports import Channel, Clock, IdSource, Storage, Tx, system_clock, system_ids
from leadrelay.services.steps import Auction

__all__ = [
    "TOKEN_FIELD",
    "PingQuote",
    "Redeemed",
    "SupplierPings",
    "bid_rows",
    "check_values",
    "redeem",
    "token_key",
    "use",
]

TOKEN_FIELD = "ping_token"  # the body field of POST /v1/leads that carries the token


@dataclass(frozen=True, slots=True)
class PingQuote:
    """What ``POST /v1/ping`` answers."""

    ping_id: str
    accepted: bool
    price: float | None  # the best winning bid: shown only to a source that may see buyers' prices
    token: str | None  # None: no bid counted, nothing to honour
    expires_at: datetime | None
    payout: Decimal | None = None  # what the lead would earn the source (a source paid for the entity)
    show_buyer: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ping_id": self.ping_id,
            "accepted": self.accepted,
            "price": self.price if self.show_buyer else None,
            "payout": str(self.payout) if self.payout is not None else None,
            "ping_token": self.token,
            "expires_at": _stamp(self.expires_at) if self.expires_at is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A token checked before the lead is written: its ping, the quote, each profile's auction."""

    ping_id: str
    price: float | None
    auctions: Mapping[str, Any]  # profile -> {"rule", "max_posts", "bids": [...]}
    value_marks: Mapping[str, str] | None = None  # by field, the pinged value's digest (None: not kept)
    key: bytes = b""  # the ping-token key the digests are keyed with
    payout: Mapping[str, str] | None = None  # the payout terms quoted ({}: none; None: not kept)


async def token_key(live: LiveConfig) -> bytes:
    """The installation's ping-token key: an HMAC of a label under the installation key that keys the dedup
    marks (derived from LEADRELAY_SECRET_KEY, or generated once and stored), so every process has it."""
    keys = live.dedup_keys
    if keys is None:
        raise Unavailable("ping tokens need the installation key (the dedup key), which is not wired here")
    hasher = keys.cached or await keys.hasher()
    return key_material(hasher(KEY_LABEL))


def personal_given(entity: EntitySpec, names: Iterable[str]) -> list[str]:
    """The personal fields among ``names``: the entity's personal fields, and a name not of the entity that
    is a usual personal one (``email``, ``first_name``, …)."""
    return sorted(n for n in names if entity.is_personal(n))


class SupplierPings:
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

    async def ping(self, source: str, entity_name: str, raw: Mapping[str, Any]) -> PingQuote:
        """Run the source's auctions for these partial values and store the quote (no lead value)."""
        live = await self.configs.get(self.storage)
        src = live.specs.sources.get(source)
        if src is None:
            raise Unauthorized(f"source {source!r} is not configured")
        entity = live.specs.entities.get(entity_name)
        if entity is None:
            raise NotFound(f"unknown entity {entity_name!r}")
        if src.entities and entity_name not in src.entities:
            raise Forbidden(f"source {source!r} may not ping {entity_name!r} leads")
        values = _partial_values(entity, raw)
        now = self.clock()
        ping_id = self.ids("ping")
        auctions: dict[str, Auction] = {}

        def plan(tx: Tx) -> None:
            # checked out, or a circuit breaker not closed: a quote spends no breaker's trial lead (a breaker
            # switched off since it opened keeps its row, and no longer keeps its partner away)
            checked_out, breakers = tx.caps.unavailable_and_breakers()
            away = checked_out | {name for name in breakers if (p := policy_of(live, name)) and p.enabled}
            for name in live.profiles_by_entity.get(entity_name, ()):
                profile = live.profile_in_force(name)
                if profile is None:
                    continue
                ev = evaluate(values, profile, live.compiled, now)
                if ev.target is None or ev.target.strategy is not Strategy.AUCTION:
                    continue
                candidates = [c for c in ev.candidates if c not in away]
                trace: list[str] = []
                auction = prepare(
                    tx,
                    live,
                    ev,
                    candidates,
                    trace,
                    profile=name,
                    source=source,
                    entity=entity_name,
                    lead_id=ping_id,
                    values=values,
                    key=f"{ping_id}:{name}",
                    test=False,
                    priority=candidates,
                    now=now,
                )
                if auction is not None:
                    auctions[name] = auction

        await self.storage.run_read(plan)
        results = await asyncio.gather(*(run_pings(self.channel, a) for a in auctions.values()))
        stored: dict[str, Any] = {}
        best: float | None = None
        revenues: list[float] = []  # the best profile's sales: one, or the shared ones
        for (profile, auction), offers in zip(auctions.items(), results, strict=True):
            stored[profile], price, sales = _ranked(auction, offers)
            if price is not None and (best is None or price > best):
                best, revenues = price, sales
        key = await token_key(live)
        # whole seconds, rounded up: the quote holds at least the source's ping_token_ttl
        expires_at = datetime.fromtimestamp(
            math.ceil((now + timedelta(seconds=src.ping_token_ttl_s)).timestamp()), UTC
        )
        row = {
            "id": ping_id,
            "source": source,
            "entity": entity_name,
            "auctions": stored,
            "price": best,
            "value_marks": value_marks(key, values),
            "payout": payout_terms(src.payout_for(entity_name)),  # the lead is paid on these
            "expires_at": expires_at,
            "used_at": None,
            "lead_id": None,
            "created_at": now,
        }
        await self.storage.run(lambda tx: tx.deliveries.insert_supplier_ping(row))
        if best is None:
            return PingQuote(ping_id, False, None, None, None, show_buyer=src.show_buyer)
        token = sign_token(key, ping_id, source, expires_at)
        payout = _payout(src.payout_for(entity_name), revenues)
        return PingQuote(ping_id, True, best, token, expires_at, payout, src.show_buyer)


def _payout(model: PayoutModel | None, revenues: Sequence[float]) -> Decimal | None:
    """What the sales of the winning bids would earn the source (a fixed payout: once per lead)."""
    if model is None:
        return None
    if model.fixed is not None:
        return model.fixed
    return money(sum((model.of_sale(Decimal(str(r))) for r in revenues), Decimal(0)))


async def redeem(
    storage: Storage, live: LiveConfig, source: str, entity: str, token: object, now: datetime
) -> Redeemed:
    """The ping a lead's token stands for, if ``source`` may use the token now on a lead of ``entity`` (it
    is marked used in the lead's transaction: :func:`use`); else a 4xx naming ``ping_token``."""
    claims = read_token(token)
    if claims is None:
        raise _bad("malformed: send the ping_token POST /v1/ping answered, unchanged")
    key = await token_key(live)
    row = await storage.run_read(lambda tx: tx.deliveries.supplier_ping(claims.ping_id))
    if row is None or not signature_ok(key, claims, row.source):
        raise _bad("not a token this installation issued, or altered")
    if row.source != source:
        raise Forbidden("ping_token was issued to another source")
    if row.used_at is not None and row.lead_id is None:  # revoked: its source was deleted (revoke_pings)
        raise Forbidden("ping_token was issued to a source since deleted; ping again for a new quote")
    if row.used_at is not None:
        raise Conflict(f"ping_token was already used (by lead {row.lead_id}); ping again for a new quote")
    if claims.expired(now):
        raise Expired(f"ping_token expired at {_stamp(claims.expires_at)}; ping again for a new quote")
    if row.entity != entity:  # the bids were for a lead of the pinged entity
        raise _bad(f"issued for a {row.entity} lead, not a {entity} one: send the lead without it")
    return Redeemed(row.id, row.price, dict(row.auctions), row.value_marks, key, row.payout)


def check_values(redeemed: Redeemed, values: Mapping[str, Any]) -> None:
    """A 422 naming ``ping_token`` and the fields when the lead's values (normalized) are not the ones
    pinged: its bids were made for those, so a lead that differs (a better state, a bigger bill) must not
    be sold on them. Checked before the lead is written: the token stays unused."""
    if not redeemed.value_marks:
        return
    differing = differing_values(redeemed.key, redeemed.value_marks, values)
    if differing:
        raise _bad(
            f"the lead's {', '.join(differing)} {'is' if len(differing) == 1 else 'are'} not what was pinged "
            "(the bids were for those): send the lead without the token, or ping again with its values"
        )


def use(tx: Tx, redeemed: Redeemed, lead_id: str, now: datetime) -> str | None:
    """Mark the token used by the lead, in the lead's transaction: None, or why it cannot be (used by
    another lead since it was checked, or expired since)."""
    if tx.deliveries.use_supplier_ping(redeemed.ping_id, lead_id, now):
        return None
    row = tx.deliveries.supplier_ping(redeemed.ping_id)
    if row is not None and row.used_at is None:
        return "expired"
    return "used"


def bid_rows(
    redeemed: Redeemed, job: Mapping[str, Any], is_test: bool, ids: IdSource
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``bids`` rows of a new job from its profile's auction in the ping, and its trace lines (none
    when the ping ran no auction for the job's profile)."""
    auction = redeemed.auctions.get(job["profile"])
    if auction is None:
        return [], []
    rows = [
        {
            "id": ids("bid"),
            "job_id": job["id"],
            "lead_id": job["lead_id"],
            "partner": b["partner"],
            "profile": job["profile"],
            "rule": auction["rule"],
            "status": b["status"],
            "price": b["price"],
            "shared_price": b.get("shared_price"),
            "floor": b["floor"],
            "reference": b["reference"],
            "reason": b["reason"],
            "duration_ms": b["duration_ms"],
            "rank": b["rank"],
            "margin": b["margin"],
            "delivery_id": None,
            "sold_as": (b.get("sold_as") or Sale.EXCLUSIVE) if b["rank"] is not None else None,
            "superseded": False,
            "is_test": is_test,
            "started_at": job["created_at"],
            "created_at": job["created_at"],
        }
        for b in auction["bids"]
    ]
    quoted = f"{redeemed.price:.2f}" if redeemed.price is not None else "nothing"
    lines = [
        f"ping {redeemed.ping_id}: its best bid was {quoted}; the ping's bids stand",
        *auction["trace"],
    ]
    return rows, lines


def _ranked(auction: Auction, offers: Sequence[Offer]) -> tuple[dict[str, Any], float | None, list[float]]:
    """The bids ranked as the lead's auction ranks them (``decide``: an exclusive sale, or a shared one
    when the sum earns more), what the lead would earn (the best bid, or the shared bids' sum) and the
    sales that make it."""
    target = auction.target
    shared_max = min(target.shared_max, target.max_posts)
    ranking = decide(offers, auction.priority, shared_max=shared_max)
    places = {id(o): i for i, o in enumerate(ranking.order, 1)}
    deadline_ms = auction.deadline_s * 1000
    trace = [*auction.trace, *(bid_line(o, deadline_ms) for o in offers)]
    bids = []
    for offer in offers:
        place = places.get(id(offer))
        bids.append(
            {
                "partner": offer.partner,
                "status": offer.bid.status.value,
                "price": offer.bid.price,
                "shared_price": offer.bid.shared_price,
                "floor": offer.floor,
                "reference": offer.bid.reference,
                "reason": offer.bid.reason,
                "duration_ms": offer.duration_ms,
                "rank": place,
                "margin": ranking.margin if place == 1 else None,
                "sold_as": ranking.sale.value if place is not None else None,
            }
        )
    winner = ranking.winner
    price = winner.bid.price if winner is not None else None
    sales = [price] if price is not None else []
    if ranking.sale is Sale.SHARED:  # the lead earns the sum of the shared bids
        sales = [o.bid.shared_price or 0.0 for o in ranking.order[:shared_max]]
        price = round(sum(sales), 2)
        trace.append(f"auction: {ranking.line}")
    elif winner is not None and price is not None:
        trace.append(f"auction: {winner.partner} wins at {price:.2f}")
    doc = {"rule": auction.rule, "max_posts": auction.target.max_posts, "bids": bids, "trace": trace}
    return doc, price, sales


def _partial_values(entity: EntitySpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ping's values, checked as a lead's are: a personal field is refused by name, a personal field
    the entity requires is not missing (the lead brings it), and a field the entity does not have is left
    out (a ping carries the entity's non-personal fields only)."""
    given = personal_given(entity, raw)
    if given:
        problems = [
            FieldProblem(n, "personal data: a ping carries none (send it with the lead)") for n in given
        ]
        raise ValidationFailed(problems, f"a ping carries no personal data: remove {', '.join(given)}")
    checked = validate_lead(entity, raw)
    problems = [p for p in checked.problems if not (p.field in entity.personal and p.error == "required")]
    if problems:
        raise ValidationFailed(problems)
    return {name: value for name, value in checked.values.items() if name in entity.fields}


def _bad(why: str) -> ValidationFailed:
    return ValidationFailed([FieldProblem(TOKEN_FIELD, why)], f"ping_token: {why}")


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
