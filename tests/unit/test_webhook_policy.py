"""A buyer's answer read by the partner's LeadConduit response rules, inside leadrelay's delivery policy
(``classify``), and the ``response`` / ``status_policy`` options of a webhook in the configuration."""

from __future__ import annotations

import math
from typing import Any

import pytest

from leadrelay.adapters.channels.webhook_answers import classify
from leadrelay.configuration.load import load_yaml_text, validate_document
from leadrelay.configuration.specs import build_specs, dump_yaml
from leadrelay.domain.attempts import AttemptResult, Outcome
from leadrelay.domain.model import WebhookChannel
from leadrelay.errors import ConfigError

JSON = "application/json"
XML = "application/xml"
TEXT = "text/plain"
XML_ANSWER = "<result><status>accepted</status><price>12.50</price><id>ABC-1</id></result>"
XML_RULES = {
    "outcome_search_term": "accepted",
    "outcome_search_path": "result/status",
    "price_path": "result/price",
    "reference_path": "result/id",
    "reason_path": "result/reason",
}


def read(
    status: int,
    body: str,
    rules: dict[str, Any] | None,
    content_type: str = JSON,
    policy: str = "strict",
    retry_after: str | None = None,
) -> AttemptResult:
    return classify(
        status,
        body,
        None,
        retry_after,
        12.0,
        {"method": "POST"},
        content_type=content_type,
        rules=rules,
        status_policy=policy,
    )


# ---------------------------------------------------------------- success: price and reference


def test_a_json_answer_gives_outcome_price_and_reference() -> None:
    rules = {
        "outcome_search_term": "accepted",
        "outcome_search_path": "status",
        "price_path": "price",
        "reference_path": "lead.id",
    }
    got = read(200, '{"status": "accepted", "price": "$1,012.50", "lead": {"id": "L-9"}}', rules)
    assert (got.outcome, got.price, got.reference, got.reason) == (Outcome.SUCCESS, 1012.5, "L-9", None)
    assert (got.status_code, got.duration_ms, got.request) == (200, 12.0, {"method": "POST"})
    assert got.response_body is not None and "L-9" in got.response_body


def test_an_xml_answer_gives_outcome_price_and_reference() -> None:
    got = read(200, XML_ANSWER, XML_RULES, content_type="text/xml; charset=utf-8")
    assert (got.outcome, got.price, got.reference) == (Outcome.SUCCESS, 12.5, "ABC-1")


def test_a_text_answer_is_read_with_regular_expressions() -> None:
    rules = {
        "outcome_search_term": "^OK",
        "price_path": r"price=([0-9.]+)",
        "reference_path": r"ref=(\w+)",
    }
    got = read(201, "OK|ref=R77|price=3.25", rules, content_type=TEXT)
    assert (got.outcome, got.price, got.reference) == (Outcome.SUCCESS, 3.25, "R77")


def test_the_content_type_override_reads_a_mislabelled_answer() -> None:
    rules = {**XML_RULES, "response_content_type_override": "application/xml"}
    got = read(200, XML_ANSWER, rules, content_type=TEXT)
    assert (got.outcome, got.price, got.reference) == (Outcome.SUCCESS, 12.5, "ABC-1")


def test_no_price_found_leaves_the_list_price_and_a_fallback_price_replaces_it() -> None:
    rules = {"outcome_search_term": "accepted", "price_path": "price"}
    assert read(200, '{"status": "accepted"}', rules).price is None  # the partner's list price applies
    with_fallback = {**rules, "fallback_price": "7.5"}
    assert read(200, '{"status": "accepted"}', with_fallback).price == 7.5
    assert read(200, '{"status": "accepted", "price": 0}', rules).price == 0.0  # a price of 0 is a price
    assert read(200, '{"status": "accepted", "price": "n/a"}', rules).price is None


def test_the_reference_is_cut_to_200_characters() -> None:
    got = read(200, '{"id": "' + "x" * 300 + '"}', {"reference_path": "id"})
    assert got.reference == "x" * 200


def test_rules_without_a_search_term_read_every_2xx_as_a_success() -> None:
    got = read(200, "whatever", {"reference_path": r"(\w+)"}, content_type=TEXT)
    assert (got.outcome, got.reference, got.price) == (Outcome.SUCCESS, "whatever", None)


# ---------------------------------------------------------------- failure and error


def test_a_rejection_is_a_final_failure_with_the_buyers_reason() -> None:
    rules = {"outcome_search_term": "accepted", "outcome_search_path": "status", "reason_path": "errors.*"}
    got = read(200, '{"status": "rejected", "errors": ["duplicate", "bad zip"]}', rules)
    assert (got.outcome, got.reason, got.retryable) == (Outcome.FAILURE, "bad zip, duplicate", False)
    assert got.price is None and got.reference is None


def test_the_default_reason_names_a_rejection_without_one() -> None:
    rules = {"outcome_search_term": "accepted", "default_reason": "rejected by the buyer"}
    got = read(200, "REJECTED", rules, content_type=TEXT)
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "rejected by the buyer")


