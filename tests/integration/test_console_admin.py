"""The console's administration pages over a real server (SQLite): suppression lists (a file's upload
and its streamed import progress, a bad file refused before anything is written, an entry removed),
users (invite, reset, disable), keys and admin tokens (shown once, never again), SMTP and alert
settings; each page's wrong role (403 page) and missing CSRF token (403)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from lxml import html
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.entrypoints.web import suppression_pages
from leadrelay.services import suppression
from leadrelay.services.users import Accounts
from tests.support import ServerThread, base_config, lead, prepare, rows

PASSWORD = "console admin password"
SMTP_PASSWORD = "smtp-password-sentinel-7731"
FAST = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class Site:
    def __init__(self, server: ServerThread, url: str) -> None:
        self.server = server
        self.url = url

    def client(self, email: str = "admin@example.com") -> httpx.Client:
        """A client logged in as ``email``; its ``csrf`` attribute holds the session's token."""
        http = self.server.client()
        page = http.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        assert http.post("/console/login", data=data).status_code == 303
        home = http.get("/console")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
        assert csrf is not None
        http.csrf = csrf.group(1)  # type: ignore[attr-defined]
        return http


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    config = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    config["alerts"] = [
        {
            "name": "sunco-failing",
            "kind": "failure_rate",
            "threshold": 50,
            "partners": ["sunco"],
            "notify": {"email": ["ops@example.com"]},
        }
    ]
    prepare(sqlite_url, config)
    db = Database(sqlite_url)
    accounts = Accounts(SqlStorage(db), FAST)
    for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER):
        accounts.create_user(f"{role.value}@example.com", role, password=PASSWORD, actor="test")
    db.dispose()
    settings = {"smtp_password": SMTP_PASSWORD, "smtp_host": "127.0.0.1", "smtp_port": 9}
    with ServerThread(sqlite_url, workers=0, **settings) as server:
        server.app.state.runtime.accounts.passwords = FAST  # no rehash at full cost on each login
        yield Site(server, sqlite_url)


def form(http: httpx.Client, path: str, **data: str) -> httpx.Response:
    return http.post(path, data={"csrf_token": http.csrf, **data})  # type: ignore[attr-defined]


def tree(answer: httpx.Response) -> Any:
    return html.fromstring(answer.text)


def field_error(answer: httpx.Response, field: str) -> str:
    """The message shown next to a field (its ``aria-describedby`` names it)."""
    doc = tree(answer)
    (input_,) = doc.xpath(f'//*[@id="{field}"]')
    described = input_.get("aria-describedby")
    assert described, f"{field} has no message"
    return " ".join(doc.xpath(f'//*[@id="{described}"]')[0].text_content().split())


def entries(http: httpx.Client, name: str) -> int:
    cell = tree(http.get("/console/suppression")).xpath(f'//tr[@id="list-{name}"]/td[@class="num"]')[0]
    return int(cell.get("data-entries"))


def audits(url: str, prefix: str) -> list[tuple[str, str]]:
    query = select(audit_log.c.action, audit_log.c.actor).where(audit_log.c.action.like(f"{prefix}%"))
    return [(r.action, r.actor) for r in rows(url, query.order_by(audit_log.c.at))]


def upload(
    http: httpx.Client, name: str, body: bytes, csrf: str | None = "", **params: str
) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf or http.csrf  # type: ignore[attr-defined]
    return http.post(f"/console/suppression/{name}/upload", content=body, headers=headers, params=params)


# ---------------------------------------------------------------- suppression lists


