"""What a failed attempt's log line says (``domain.attempts.log_reason``): leadrelay's own reason, but of a
buyer's answer only its status (the answer may quote the person; a log file is not erased with the lead)."""

from __future__ import annotations

from leadrelay.domain.attempts import AttemptResult, Outcome, log_reason
from leadrelay.domain.privacy import Redactor


def test_a_buyers_answer_is_logged_by_its_status_alone() -> None:
    answered = AttemptResult(
        Outcome.FAILURE, status_code=400, reason="bad lead: zelda@example.com +15125551777"
    )
    shown = log_reason(answered, Redactor())
    assert shown == "HTTP 400; its answer is in the distribution's record"


def test_leadrelays_own_reason_is_logged_bounded() -> None:
    timed_out = AttemptResult(
        Outcome.ERROR, reason="timeout after 5s calling https://b.example/?key=" + "x" * 400
    )
    shown = log_reason(timed_out, Redactor())
    assert shown is not None and shown.startswith("timeout after 5s") and len(shown) <= 300
