"""A partner's HTTP answer read into an attempt result: :func:`classify` is a pure function of the finished
exchange (status, body, ``Retry-After``) and the channel's ``response`` rules and status policy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.delivery.answer_text import without_bom

_SHORT = 200
_REASON_KEYS = ("reason", "message", "error", "detail")
_REFERENCE_KEYS = ("reference", "id", "lead_id")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date); None when unusable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _json_object(text: str) -> dict[str, Any] | None:
    """The answer's JSON object, a leading byte order mark ignored (RFC 8259 §8.1); None if it is none."""
    try:
        data = orjson.loads(without_bom(text))
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _reason_from(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    for key in _REASON_KEYS:
        value = data.get(key)
        if isinstance(value, dict):  # {"error": {"message": "..."}}
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return value.strip()[:_SHORT]
    return None


def _short(text: str) -> str:
    return " ".join(text.split())[:_SHORT]


def _http_reason(status: int, text: str, phrase: str | None) -> str:
    detail = _short(text) or (phrase or "")
    return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"


def classify(
    status: int,
    text: str,
    phrase: str | None,
    retry_after: str | None,
    duration_ms: float,
    request: Mapping[str, Any],
    *,
    content_type: str = "",
    rules: Mapping[str, Any] | None = None,
    status_policy: str = "strict",
) -> AttemptResult:
    """Turn a finished HTTP exchange into an attempt result (a pure function of the exchange and the
    channel's response rules).

    429 and 5xx are retryable errors whatever the rules say. Without ``rules``: 2xx success (price and
    reference from a JSON body), other statuses final failures. With ``rules`` (LeadConduit's response
    options) :func:`~leadrelay.domain.delivery.response.interpret_response` reads the body; under the
    ``strict`` status policy a non-2xx answer is never a success, under ``body`` the body alone decides.
    """
    if status == 429 or status >= 500:
        return AttemptResult(
            Outcome.ERROR,
            reason=_http_reason(status, text, phrase),
            status_code=status,
            response_body=text,
            duration_ms=duration_ms,
            request=request,
            retryable=True,
            retry_after_s=parse_retry_after(retry_after, time.time()),
        )
    if rules is not None:
        return _by_rules(status, text, phrase, duration_ms, request, content_type, rules, status_policy)
    if 200 <= status < 300:
        data = _json_object(text)
        price: float | None = None
        shared_price: float | None = None
        redirect_url: str | None = None
        reference: str | None = None
        if data is not None:
            price = _number(data.get("price"))
            shared_price = _number(data.get("shared_price"))
            redirect = data.get("redirect_url")
            if (
                isinstance(redirect, str)
                and redirect.startswith(("https://", "http://"))
                and len(redirect) <= 2000
            ):
                redirect_url = redirect
            for key in _REFERENCE_KEYS:
                value = data.get(key)
                if isinstance(value, str) and value:
                    reference = value
                    break
                if isinstance(value, int) and not isinstance(value, bool):
                    reference = str(value)
                    break
        return AttemptResult(
            Outcome.SUCCESS,
            status_code=status,
            response_body=text,
            duration_ms=duration_ms,
            request=request,
            price=price,
            shared_price=shared_price,
            redirect_url=redirect_url,
            reference=reference,
        )
    reason = _reason_from(_json_object(text)) or _http_reason(status, text, phrase)
    return AttemptResult(
        Outcome.FAILURE,
        reason=reason,
        status_code=status,
        response_body=text,
        duration_ms=duration_ms,
        request=request,
    )


def _number(value: object) -> float | None:
    """A JSON body's price: a number, or a string read as response rules read one (``parse_price``:
    ``"11.00"``, ``"$1,000.50"``); None when the body names none (absent, null, blank). A price named but
    not readable (``"call us"``, ``true``, an object) is NaN, which no amount check passes (a ping's bid is
    then an error, never the list price)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        from leadrelay.domain.delivery.response import parse_price  # lxml, loaded when an answer is read

        price = parse_price(value)
        return price if price is not None else math.nan
    return math.nan


def _by_rules(
    status: int,
    text: str,
    phrase: str | None,
    duration_ms: float,
    request: Mapping[str, Any],
    content_type: str,
    options: Mapping[str, Any],
    status_policy: str,
) -> AttemptResult:
    """An answer other than 429/5xx read by the partner's response rules.

    success: the price the rules found, else their ``fallback_price``, else None, so that the delivery
    takes the partner's list price as it does for any answer without a price (LeadConduit would say 0);
    the reference, at most 200 characters. failure: a final failure with the reason the rules found, their
    ``default_reason``, else the status and body. error: a final (non-retryable) error, as a 5xx never gets
    here. Under the strict policy a non-2xx answer the rules read as a success is a failure,
    ``HTTP <status>: <body>``.
    """
    from leadrelay.domain.delivery.response import (  # lxml, loaded when an answer is first read
        ResponseRules,
        ResponseRulesError,
        interpret_response,
    )

    def result(outcome: Outcome, reason: str | None = None, **more: Any) -> AttemptResult:
        return AttemptResult(
            outcome,
            reason=reason,
            status_code=status,
            response_body=text,
            duration_ms=duration_ms,
            request=request,
            **more,
        )

    try:
        rules = ResponseRules.from_mapping(options)
    except ResponseRulesError as exc:  # refused when the configuration is applied; never the buyer's fault
        return result(Outcome.ERROR, f"response rules: {exc}")
    if rules.fallback_price is None:  # NaN marks "no price found": parse_price never gives one
        rules = replace(rules, fallback_price=math.nan)
    read = interpret_response(rules, status, {"Content-Type": content_type}, text)
    if read.outcome == "success" and (status_policy == "body" or 200 <= status < 300):
        price = None if math.isnan(read.price) else read.price
        reference = read.reference[:_SHORT] if read.reference else None
        return result(
            Outcome.SUCCESS,
            price=price,
            reference=reference,
            shared_price=read.shared_price,
            redirect_url=read.redirect_url,
        )
    if read.outcome == "success":
        return result(Outcome.FAILURE, _http_reason(status, text, phrase))
    reason = read.reason or _http_reason(status, text, phrase)
    return result(Outcome.FAILURE if read.outcome == "failure" else Outcome.ERROR, reason)
