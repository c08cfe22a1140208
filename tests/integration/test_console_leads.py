"""The console's lead pages over a real server: the search by id, email or phone through the lookup keys
(on SQLite and PostgreSQL, with the SQL the server runs checked for any plaintext or LIKE), a lead's
history masked for a viewer and not for an admin, the CSV import with a bad row and its rejects file,
and the erasure (admins only, with the CSRF token)."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from lxml import html
from sqlalchemy import delete, event, func, select
from sqlalchemy.engine import Engine

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.privacy_tables import lead_lookup
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.support import ServerThread, base_config, lead, prepare, run_cli, source_headers

PASSWORD = "console leads password"
SECRET = "a-test-secret-of-enough-length-0042"
PHONE, EMAIL, SSN = "(512) 789-1111", "Jane.Doe@Example.com", "123-45-6789"


def config() -> dict[str, Any]:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    doc["entities"]["solar"]["fields"]["work_phone"] = {"type": "phone", "sensitive": True}
    return doc


@pytest.fixture
def site(db_url: str) -> Iterator[ServerThread]:
    prepare(db_url, config())
    db = Database(db_url)
    accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
    for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER):
        accounts.create_user(f"{role.value}@example.com", role, password=PASSWORD, actor="test")
    accounts.create_user("operator2@example.com", Role.OPERATOR, password=PASSWORD, actor="test")
    with ServerThread(db_url, workers=0, secret_key=SECRET) as server:
        yield server
    db.dispose()


def session(server: ServerThread, role: Role, email: str | None = None) -> httpx.Client:
    http = server.client()
    page = http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    data = {"email": email or f"{role.value}@example.com", "password": PASSWORD, "csrf_token": token.group(1)}
    assert http.post("/console/login", data=data).status_code == 303
    return http


def csrf(http: httpx.Client) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', http.get("/console").text)
    assert found is not None
    return found.group(1)


def post_lead(server: ServerThread, **values: Any) -> str:
    with server.client() as http:
        r = http.post("/v1/leads", json={"entity": "solar", **lead(**values)}, headers=source_headers())
        assert r.status_code in (200, 201, 202, 422), r.text
        return str(r.json()["lead_id"])


def found_ids(page: httpx.Response) -> list[str]:
    tree = html.fromstring(page.text)
    return [a.text_content() for a in tree.xpath('//table[contains(@class, "leads-table")]//a')]


class Statements:
    """Every SQL statement (and its parameters) any engine of this process runs while recording."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.on = False
        self._lock = threading.Lock()

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if self.on:
            with self._lock:
                self.seen.append((statement, repr(parameters)))


@pytest.fixture
def statements() -> Iterator[Statements]:
    seen = Statements()
    event.listen(Engine, "before_cursor_execute", seen)
    yield seen
    event.remove(Engine, "before_cursor_execute", seen)


def test_the_search_finds_a_lead_by_id_email_or_phone_through_the_hashes(
    site: ServerThread, statements: Statements
) -> None:
    wanted = post_lead(site, phone=PHONE, email=EMAIL, ssn=SSN)
    other = post_lead(site, phone="(512) 789-2222", email="someone@example.com")
    http = session(site, Role.VIEWER)
    statements.on = True
    for written in (
        "+1 512 789 1111",
        "512.789.1111",
        "5127891111",
        "(512) 789-1111 x12",
        EMAIL,
        "jane.doe@example.com",
        " JANE.DOE@EXAMPLE.COM ",
        wanted,
    ):
        page = http.get("/console/leads", params={"q": written})
        assert page.status_code == 200, page.text
        assert found_ids(page) == [wanted], written
    for nothing in ("(512) 789-3333", "nobody@example.com", "lead_00000000000000000000000"):
        page = http.get("/console/leads", params={"q": nothing})
        assert page.status_code == 200 and found_ids(page) == [] and "No lead matches" in page.text
    assert found_ids(http.get("/console/leads", params={"q": "512 789 2222"})) == [other]
    statements.on = False

    sql = [s for s, _ in statements.seen]
    assert any("lead_lookup" in s and "key_hash" in s for s in sql)
    assert not any(re.search(r"\bLIKE\b", s, re.IGNORECASE) for s in sql)
    # no stored value is compared: the leads' data is read by id only (a viewer's results are checked
    # against their non-sensitive values), and no parameter is a plaintext value
    by_value = r"\bleads\.(data|raw|sealed)\b.*\bWHERE\b(?!\s+leads\.id\s*=\s*\S+\s*$)"
    assert not any(re.search(by_value, s, re.S) for s in sql)
    params = " ".join(p for _, p in statements.seen).lower()
    for plain in ("5127891111", "jane.doe", "789-1111", "nobody@example.com"):
        assert plain not in params

    bad = http.get("/console/leads", params={"q": "jane@"})
    assert bad.status_code == 422
    error = html.fromstring(bad.text).xpath('//p[@id="q-error"]')
    assert error and "not a valid email" in error[0].text_content()
    assert html.fromstring(bad.text).xpath('//input[@id="q"]/@aria-describedby') == ["q-error"]


