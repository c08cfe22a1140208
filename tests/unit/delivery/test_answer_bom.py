"""A buyer's answer that opens with a byte order mark (U+FEFF; as .NET servers often send JSON) is read as
its Content-Type says, the mark ignored (RFC 8259 §8.1): its outcome, reason, price and reference with
response rules (``interpret_response``) and without (``classify``), given as text or as bytes, whatever
charset the Content-Type names."""

from __future__ import annotations

import codecs
from typing import Any

import pytest

from leadrelay import interpret_response
from leadrelay.adapters.channels.webhook_answers import classify
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.delivery.answer_text import decode_answer, without_bom

BOM = "\ufeff"
REJECTED = '{"status": "rejected", "reason": "not accepted: duplicate", "price": 12.5, "id": "r-1"}'
ACCEPTED = '{"status": "accepted", "price": 12.5, "id": "r-1"}'
JSON = {"Content-Type": "application/json; charset=utf-8"}
RULES = {
    "outcome_search_term": "accepted",
    "outcome_search_path": "status",
    "price_path": "price",
    "reference_path": "id",
    "reason_path": "reason",
}


def _forms(text: str) -> list[str | bytes]:
    """The answer with a BOM as text, as UTF-8 bytes, and as the bytes with the BOM undecoded."""
    return [BOM + text, (BOM + text).encode("utf-8"), codecs.BOM_UTF8 + text.encode("utf-8")]


@pytest.mark.parametrize("body", _forms(ACCEPTED))
def test_rules_read_a_json_answer_with_a_bom(body: str | bytes) -> None:
    got = interpret_response(RULES, 200, JSON, body)
    assert (got.outcome, got.price, got.reference) == ("success", 12.5, "r-1"), got


@pytest.mark.parametrize("body", _forms(REJECTED))
def test_rules_search_only_the_named_value_of_a_json_answer_with_a_bom(body: str | bytes) -> None:
    # the status is "rejected"; "accepted" appears only in the reason, outside outcome_search_path
    got = interpret_response(RULES, 200, JSON, body)
    assert (got.outcome, got.reason) == ("failure", "not accepted: duplicate"), got


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252", "no-such-charset"])
def test_the_bom_bytes_say_utf8_whatever_the_charset_says(charset: str) -> None:
    body = codecs.BOM_UTF8 + '{"status": "accepted", "price": 12.5, "id": "r-é"}'.encode()
    got = interpret_response(RULES, 200, {"Content-Type": f"application/json; charset={charset}"}, body)
    assert (got.outcome, got.price, got.reference) == ("success", 12.5, "r-é"), got


@pytest.mark.parametrize(
    ("content_type", "body", "rules"),
    [
        ("text/xml", "<r><status>accepted</status><price>12.5</price><id>r-1</id></r>", None),
        ("application/x-www-form-urlencoded", "status=accepted&price=12.5&id=r-1", None),
        ("text/plain", "accepted", {"outcome_search_term": "^accepted$"}),  # anchored: the mark is not text
    ],
)
def test_other_answers_with_a_bom_read_as_without_it(
    content_type: str, body: str, rules: dict[str, Any] | None
) -> None:
    rules = rules or {
        "outcome_search_term": "accepted",
        "outcome_search_path": "status" if "form" in content_type else "r/status",
        "price_path": "price" if "form" in content_type else "r/price",
        "reference_path": "id" if "form" in content_type else "r/id",
    }
    headers = {"Content-Type": content_type}
    assert interpret_response(rules, 200, headers, BOM + body) == interpret_response(
        rules, 200, headers, body
    )
    assert interpret_response(rules, 200, headers, BOM + body).outcome == "success"


def test_an_answer_without_rules_gives_its_price_and_reference_with_a_bom() -> None:
    got = classify(200, BOM + ACCEPTED, "OK", None, 1.0, {}, content_type="application/json")
    assert (got.outcome, got.price, got.reference) == (Outcome.SUCCESS, 12.5, "r-1"), got


def test_a_refusal_without_rules_gives_its_reason_with_a_bom() -> None:
    got = classify(422, BOM + '{"error": "duplicate"}', "Unprocessable", None, 1.0, {})
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "duplicate"), got


def test_an_answer_with_rules_is_read_through_the_bom_by_classify() -> None:
    got = classify(200, BOM + REJECTED, "OK", None, 1.0, {}, content_type="application/json", rules=RULES)
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "not accepted: duplicate"), got


@pytest.mark.parametrize(
    ("raw", "charset", "text"),
    [
        (codecs.BOM_UTF8 + b'{"a": "\xc3\xa9"}', "iso-8859-1", '{"a": "é"}'),
        (b'{"a": "\xe9"}', "iso-8859-1", '{"a": "é"}'),  # no BOM: the charset says
        (b"\xff ok", "utf-8", "\ufffd ok"),
        (b"ok", "no-such-charset", "ok"),
    ],
)
def test_answer_bytes_are_decoded_the_bom_deciding_and_dropped(raw: bytes, charset: str, text: str) -> None:
    assert decode_answer(raw, charset) == text


def test_only_a_leading_bom_is_dropped() -> None:
    assert without_bom(BOM + "a" + BOM) == "a" + BOM
    assert without_bom("a") == "a"
