"""What a webhook request carries: the URL, the body and its content type, for one lead.

With a mapping, the body is built from the rendered destination paths by ``build_body`` (JSON, form or
XML); without one, from the lead's (selected) fields, JSON and form exactly as before mappings existed.
GET has no body: the values are appended to the URL's own query string, form-encoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

from leadrelay.domain.attempts import LeadView
from leadrelay.domain.delivery import build_body
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.privacy import REDACTED
from leadrelay.templating.mapping import MappingError, mapping_for

__all__ = ["Encoded", "encode", "encode_body", "encode_request", "with_query"]

XML_ROOT = "lead"  # the root element of an XML body built from the fields, without a mapping


def encode_body(values: Mapping[str, Any], form: bool) -> tuple[bytes, str]:
    """The request body and its content type: JSON (orjson) or ``application/x-www-form-urlencoded``."""
    if form:
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            if isinstance(value, list | tuple):
                pairs.extend((str(name), _form_text(item)) for item in value)
            else:
                pairs.append((str(name), _form_text(value)))
        return urlencode(pairs).encode("ascii"), "application/x-www-form-urlencoded"
    body = orjson.dumps(dict(values), default=str, option=orjson.OPT_NON_STR_KEYS)
    return body, "application/json"


def _form_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` appended after its own parameters (which stay as they are)."""
    if not query:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


class Encoded(NamedTuple):
    """One request as sent, and as recorded: in the record, every value made from a sensitive field is
    ``***`` (whatever a mapping did to it); ``derived`` are those values as sent, so that an answer that
    echoes them can be redacted too."""

    url: str
    body: bytes | None
    content_type: str | None
    recorded_url: str
    recorded_body: bytes | None
    derived: tuple[Any, ...]


def encode_request(lead: LeadView, spec: WebhookChannel) -> tuple[str, bytes | None, str | None]:
    """The URL, body (None for GET) and content type (before headers override it) of one request.

    Raises ``MappingError`` when the mapping cannot render this lead, ``TypeError``/``ValueError`` when
    the fields cannot be encoded.
    """
    encoded = encode(lead, spec)
    return encoded.url, encoded.body, encoded.content_type


def encode(lead: LeadView, spec: WebhookChannel) -> Encoded:
    """:func:`encode_request`, with the request's record (see :class:`Encoded`)."""
    get = spec.method.upper() == "GET"
    fmt = "form" if get else spec.format
    if spec.mapping is not None:
        meta = {
            "lead_id": lead.lead_id,
            "entity": lead.entity,
            "partner": lead.partner,
            "test": lead.test,
            "ping": {"reference": lead.ping_reference, "price": lead.ping_price},  # empty: not pinged
            "postback": {"url": lead.postback_url},  # the buyer reports the lead's outcome there
        }
        compiled = mapping_for(spec.mapping)
        values = compiled.render(lead.values, meta=meta)
        secret = [path for path in compiled.paths_from(lead.values, lead.sensitive) if path in values]
    else:
        values = dict(lead.values)
        secret = [name for name in lead.sensitive if name in values]
    url, body, content_type = _encode(spec, fmt, get, values)
    if not secret:
        return Encoded(url, body, content_type, url, body, ())
    masked = {key: REDACTED if key in secret else value for key, value in values.items()}
    recorded_url, recorded_body, _ = _encode(spec, fmt, get, masked)
    return Encoded(
        url, body, content_type, recorded_url, recorded_body, tuple(_flat(values[k] for k in secret))
    )


def _flat(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list | tuple):
            yield from _flat(value)
        elif isinstance(value, dict):
            yield from _flat(value.values())
        else:
            yield value


def _encode(
    spec: WebhookChannel, fmt: str, get: bool, values: Mapping[str, Any]
) -> tuple[str, bytes | None, str | None]:
    if spec.mapping is not None:
        try:
            content_type, text = build_body(fmt, values, ascii=spec.ascii)
        except (TypeError, ValueError) as exc:
            raise MappingError(f"cannot build the {fmt} body: {exc}") from exc
        body = text.encode("utf-8")
    elif fmt == "xml":
        content_type, text = build_body(
            "xml", {f"{XML_ROOT}.{name}": v for name, v in values.items()}, ascii=spec.ascii
        )
        body = text.encode("utf-8")
    elif get or spec.ascii:
        content_type, text = build_body(fmt, dict(values), ascii=spec.ascii)
        body = text.encode("utf-8")
    else:
        body, content_type = encode_body(values, fmt == "form")
    if get:
        return with_query(spec.url, body.decode("ascii")), None, spec.content_type
    return spec.url, body, spec.content_type or content_type
