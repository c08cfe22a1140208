"""What the simulated buyers decide and remember: a deterministic answer per (seed, buyer, idempotency key
or body), exact idempotency, the accepted leads, the latest requests and the counts (see ``buyers``)."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

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
class _Buyer:
    stats: BuyerStats = field(default_factory=BuyerStats)
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


class BuyersState:
    """All buyers' counters and remembered answers; touched only from the server's event loop."""

    def __init__(self, *, count: int, accept_rate: float, error_rate: float, seed: int) -> None:
        self.count = count
        self.accept_rate = accept_rate
        self.error_rate = error_rate
        self.seed = seed
        self.buyers: dict[str, _Buyer] = {}
        self.reset()

    def reset(self) -> None:
        self.buyers = {f"buyer{i}": _Buyer() for i in range(1, self.count + 1)}

    def stats(self) -> dict[str, Any]:
        return {
            "buyers": {name: asdict(buyer.stats) for name, buyer in self.buyers.items()},
            "total_accepted": sum(buyer.stats.accepted for buyer in self.buyers.values()),
            "total_received": sum(buyer.stats.received for buyer in self.buyers.values()),
        }

    def leads(self, name: str) -> list[dict[str, Any]]:
        buyer = self.buyers.get(name)
        return [dict(lead) for lead in buyer.leads] if buyer else []

    def requests(self, name: str) -> list[dict[str, Any]]:
        buyer = self.buyers.get(name)
        return [dict(request) for request in buyer.requests] if buyer else []

    def record(self, name: str, request: dict[str, Any]) -> None:
        self.buyers.setdefault(name, _Buyer()).requests.append(request)

    def receive(
        self, name: str, key: str | None, raw: bytes, body: dict[str, Any] | None, test: bool
    ) -> tuple[int, bytes]:
        """Decide (or repeat) the answer to one request; synchronous, so it is atomic on the loop."""
        buyer = self.buyers.setdefault(name, _Buyer())
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
                buyer.leads.append({"key": key, "body": body, "reference": reference})
                answer = _answer(200, {"status": "accepted", "reference": reference, "price": 10.0})
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
