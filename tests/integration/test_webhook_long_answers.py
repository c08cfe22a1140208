"""A buyer's answer longer than what is stored of it (64 Ki characters) is read whole: the outcome, the
price and the reference come from the whole answer, and only the stored copy is cut. Real HTTP exchanges
on loopback (``test_webhook_channel``'s recorder)."""

from __future__ import annotations

import orjson

from leadrelay.adapters.channels.webhook import MAX_RECORDED_CHARS
from leadrelay.domain.attempts import Outcome
from leadrelay.domain.delivery.response import interpret_response
from tests.integration.test_webhook_channel import Recorder, exchange

JSON = {"Content-Type": "application/json"}


def test_a_refusal_with_a_long_answer_is_not_read_as_a_sale() -> None:
    """The buyer refuses ("rejected") and echoes the lead: 70,000 characters. Cut before it was read, the
    answer no longer parsed as JSON and the search term was found in "not accepted": a sale."""
    body = orjson.dumps(
        {"status": "rejected", "reason": "duplicate", "note": "not accepted", "echo": "x" * 70_000}
    ).decode()
    rules = {"outcome_search_term": "accepted", "outcome_search_path": "status", "reason_path": "reason"}
    assert interpret_response(rules, 200, JSON, body).outcome == "failure"  # the same answer, read whole
    result = exchange(Recorder(200, body, JSON), response=rules)
    assert (result.outcome, result.reason) == (Outcome.FAILURE, "duplicate")
    assert result.response_body is not None and len(result.response_body) == MAX_RECORDED_CHARS


def test_the_price_and_reference_of_a_long_accepting_answer_are_read() -> None:
    body = orjson.dumps({"status": "accepted", "price": 17.5, "id": "ref-9", "echo": "x" * 70_000}).decode()
    result = exchange(Recorder(200, body, JSON))
    assert (result.outcome, result.price, result.reference) == (Outcome.SUCCESS, 17.5, "ref-9")
    assert result.response_body == body[:MAX_RECORDED_CHARS]
