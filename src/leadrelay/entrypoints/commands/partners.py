"""`leadrelay partners`: check a partner in or out (``availability``), show its health and circuit breaker
(``partner_health``), manage its own API keys, and send it a test lead or ping."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrelay.bootstrap import Runtime
from leadrelay.domain.states import JobStatus
from leadrelay.entrypoints.commands import availability, credentials, partner_health
from leadrelay.entrypoints.commands.common import DbOption, actor, fail
from leadrelay.entrypoints.commands.runtime import print_json, with_runtime

_TEST_ENDED = (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.UNSOLD)  # a test delivery has its answer
HANDOFF_S = 1.0  # how long `partners test` leaves its job to the installation's running workers

partners_app = typer.Typer(help="Partners.", no_args_is_help=True)
partners_app.command("available")(availability.available)
partners_app.command("unavailable")(availability.unavailable)
partners_app.command("availability")(availability.availability)
partners_app.command("add-key")(credentials.add_partner_key)
partners_app.command("keys")(credentials.list_partner_keys)
partners_app.command("revoke-key")(credentials.revoke_partner_key)
partners_app.command("health")(partner_health.health)


@partners_app.command("test")
def partners_test(
    name: str,
    lead: Annotated[
        Path | None, typer.Option(help="A JSON file with the lead to send (else one is made up).")
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="The entity of the test lead, when the partner takes several.")
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, max=60, help="Seconds to wait for the outcome (0 to 60).")
    ] = 15.0,
    ping: Annotated[
        bool, typer.Option("--ping", help="Ping instead: show the rendered ping, the answer and the bid.")
    ] = False,
    database_url: DbOption = None,
) -> None:
    """Send a clearly marked test lead through the partner's channel and show the result.

    The installation's running workers (`serve`, `worker`) deliver it, as they deliver real leads; when
    none takes it within a second (nothing running), this command delivers it itself. With --ping, this
    command sends the partner's ping itself (once, within its timeout; nothing of the lead is stored) and
    exits 1 unless the bid is accepted."""
    given = _lead_file(lead) if lead is not None else None
    if ping:
        shown = with_runtime(
            database_url, lambda rt: rt.pings.test(name, actor=actor(), entity=entity, lead=given)
        )
        print_json(shown)
        if not shown["bid"]["accepted"]:
            raise typer.Exit(1)
        return

    async def run(rt: Runtime) -> dict[str, Any]:
        job_id = await rt.actions.test_delivery(name, actor=actor(), entity=entity, lead=given)
        loop = asyncio.get_running_loop()
        started = loop.time()
        local = False
        while True:
            detail = await rt.logview.distribution(job_id, postback_urls=True)
            if detail["status"] in _TEST_ENDED or loop.time() > started + wait:
                return await rt.batches.with_previews(detail)
            if not local and detail["status"] == JobStatus.RECEIVED and loop.time() > started + HANDOFF_S:
                rt.start_workers(1, only={job_id})  # no worker took it: deliver it here (this job only)
                local = True
            await asyncio.sleep(0.05)

    detail = with_runtime(database_url, run)
    print_json(detail)
    if detail["status"] != JobStatus.DELIVERED:
        raise typer.Exit(1)


def _lead_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"--lead: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise fail(f"--lead: {path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail(f"--lead: {path} must hold a JSON object (field: value)")
    return doc
