"""What a webhook request carries: the URL, the body and its content type, for one lead.

With a mapping, the body is built from the rendered destination paths by ``build_body`` (JSON, form or
XML); without one, from the lead's (selected) fields, JSON and form exactly as before mappings existed.
GET has no body: the values are appended to the URL's own query string, form-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

from leadrelay.adapters.channels.mapping import MappingError, mapping_for
from leadrelay.domain.attempts import LeadView
from leadrelay.domain.delivery import build_body
from leadrelay.domain.model import WebhookChannel

__all__ = ["encode_body", "encode_request", "with_query"]

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


def encode_request(lead: LeadView, spec: WebhookChannel) -> tuple[str, bytes | None, str | None]:
    """The URL, body (None for GET) and content type (before headers override it) of one request.

    Raises ``MappingError`` when the mapping cannot render this lead, ``TypeError``/``ValueError`` when
    the fields cannot be encoded.
    """
    get = spec.method.upper() == "GET"
    fmt = "form" if get else spec.format
    if spec.mapping is not None:
        meta = {"lead_id": lead.lead_id, "entity": lead.entity, "partner": lead.partner, "test": lead.test}
        rendered = mapping_for(spec.mapping).render(lead.values, meta=meta)
        try:
            content_type, text = build_body(fmt, rendered, ascii=spec.ascii)
        except (TypeError, ValueError) as exc:
            raise MappingError(f"cannot build the {fmt} body: {exc}") from None
        body = text.encode("utf-8")
    elif fmt == "xml":
        values = {f"{XML_ROOT}.{name}": value for name, value in lead.values.items()}
        content_type, text = build_body("xml", values, ascii=spec.ascii)
        body = text.encode("utf-8")
    elif get or spec.ascii:
        content_type, text = build_body(fmt, dict(lead.values), ascii=spec.ascii)
        body = text.encode("utf-8")
    else:
        body, content_type = encode_body(lead.values, fmt == "form")
    if get:
        return with_query(spec.url, body.decode("ascii")), None, spec.content_type
    return spec.url, body, spec.content_type or content_type
