"""Every route of the app × every kind of caller: the answer is allowed, 401 or 403 exactly as the role
table (domain/access.py) says. The app is built once (SQLite); each caller walks all the routes.

A route declares its permission with ``deps.Require`` (the API) or ``console.SignedIn`` (the console's
pages), or is listed in ``app.PUBLIC_PATHS``; a route that does none of these fails here. Callers: admin
tokens of the three staff roles, console sessions of all five roles, a source's and a partner's API key,
and nobody. Then: a partner's session reading another partner's return, and a source's session reading
another source's lead, answer 404 (the partner's side: test_console_tenants.py); an unsafe request on a
session without its CSRF token answers 403."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Permission, Role, allows
from leadrelay.entrypoints.api.app import PUBLIC_PATHS
from leadrelay.entrypoints.api.deps import Require
from leadrelay.entrypoints.web.console import PageNeeds, SignedIn
from leadrelay.services.users import Accounts
from tests.support import ADMIN_TOKEN, SOURCE_KEY, ServerThread, base_config, lead, prepare, source_headers

PASSWORD = "route walk password"
PARTNER_KEY = "lrp_route_walk_partner_key_01"
PORTALS = {Permission.SOURCE_PORTAL, Permission.PARTNER_PORTAL}
PUBLIC, SIGNED_IN = "public", "signed in"
CALLERS = [
    *(("token", role) for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER)),
    *(("session", role) for role in Role),
    ("key", Role.SOURCE),
    ("key", Role.PARTNER),
    ("nobody", None),
]
TENANT = {Role.PARTNER: "sunco", Role.SOURCE: "web"}


def walk(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.130 includes lazily)
            yield from walk(route.original_router.routes)
        else:
            yield route


def declared(route: Any) -> Permission | str | tuple[str, Permission] | None:
    """The permission a route declares (``Require``), ``SIGNED_IN`` (a console page), ``PUBLIC``, or None."""
    if not hasattr(route, "dependant"):  # a plain Starlette route or mount: the docs, the static files
        return PUBLIC if route.path in PUBLIC_PATHS else None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call.permission
        if isinstance(dep.call, PageNeeds):
            return ("page", dep.call.permission)
        if isinstance(dep.call, SignedIn):
            return SIGNED_IN
        stack.extend(dep.dependencies)
    return PUBLIC if route.path in PUBLIC_PATHS else None


def expected(kind: str, role: Role | None, need: Permission | str | tuple[str, Permission]) -> str:
    """ "ok" (neither 401 nor 403, no redirect to the login), "401", "403" or "login" (a page's redirect)."""
    if need == PUBLIC:
        return "ok"
    if need == SIGNED_IN:
        return "ok" if kind == "session" else "login"
    if isinstance(need, tuple):  # a page that needs a permission (console.PageNeeds)
        if kind != "session":
            return "login"
        assert role is not None
        return "ok" if allows(role, need[1]) else "403"
    assert isinstance(need, Permission)
    if kind == "nobody":
        return "401"
    assert role is not None
    if kind == "session":
        return "ok" if allows(role, need) else "403"
    if kind == "token":
        return "401" if need in PORTALS else "ok" if allows(role, need) else "403"
    own = Permission.SOURCE_PORTAL if role == Role.SOURCE else Permission.PARTNER_PORTAL
    return "ok" if need == own else "403" if need in PORTALS else "401"  # a key is no admin token


def url_of(path: str) -> str:
    if path == "/console/static":
        return "/console/static/console.css"
    return re.sub(r"\{[^}]+\}", "x", path)


def console_login(client: httpx.Client, email: str, password: str = PASSWORD) -> tuple[str, str]:
    """Log in through the console's form: (the session cookie, its CSRF token). The client keeps no
    cookie: callers send the session's as a header."""
    client.cookies.clear()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    done = client.post(
        "/console/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    cookie = done.cookies["lr_session"]
    client.cookies.clear()
    home = client.get("/console", headers={"Cookie": f"lr_session={cookie}"})
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
    assert home.status_code == 200 and csrf is not None, home.text
    return cookie, csrf.group(1)


def session_headers(cookie: str, csrf: str) -> dict[str, str]:
    return {"Cookie": f"lr_session={cookie}", "X-CSRF-Token": csrf}


class World:
    def __init__(self, server: ServerThread, client: httpx.Client, url: str) -> None:
        self.routes = list(walk(server.app.routes))
        self.client = client
        self.url = url
        self.sessions: dict[Role, tuple[str, str]] = {}  # role -> (cookie, csrf)

    def login(self, email: str, password: str = PASSWORD) -> tuple[str, str]:
        return console_login(self.client, email, password)

    def headers(self, kind: str, role: Role | None) -> dict[str, str]:
        if kind == "token":
            return {"Authorization": f"Bearer {ADMIN_TOKEN if role == Role.ADMIN else f'lra_walk_{role}'}"}
        if kind == "key":
            return {
                "Authorization": f"Bearer {SOURCE_KEY}-web"
                if role == Role.SOURCE
                else f"Bearer {PARTNER_KEY}"
            }
        if kind == "session":
            assert role is not None
            cookie, csrf = self.login(f"{role.value}@example.com")  # a new session each walk (it logs out)
            return {"Cookie": f"lr_session={cookie}", "X-CSRF-Token": csrf}
        return {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    path = tmp_path_factory.mktemp("walk") / "leadrelay.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    config = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    config["sources"]["affiliate"] = {"entities": ["solar"]}
    prepare(url, config)
    db = Database(url)
    now = datetime.now(UTC)

    def credentials(conn: Any) -> None:
        for role in (Role.OPERATOR, Role.VIEWER):
            config_store.add_admin_token(conn, f"walk-{role}", f"lra_walk_{role}", now, role=role.value)
        config_store.add_api_key(conn, "sunco", PARTNER_KEY, now, owner_kind="partner")

    db.transaction(credentials)
    fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts = Accounts(SqlStorage(db), fast)
    for role in Role:
        accounts.create_user(
            f"{role.value}@example.com", role, password=PASSWORD, actor="test", tenant=TENANT.get(role)
        )
    accounts.create_user(
        "brightpath@example.com", Role.PARTNER, password=PASSWORD, actor="t", tenant="brightpath"
    )
    accounts.create_user(
        "affiliate@example.com", Role.SOURCE, password=PASSWORD, actor="t", tenant="affiliate"
    )
    db.dispose()
    with ServerThread(url, workers=0) as server, server.client() as client:
        yield World(server, client, url)


def test_every_route_declares_what_it_needs(world: World) -> None:
    routes = world.routes
    assert len(routes) > 80
    undeclared = [
        f"{sorted(getattr(r, 'methods', []) or [])} {r.path}" for r in routes if declared(r) is None
    ]
    assert undeclared == []
    paths = {r.path for r in routes}
    assert paths >= PUBLIC_PATHS  # no stale entry


@pytest.mark.parametrize(
    ("kind", "role"), CALLERS, ids=[f"{k}-{r.value if r else 'none'}" for k, r in CALLERS]
)
def test_every_route_answers_each_caller_as_the_role_table_says(
    world: World, kind: str, role: Role | None
) -> None:
    headers = world.headers(kind, role)
    wrong: list[str] = []
    calls = [
        (method, route)
        for route in world.routes
        for method in sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
    ]
    calls.sort(key=lambda c: c[1].path == "/console/logout")  # the logout last: it ends the session
    for method, route in calls:
        need = declared(route)
        assert need is not None
        want = expected(kind, role, need)
        answer = world.client.request(method, url_of(route.path), headers=headers)
        status = answer.status_code
        to_login = status == 303 and answer.headers["location"].startswith("/console/login?next=")
        got = "login" if to_login else str(status) if status in (401, 403) else "ok"
        if need == PUBLIC:  # its own checks may refuse (a postback's signature): anything but a crash
            got = "ok"
        if got != want or status >= 500:
            wrong.append(f"{method} {route.path}: wanted {want}, got {status} {answer.text[:160]}")
    assert wrong == []


def test_a_source_reads_only_its_own_leads_and_sessions_need_their_csrf_token(world: World) -> None:
    posted = world.client.post("/v1/leads", json=lead(), headers=source_headers("web"))
    assert posted.status_code == 202, posted.text
    lead_id = posted.json()["lead_id"]
    web = world.headers("session", Role.SOURCE)
    assert world.client.get(f"/v1/leads/{lead_id}", headers=web).status_code == 200
    cookie, csrf = world.login("affiliate@example.com")
    affiliate = {"Cookie": f"lr_session={cookie}", "X-CSRF-Token": csrf}
    answer = world.client.get(f"/v1/leads/{lead_id}", headers=affiliate)
    assert answer.status_code == 404, answer.text

    admin = world.headers("session", Role.ADMIN)
    forged = {"Cookie": admin["Cookie"], "X-CSRF-Token": "forged"}
    for headers in ({"Cookie": admin["Cookie"]}, forged):
        refused = world.client.post("/v1/distributions/x/rerun", headers=headers)
        assert refused.status_code == 403 and "CSRF token" in refused.json()["detail"]
    assert world.client.post("/v1/distributions/x/rerun", headers=admin).status_code == 404
    assert world.client.get("/v1/distributions", headers={"Cookie": admin["Cookie"]}).status_code == 200


PLAINTEXT_DOWNLOADS = ("/v1/holds.csv", "/v1/batches/{batch_id}/file")  # sensitive values opened


def test_downloads_with_opened_sensitive_values_need_the_privacy_permission(world: World) -> None:
    """A held lead's CSV and a batch's file carry the leads' sealed values in plaintext: admins only."""
    needs = {r.path: declared(r) for r in world.routes if r.path in PLAINTEXT_DOWNLOADS}
    assert needs == dict.fromkeys(PLAINTEXT_DOWNLOADS, Permission.PRIVACY)
    for kind, role in (("token", Role.OPERATOR), ("token", Role.VIEWER), ("session", Role.VIEWER)):
        headers = world.headers(kind, role)
        for path in PLAINTEXT_DOWNLOADS:
            answer = world.client.get(url_of(path), headers=headers)
            assert answer.status_code == 403, (kind, role, path, answer.text)
    assert world.client.get("/v1/holds.csv", headers=world.headers("token", Role.ADMIN)).status_code == 200