@pytest.mark.sqlite_only
def test_a_lead_history_masks_sensitive_fields_for_a_viewer_not_for_an_admin(site: ServerThread) -> None:
    lead_id = post_lead(site, phone=PHONE, email=EMAIL, ssn=SSN)
    rejected = post_lead(site, phone="12", email=EMAIL)
    viewer = session(site, Role.VIEWER)
    page = viewer.get(f"/console/leads/{lead_id}")
    assert page.status_code == 200
    assert SSN not in page.text and "***" in page.text
    tree = html.fromstring(page.text)
    jobs = tree.xpath('//section[@aria-labelledby="jobs"]//a/@href')
    assert jobs and all(re.fullmatch(r"/console/log/job_\w+", href) for href in jobs)
    assert not tree.xpath('//a[@data-dialog="erase-dialog"]')  # a viewer may not erase

    admin = session(site, Role.ADMIN)
    page = admin.get(f"/console/leads/{lead_id}")
    assert page.status_code == 200 and SSN in page.text
    assert "lead.reveal" in page.text  # seeing the sensitive values is audited, and shown in the history
    assert html.fromstring(page.text).xpath('//a[@data-dialog="erase-dialog"]')

    problems = viewer.get(f"/console/leads/{rejected}")
    assert problems.status_code == 200 and "Validation problems" in problems.text
    assert viewer.get("/console/leads/lead_unknown").status_code == 404


