"""Partner availability: check a partner out (routing skips it, the trace says ``unavailable``) or back in,
at once, from the admin API, the CLI, or the partner itself with its own API key (actor ``partner:<name>``).
Every change is audited in the same transaction.

Availability is runtime state, not configuration: it is not versioned, exported or applied, and a partner
never checked out is available. ``paused`` in configuration stays the durable switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.errors import NotFound
from leadrelay.services.ports import Clock, Storage, Tx, system_clock

OBJECT_KIND = "partners"


@dataclass(frozen=True, slots=True)
class Availability:
    partner: str
    available: bool
    note: str | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "available": self.available,
            "note": self.note,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat() if self.changed_at is not None else None,
        }


def _require_partner(tx: Tx, name: str) -> None:
    if name not in tx.config.load_objects().get("partners", {}):
        raise NotFound(f"no partner named {name!r}")


def set_availability_tx(
    tx: Tx, name: str, available: bool, *, actor: str, note: str | None = None, clock: Clock = system_clock
) -> Availability:
    """Check the partner in (``available``) or out, audited; ``NotFound`` for an unknown partner."""
    _require_partner(tx, name)
    at = clock()
    before = tx.caps.set_availability(name, available, note, actor, at)
    tx.config.audit(
        actor=actor,
        action="partner.available" if available else "partner.unavailable",
        object_kind=OBJECT_KIND,
        object_id=name,
        at=at,
        detail={"available": available, "before": True if before is None else before, "note": note},
    )
    return Availability(name, available, note, actor, at)


def availability_tx(tx: Tx, name: str | None = None) -> list[Availability]:
    """Every configured partner's availability (or one partner's), in name order."""
    partners = sorted(tx.config.load_objects().get("partners", {}))
    if name is not None:
        if name not in partners:
            raise NotFound(f"no partner named {name!r}")
        partners = [name]
    recorded = tx.caps.availability()
    out = []
    for partner in partners:
        row = recorded.get(partner)
        if row is None:
            out.append(Availability(partner, True))
        else:
            out.append(
                Availability(partner, row["available"], row["note"], row["changed_by"], row["changed_at"])
            )
    return out


class PartnerAvailability:
    """What the API does, for an admin or the partner itself (async, through ``Storage.run``)."""

    def __init__(self, storage: Storage, *, clock: Clock = system_clock) -> None:
        self.storage = storage
        self.clock = clock

    async def set(self, name: str, available: bool, *, actor: str, note: str | None = None) -> Availability:
        return await self.storage.run(
            lambda tx: set_availability_tx(tx, name, available, actor=actor, note=note, clock=self.clock)
        )

    async def show(self, name: str | None = None) -> list[Availability]:
        return await self.storage.run_read(lambda tx: availability_tx(tx, name))
