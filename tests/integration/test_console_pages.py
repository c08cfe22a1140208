"""The console's pages over a real server, their bad paths: a login form without its CSRF cookie, a
logout without the session's token, unknown and used invitations, where a login may send the browser,
the cookie's flags (Secure when the settings say so) and the security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.support import ServerThread, base_config, prepare

PASSWORD = "console pages password"


@pytest.fixture
def site(sqlite_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Accounts]]:
    """``@pytest.mark.parametrize("site", [True], indirect=True)``: with LEADRELAY_SECURE_COOKIES."""
    secure = bool(getattr(request, "param", False))
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
    accounts.create_user("ada@example.com", Role.VIEWER, password=PASSWORD, actor="test")
    with ServerThread(sqlite_url, workers=0, secure_cookies=secure) as server, server.client() as http:
        yield http, accounts
    db.dispose()


def form_token(http: httpx.Client, path: str = "/console/login") -> str:
    page = http.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def log_in(http: httpx.Client, next: str = "/console") -> httpx.Response:
    token = form_token(http)
    data = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": token, "next": next}
    return http.post("/console/login", data=data)


def set_cookie(answer: httpx.Response, name: str) -> tuple[str, set[str]]:
    """The value and the flags of a cookie the answer sets."""
    header = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}=")
    )
    value, *flags = header.split(";")
    return value.split("=", 1)[1], {flag.strip().lower() for flag in flags}


@pytest.mark.parametrize("site", [True], indirect=True)
def test_with_secure_cookies_set_the_session_cookie_is_secure(site: Any) -> None:
    """Behind a proxy that ends TLS: the cookies are Secure though the server sees http (so this client,
    on http, would not send them back: the test does)."""
    http, _ = site
    page = http.get("/console/login")
    form_cookie, flags = set_cookie(page, "lr_form_csrf")
    assert {"httponly", "secure", "samesite=lax", "path=/console"} <= flags
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    data = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": token.group(1)}
    done = http.post("/console/login", data=data, headers={"Cookie": f"lr_form_csrf={form_cookie}"})
    assert done.status_code == 303
    _, flags = set_cookie(done, "lr_session")
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags


def test_the_login_goes_only_to_console_pages_and_the_pages_carry_security_headers(site: Any) -> None:
    http, _ = site
    page = http.get("/console/login")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    css = http.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

    # a page asked for while signed out sends to the login with its filters, and the login back to it
    asked = http.get("/console/log?status=unsold&partner=sunco", follow_redirects=False)
    assert asked.status_code == 303, asked.text
    target = parse_qs(urlsplit(asked.headers["location"]).query)["next"][0]
    assert target == "/console/log?status=unsold&partner=sunco", asked.headers["location"]  # query kept
    done = log_in(http, next="/console/log?status=sold")
    assert done.status_code == 303 and done.headers["location"] == "/console/log?status=sold"
    _, flags = set_cookie(done, "lr_session")
    assert {"httponly", "samesite=lax", "path=/"} <= flags and "secure" not in flags  # plain http
    http.cookies.clear()
    away = log_in(http, next="https://evil.example/console")
    assert away.headers["location"] == "/console"


def test_forms_without_their_token_are_refused(site: Any) -> None:
    http, _ = site
    refused = http.post("/console/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and "The form expired" in refused.text
    http.cookies.clear()
    http.get("/console/login")  # the form's cookie, but a forged field
    forged = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": "forged"}
    assert http.post("/console/login", data=forged).status_code == 403

    http.cookies.clear()
    assert log_in(http).status_code == 303
    session = http.cookies["lr_session"]
    assert http.post("/console/logout", data={"csrf_token": "forged"}).status_code == 403
    assert http.get("/console").status_code == 200  # still logged in
    home = http.get("/console").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', home)
    assert token is not None
    out = http.post("/console/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    http.cookies.clear()
    assert http.get("/console", headers={"Cookie": f"lr_session={session}"}).status_code == 303
    assert http.get("/v1/distributions", headers={"Cookie": f"lr_session={session}"}).status_code == 401


def test_invitations_unknown_used_or_with_a_bad_password(site: Any) -> None:
    http, accounts = site
    assert http.get("/console/invite/made-up").status_code == 404
    _, token = accounts.invite("new@example.com", Role.OPERATOR, actor="test")
    path = f"/console/invite/{token}"
    csrf = form_token(http, path)
    short = http.post(path, data={"csrf_token": csrf, "password": "short", "password_again": "short"})
    assert short.status_code == 422 and "Password must be at least 10 characters." in short.text
    good = {"csrf_token": csrf, "password": "long enough!", "password_again": "long enough!"}
    assert http.post(path, data={**good, "csrf_token": "forged"}).status_code == 403
    done = http.post(path, data=good)
    assert done.status_code == 303 and done.headers["location"] == "/console/login?done=password"
    used = http.get(path)
    assert used.status_code == 410 and "used already" in used.text
    assert http.post(path, data=good).status_code == 410
