"""``leadrelay import`` accounts for every row: each is a stored lead or a line of the rejects file with
its reason, and the summary counts as accepted only the leads stored, on both databases. Rows share
group-commit transactions, so a row whose write fails must not take the others with it."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError

from leadrelay.adapters.db.repositories import SqlLeads
from leadrelay.adapters.db.tables import leads
from leadrelay.simulate.buyers import BuyersThread
from tests.support import base_config, prepare, reader, run_cli


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def _stored(url: str) -> list[str]:
    return reader(url).read(
        lambda c: sorted(str(v["first_name"]) for v in c.execute(select(leads.c.raw)).scalars())
    )


def _count(url: str) -> int:
    return reader(url).read(lambda c: int(c.execute(select(func.count()).select_from(leads)).scalar_one()))


def _rejected_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, bad_row: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["first_name", "phone", "zip", "household_size"])
        for i in range(20):
            size = "99999999999999999999" if i == bad_row else "3"
            w.writerow([f"P{i}", f"512555{3000 + i}", "94103", size])


def _import(url: str, path: Path) -> str:
    env = {"LEADRELAY_DATABASE_URL": url, "COLUMNS": None, "LINES": None}
    r = run_cli(["import", str(path), "--entity", "solar", "--source", "web"], env)
    assert r.returncode == 0, r.stderr
    return " ".join(r.stdout.split())


def test_a_row_with_an_integer_beyond_64_bits_is_imported_flagged(
    db_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    """The value once failed the JSON writer, and with it the row's whole group commit, unsaid."""
    config = base_config(buyers.url)
    config["entities"]["solar"]["fields"]["household_size"] = {"type": "integer"}  # optional: flagged
    prepare(db_url, config)
    path = tmp_path / "leads.csv"
    _write(path, bad_row=7)
    summary = _import(db_url, path)
    assert "imported 20 rows: 20 accepted, 0 rejected" in summary, summary
    assert _count(db_url) == 20
    assert _rejected_rows(tmp_path / "leads.rejected.csv") == []


def test_a_row_whose_write_fails_is_a_reject_and_not_counted_accepted(
    db_url: str, buyers: BuyersThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage error that is no ``LeadrelayError`` (a ``DataError``, as for a value a column refuses)
    while one row's lead is written, inside its group's transaction."""
    prepare(db_url, base_config(buyers.url))
    real = SqlLeads.insert_leads

    def insert_leads(self: SqlLeads, rows: Sequence[dict[str, Any]]) -> set[str]:
        inserted = real(self, rows)
        if any(row["raw"].get("first_name") == "P7" for row in rows):
            raise DataError("INSERT INTO leads …", {}, Exception("value out of range"))
        return inserted

    monkeypatch.setattr(SqlLeads, "insert_leads", insert_leads)
    path = tmp_path / "leads.csv"
    _write(path, bad_row=-1)
    summary = _import(db_url, path)
    assert "imported 20 rows: 19 accepted, 0 rejected, 1 errors" in summary, summary
    assert _stored(db_url) == sorted(f"P{i}" for i in range(20) if i != 7)
    rejected = _rejected_rows(tmp_path / "leads.rejected.csv")
    assert [(r["first_name"], r["errors"]) for r in rejected] == [
        ("P7", "not stored: internal error (DataError; see the server log)")
    ]