def test_a_rejection_without_any_reason_shows_the_answer() -> None:
    got = read(200, "REJECTED:   duplicate\n", {"outcome_search_term": "accepted"}, content_type=TEXT)
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "HTTP 200: REJECTED: duplicate")


def test_outcome_on_match_failure_inverts_the_search() -> None:
    rules = {"outcome_search_term": "/dup(licate)?/i", "outcome_on_match": "failure"}
    assert read(200, "Duplicate lead", rules, content_type=TEXT).outcome is Outcome.FAILURE
    assert read(200, "thank you", rules, content_type=TEXT).outcome is Outcome.SUCCESS


def test_an_error_the_rules_find_is_final_not_retried() -> None:
    rules = {"outcome_search_term": "invalid api key", "outcome_on_match": "error", "reason_path": r"^(.*)$"}
    got = read(200, "Invalid API key", rules, content_type=TEXT)
    assert (got.outcome, got.reason, got.retryable) == (Outcome.ERROR, "Invalid API key", False)


def test_rules_that_do_not_check_are_an_error_not_an_exception() -> None:
    got = read(200, "OK", {"outcome_on_match": "maybe"}, content_type=TEXT)
    assert got.outcome is Outcome.ERROR and not got.retryable
    assert got.reason is not None and got.reason.startswith("response rules: outcome_on_match")


# ---------------------------------------------------------------- status policy


@pytest.mark.parametrize("policy", ["strict", "body"])
def test_a_server_error_stays_retryable_whatever_the_rules_say(policy: str) -> None:
    rules = {"outcome_search_term": "accepted"}
    got = read(503, "accepted", rules, content_type=TEXT, policy=policy, retry_after="120")
    assert (got.outcome, got.retryable, got.retry_after_s) == (Outcome.ERROR, True, 120.0)
    assert got.reason == "HTTP 503: accepted"


@pytest.mark.parametrize("policy", ["strict", "body"])
def test_too_many_requests_stays_retryable_whatever_the_rules_say(policy: str) -> None:
    got = read(429, "accepted", {"outcome_search_term": "accepted"}, TEXT, policy, retry_after="5")
    assert (got.outcome, got.retryable, got.retry_after_s) == (Outcome.ERROR, True, 5.0)


def test_strict_never_takes_a_4xx_for_a_success() -> None:
    rules = {"outcome_search_term": "accepted", "price_path": r"price=(\d+)"}
    got = read(400, "accepted price=9", rules, content_type=TEXT)
    assert (got.outcome, got.reason, got.retryable) == (Outcome.FAILURE, "HTTP 400: accepted price=9", False)
    assert got.price is None


def test_the_body_policy_takes_a_4xx_the_rules_accept_for_a_success() -> None:
    rules = {"outcome_search_term": "accepted", "price_path": r"price=(\d+)", "reference_path": r"id=(\w+)"}
    got = read(400, "accepted price=9 id=Q1", rules, content_type=TEXT, policy="body")
    assert (got.outcome, got.price, got.reference, got.status_code) == (Outcome.SUCCESS, 9.0, "Q1", 400)


@pytest.mark.parametrize("policy", ["strict", "body"])
def test_a_4xx_the_rules_reject_is_a_failure_with_their_reason(policy: str) -> None:
    rules = {"outcome_search_term": "accepted", "reason_path": "message"}
    got = read(422, '{"status": "rejected", "message": "zip not served"}', rules, policy=policy)
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "zip not served")


def test_strict_keeps_a_redirect_a_failure() -> None:
    got = read(302, "", {"outcome_search_term": "accepted", "outcome_on_match": "failure"}, TEXT)
    assert (got.outcome, got.reason) == (Outcome.FAILURE, "HTTP 302")


# ---------------------------------------------------------------- without rules: as before


def test_without_rules_a_2xx_json_answer_gives_price_and_reference() -> None:
    got = read(200, '{"price": 18, "lead_id": 77, "status": "rejected"}', None)
    assert (got.outcome, got.price, got.reference) == (Outcome.SUCCESS, 18.0, "77")
    assert read(200, "REJECTED", None, content_type=TEXT).outcome is Outcome.SUCCESS


def test_without_rules_statuses_decide() -> None:
    assert read(400, '{"error": {"message": "bad zip"}}', None).reason == "bad zip"
    assert read(400, "accepted", None, content_type=TEXT, policy="body").outcome is Outcome.FAILURE
    assert read(404, "nope", None, content_type=TEXT).reason == "HTTP 404: nope"
    server = read(500, "boom", None, content_type=TEXT)
    assert (server.outcome, server.retryable) == (Outcome.ERROR, True)
    positional = classify(201, '{"id": "a"}', "Created", None, 1.0, {})
    assert (positional.outcome, positional.reference) == (Outcome.SUCCESS, "a")


# ---------------------------------------------------------------- configuration


