"""Intake at its edges (lead API, field normalization, dedup, CSV import), on real servers over SQLite
and PostgreSQL: a datetime off the calendar, a form body not UTF-8, an integer past 64 bits, a global
dedup key in two orders, a lead screened against a request never stored, a hosted form posted from a
hidden origin, a rejected row spanning lines (a review of 2026-12-06 found each)."""

from __future__ import annotations

import asyncio
import copy
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import leads
from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.errors import ConfigError, LeadrelayError
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ServerThread, base_config, lead, prepare, reader, run_cli, source_headers


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def _stored(url: str) -> list[Any]:
    return reader(url).read(lambda c: list(c.execute(select(leads).order_by(leads.c.created_at))))


def _with_email_dedup(buyers: BuyersThread) -> dict[str, Any]:
    config = base_config(buyers.url)
    config["entities"]["solar"]["dedup"] = {"keys": [["email"]], "window": "30d"}
    return config


# ---------------------------------------------------------------- email: one mailbox, one person


def test_the_same_email_written_with_its_punycode_domain_is_a_duplicate(
    db_url: str, buyers: BuyersThread
) -> None:
    """Dedup compares normal forms: the punycode writing of the same address gets through dedup (the
    suppression lists were taught both writings; dedup was not)."""
    prepare(db_url, _with_email_dedup(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        first = http.post("/v1/leads", json=lead(email="ada@bücher.example"), headers=source_headers())
        again = http.post(
            "/v1/leads",
            json=lead(email="ada@xn--bcher-kva.example", phone="5125551213"),
            headers=source_headers(),
        )
    assert first.status_code == 202, first.text
    assert again.json()["status"] == "duplicate", f"same mailbox, not caught by dedup: {again.text}"


# ---------------------------------------------------------------- datetime: the calendar's edges


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_datetime_whose_utc_time_leaves_the_calendar_is_a_bad_value_not_a_500(
    db_url: str, buyers: BuyersThread, value: str
) -> None:
    """dates.parse_datetime converts to UTC with ``astimezone``, which raises OverflowError past year 9999
    or before year 1 (``9999-12-31T23:59:59-05:00``, a common "never" sentinel); only ``Invalid`` is
    caught, so the request is a 500 and nothing is stored (the CSV import counts such a row an internal
    error; a required field would be 422 naming it)."""
    config = base_config(buyers.url)
    config["entities"]["solar"]["fields"]["callback_at"] = {"type": "datetime"}
    prepare(db_url, config)
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post("/v1/leads", json=lead(callback_at=value), headers=source_headers())
    assert r.status_code == 202, f"{r.status_code} {r.text[:200]}"  # an optional bad value: flagged
    [row] = _stored(db_url)
    assert row.flags == {
        "callback_at": ["invalid: not a valid date and time (outside the calendar in UTC)"]
    }, row.flags


# ---------------------------------------------------------------- the body as sent is the body stored


def test_a_form_body_whose_bytes_are_not_utf8_is_refused_not_stored_altered(
    db_url: str, buyers: BuyersThread
) -> None:
    """A JSON body that is not UTF-8 is a 400; a form body with percent-encoded Latin-1 (``Ren%E9e``, as a
    form with ``accept-charset=ISO-8859-1`` sends it) is stored with U+FFFD in place of the letter:
    ``parse_qsl`` decodes the escapes with errors="replace"."""
    prepare(db_url, base_config(buyers.url))
    body = b"first_name=Ren%E9e&phone=5125551212&zip=94103"
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post(
            "/v1/leads",
            content=body,
            headers={**source_headers(), "Content-Type": "application/x-www-form-urlencoded"},
        )
    stored = [row.raw.get("first_name") for row in _stored(db_url)]
    assert "Ren\ufffde" not in stored, f"answered {r.status_code} and stored the name altered: {stored!r}"
    assert r.status_code == 400, r.text


def test_a_json_integer_past_64_bits_is_not_stored_as_a_rounded_float(
    db_url: str, buyers: BuyersThread
) -> None:
    """orjson reads an integer past 64 bits as a float: an account or policy number sent as a JSON number
    is stored and delivered rounded (``1.2345678901234568e+22``), as sent nowhere."""
    config = base_config(buyers.url)
    config["entities"]["solar"]["fields"]["policy_number"] = {"type": "string"}
    prepare(db_url, config)
    body = b'{"first_name":"Ada","phone":"5125551212","zip":"94103","policy_number":12345678901234567890123}'
    with ServerThread(db_url) as server, server.client() as http:
        r = http.post(
            "/v1/leads", content=body, headers={**source_headers(), "Content-Type": "application/json"}
        )
    rows = _stored(db_url)
    if r.status_code in (200, 202):  # accepted: then with the number as it was sent
        assert rows[0].data["policy_number"] == "12345678901234567890123", rows[0].data
    else:  # or refused, naming the field, and nothing stored
        assert r.status_code in (400, 422) and rows == [], (r.status_code, r.text)


# ---------------------------------------------------------------- dedup: a key of several fields


def test_a_global_key_of_two_fields_in_another_order_is_refused_at_apply(
    db_url: str, buyers: BuyersThread
) -> None:
    """``keys: [email, last_name]`` is one key of two fields; the mark's scope and material follow the
    configured order, so an entity listing them ``[last_name, email]`` never met the other's marks: the
    configuration is refused, naming the key and the one it must match."""
    config = base_config(buyers.url)
    solar = config["entities"]["solar"]
    solar["dedup"] = {"keys": [["email", "last_name"]], "window": "30d", "scope": "global"}
    roofing = copy.deepcopy(solar)
    roofing["dedup"] = {"keys": [["last_name", "email"]], "window": "30d", "scope": "global"}
    config["entities"]["roofing"] = roofing
    config["sources"]["web"]["entities"] = ["solar", "roofing"]
    with pytest.raises(ConfigError) as refused:
        prepare(db_url, config)
    [problem] = refused.value.problems
    assert problem.path == "entities.roofing.dedup.keys[0]", problem
    assert "entities.solar.dedup.keys[0] in another order" in problem.message, problem


# -------------------------------------------------- dedup: a lead never stored is nobody's original


def test_a_lead_is_not_a_duplicate_of_a_request_that_was_never_stored(db_url: str) -> None:
    """Two requests for one new person share a group commit: a keyed request whose key was used with
    another body (refused 422, nothing stored) and a plain one. ``write_group`` screens the group before
    inserting, and ``screening._decide`` lets later leads see an earlier lead's marks at once; the keyed one
    is then not inserted, yet the plain lead was already closed as its duplicate: the person's only lead
    is stored ``duplicate`` of a lead id that does not exist, and never routed."""
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["entities"]["solar"]["dedup"] = {"keys": [["email"]], "window": "30d"}
    prepare(db_url, doc)
    rt = build_runtime(Settings(database_url=db_url))

    async def go() -> tuple[object, object]:
        await rt.intake.accept(
            IntakeRequest("web", "solar", lead(email="quinn@example.com"), idempotency_key="k1")
        )

        async def reused_key() -> object:
            try:
                body = lead(email="pat@example.com")
                return await rt.intake.accept(IntakeRequest("web", "solar", body, idempotency_key="k1"))
            except LeadrelayError as exc:
                return exc

        plain = rt.intake.accept(IntakeRequest("web", "solar", lead(email="pat@example.com")))
        got = await asyncio.gather(reused_key(), plain)
        return got[0], got[1]

    try:
        refused, answer = asyncio.run(go())
    finally:
        rt.db.dispose()
    assert isinstance(refused, LeadrelayError), refused  # the key's conflict: nothing stored for it
    stored = {row.id: row for row in _stored(db_url)}
    pat = [row for row in stored.values() if row.data.get("email") == "pat@example.com"]
    assert len(pat) == 1, pat
    assert pat[0].status != "duplicate" or pat[0].duplicate_of in stored, (
        f"pat's only lead is {pat[0].status}, duplicate_of {pat[0].duplicate_of} which was never stored"
    )
    assert answer.status == "queued", f"pat's lead answered {answer.status}"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- hosted form: the cross-site check


@pytest.mark.sqlite_only
def test_a_form_post_whose_origin_the_browser_hides_as_null_is_refused(db_url: str) -> None:
    """README: a post whose ``Origin`` is neither this host nor the public URL's is refused (403). A page
    on another site that hides its origin (``Referrer-Policy: no-referrer``, a sandboxed frame) makes the
    browser send ``Origin: null``; ``forms._cross_site`` takes "null" as no Origin at all and lets the
    post in (its token is no help: any server can fetch the form and copy one)."""
    from tests.integration.test_hosted_form import form_config, person, token_of

    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as buyers:
        prepare(db_url, form_config(buyers))
        with ServerThread(db_url) as server, server.client() as http:
            good = token_of(http.get("/f/web/solar"))
            r = http.post("/f/web/solar", data={**person(), "_token": good}, headers={"Origin": "null"})
    assert r.status_code == 403, f"a post from a hidden origin was answered {r.status_code}"
    assert _stored(db_url) == []


# ---------------------------------------------------------------- CSV import: a reject's line


def test_a_rejected_row_spanning_two_lines_is_reported_at_the_line_it_starts_on(
    db_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    """The rejects file's ``row`` is the row's line in the file: a row whose quoted note spans two lines
    is reported at its last line (``csv.reader.line_num`` after the row was read), where the operator
    finds the middle of the note, not the row."""
    prepare(db_url, base_config(buyers.url))
    path = tmp_path / "leads.csv"
    path.write_text(
        "first_name,phone,zip,note\n"  # line 1
        'Ada,5125551212,,"call after\n'  # line 2: the row starts here (no zip: rejected)
        'five"\n'  # line 3
        "Bob,12,94103,short\n",  # line 4: a bad phone
        encoding="utf-8",
    )
    path_rejects = tmp_path / "rejects.csv"
    env = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": None, "LINES": None}
    r = run_cli(
        ["import", str(path), "--entity", "solar", "--source", "web", "--rejects", str(path_rejects)], env
    )
    assert r.returncode == 0, r.stderr
    with path_rejects.open(newline="", encoding="utf-8") as fh:
        rejected = [(row["row"], row["first_name"]) for row in csv.DictReader(fh)]
    assert sorted(rejected) == [("2", "Ada"), ("4", "Bob")], rejected  # in the order the rows finished
