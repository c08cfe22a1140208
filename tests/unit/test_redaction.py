"""The one redactor of stored text: a lead's sensitive values in every derived form, a partner's secrets,
and the values a mapping rendered from sensitive fields (kept out of the request record)."""

from __future__ import annotations

import pytest

from leadrelay.adapters.channels.payload import encode
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import WebhookChannel
from leadrelay.domain.privacy import REDACTED, Redactor

SSN = "987-65-4321"


@pytest.mark.parametrize(
    "text",
    [
        "ssn 987-65-4321 given",
        "ssn 987654321 given",
        "ssn 987 65 4321 given",
        "ssn 987.65.4321",
        '{"ssn":"987-65-4321"}',
        "ssn=987%2065%204321",
        "<ssn>987-65-4321</ssn>",
    ],
)
def test_a_sensitive_value_is_found_in_its_derived_forms(text: str) -> None:
    out = Redactor.of(sensitive=[SSN]).text(text)
    assert "987" not in out and "4321" not in out and REDACTED in out


def test_other_digits_stay() -> None:
    red = Redactor.of(sensitive=[SSN])
    assert red.text("order 1987654321 and 98765432") == "order 1987654321 and 98765432"


def test_text_and_case_and_phone_forms() -> None:
    red = Redactor.of(sensitive=["Income Eight", "+15125551212"])
    out = red.text(
        "INCOME EIGHT / income eight / Income%20Eight / Income+Eight / (512) 555-1212 / 15125551212"
    )
    assert "ncome" not in out.lower() and "555" not in out


def test_secrets_in_their_encodings_and_any_case() -> None:
    red = Redactor.of(secrets=["Key-Sentinel/7f+3a"])
    out = red.text("k=Key-Sentinel%2F7f%2B3a K=KEY-SENTINEL/7F+3A j=Key-Sentinel\\/7f+3a")
    assert "entinel" not in out.lower()


def test_short_values_and_nothing_to_do() -> None:
    assert Redactor.of(sensitive=["TX", None, True]).text("TX is fine") == "TX is fine"
    assert not Redactor() and Redactor().text(None) is None


def test_a_result_is_redacted_with_what_the_channel_sent_and_what_the_job_knows() -> None:
    sent = Redactor.of(secrets=["api-key-value-1"])
    result = AttemptResult(
        Outcome.FAILURE,
        reason="bad ssn 987654321 with key api-key-value-1",
        response_body='{"ssn": "987-65-4321", "X-Api-Key": "api-key-value-1"}',
        request={"headers": {"X-Api-Key": "api-key-value-1"}, "body": "987654321"},
        redactor=sent,
    )
    out = result.redacted(Redactor.of(sensitive=[SSN]))
    assert "987" not in str(out) and "api-key-value-1" not in f"{out.reason}{out.response_body}{out.request}"
    assert out.outcome is Outcome.FAILURE


def test_the_request_record_masks_every_mapped_value_made_from_a_sensitive_field() -> None:
    spec = WebhookChannel(
        url="https://buyer.example/leads",
        mapping={
            "id.digits": "{{ lead.ssn | digits }}",
            "id.last4": "{{ lead.ssn | digits | truncate(4) }}",
            "id.ref": {"field": "ssn"},
            "id.pick": {"when": {"field": "zip", "op": "exists"}, "value": "{{ lead.ssn | upper }}"},
            "name": "{{ lead.first_name | upper }}",
        },
    )
    lead = LeadView(
        "lead_1",
        "solar",
        "acme",
        {"ssn": SSN, "first_name": "Ada", "zip": "78704"},
        "k",
        sensitive=frozenset({"ssn"}),
    )
    encoded = encode(lead, spec)
    assert b"987654321" in (encoded.body or b"") and b"9876" in (encoded.body or b"")
    recorded = (encoded.recorded_body or b"").decode()
    assert "987" not in recorded and '"name":"ADA"' in recorded.replace(" ", "")
    assert set(encoded.derived) == {"987654321", "9876", SSN}
    plain = encode(lead.__class__("lead_1", "solar", "acme", {"ssn": SSN}, "k"), spec)
    assert plain.recorded_body == plain.body and plain.derived == ()
