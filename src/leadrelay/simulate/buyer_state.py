"""What the simulated buyers decide and remember: a deterministic answer per (seed, buyer, idempotency key
or body), exact idempotency, the accepted leads, the latest requests and the counts (see ``buyers``); and
for pings, each buyer's bids drawn from its own generator seeded by (seed, buyer) (see ``bidding``), the
latest ping requests and every field name a ping ever carried."""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from leadrelay.simulate.bidding import Answer, BiddingOptions, decide_ping

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
MAX_RECORDED_REQUESTS = 1000  # per buyer, the latest (a benchmark sends far more)


@dataclass(slots=True)
class BuyerStats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    duplicates: int = 0
    tests: int = 0


@dataclass(slots=True)
class PingStats:
    received: int = 0
    bids: int = 0
    refusals: int = 0
    timeouts: int = 0
    tests: int = 0


@dataclass(slots=True)
class _Buyer:
    draws: random.Random
    stats: BuyerStats = field(default_factory=BuyerStats)
    ping_stats: PingStats = field(default_factory=PingStats)
    pings: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED_REQUESTS))
    ping_fields: set[str] = field(default_factory=set)  # every field name (dotted path) a ping carried
    bids: dict[str, float] = field(default_factory=dict)  # by reference: what this buyer bid
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # by idempotency key
    errors_by_ident: dict[bytes, int] = field(default_factory=dict)
    leads: list[dict[str, Any]] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED_REQUESTS))


def _answer(status: int, payload: dict[str, Any]) -> tuple[int, bytes]:
    return status, orjson.dumps(payload)