def partner_doc(**webhook: Any) -> dict[str, Any]:
    return {"partners": {"acme": {"channel": {"webhook": {"url": "http://127.0.0.1:9/hook", **webhook}}}}}


def problems(**webhook: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        validate_document(partner_doc(**webhook))
    return [(p.path, p.message) for p in caught.value.problems]


WHERE = "partners.acme.channel.webhook"
BAD_OPTIONS = [
    ({"price_pth": "x"}, "price_pth", "did you mean 'price_path'?"),
    ({"capture": "x"}, "capture", "a LeadConduit option leadrelay does not read"),
    ({"outcome_on_match": "yes"}, "outcome_on_match", "must be success, failure or error"),
    ({"outcome_search_term": "(["}, "outcome_search_term", "is not a valid regex"),
    ({"outcome_search_term": "/[/i"}, "outcome_search_term", "'/[/i' is not a valid regex"),
    ({"fallback_price": "about ten"}, "fallback_price", "is not a number"),
    ({"reason_path": 5}, "reason_path", "must be text, not int"),
    ({3: "x"}, "3", "unknown response option 3"),
]


@pytest.mark.parametrize(("options", "option", "fragment"), BAD_OPTIONS, ids=[c[1] for c in BAD_OPTIONS])
def test_a_bad_response_option_is_named_by_its_path(
    options: dict[Any, Any], option: str, fragment: str
) -> None:
    [(path, message)] = problems(response=options)
    assert path == f"{WHERE}.response.{option}"
    assert fragment in message


def test_the_response_options_must_be_a_mapping() -> None:
    [(path, message)] = problems(response="accepted")
    assert (path, message.split(",")[0]) == (
        f"{WHERE}.response",
        "must be a mapping of LeadConduit response options",
    )


def test_the_status_policy_is_strict_or_body_and_body_needs_rules() -> None:
    assert problems(status_policy="lenient") == [
        (f"{WHERE}.status_policy", "unknown status policy 'lenient'")
    ]
    [(path, message)] = problems(status_policy="body")
    assert path == WHERE and "needs 'response' rules" in message


def test_the_canonical_form_is_trimmed_ordered_and_survives_yaml() -> None:
    options = {
        "fallback_price": "$1,000.50",
        "reference_path": " //id ",
        "outcome_on_match": "Success",
        "outcome_search_term": "accepted",
        "reason_path": "",
        "default_reason": None,
    }
    objects = validate_document(partner_doc(response=options, status_policy="body"))
    hook = objects["partners"]["acme"]["channel"]["webhook"]
    assert hook["response"] == {
        "outcome_search_term": "accepted",
        "outcome_on_match": "success",
        "reference_path": "//id",
        "fallback_price": 1000.5,
    }
    assert list(hook["response"]) == [
        "outcome_search_term",
        "outcome_on_match",
        "reference_path",
        "fallback_price",
    ]
    assert hook["status_policy"] == "body"
    text = dump_yaml(objects)
    assert validate_document(load_yaml_text(text)) == objects
    assert dump_yaml(validate_document(load_yaml_text(text))) == text


def test_no_options_and_the_default_policy_are_the_plain_webhook() -> None:
    plain = validate_document(partner_doc())["partners"]["acme"]["channel"]["webhook"]
    empty = validate_document(partner_doc(response={"reason_path": " "}))["partners"]["acme"]
    assert (plain["response"], plain["status_policy"]) == (None, "strict")
    assert empty["channel"]["webhook"]["response"] is None
    assert "response" not in dump_yaml(validate_document(partner_doc(response={})))


def test_the_webhook_spec_carries_the_rules_and_the_policy() -> None:
    objects = validate_document(partner_doc(response=XML_RULES, status_policy="body"))
    channel = build_specs(objects).partners["acme"].channel
    assert isinstance(channel, WebhookChannel)
    assert (dict(channel.response or {}), channel.status_policy) == (XML_RULES, "body")
    plain = build_specs(validate_document(partner_doc())).partners["acme"].channel
    assert isinstance(plain, WebhookChannel)
    assert (plain.response, plain.status_policy) == (None, "strict")


@pytest.mark.parametrize(
    ("body", "price"),
    [
        ('{"price": "11.00"}', 11.0),
        ('{"price": "$1,000.50"}', 1000.5),
        ('{"price": 12}', 12.0),
        ('{"price": null}', None),
        ('{"price": ""}', None),
        ("{}", None),
    ],
)
def test_without_rules_a_json_price_is_read_as_price_path_reads_one(body: str, price: float | None) -> None:
    """A JSON body's ``price`` written as a string is read as a number, as response rules read it."""
    assert read(200, body, None).price == price


@pytest.mark.parametrize("body", ['{"price": "call us"}', '{"price": true}', '{"price": {"usd": 5}}'])
def test_without_rules_a_price_that_is_not_a_number_is_no_amount(body: str) -> None:
    """A ``price`` named but unreadable is NaN: no amount check passes it, so it is never "no price"."""
    price = read(200, body, None).price
    assert price is not None and math.isnan(price)
