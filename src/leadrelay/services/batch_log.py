"""What the API and the command line show of batches (the newest, the leads waiting, one batch with its
leads and attempts, its file), and redelivery."""

from __future__ import annotations

from typing import Any

from leadrelay.domain.files import MEDIA_TYPES
from leadrelay.domain.model import FileChannel
from leadrelay.domain.states import BATCH, BatchStatus
from leadrelay.errors import InvalidTransition, NotFound
from leadrelay.services.batch_files import render
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.ports import Clock, FileSender, Record, Sealer, Storage, Tx, system_clock

__all__ = ["BatchLog"]

_LIST_LIMIT = 500


def _summary(row: Record) -> dict[str, Any]:
    return {
        "id": row.id,
        "partner": row.partner,
        "channel": row.channel,
        "status": row.status,
        "trigger": row.trigger,
        "filename": row.filename,
        "lead_count": row.lead_count,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "location": row.location,
        "bytes": row.bytes,
        "reason": row.reason,
        "test": bool(row.is_test),
        "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


class BatchLog:
    """What the API and the command line show of batches, and redelivery."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        sealer: Sealer,
        files: FileSender,  # renders a batch's file for a download or a preview; never ships it
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.storage = storage
        self.configs = configs
        self.sealer = sealer
        self.files = files
        self.clock = clock

    async def find(self, partner: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        def read(tx: Tx) -> list[dict[str, Any]]:
            return [_summary(row) for row in tx.batch_queries.latest_batches(partner, status, _LIST_LIMIT)]

        return await self.storage.run_read(read)

    async def waiting(self) -> list[dict[str, Any]]:
        """How many leads wait for each partner's next batch, and since when."""

        def read(tx: Tx) -> list[dict[str, Any]]:
            return [
                {"partner": p, "waiting": n, "oldest": oldest.isoformat() if oldest else None}
                for p, n, oldest in tx.batch_queries.waiting_per_partner()
            ]

        return await self.storage.run_read(read)

    async def show(self, batch_id: str) -> dict[str, Any]:
        def read(tx: Tx) -> dict[str, Any]:
            row = tx.batches.batch(batch_id)
            if row is None:
                raise NotFound(f"unknown batch {batch_id}")
            leads = tx.batches.batch_leads(batch_id, cancelled_too=True)  # with what became of each
            tries = tx.batch_queries.batch_attempts(batch_id)
            return {
                **_summary(row),
                "leads": [
                    {"lead_id": r.lead_id, "delivery_id": r.delivery_id, "status": r.delivery_status}
                    for r in leads
                ],
                "attempts_log": [
                    {
                        "number": a.number,
                        "started_at": a.started_at.isoformat(),
                        "duration_ms": round(a.duration_ms, 1),
                        "outcome": a.outcome,
                        "location": a.location,
                        "bytes": a.bytes,
                        "reason": a.reason,
                    }
                    for a in tries
                ],
            }

        return await self.storage.run_read(read)

    async def file(self, batch_id: str, *, actor: str) -> tuple[str, str, bytes]:
        """The batch's file as the partner gets it: (file name, media type, bytes); audited."""
        live = await self.configs.get(self.storage)

        def work(tx: Tx) -> tuple[str, str, bytes]:
            row = tx.batches.batch(batch_id)
            if row is None:
                raise NotFound(f"unknown batch {batch_id}")
            partner = live.compiled.partners.get(row.partner)
            spec = partner.channel_at(row.channel_step) if partner is not None else None
            if partner is None or not isinstance(spec, FileChannel):
                raise InvalidTransition(
                    f"partner {row.partner} has no batched channel to render the file with"
                )
            sent = row.status == BatchStatus.SENT  # as it went: a lead cancelled since is in it
            rendered = render(
                tx, row, partner, spec, live.specs.entities, self.sealer, self.files, as_sent=sent
            )
            tx.config.audit(
                actor=actor,
                action="batches.download",
                object_kind="batch",
                object_id=batch_id,
                at=self.clock(),
                detail={"leads": rendered.count},
            )
            return row.filename, MEDIA_TYPES[rendered.format.kind], rendered.data

        return await self.storage.run(work)

    async def with_previews(self, detail: dict[str, Any]) -> dict[str, Any]:
        """A test delivery's detail with the file each test batch carried (its "rendered request"): the
        text of a CSV, or its size for XLSX. Only test batches: their one lead is the made-up test lead."""
        live = await self.configs.get(self.storage)
        for delivery in detail.get("deliveries", []):
            batch = delivery.get("batch")
            if not batch or not delivery.get("test"):
                continue

            def preview(tx: Tx, batch_id: str = batch["id"]) -> str | None:
                row = tx.batches.batch(batch_id)
                partner = live.compiled.partners.get(row.partner) if row is not None else None
                spec = partner.channel_at(row.channel_step) if row is not None and partner else None
                if row is None or not row.is_test or partner is None or not isinstance(spec, FileChannel):
                    return None
                rendered = render(tx, row, partner, spec, live.specs.entities, self.sealer, self.files)
                data, kind = rendered.data, rendered.format.kind
                if kind == "csv":
                    return data.decode("utf-8", "replace")[:4000]
                return f"<{kind} file, {len(data):,} bytes>"

            batch["file"] = await self.storage.run_read(preview)
        return detail

    async def redeliver(self, batch_id: str, *, actor: str) -> dict[str, Any]:
        """Send a batch again, with the same leads and file name; audited. Not one whose partner takes no
        batches at its step any more (it would be dissolved: a sent batch recorded as failed), nor one with
        no lead left (erased, taken out: an empty file would go to the buyer)."""
        live = await self.configs.get(self.storage)

        def work(tx: Tx) -> dict[str, Any]:
            before = tx.batches.batch(batch_id)
            if before is None:
                raise NotFound(f"unknown batch {batch_id}")
            if not BATCH.allowed(before.status, BatchStatus.READY):
                raise InvalidTransition(f"batch {batch_id} is {before.status}: it is being sent already")
            partner = live.compiled.partners.get(before.partner)
            if partner is None or not isinstance(partner.channel_at(before.channel_step), FileChannel):
                raise InvalidTransition(
                    f"partner {before.partner} takes no batches at step {before.channel_step} any more"
                )
            if not before.lead_count or not tx.batches.batch_leads(batch_id):  # what would go again
                raise InvalidTransition(
                    f"batch {batch_id} has no lead left to send (erased, cancelled or taken out)"
                )
            row = tx.batches.redeliver(batch_id, self.clock())
            assert row is not None
            tx.config.audit(
                actor=actor,
                action="batches.redeliver",
                object_kind="batch",
                object_id=batch_id,
                at=self.clock(),
                detail={"was": before.status, "leads": before.lead_count},
            )
            return _summary(row)

        return await self.storage.run(work)