def _fraction(*parts: bytes) -> float:
    """A number in [0, 1) drawn deterministically from ``parts``."""
    digest = hashlib.blake2b(b"\x00".join(parts), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _field_paths(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    paths: set[str] = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        paths |= _field_paths(inner, path + ".")
    return paths


class BuyersState:
    """All buyers' counters and remembered answers; touched only from the server's event loop."""

    def __init__(
        self,
        *,
        count: int,
        accept_rate: float,
        error_rate: float,
        seed: int,
        bidding: BiddingOptions | None = None,
        bidders: Mapping[str, BiddingOptions] | None = None,
    ) -> None:
        self.count = count
        self.accept_rate = accept_rate
        self.error_rate = error_rate
        self.seed = seed
        self.bidding = bidding if bidding is not None else BiddingOptions()
        self.bidders = dict(bidders or {})  # per buyer name, instead of ``bidding``
        self.buyers: dict[str, _Buyer] = {}
        self.reset()

    def _new(self, name: str) -> _Buyer:
        return _Buyer(draws=random.Random(f"{self.seed}/{name}"))

    def _buyer(self, name: str) -> _Buyer:
        buyer = self.buyers.get(name)
        if buyer is None:
            buyer = self.buyers[name] = self._new(name)
        return buyer

    def reset(self) -> None:
        self.buyers = {name: self._new(name) for name in (f"buyer{i}" for i in range(1, self.count + 1))}

    def stats(self) -> dict[str, Any]:
        return {
            "buyers": {name: asdict(buyer.stats) for name, buyer in self.buyers.items()},
            "total_accepted": sum(buyer.stats.accepted for buyer in self.buyers.values()),
            "total_received": sum(buyer.stats.received for buyer in self.buyers.values()),
            "pings": {name: asdict(buyer.ping_stats) for name, buyer in self.buyers.items()},
            "total_bids": sum(buyer.ping_stats.bids for buyer in self.buyers.values()),
        }

    def pings(self, name: str) -> dict[str, Any]:
        """The latest pings ``name`` received (as :meth:`requests`, with the parsed body) and every field
        name (dotted path) any ping to it ever carried."""
        buyer = self.buyers.get(name)
        if buyer is None:
            return {"pings": [], "fields": []}
        return {"pings": [dict(ping) for ping in buyer.pings], "fields": sorted(buyer.ping_fields)}

    def ping(
        self, name: str, request: dict[str, Any], body: dict[str, Any] | None, test: bool
    ) -> tuple[int, bytes, float]:
        """Record one ping and decide its answer: (status, body, seconds before answering). Synchronous,
        so one buyer's draws follow the order in which its pings arrive."""
        buyer = self._buyer(name)
        buyer.pings.append(request | {"parsed": body})
        buyer.ping_fields |= _field_paths(body)
        stats = buyer.ping_stats
        stats.received += 1
        if test:
            stats.tests += 1
        reference = f"{name}-bid-{stats.received}"
        if body is None:
            stats.refusals += 1
            payload = {
                "status": "refused",
                "accepted": False,
                "reason": "the body is not a JSON object or a form",
            }
            return 400, orjson.dumps(payload), 0.0
        decision = decide_ping(self.bidders.get(name, self.bidding), buyer.draws, test=test)
        if decision.answer == Answer.REFUSAL:
            stats.refusals += 1
            payload = {"status": "refused", "accepted": False, "reason": "no bid", "reference": reference}
            return 422, orjson.dumps(payload), decision.delay_s
        assert decision.price is not None
        if decision.answer == Answer.TIMEOUT:
            stats.timeouts += 1
        else:
            stats.bids += 1
        buyer.bids[reference] = decision.price
        payload = {"status": "accepted", "accepted": True, "price": decision.price, "reference": reference}
        ratio = self.bidders.get(name, self.bidding).shared_ratio
        if ratio is not None:
            payload["shared_price"] = round(decision.price * ratio, 2)
        return 200, orjson.dumps(payload), decision.delay_s

    def leads(self, name: str) -> list[dict[str, Any]]:
        buyer = self.buyers.get(name)
        return [dict(lead) for lead in buyer.leads] if buyer else []

    def requests(self, name: str) -> list[dict[str, Any]]:
        buyer = self.buyers.get(name)
        return [dict(request) for request in buyer.requests] if buyer else []

    def record(self, name: str, request: dict[str, Any]) -> None:
        self._buyer(name).requests.append(request)

    def receive(
        self,
        name: str,
        key: str | None,
        raw: bytes,
        body: dict[str, Any] | None,
        test: bool,
        ping_reference: str | None = None,
    ) -> tuple[int, bytes]:
        """Decide (or repeat) the answer to one request; synchronous, so it is atomic on the loop. A post
        that carries the reference of one of this buyer's bids is answered at that bid's price; the
        reference is kept with the accepted lead (``ping_reference``, ``bid_price``: None when unknown)."""
        buyer = self._buyer(name)
        stats = buyer.stats
        stats.received += 1
        if key is not None and key in buyer.answers:
            stats.duplicates += 1
            return buyer.answers[key]
        if test:
            stats.tests += 1
        if body is None:
            stats.rejected += 1
            answer = _answer(400, {"status": "rejected", "reason": "the body is not a JSON object or a form"})
        else:
            ident = key.encode("utf-8") if key is not None else raw
            seed, who = str(self.seed).encode(), name.encode("utf-8")
            tries = buyer.errors_by_ident.get(ident, 0)
            if _fraction(seed, who, b"error", str(tries).encode(), ident) < self.error_rate:
                stats.errors += 1
                buyer.errors_by_ident[ident] = tries + 1
                return _answer(500, {"status": "error"})
            buyer.errors_by_ident.pop(ident, None)
            if test or _fraction(seed, who, b"accept", ident) < self.accept_rate:
                stats.accepted += 1
                reference = f"{name}-{stats.accepted}"
                lead: dict[str, Any] = {"key": key, "body": body, "reference": reference}
                price = 10.0
                if ping_reference:
                    bid = buyer.bids.get(ping_reference)
                    lead |= {"ping_reference": ping_reference, "bid_price": bid}
                    price = bid if bid is not None else price
                buyer.leads.append(lead)
                answer = _answer(200, {"status": "accepted", "reference": reference, "price": price})
            else:
                stats.rejected += 1
                answer = _answer(422, {"status": "rejected", "reason": "not interested"})
        if key is not None:
            buyer.answers[key] = answer
        return answer


def parse_body(content_type: str, raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return {}
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    if content_type in ("application/xml", "text/xml") or content_type.endswith("+xml"):
        return {"xml": raw.decode("utf-8", errors="replace")}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
