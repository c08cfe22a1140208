"""A batch's file (an upload or a digest's attachment), rendered from its stored leads, with the subject and
the summary a digest mail carries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.domain.batch_format import as_cut
from leadrelay.domain.files import EmailDestination, FileFormat, fill
from leadrelay.domain.model import EntitySpec, FileChannel, PartnerSpec
from leadrelay.services.opened_leads import open_jobs
from leadrelay.services.ports import FileSender, Record, Sealer, Tx
from leadrelay.services.steps import select_values

__all__ = ["Rendered", "entity_fields", "render", "summary"]


@dataclass(frozen=True, slots=True)
class Rendered:
    data: bytes
    count: int
    subject: str
    summary: str
    format: FileFormat  # the format it was written in (the batch's, as cut)


def render(
    tx: Tx,
    row: Record,
    partner: PartnerSpec,
    spec: FileChannel,
    entities: Mapping[str, EntitySpec],
    sealer: Sealer,
    files: FileSender,
    *,
    as_sent: bool = False,
) -> Rendered:
    """A batch's file, rendered from its stored leads (opened sensitive values included: it is what the
    partner bought) in the format, columns and fields it was cut with (a batch cut before they were kept:
    the channel's now), with the mail subject and summary of a digest. Columns not fixed when it was cut
    are the built-in ones and its ``fields`` or else every field of ``entities`` (``batch_columns``).
    ``as_sent``: a sent batch's file as it went (its leads cancelled since too), not as it would go again."""
    cut = as_cut(row.file_format, spec)
    leads = open_jobs(tx, tx.batches.batch_leads(row.id, cancelled_too=as_sent), sealer)
    rows: list[dict[str, Any]] = []
    for lead in leads:
        values = select_values(lead.lead_values, cut.fields)
        rows.append(
            {
                **values,  # the built-in columns win (apply refuses fields of their names)
                "lead_id": lead.lead_id,
                "received_at": lead.created_at.isoformat(timespec="seconds"),
                "source": lead.source,
            }
        )
    fmt = replace(cut.format, columns=cut.columns(entity_fields(entities)))
    data = files.render(fmt, rows)
    subject = ""
    if isinstance(spec.destination, EmailDestination):
        subject = fill(
            spec.destination.subject,
            partner=partner.name,
            count=len(rows),
            now=row.created_at,
            tz=partner.timezone,
        )
        if row.is_test:
            subject = f"[TEST] {subject}"
    return Rendered(data, len(rows), subject, summary(row, partner, fmt, leads, len(data)), fmt)


def entity_fields(entities: Mapping[str, EntitySpec]) -> list[list[str]]:
    """Each entity's field names in its order, entities by name (what ``batch_columns`` takes)."""
    return [list(entity.fields) for _, entity in sorted(entities.items())]


def summary(row: Record, partner: PartnerSpec, fmt: FileFormat, leads: Sequence[Any], size: int) -> str:
    """The body of a digest: how many leads, from when to when (the partner's clock), from which sources."""
    tz = ZoneInfo(partner.timezone)
    lines = [f"{len(leads)} lead{'s' if len(leads) != 1 else ''} for {partner.name}."]
    if leads:
        first = leads[0].created_at.astimezone(tz)
        last = leads[-1].created_at.astimezone(tz)
        lines.append(f"Received {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} ({partner.timezone}).")
        sources = Counter(lead.source for lead in leads)
        lines.append("By source: " + ", ".join(f"{name} {n}" for name, n in sorted(sources.items())) + ".")
    lines.append(f"Sent because: {row.trigger}.")
    kind = fmt.kind.upper()
    lines.append(f"Attached: {row.filename} ({kind}, {size:,} bytes).")
    lines.append(f"Batch {row.id}.")
    if row.is_test:
        lines.insert(0, "TEST DELIVERY: these leads are not for sale.")
    return "\n".join(lines) + "\n"
