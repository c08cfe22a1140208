"""What the processes of one installation tell each other (``adapters.db.wakeups`` on PostgreSQL,
``adapters.db.local_wakeups`` on SQLite): the ids of leads done, in as few messages as fit."""

from __future__ import annotations

PAYLOAD_BYTES = 7900  # PostgreSQL's limit is 8000 bytes per notification; a datagram holds it too
MAX_WAITING_IDS = 50_000  # ids of leads done not sent yet (the others away or busy): past this, dropped


def payloads(lead_ids: list[str]) -> list[str]:
    """The ids in as few notifications as fit, in order; none of them over ``PAYLOAD_BYTES``."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for lead_id in lead_ids:
        extra = len(lead_id.encode()) + (1 if current else 0)
        if current and size + extra > PAYLOAD_BYTES:
            out.append(" ".join(current))
            current, size = [], 0
            extra = len(lead_id.encode())
        current.append(lead_id)
        size += extra
    if current:
        out.append(" ".join(current))
    return out
