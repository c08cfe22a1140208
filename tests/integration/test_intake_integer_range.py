"""An integer field's value beyond 64 bits, and one lead's write that fails inside a group commit.

A value no signed 64-bit integer holds (a form's "99999999999999999999", a JSON 1e23) is a bad value of
its field, as the README's field types say: a required field rejects the lead (422 naming it, stored as
rejected), an optional one is flagged and the lead goes on. And when one lead's write fails for a reason
of its own (a value the database refuses), the other leads that shared its group-commit transaction are
still stored and answered: only that lead's request fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError

from leadrelay.adapters.db.repositories import SqlLeads
from leadrelay.adapters.db.tables import leads
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, lead, prepare, rows, source_headers


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def _config(buyers: BuyersThread) -> dict[str, Any]:
    config = base_config(buyers.url)
    fields = config["entities"]["solar"]["fields"]
    fields["household_size"] = {"type": "integer"}  # optional
    fields["loan_amount"] = {"type": "integer", "required": True}
    return config


def test_an_integer_beyond_64_bits_is_a_bad_value_of_its_field(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, _config(buyers))
    huge = "99999999999999999999"  # 20 digits: beyond any signed 64-bit integer
    range_error = "not an integer from -9223372036854775808 to 9223372036854775807"
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        required_bad = http.post(
            "/v1/leads",
            json=lead(loan_amount=huge, household_size="3"),
            headers=source_headers(),
        )
        optional_bad = http.post(
            "/v1/leads",
            data={
                **lead(email="b@example.com", phone="5125553434"),
                "loan_amount": "250000",
                "household_size": huge,
            },
            headers=source_headers(),
        )
        json_float = http.post(
            "/v1/leads",
            json=lead(email="c@example.com", phone="5125553535", loan_amount=250000, household_size=1e23),
            headers=source_headers(),
        )
        largest = http.post(
            "/v1/leads",
            json=lead(email="d@example.com", phone="5125553636", loan_amount="9223372036854775807"),
            headers=source_headers(),
        )
    assert required_bad.status_code == 422, required_bad.text
    assert required_bad.json()["status"] == "rejected"
    assert required_bad.json()["errors"] == [{"field": "loan_amount", "error": range_error}]
    assert optional_bad.status_code == 202, optional_bad.text
    assert json_float.status_code == 202, json_float.text
    assert largest.status_code == 202, largest.text
    stored = {r.id: r for r in rows(db_url, select(leads))}
    assert stored[required_bad.json()["lead_id"]].status == "rejected"
    for answer in (optional_bad, json_float):
        flags = stored[answer.json()["lead_id"]].flags
        assert flags == {"household_size": [f"invalid: {range_error}"]}, flags
    assert stored[largest.json()["lead_id"]].data["loan_amount"] == 2**63 - 1


def test_one_leads_failing_write_does_not_fail_the_leads_written_with_it(
    db_url: str, buyers: BuyersThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 sources post at once, so their leads share group commits; the database refuses one lead's row
    (a ``DataError`` raised after the group's rows were sent, inside the transaction)."""
    prepare(db_url, _config(buyers))
    real = SqlLeads.insert_leads
    shared: list[int] = []  # the size of each batch the refused lead was part of

    def insert_leads(self: SqlLeads, batch: Sequence[dict[str, Any]]) -> set[str]:
        inserted = real(self, batch)
        if any(row["raw"].get("first_name") == "Refused" for row in batch):
            shared.append(len(batch))
            raise DataError("INSERT INTO leads …", {}, Exception("value out of range"))
        return inserted

    monkeypatch.setattr(SqlLeads, "insert_leads", insert_leads)
    n = 16
    answers: list[httpx.Response] = []
    with ServerThread(db_url, workers=0) as server:
        clients = [server.client() for _ in range(n)]
        try:
            for round_no in range(3):
                barrier = threading.Barrier(n)

                def post(
                    i: int, round_no: int = round_no, barrier: threading.Barrier = barrier
                ) -> httpx.Response:
                    body = lead(
                        first_name="Refused" if i == 0 else f"P{i}",
                        email=f"p{round_no}-{i}@example.com",
                        phone=f"51255{round_no}{2000 + i}",
                        loan_amount="250000",
                    )
                    barrier.wait(10)
                    return clients[i].post("/v1/leads", json=body, headers=source_headers())

                with ThreadPoolExecutor(n) as pool:
                    answers += list(pool.map(post, range(n)))
        finally:
            for c in clients:
                c.close()
    assert max(shared) > 1, f"the refused lead never shared a transaction: {shared}"
    refused = [r for r in answers if r.status_code == 500]
    good = [r for r in answers if r.status_code != 500]
    assert len(refused) == 3 and len(good) == 3 * (n - 1), [r.status_code for r in answers]
    assert {r.status_code for r in good} == {202}
    stored = {r.id for r in rows(db_url, select(leads))}
    assert {r.json()["lead_id"] for r in good} <= stored
    assert len(stored) == 3 * (n - 1)