def test_an_upload_streams_its_import_progress_then_the_result_and_an_entry_is_removed(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suppression, "IMPORT_CHUNK", 100)  # the server runs in this process
    http = site.client()
    created = form(http, "/console/suppression", name="dnc", kind="email", description="do not call")
    assert created.status_code == 200 and "The list dnc (email) is created." in created.text
    body = "email\n" + "".join(f"person{i}@example.com\n" for i in range(450))
    body += "person1@example.com\nperson2@example.com\nnot-an-email\n\nalso bad\n"
    answer = upload(http, "dnc", body.encode())
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in answer.text.splitlines()]
    reads = [item["read"] for item in lines if item["stage"] == "import"]
    assert len(reads) >= 5 and reads == sorted(reads) and reads[0] == 0  # one per chunk of 100
    assert reads[-1] == lines[0]["size"] == len(body.encode())
    done = lines[-1]
    assert done["stage"] == "done"
    assert (done["added"], done["duplicates"], done["rejected"], done["blank"]) == (450, 2, 2, 1)
    assert [e["line"] for e in done["examples"]] == [454, 456]
    assert entries(http, "dnc") == 450
    assert audits(site.url, "suppression.imported") == [("suppression.imported", "user:admin@example.com")]

    removed = form(http, "/console/suppression/dnc/remove", value="Person7@Example.com")
    assert removed.status_code == 200 and "Removed from dnc: 1 entry." in removed.text
    again = form(http, "/console/suppression/dnc/remove", value="person7@example.com")
    assert "That value was not on dnc: nothing removed." in again.text
    bad = form(http, "/console/suppression/dnc/remove", value="no at sign")
    assert bad.status_code == 422 and "not a valid value" in field_error(bad, "value-dnc")
    assert entries(http, "dnc") == 449


