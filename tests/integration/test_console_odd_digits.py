"""Odd digits in the console's numeric parameters on a real server and SQLite: a Unicode digit ('²' passes
``str.isdigit()`` but ``int()`` refuses it) and a 30-digit number (past BIGINT) in each row limit, cursor,
token lifetime and rule index answer a page or a 4xx naming the field, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from leadrelay.domain.access import Role
from tests.documents import base_config
from tests.integration.test_console_config import form_data
from tests.integration.test_console_portals import make_users
from tests.integration.test_route_access import console_login
from tests.support import ServerThread, prepare

ODD = ("²", "9" * 30)


@pytest.fixture
def server(sqlite_url: str) -> Iterator[ServerThread]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    make_users(sqlite_url, [("admin", Role.ADMIN, None), ("web", Role.SOURCE, "web")])
    with ServerThread(sqlite_url) as running:
        yield running


def signed_in(server: ServerThread, name: str) -> tuple[httpx.Client, str]:
    http = server.client()
    cookie, csrf = console_login(http, f"{name}@example.com")
    http.headers["Cookie"] = f"lr_session={cookie}"
    return http, csrf


def test_odd_digits_never_answer_a_500(server: ServerThread) -> None:
    admin, csrf = signed_in(server, "admin")
    source, _ = signed_in(server, "web")
    profile = form_data(admin.get("/console/config/profiles/solar-main").text, "/profiles/preview")
    assert "rules-0-original" in profile
    for odd in ODD:
        for path in ("/console/log", "/console/log/rows"):
            r = admin.get(path, params={"limit": odd})
            assert r.status_code == 422 and "Rows per page" in r.text, (path, odd, r.status_code)
        r = admin.get("/console/audit", params={"limit": odd})
        assert r.status_code == 200, odd  # a bad limit there is the default page size
        token = {"name": "ci", "role": "viewer", "days": odd, "csrf_token": csrf}
        r = admin.post("/console/keys/tokens", data=token)
        assert r.status_code == 422 and "whole number of days" in r.text, odd
        edited = {**profile, "rules-0-original": odd, "source": "form"}
        r = admin.post("/console/config/profiles/preview", data=edited)
        assert r.status_code == 200, (odd, r.text[:500])  # not an index: the rule is taken as new
        r = source.get("/console/source/payouts", params={"cursor": odd})
        assert r.status_code == 200, odd  # not a cursor: the first page
    admin.close()
    source.close()
