"""A regex path still reads an answer sent as ``text/json`` or ``application/hal+json``: those are read
as text, where a regex is the only path that works (a second reading of 2026-12-06 found that parsing them
as JSON lost the price and the reference)."""

from __future__ import annotations

from leadrelay.domain.delivery.response import interpret_response

RULES = {
    "outcome_search_term": "accepted",
    "price_path": r'/"price":\s*"?([0-9.]+)/',
    "reference_path": r'/"id":\s*"([^"]+)"/',
}
BODY = '{"status": "accepted", "price": 12.5, "id": "ref-77"}'


def test_a_regex_price_path_still_reads_a_hal_json_answer() -> None:
    got = interpret_response(RULES, 200, {"Content-Type": "application/hal+json"}, BODY)
    assert (got.outcome, got.price, got.reference) == ("success", 12.5, "ref-77"), got


def test_a_regex_price_path_still_reads_a_text_json_answer() -> None:
    got = interpret_response(RULES, 200, {"Content-Type": "text/json"}, BODY)
    assert (got.outcome, got.price, got.reference) == ("success", 12.5, "ref-77"), got