def test_a_bad_file_is_refused_before_anything_is_written(site: Site) -> None:
    http = site.client()
    form(http, "/console/suppression", name="phones", kind="phone")
    problems = [
        (b"", {}, "file", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), {}, "file", "is not a text file"),
        (b"\xff\xfe1\x002\x003\x00\n\x00" * 10, {}, "file", "is not a text file"),  # UTF-16
        (b"Phone,name\n5125551212,Ada\n", {"column": "phnoe"}, "column", "did you mean 'Phone'?"),
    ]
    for body, params, field, message in problems:
        answer = upload(http, "phones", body, **params)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field and message in answer.json()["detail"]
    assert upload(http, "phones", b"5125551212\n", csrf=None).status_code == 403
    forged = upload(http, "phones", b"5125551212\n", csrf="forged")
    assert forged.status_code == 403 and forged.json()["field"] == "csrf"
    assert upload(http, "nope", b"5125551212\n").status_code == 404
    # an upload has its own bound, above the installation's 4 MiB for other bodies: read whole, then judged
    large = b"Phone,name\n" + b"5125551212,Ada\n" * (5 * 1024 * 1024 // 15)
    answer = upload(http, "phones", large, column="phnoe")
    assert answer.status_code == 422 and answer.json()["field"] == "column", answer.text[:200]
    assert entries(http, "phones") == 0
    assert audits(site.url, "suppression.imported") == []  # nothing half-applied

    dup = form(http, "/console/suppression", name="phones", kind="phone")
    assert dup.status_code == 409 and "exists already" in field_error(dup, "name")
    bad = form(http, "/console/suppression", name="bad name!", kind="fax")
    assert bad.status_code == 422
    assert "invalid name" in field_error(bad, "name") and "kind" in field_error(bad, "kind")


def test_a_file_over_the_upload_bound_is_refused_naming_it_declared_or_streamed(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suppression_pages, "MAX_UPLOAD", 1000)  # the server runs in this process
    http = site.client()
    form(http, "/console/suppression", name="phones", kind="phone")
    body = b"5125551212\n" * 200
    declared = upload(http, "phones", body)
    assert declared.status_code == 413 and declared.json()["field"] == "file", declared.text
    assert "use the CLI" in declared.json()["detail"]
    streamed = http.post(  # no Content-Length: refused once past the bound
        "/console/suppression/phones/upload",
        content=iter([body[:600], body[600:]]),
        headers={"Content-Type": "application/octet-stream", "X-CSRF-Token": http.csrf},  # type: ignore[attr-defined]
    )
    assert streamed.status_code == 413 and streamed.json()["field"] == "file", streamed.text
    assert entries(http, "phones") == 0


def test_the_suppression_page_for_each_role(site: Site) -> None:
    viewer = site.client("viewer@example.com")
    page = viewer.get("/console/suppression")
    assert page.status_code == 200 and "Suppression lists" in page.text
    assert not tree(page).xpath('//form[@id="upload"]')  # a viewer sees the lists, changes nothing
    refused = form(viewer, "/console/suppression", name="x", kind="phone")
    assert refused.status_code == 403 and "may not change the configuration" in refused.text
    assert upload(viewer, "x", b"1\n").status_code == 403
    admin = site.client()
    assert admin.post("/console/suppression", data={"name": "x", "kind": "phone"}).status_code == 403
    assert "No list yet." in admin.get("/console/suppression").text


# ---------------------------------------------------------------- users


def test_users_invite_reset_and_disable(site: Site) -> None:
    http = site.client()
    page = http.get("/console/users")
    assert page.status_code == 200
    cells = tree(page).xpath("//table//tr/th[@scope='row']/text()")
    assert {"admin@example.com", "operator@example.com", "viewer@example.com"} <= set(cells)

    invited = form(http, "/console/users/invite", email="Pat@Example.com", role="partner", tenant="sunco")
    assert invited.status_code == 200
    link = tree(invited).xpath('//input[@id="once-value"]/@value')[0]
    token = link.rsplit("/", 1)[1]
    assert link.startswith(site.server.url + "/console/invite/")
    assert http.get(f"/console/invite/{token}").status_code == 200
    listing = http.get("/console/users").text
    assert token not in listing and "pat@example.com" in listing and "invited" in listing

    bad = form(http, "/console/users/invite", email="not an email", role="viewer")
    assert bad.status_code == 422 and "is not an email address" in field_error(bad, "email")
    no_tenant = form(http, "/console/users/invite", email="sam@example.com", role="source")
    assert no_tenant.status_code == 422 and "needs the source's name" in field_error(no_tenant, "tenant")
    unknown = form(http, "/console/users/invite", email="sam@example.com", role="source", tenant="nope")
    assert unknown.status_code == 422 and "no source named 'nope'" in field_error(unknown, "tenant")
    assert "sam@example.com" not in http.get("/console/users").text  # nothing half-made

    reset = form(http, "/console/users/reset", email="viewer@example.com")
    password = tree(reset).xpath('//input[@id="once-value"]/@value')[0]
    assert "One-time password for viewer@example.com" in reset.text
    assert password not in http.get("/console/users").text
    with site.server.client() as other:  # the old password fails, the one shown works
        for attempt, status in ((PASSWORD, 401), (password, 303)):
            page = other.get("/console/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            data = {"email": "viewer@example.com", "password": attempt, "csrf_token": csrf.group(1)}
            assert other.post("/console/login", data=data).status_code == status

    again = form(http, "/console/users/reset", email="pat@example.com")  # no password yet: a new link
    assert "Invitation link for pat@example.com" in again.text

    operator = site.client("operator@example.com")
    disabled = form(http, "/console/users/disable", email="operator@example.com")
    assert "operator@example.com is disabled" in disabled.text
    assert operator.get("/console").status_code == 303  # its session ended
    myself = form(http, "/console/users/disable", email="admin@example.com")
    assert myself.status_code == 422 and "your own account" in myself.text
    assert form(http, "/console/users/disable", email="who@example.com").status_code == 404

    actions = [a for a, actor in audits(site.url, "user.") if actor == "user:admin@example.com"]
    assert sorted(actions) == sorted(
        ["user.created", "user.invited", "user.password_reset", "user.invited", "user.disabled"]
    )


def test_users_page_refuses_other_roles_and_forms_without_the_token(site: Site) -> None:
    operator = site.client("operator@example.com")
    refused = operator.get("/console/users")
    assert refused.status_code == 403 and "may not manage users" in refused.text
    assert form(operator, "/console/users/invite", email="x@example.com", role="viewer").status_code == 403
    admin = site.client()
    for path in ("/console/users/invite", "/console/users/disable", "/console/users/reset"):
        answer = admin.post(path, data={"email": "viewer@example.com", "role": "viewer"})
        assert answer.status_code == 403 and "The form expired" in answer.text
    assert "x@example.com" not in admin.get("/console/users").text
    assert audits(site.url, "user.invited") == []


# ---------------------------------------------------------------- keys and tokens


def test_a_key_is_shown_once_and_never_again_then_revoked(site: Site) -> None:
    http = site.client()
    page = http.get("/console/keys")
    assert page.status_code == 200 and "Source keys" in page.text and "Admin tokens" in page.text
    made = form(http, "/console/keys", owner="source:web")
    key = tree(made).xpath('//input[@id="once-value"]/@value')[0]
    assert key.startswith("lr_") and len(key) > 20
    with site.server.client() as api:
        sent = api.post("/v1/leads", json=lead(), headers={"Authorization": f"Bearer {key}"})
        assert sent.status_code == 202, sent.text

    token_page = form(http, "/console/keys/tokens", name="ci", role="viewer", days="30")
    token = tree(token_page).xpath('//input[@id="once-value"]/@value')[0]
    assert token.startswith("lra_")
    for path in ("/console/keys", "/console/users", "/console/suppression", "/console/settings", "/console"):
        shown = http.get(path).text
        assert key not in shown and token not in shown, path
    with site.server.client() as api:
        assert api.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    key_id = made.text.split("Key ")[1].split("<")[0].strip()

    def last_used() -> str:
        row = tree(http.get("/console/keys")).xpath(f'//tr[td/code="{key_id}"]')[0]
        assert "active" in row.text_content()
        return str(row.xpath("td")[2].text_content())

    deadline = time.monotonic() + 10  # the last use is recorded off the request's path
    while last_used() == "never" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last_used() != "never"
    revoked = form(http, "/console/keys/revoke", owner="source:web", key_id=key_id)
    assert revoked.status_code == 200 and f"Key {key_id} of source web is revoked." in revoked.text
    token_id = token_page.text.split("Key ")[1].split("<")[0].strip()
    assert "is revoked" in form(http, "/console/keys/tokens/revoke", token_id=token_id).text
    with site.server.client() as api:
        again = api.post("/v1/leads", json=lead(), headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 401 and "revoked" in again.text
        assert api.get("/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    actions = [a for a, _ in audits(site.url, "") if "key_" in a or "token_" in a]
    assert actions == [
        "source.key_created",
        "admin.token_created",
        "source.key_revoked",
        "admin.token_revoked",
    ]


def test_the_keys_page_bad_input_wrong_role_and_no_token(site: Site) -> None:
    http = site.client()
    bad = form(http, "/console/keys/tokens", name="", role="partner", days="soon")
    assert bad.status_code == 422
    assert "give the token a name" in field_error(bad, "token-name")
    assert "admin, operator or viewer" in field_error(bad, "token-role")
    assert "a whole number of days" in field_error(bad, "token-days")
    assert form(http, "/console/keys", owner="source:nope").status_code == 404
    assert form(http, "/console/keys", owner="elsewhere").status_code == 422
    assert form(http, "/console/keys/revoke", owner="source:web", key_id="key_nope").status_code == 404
    assert http.post("/console/keys", data={"owner": "source:web"}).status_code == 403
    operator = site.client("operator@example.com")
    refused = operator.get("/console/keys")
    assert refused.status_code == 403 and "may not manage keys and tokens" in refused.text
    assert form(operator, "/console/keys", owner="source:web").status_code == 403
    assert [a for a, _ in audits(site.url, "") if "key_" in a or "token_" in a] == []


# ---------------------------------------------------------------- SMTP and alerts


def test_settings_show_smtp_without_its_password_and_test_an_alert(site: Site) -> None:
    http = site.client()
    page = http.get("/console/settings")
    assert page.status_code == 200 and SMTP_PASSWORD not in page.text
    doc = tree(page)
    pairs = dict(zip(doc.xpath("//dl/dt/text()"), doc.xpath("//dl/dd/text()"), strict=True))
    assert pairs["Host"] == "127.0.0.1" and pairs["Port"] == "9"
    assert pairs["Password"] == "set (never shown)"
    text = " ".join(doc.text_content().split())
    assert "sunco-failing" in text and "failure_rate" in text and "mailto:ops@example.com" in text
    tested = form(http, "/console/settings/test-alert", alert="sunco-failing")
    assert tested.status_code == 200 and "Test of sunco-failing" in tested.text
    assert "mailto:ops@example.com: failed" in " ".join(tree(tested).text_content().split())  # port 9
    missing = form(http, "/console/settings/test-alert", alert="nope")
    assert missing.status_code == 404 and "no alert named 'nope'" in tree(missing).text_content()
    assert http.post("/console/settings/test-alert", data={"alert": "sunco-failing"}).status_code == 403
    viewer = site.client("viewer@example.com")
    assert viewer.get("/console/settings").status_code == 403