@pytest.mark.sqlite_only
def test_an_import_with_a_bad_row_yields_a_rejects_file_with_the_reason(site: ServerThread) -> None:
    operator = session(site, Role.OPERATOR)
    rows = (
        "first_name,last_name,email,phone,zip,state\n"
        "Ana,Lopez,ana@example.com,(512) 555-0101,78704,TX\n"
        "Bad,Row,bad@example.com,12,78704,TX\n"
        "Bo,Chen,bo@example.com,512-555-0102,78705,TX\n"
    )
    files = {"file": ("leads.csv", rows.encode(), "text/csv")}
    form = {"source": "web", "entity": "solar"}
    json_accept = {"Accept": "application/json"}
    refused = operator.post("/console/leads/import", data=form, files=files, headers=json_accept)
    assert refused.status_code == 403  # no CSRF token

    token = csrf(operator)
    started = operator.post(
        "/console/leads/import", data=form, files=files, headers={**json_accept, "X-CSRF-Token": token}
    )
    assert started.status_code == 202, started.text
    progress_url = f"/console/leads/import/{started.json()['id']}/progress"
    deadline = time.monotonic() + 20
    while (progress := operator.get(progress_url).json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert progress["state"] == "done" and progress["percent"] == 100
    assert (progress["rows"], progress["accepted"], progress["rejected"]) == (3, 2, 1)

    rejects = operator.get(f"/console/leads/import/{progress['id']}/rejects.csv")
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    got = list(csv.DictReader(io.StringIO(rejects.text)))
    assert len(got) == 1 and got[0]["row"] == "3" and got[0]["first_name"] == "Bad"
    assert got[0]["errors"].startswith("phone:")

    status_page = operator.get(f"/console/leads/import/{progress['id']}")
    assert status_page.status_code == 200 and "rejects.csv" in status_page.text
    # another operator (and an admin) is not shown someone else's import: 404 on all three addresses
    for other in (session(site, Role.OPERATOR, "operator2@example.com"), session(site, Role.ADMIN)):
        for tail in ("", "/progress", "/rejects.csv"):
            assert other.get(f"/console/leads/import/{progress['id']}{tail}").status_code == 404, tail
    found = operator.get("/console/leads", params={"q": "512 555 0101"})
    assert len(found_ids(found)) == 1  # imported through intake: in the search index

    # the plain form (no script): a missing file is a 422 with the message next to the field
    bad = operator.post("/console/leads/import", data={**form, "csrf_token": token}, files={"x": ("", b"")})
    assert bad.status_code == 422
    assert html.fromstring(bad.text).xpath('//p[@id="file-error"]')
    unknown = operator.post(
        "/console/leads/import", data={"source": "nope", "entity": "solar", "csrf_token": token}, files=files
    )
    assert unknown.status_code == 422 and 'id="source-error"' in unknown.text

    viewer = session(site, Role.VIEWER)
    assert viewer.get("/console/leads/import").status_code == 403
    assert viewer.post("/console/leads/import", data=form, files=files).status_code == 403


@pytest.mark.sqlite_only
def test_only_an_admin_erases_a_lead_with_the_csrf_token(site: ServerThread) -> None:
    lead_id = post_lead(site, phone=PHONE, email=EMAIL, ssn=SSN)
    operator = session(site, Role.OPERATOR)
    page = operator.get(f"/console/leads/{lead_id}/erase")
    assert page.status_code == 403 and "Not for your role" in page.text
    token = csrf(operator)
    assert operator.post(f"/console/leads/{lead_id}/erase", data={"csrf_token": token}).status_code == 403

    admin = session(site, Role.ADMIN)
    assert admin.get(f"/console/leads/{lead_id}/erase").status_code == 200
    assert admin.post(f"/console/leads/{lead_id}/erase", data={"reason": "asked"}).status_code == 403
    done = admin.post(f"/console/leads/{lead_id}/erase", data={"csrf_token": csrf(admin), "reason": "asked"})
    assert done.status_code == 303 and done.headers["location"] == f"/console/leads/{lead_id}?done=erased"
    page = admin.get(done.headers["location"])
    assert "personal data is erased" in page.text and SSN not in page.text
    assert "lead.erase" in page.text and "asked" in page.text  # audited
    # its lookup keys are gone with its data: the phone finds nothing, the id still finds the lead
    assert found_ids(admin.get("/console/leads", params={"q": PHONE})) == []
    assert found_ids(admin.get("/console/leads", params={"q": lead_id})) == [lead_id]


def test_leads_reindex_writes_the_lookup_keys_again_sensitive_phones_too(
    site: ServerThread, db_url: str
) -> None:
    """Leads from before the search (or keyed with an older dedup key): ``leadrelay leads reindex``."""
    lead_id = post_lead(site, phone=PHONE, email=EMAIL, work_phone="+1 512 789 4444")
    viewer = session(site, Role.ADMIN)  # a sensitive phone finds a lead for the privacy permission only
    assert found_ids(viewer.get("/console/leads", params={"q": "512 789 4444"})) == [lead_id]
    db = Database(db_url)
    try:
        before = db.read(lambda c: c.execute(select(func.count()).select_from(lead_lookup)).scalar())
        assert before == 3  # email, phone, work phone
        db.transaction(lambda c: c.execute(delete(lead_lookup)))
        assert found_ids(viewer.get("/console/leads", params={"q": "512 789 4444"})) == []
        done = run_cli(["leads", "reindex", "--database-url", db_url], {"LEADRELAY_SECRET_KEY": SECRET})
        assert done.returncode == 0, done.stderr
        assert "lookup keys written for 1 lead(s)" in done.stdout
        after = db.read(lambda c: c.execute(select(func.count()).select_from(lead_lookup)).scalar())
        assert after == 3
    finally:
        db.dispose()
    for written in ("512 789 4444", PHONE, EMAIL):
        assert found_ids(viewer.get("/console/leads", params={"q": written})) == [lead_id]


@pytest.mark.sqlite_only
def test_many_leads_of_one_person_page_by_cursor(site: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadrelay.services import lead_pages

    monkeypatch.setattr(lead_pages, "SEARCH_LIMIT", 2)
    ids = sorted((post_lead(site, phone=PHONE) for _ in range(3)), reverse=True)
    viewer = session(site, Role.VIEWER)
    first = viewer.get("/console/leads", params={"q": PHONE})
    assert found_ids(first) == ids[:2]
    older = html.fromstring(first.text).xpath('//a[@rel="next"]/@href')
    assert older == [f"/console/leads?q=%28512%29%20789-1111&before={ids[1]}"]
    second = viewer.get(older[0])
    assert found_ids(second) == ids[2:] and not html.fromstring(second.text).xpath('//a[@rel="next"]')


def test_a_sensitive_phone_finds_a_lead_only_for_a_user_with_the_privacy_permission(
    site: ServerThread,
) -> None:
    hidden = post_lead(site, phone="(512) 789-5555", email="a@example.com", work_phone="+1 512 789 6666")
    shown = post_lead(site, phone="(512) 789-6666", email="b@example.com")
    viewer, admin = session(site, Role.VIEWER), session(site, Role.ADMIN)
    assert found_ids(viewer.get("/console/leads", params={"q": "512 789 6666"})) == [shown]
    assert found_ids(viewer.get("/console/leads", params={"q": "512 789 5555"})) == [hidden]  # its open phone
    assert found_ids(viewer.get("/console/leads", params={"q": hidden})) == [hidden]  # by id
    assert set(found_ids(admin.get("/console/leads", params={"q": "512 789 6666"}))) == {hidden, shown}
