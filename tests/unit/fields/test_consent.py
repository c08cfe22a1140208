"""TrustedForm certificate URLs and Jornaya LeadiD tokens (shape only: no vendor calls)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fields import bad, ok

HEX_ID = "a1028cbb41b876744fa752eec276bec0e4c48b33"
FACEBOOK_ID = (
    "0.rpM21ddljS9BNNUOm6FZVVqb5C5JMk1cofI4nDGdwy5ezucyxjok9qLyUXMu9diW62Xac8xNMpomBf1B-XDpfbYvaFMr0YC"
    "-54TzHcLrni4.OHOMoMFXaX9YW9DoX_xeng.1vnf6DTWU7sJo6XAxlRP_w"
)
MOBILE_ID = "11NgkzK_mroUbOD1-x66NigDliU1kdvbaCtLGvyja1K80vU1sKh9grlwP78vzKSp4ncwAfJAlNPNVY8f"
PING_ID = (
    "0.1JT7QUPI1sOFZxpr72ZK45K0ck75kEBO9H3jNJuX8NkqMTv4UF-zrapBUlsefTP3lkXWh6qM.fF0DNrov0zNUNVRCqDV5dw"
    ".E2eYOJ5-dnAgiX02-96FNQ"
)


# lib/types/trustedform_url.js examples: web (hex id), facebook, mobile, and a ping URL
@pytest.mark.parametrize(
    ("host", "cert_id"),
    [
        ("cert.trustedform.com", HEX_ID),
        ("cert.trustedform.com", FACEBOOK_ID),
        ("cert.trustedform.com", MOBILE_ID),
        ("ping.trustedform.com", PING_ID),
    ],
)
def test_leadconduit_examples(host: str, cert_id: str) -> None:
    url = f"https://{host}/{cert_id}"
    result = ok("trustedform_cert_url", url)
    assert result.normal == result.value == url
    assert dict(result.parts) == {"cert_id": cert_id, "host": host}


@pytest.mark.parametrize(
    "raw",
    [
        f"https://cert.trustedform.com/{HEX_ID.upper()}",  # hex ids are lower-cased
        f"  HTTPS://Cert.TrustedForm.com/{HEX_ID}  ",
        f"https://cert.trustedform.com/{HEX_ID}?shared_token=abc#x",  # query and fragment dropped
    ],
)
def test_normalization(raw: str) -> None:
    result = ok("trustedform_cert_url", raw)
    assert result.normal == f"https://cert.trustedform.com/{HEX_ID}"
    assert result.parts["cert_id"] == HEX_ID


@pytest.mark.parametrize(
    "raw",
    [
        f"http://cert.trustedform.com/{HEX_ID}",  # insecure: LeadConduit rejects it too
        f"cert.trustedform.com/{HEX_ID}",  # read as http://
        f"https://cert.trustedform.net/{HEX_ID}",
        f"https://example.com/{HEX_ID}",
        f"https://cert.staging.trustedform.com/{HEX_ID}",
        "https://cert.trustedform.com/",
        "https://cert.trustedform.com/abc123",
        f"https://cert.trustedform.com/{HEX_ID}/extra",
        f"https://cert.trustedform.com/{HEX_ID}!",
        "not a url",
        HEX_ID,
    ],
)
def test_trustedform_errors(raw: Any) -> None:
    assert bad("trustedform_cert_url", raw) == "not a valid TrustedForm certificate URL"


@pytest.mark.parametrize(
    "raw",
    [
        "3A8F9D0C-1234-5678-9ABC-DEF012345678",
        "3a8f9d0c-1234-5678-9abc-def012345678",
        "  3A8F9D0C-1234-5678-9abc-DEF012345678 ",
    ],
)
def test_jornaya_leadid(raw: str) -> None:
    result = ok("jornaya_leadid", raw)
    assert result.normal == result.value == "3A8F9D0C-1234-5678-9ABC-DEF012345678"


@pytest.mark.parametrize(
    "raw",
    [
        "3A8F9D0C12345678 9ABCDEF012345678",
        "3A8F9D0C123456789ABCDEF012345678",  # no dashes
        "3A8F9D0C-1234-5678-9ABC-DEF01234567",  # 35 characters
        "3A8F9D0C-1234-5678-9ABC-DEF0123456789",
        "GA8F9D0C-1234-5678-9ABC-DEF012345678",
        "{3A8F9D0C-1234-5678-9ABC-DEF012345678}",
        12,
    ],
)
def test_jornaya_leadid_errors(raw: Any) -> None:
    assert bad("jornaya_leadid", raw) == "not a valid Jornaya LeadiD"
