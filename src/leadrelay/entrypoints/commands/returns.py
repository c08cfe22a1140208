"""`leadrelay returns`: request, list, approve, deny and import partners' returns of leads (issue 11,
point 4). The rules are the partner's ``returns:`` policy; every step is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadrelay.domain.after_sale_states import ReturnStatus
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows
from leadrelay.entrypoints.commands.runtime import with_runtime
from leadrelay.services.ports import ReturnRecord
from leadrelay.services.return_import import import_returns
from leadrelay.services.returns import ReturnRequest

returns_app = typer.Typer(help="Partners' returns of leads they bought.", no_args_is_help=True)

NoteOption = Annotated[str | None, typer.Option(help="Why, for the audit log.")]


def _said(rec: ReturnRecord) -> str:
    extra = f"; redistributed as {rec.redistributed_as}" if rec.redistributed_as else ""
    auto = " (auto-approved)" if rec.auto else ""
    return f"{rec.id} {rec.status}{auto}: {rec.partner} returns {rec.lead_id} ({rec.reason}){extra}"


@returns_app.command("request")
def request_command(
    partner: Annotated[str, typer.Option(help="The partner returning the lead.")],
    reason: Annotated[str, typer.Option(help="One of the partner's return reasons.")],
    lead: Annotated[str | None, typer.Option(help="The lead returned…")] = None,
    delivery: Annotated[str | None, typer.Option(help="…or its delivery to the partner.")] = None,
    note: NoteOption = None,
    database_url: DbOption = None,
) -> None:
    """Return a lead on PARTNER's behalf: its policy approves it at once, queues it for review, or
    refuses it."""
    req = ReturnRequest(partner, reason, delivery_id=delivery, lead_id=lead, note=note)
    rec = with_runtime(database_url, lambda rt: rt.returns.request(req, actor=actor()))
    out.print(_said(rec), highlight=False)


@returns_app.command("list")
def list_command(
    partner: Annotated[str | None, typer.Option()] = None,
    status: Annotated[ReturnStatus | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    database_url: DbOption = None,
) -> None:
    """Returns, newest first."""
    found = with_runtime(
        database_url, lambda rt: rt.returns.find(partner=partner, status=status, limit=limit)
    )
    print_rows(
        ("id", "status", "partner", "lead", "reason", "requested", "by", "decided by", "note"),
        [
            (
                r.id,
                r.status.value + (" (auto)" if r.auto else ""),
                r.partner,
                r.lead_id,
                r.reason,
                r.requested_at.isoformat(timespec="seconds"),
                r.requested_by,
                r.decided_by or "",
                r.decision_note or r.note or "",
            )
            for r in found
        ],
        no_wrap=("id", "lead"),
    )


@returns_app.command("approve")
def approve_command(return_id: str, note: NoteOption = None, database_url: DbOption = None) -> None:
    """Approve a requested return: the partner is credited and the source's payout clawed back."""
    rec = with_runtime(database_url, lambda rt: rt.returns.approve(return_id, actor=actor(), note=note))
    out.print(_said(rec), highlight=False)


@returns_app.command("deny")
def deny_command(return_id: str, note: NoteOption = None, database_url: DbOption = None) -> None:
    """Deny a requested return: the sale stands."""
    rec = with_runtime(database_url, lambda rt: rt.returns.deny(return_id, actor=actor(), note=note))
    out.print(_said(rec), highlight=False)


@returns_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV: lead_id or delivery_id, partner, reason, note.")],
    database_url: DbOption = None,
) -> None:
    """Request a return per row of FILE; each row alone (a bad row is reported by line, the good ones
    kept). Exits 1 when a row was refused."""
    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from exc
    report = with_runtime(database_url, lambda rt: import_returns(rt.returns, text, actor=actor()))
    for row in report.rows:
        said = f"{row.return_id} {row.status}" if row.ok else f"refused: {row.error}"
        out.print(f"line {row.line}: {said}", highlight=False, markup=False)
    out.print(f"{report.taken} returns taken, {report.refused} refused", highlight=False)
    if report.refused:
        raise typer.Exit(1)
