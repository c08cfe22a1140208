"""Which actions the log's detail view offers, and the reason shown for one it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadrelay.domain.actions import DeliveryView, JobView, available_actions, human_period

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def job(
    status: str, queue_state: str = "done", run_at: datetime = NOW, lease: datetime | None = None
) -> JobView:
    return JobView("job_1", status, queue_state, run_at, lease)


def sold(partner: str = "sunco", *, days_ago: float = 1, invoiced: bool = False) -> DeliveryView:
    return DeliveryView(partner, "delivered", invoiced, NOW - timedelta(days=days_ago))


def reasons(
    j: JobView, deliveries: list[DeliveryView], periods: dict[str, timedelta] | None = None
) -> dict[str, str | None]:
    return {name: a.reason for name, a in available_actions(j, deliveries, NOW, periods or {}).items()}


def test_a_fresh_sale_may_be_resent_and_cancelled_but_not_rerun() -> None:
    shown = available_actions(job("delivered"), [sold("sunco"), sold("brightpath")], NOW, {})
    assert shown["resend"].allowed and shown["resend"].partners == ("sunco", "brightpath")
    assert shown["cancel"].allowed and shown["cancel"].partners == ("sunco", "brightpath")
    assert not shown["rerun"].allowed
    assert (
        shown["rerun"].reason
        == "rerun is for failed or stuck distributions; job_1: it was delivered (use resend)"
    )


def test_an_invoiced_sale_cannot_be_cancelled() -> None:
    why = reasons(job("delivered"), [sold(invoiced=True)])
    assert why["cancel"] == "cannot cancel: the delivery to sunco is already invoiced"
    assert why["resend"] is None


def test_a_sale_being_resent_is_neither_resent_nor_cancelled_until_the_resend_finishes() -> None:
    shown = available_actions(job("delivered"), [sold()], NOW, {}, ["job_9"])
    assert (
        shown["resend"].reason
        == "the lead of job_1 is being resent (job_9); resend again once that has finished"
    )
    assert (
        shown["cancel"].reason == "the lead of job_1 is being resent (job_9); cancel once that has finished"
    )


def test_the_cancel_period_is_the_partners_own_or_seven_days() -> None:
    assert "(7 days) has passed" in str(reasons(job("delivered"), [sold(days_ago=8)])["cancel"])
    assert reasons(job("delivered"), [sold(days_ago=8)], {"sunco": timedelta(days=30)})["cancel"] is None
    why = reasons(job("delivered"), [sold(days_ago=0.6)], {"sunco": timedelta(hours=12)})["cancel"]
    assert why == "cannot cancel: the cancellation period of sunco (12 hours) has passed"


def test_unsold_and_failed_jobs_are_rerun_not_resent() -> None:
    for status in ("unsold", "failed"):
        why = reasons(job(status), [])
        assert why["rerun"] is None
        assert why["resend"] == f"resend is only for delivered distributions; job_1 is {status} (use rerun)"
        assert why["cancel"] == f"cancel is only for delivered distributions; job_1 is {status}"


def test_an_open_job_is_rerun_only_when_stuck() -> None:
    assert "being processed by a worker" in str(
        reasons(job("routing", "claimed", lease=NOW + timedelta(seconds=30)), [])["rerun"]
    )
    assert reasons(job("routing", "claimed", lease=NOW - timedelta(seconds=1)), [])["rerun"] is None  # stuck
    assert "scheduled retry" in str(
        reasons(job("delivering", "ready", run_at=NOW + timedelta(minutes=5)), [])["rerun"]
    )
    assert "batch file" in str(reasons(job("delivering", "waiting"), [])["rerun"])


def test_a_job_someone_bought_is_never_rerun() -> None:
    why = reasons(job("failed"), [sold("sunco")])["rerun"]
    assert why == (
        "rerun is for failed or stuck distributions; job_1 was already delivered to sunco"
        " (use resend, or cancel first)"
    )


def test_periods_read_as_words() -> None:
    assert human_period(timedelta(days=1)) == "1 day"
    assert human_period(timedelta(hours=36)) == "36 hours"
    assert human_period(timedelta(seconds=90)) == "90 seconds"
