"""`leadrelay log`: the distribution log (list, show) and its actions (resend, rerun, cancel)."""

from __future__ import annotations

from typing import Annotated

import typer

from leadrelay.domain.log_filter import DistributionFilter
from leadrelay.domain.states import JobStatus
from leadrelay.entrypoints.commands.common import DbOption, actor, out, print_rows
from leadrelay.entrypoints.commands.runtime import print_json, with_runtime

log_app = typer.Typer(help="The distribution log and its actions.", no_args_is_help=True)


@log_app.command("list")
def log_list(
    status: Annotated[JobStatus | None, typer.Option(help="A job's status.")] = None,
    partner: Annotated[str | None, typer.Option()] = None,
    profile: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    lead: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    database_url: DbOption = None,
) -> None:
    """The newest distributions."""
    f = DistributionFilter(status, partner, profile, source, lead, limit=limit)
    page = with_runtime(database_url, lambda rt: rt.logview.distributions(f))
    columns = ("id", "lead", "profile", "status", "rule", "deliveries", "error")
    rows = [
        (
            item["id"],
            item["lead_id"],
            item["profile"],
            item["status"],
            item["rule"] or "",
            ", ".join(item["deliveries"]),
            item["error"] or "",
        )
        for item in page["items"]
    ]
    print_rows(columns, rows, no_wrap=("id", "lead"))


@log_app.command("show")
def log_show(job_id: str, database_url: DbOption = None) -> None:
    """One distribution with its routing trace and delivery attempts."""
    print_json(with_runtime(database_url, lambda rt: rt.logview.distribution(job_id)))


ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


@log_app.command("resend")
def log_resend(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Resend a delivered distribution to the same partner (a new linked job)."""
    new = with_runtime(database_url, lambda rt: rt.actions.resend(job_id, actor=actor(), reason=reason))
    out.print(f"queued {', '.join(new)} (resend of {job_id})")


@log_app.command("rerun")
def log_rerun(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Route a failed or stuck distribution again."""
    with_runtime(database_url, lambda rt: rt.actions.rerun(job_id, actor=actor(), reason=reason))
    out.print(f"{job_id} reset to received")


@log_app.command("cancel")
def log_cancel(job_id: str, reason: ReasonOption = None, database_url: DbOption = None) -> None:
    """Cancel a delivered, not invoiced distribution within the partner's cancellation period."""
    new = with_runtime(database_url, lambda rt: rt.actions.cancel(job_id, actor=actor(), reason=reason))
    out.print(f"{job_id} cancelled" + (f"; redistributed as {new}" if new else ""))
