"""Consent evidence: TrustedForm certificate URLs and Jornaya LeadiD tokens.

Only the shape is checked here: claiming or verifying a certificate needs the vendor's API, which is
I/O and belongs to an adapter. A well-formed URL on the wrong host (or over plain http) is rejected,
because a buyer cannot claim it.
"""

from __future__ import annotations

import re
from typing import Any

from leadrelay.domain.fields.value import FieldValue, Invalid, Options, accept, register, text
from leadrelay.domain.fields.web import split_url

TRUSTEDFORM_HOSTS = frozenset({"cert.trustedform.com", "ping.trustedform.com"})
_HEX_ID_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_TOKEN_ID_RE = re.compile(r"^[0-9A-Za-z_-][0-9A-Za-z_.-]{19,254}$")
"""Newer certificate ids (``0.rpM21…``, mobile and Facebook ones): opaque, up to 255 characters."""
_LEADID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")

_TF_PROBLEM = "not a valid TrustedForm certificate URL"


@register("trustedform_cert_url")
def parse_trustedform_cert_url(raw: Any, options: Options) -> FieldValue:
    try:
        url = split_url(raw)
    except Invalid:
        raise Invalid(_TF_PROBLEM) from None
    if url.scheme != "https" or url.host not in TRUSTEDFORM_HOSTS:
        raise Invalid(_TF_PROBLEM)
    cert_id = url.path.removeprefix("/")
    if _HEX_ID_RE.match(cert_id):
        cert_id = cert_id.lower()
    elif not _TOKEN_ID_RE.match(cert_id):
        raise Invalid(_TF_PROBLEM)
    return accept(raw, f"https://{url.host}/{cert_id}", {"cert_id": cert_id, "host": url.host})


@register("jornaya_leadid")
def parse_jornaya_leadid(raw: Any, options: Options) -> FieldValue:
    """A LeadiD token: 36 characters, hex in groups 8-4-4-4-12, upper case (as Jornaya issues them)."""
    token = text(raw).upper()
    if not _LEADID_RE.match(token):
        raise Invalid("not a valid Jornaya LeadiD")
    return accept(raw, token)
