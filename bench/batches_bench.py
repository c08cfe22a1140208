"""How long a big batch takes on our side: cutting it, and rendering its file from the stored leads.

Run: ``.venv/bin/python bench/batches_bench.py [--leads 10000]`` (``make bench`` runs it too). N leads of a
7-field solar lead wait for one partner's batch file; the figures are the cut (one transaction that puts
every waiting lead into the batch) and the rendering of the file as CSV and as XLSX (reading the leads,
opening none: no sensitive fields here). The upload itself is the destination's speed, not ours. Runs on
SQLite, and on PostgreSQL when reachable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leadrelay.adapters.crypto import Sealer  # noqa: E402
from leadrelay.adapters.db import batch_store  # noqa: E402
from leadrelay.adapters.db.engine import Database  # noqa: E402
from leadrelay.adapters.db.migrate import upgrade  # noqa: E402
from leadrelay.adapters.db.tables import deliveries, leads  # noqa: E402
from leadrelay.adapters.db.unit_of_work import SqlStorage  # noqa: E402
from leadrelay.adapters.files.sender import FileShipper  # noqa: E402
from leadrelay.domain.files import FileFormat  # noqa: E402
from leadrelay.domain.model import FileChannel  # noqa: E402
from leadrelay.services import configure  # noqa: E402
from leadrelay.services.batch_files import render  # noqa: E402
from leadrelay.services.batches import cut_due  # noqa: E402
from leadrelay.services.config_in_force import ConfigCache  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from run import fresh_postgres  # noqa: E402


def config(n: int) -> dict[str, Any]:
    """One partner whose file is cut when ``n`` leads wait."""
    file = {"schedule": {"count": n}, "destination": {"s3": {"bucket": "acme-leads"}}}
    return {"partners": {"acme": {"timezone": "America/Chicago", "price": 12, "channel": {"file": file}}}}


def seed(db: Database, n: int) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    lead_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for i in range(n):
        values = {
            "first_name": f"Dana{i}",
            "last_name": "Reyes",
            "email": f"dana{i}@example.com",
            "phone": f"+1512555{i % 10_000:04d}",
            "zip": "78704",
            "state": "TX",
            "monthly_bill": 100 + i % 300,
        }
        at = now + timedelta(milliseconds=i)
        lead_id = f"lead_{i:09d}"
        lead_rows.append(
            {
                "id": lead_id,
                "entity": "solar",
                "source": "web",
                "status": "queued",
                "data": values,
                "raw": values,
                "is_test": False,
                "created_at": at,
                "updated_at": at,
            }
        )
        delivery_rows.append(
            {
                "id": f"dlv_{i:09d}",
                "job_id": f"job_{i:09d}",
                "lead_id": lead_id,
                "partner": "acme",
                "profile": "solar-main",
                "channel": "file",
                "channel_step": 0,
                "status": "batched",
                "idempotency_key": f"job_{i:09d}:acme",
                "attempts": 0,
                "cap_windows": [],
                "invoiced": False,
                "is_test": False,
                "created_at": at,
            }
        )

    def tx(conn: Any) -> None:
        for start in range(0, n, 5000):
            conn.execute(leads.insert(), lead_rows[start : start + 5000])
            conn.execute(deliveries.insert(), delivery_rows[start : start + 5000])

    db.transaction(tx)


def run(name: str, url: str, n: int) -> None:
    upgrade(url)
    db = Database(url)
    try:
        configure.apply_document_sync(SqlStorage(db), config(n), actor="bench", dry_run=False)
        seed(db, n)
        configs = ConfigCache()
        sealer = Sealer(db, None)
        storage = SqlStorage(db)
        files = FileShipper()
        live = storage.read(configs.current)  # compiled once, as a running worker has it
        t0 = time.perf_counter()
        (batch_id,) = storage.transaction(lambda tx: cut_due(tx, live, datetime.now(UTC)))
        cut_s = time.perf_counter() - t0
        partner = live.compiled.partners["acme"]
        spec = partner.channel
        assert isinstance(spec, FileChannel)
        row = db.read(lambda c: batch_store.batch(c, batch_id))
        for kind in ("csv", "xlsx"):
            fmt = FileFormat(kind=kind)  # type: ignore[arg-type]
            channel = FileChannel(spec.destination, spec.schedule, fmt)
            t0 = time.perf_counter()
            # the batch as if cut before formats were kept with it: rendered in this channel's format
            as_cut = SimpleNamespace(**{**row._mapping, "file_format": None})
            out = storage.read(
                lambda tx, ch=channel, b=as_cut: render(
                    tx, b, partner, ch, live.specs.entities, sealer, files
                )  # type: ignore[misc]
            )
            took = time.perf_counter() - t0
            print(
                f"  [{name}] render {kind.upper():4s} of {out.count:,} leads: {took:6.2f} s"
                f" ({out.count / took:,.0f} leads/s, {len(out.data) / 1e6:.1f} MB)"
            )
        print(f"  [{name}] cut one batch of {row.lead_count:,} waiting leads: {cut_s * 1000:6.0f} ms")
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    print(f"batch files — {args.leads:,} waiting leads, one partner")
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/batches.db", args.leads)
    with fresh_postgres() as url:
        if url is not None:
            run("postgres", url, args.leads)


if __name__ == "__main__":
    main()
