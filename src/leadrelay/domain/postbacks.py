"""Postbacks (issue 11, point 5): a buyer reports what became of a lead it bought, through a signed URL.

Every delivery has one URL, ``{public url}/v1/postbacks/{delivery id}?sig=…``. ``sig`` is HMAC-SHA256 of
the delivery id under the installation's postback key (an HMAC of :data:`KEY_LABEL` under the installation
key, as the ping tokens' key is: one key per purpose), base64url without padding, cut to
:data:`SIG_CHARS` characters (132 bits). So the URL names its delivery in the clear and cannot be turned
into another delivery's without the key.

A report (:class:`Report`) is an outcome (:class:`~leadrelay.domain.after_sale_states.DeliveryOutcome`), an
optional revenue (a Decimal, quantized to cents), an optional ``event_id`` (the buyer's id of the event: a
replay carries the same one) and an optional note. The outcome's moves are the ``OUTCOME`` machine of
``domain.after_sale_states``; :func:`next_outcome` applies it. Pure: the key and the values are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from leadrelay.domain.after_sale_states import OUTCOME, DeliveryOutcome
from leadrelay.errors import FieldProblem, InvalidTransition, ValidationFailed

__all__ = [
    "KEY_LABEL",
    "MAX_REVENUE",
    "SIG_CHARS",
    "Report",
    "next_outcome",
    "parse_revenue",
    "postback_path",
    "postback_url",
    "read_report",
    "sign",
    "signature_ok",
]

KEY_LABEL = b"leadrelay postback v1"  # what the installation's HMAC key signs to give the postback key
SIG_CHARS = 22  # base64url characters kept of the HMAC: 132 bits
MAX_REVENUE = Decimal("1000000000")  # a billion: anything more is a typo
CENT = Decimal("0.01")
MAX_EVENT_ID = 200
MAX_NOTE = 2000
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces


def sign(key: bytes, delivery_id: str) -> str:
    """The ``sig`` of a delivery's postback URL."""
    if len(key) < 16:
        raise ValueError("a postback key has at least 16 bytes")
    mac = hmac.new(key, b"pb1\n" + delivery_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()[:SIG_CHARS]


def signature_ok(key: bytes, delivery_id: str, sig: object) -> bool:
    """Whether ``sig`` is this delivery's (constant time; a truncated, padded or foreign one is not). A
    signature is base64url: one with other characters is refused before the comparison, which takes ASCII
    text only."""
    if not isinstance(sig, str) or len(sig) != SIG_CHARS or not sig.isascii():
        return False
    return hmac.compare_digest(sign(key, delivery_id), sig)


def postback_path(delivery_id: str, sig: str) -> str:
    return f"/v1/postbacks/{quote(delivery_id, safe='')}?sig={sig}"


def postback_url(base_url: str, key: bytes, delivery_id: str) -> str:
    """The delivery's postback URL under ``base_url`` (the installation's public URL)."""
    return base_url.rstrip("/") + postback_path(delivery_id, sign(key, delivery_id))


def parse_revenue(value: object) -> Decimal | None:
    """A revenue as the buyer sent it (text or number; empty: none) → a Decimal in cents, or ValueError
    saying why. Rounded half up to the cent; negative, not finite or over :data:`MAX_REVENUE` refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a number such as 125.50")
    text = value.strip() if isinstance(value, str) else str(value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"must be a number such as 125.50, not {text[:40]!r}") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > MAX_REVENUE:
        raise ValueError(f"must be at most {MAX_REVENUE}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Report:
    """One postback's content, checked."""

    outcome: DeliveryOutcome
    revenue: Decimal | None = None
    event_id: str | None = None
    note: str | None = None


def _one(raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    if isinstance(value, list):  # a form or query string may repeat a name: the last one counts
        value = value[-1] if value else None
    return value


def read_report(raw: Mapping[str, Any]) -> Report:
    """The report in a postback's parameters (query string, form or JSON object); ``ValidationFailed``
    naming every bad field."""
    problems: list[FieldProblem] = []
    outcome: DeliveryOutcome | None = None
    given = _one(raw, "outcome")
    if given is None or given == "":
        problems.append(FieldProblem("outcome", f"required: one of {', '.join(DeliveryOutcome)}"))
    else:
        try:
            outcome = DeliveryOutcome(str(given).strip().lower())
        except ValueError:
            problems.append(FieldProblem("outcome", f"must be one of {', '.join(DeliveryOutcome)}"))
    revenue = None
    try:
        revenue = parse_revenue(_one(raw, "revenue"))
    except ValueError as exc:
        problems.append(FieldProblem("revenue", str(exc)))
    event_id = _one(raw, "event_id")
    if event_id is not None and not isinstance(event_id, str):
        event_id = str(event_id) if isinstance(event_id, int) and not isinstance(event_id, bool) else event_id
    if event_id == "":
        event_id = None
    if event_id is not None and not (isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)):
        problems.append(
            FieldProblem("event_id", f"must be 1 to {MAX_EVENT_ID} printable characters, no spaces")
        )
    note = _one(raw, "note")
    if note is not None and not isinstance(note, str):
        problems.append(FieldProblem("note", "must be text"))
    elif note is not None and (len(note) > MAX_NOTE or "\x00" in note):
        problems.append(FieldProblem("note", f"must be at most {MAX_NOTE} characters, without NUL"))
    if problems or outcome is None:
        raise ValidationFailed(problems, "; ".join(f"{p.field}: {p.error}" for p in problems))
    return Report(outcome, revenue, event_id, note or None)


def next_outcome(current: DeliveryOutcome | str | None, reported: DeliveryOutcome) -> DeliveryOutcome:
    """The delivery's outcome after ``reported``; ``InvalidTransition`` (with the reason) when the
    ``OUTCOME`` machine does not allow the move (rejected and returned are final, …)."""
    if current is None:
        return OUTCOME.check_initial(reported)
    if not OUTCOME.allowed(current, reported):
        final = " (final)" if not OUTCOME.transitions.get(DeliveryOutcome(current)) else ""
        raise InvalidTransition(f"the delivery's outcome cannot go from {current!s}{final} to {reported!s}")
    return reported
