"""A failing filter's trace line quotes the lead's value whole (up to 100 characters; a longer one by its
length only), never cut: a cut value would escape the redaction of sensitive fields and erasure, which
know whole values only. On SQLite and PostgreSQL, with real buyers on loopback."""

from __future__ import annotations

from sqlalchemy import select

from leadrelay.adapters.db.tables import jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_privacy_flow import SECRET, buyers, post  # noqa: F401
from tests.support import ADMIN, ServerThread, base_config, everything_stored, lead, prepare, rows

LONG_EMAIL = "ada.augusta.king.countess.of.lovelace.analytical.engine@example.com"  # 68 characters
LONG_NOTE = "Patient reports condition X-4417 since 2019; prescribed drug Y 20mg daily, no change"
# what a trace line cut at 60 characters would keep of each
EMAIL_CUT = LONG_EMAIL[:50]
NOTE_CUT = LONG_NOTE[:50]


def _doc(buyers: BuyersThread) -> dict:  # noqa: F811
    doc = base_config(buyers.url)
    doc["entities"]["solar"]["fields"]["note"] = {"type": "string", "sensitive": True}
    doc["partners"]["brightpath"]["filters"] = {
        "all": [
            {"field": "email", "op": "ends_with", "value": "@corp.example"},
        ]
    }
    doc["partners"]["voltedge"]["filters"] = {"field": "note", "op": "eq", "value": "nobody"}
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {
        "partners": ["brightpath", "voltedge"],
        "strategy": "priority",
    }
    return doc


def _route_and_erase(db_url: str, buyers: BuyersThread) -> tuple[str, str]:  # noqa: F811
    """The trace of the lead's job as written, then after the lead's erasure."""
    prepare(db_url, _doc(buyers))
    body = lead(first_name="Grace", last_name="Hopper", email=LONG_EMAIL, note=LONG_NOTE)
    with ServerThread(db_url, secret_key=SECRET) as server:
        answer = post(server, body)
        assert answer["status"] == "unsold", answer
        [written] = rows(db_url, select(jobs.c.trace).where(jobs.c.lead_id == answer["lead_id"]))[0]
        with server.client() as http:
            assert http.delete(f"/v1/leads/{answer['lead_id']}", headers=ADMIN).status_code == 200
    [erased] = rows(db_url, select(jobs.c.trace).where(jobs.c.lead_id == answer["lead_id"]))[0]
    return "\n".join(written), "\n".join(erased)


def test_a_long_sensitive_value_is_not_quoted_in_the_trace(db_url: str, buyers: BuyersThread) -> None:  # noqa: F811
    """README, Privacy: sensitive values are replaced by *** in routing traces."""
    written, _ = _route_and_erase(db_url, buyers)
    assert NOTE_CUT not in written, written
    assert NOTE_CUT.encode() not in everything_stored(db_url)


def test_erasure_takes_a_long_value_out_of_the_trace(db_url: str, buyers: BuyersThread) -> None:  # noqa: F811
    """README, Privacy: erasure removes trace values."""
    _, erased = _route_and_erase(db_url, buyers)
    assert EMAIL_CUT not in erased, erased
    assert EMAIL_CUT.encode() not in everything_stored(db_url)
