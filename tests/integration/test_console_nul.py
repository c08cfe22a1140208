"""A NUL in any of the console's inputs — a form's field, a search box, a filter, a path's id — answers a
4xx or a page, never a 500 (PostgreSQL's text holds no NUL: a value that reaches a query unchecked fails
there). PostgreSQL only; one server, an admin's, a partner's and a source's session walk every console
route once with every input set to NUL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.entrypoints.web import console
from leadrelay.services.users import Accounts
from tests.integration.test_route_access import console_login, walk
from tests.support import ServerThread, base_config, prepare

PASSWORD = "nul walk password"
NUL = "a\x00b"
TEMPLATES = Path(console.__file__).parent / "templates"
# the query parameters the console's pages read (search boxes, filters, cursors)
QUERY = [
    "q", "cursor", "before", "after", "status", "partner", "profile", "source", "lead", "rule", "since",
    "until", "hours", "zone", "limit", "column", "filed", "watch", "done", "lead_id", "next", "saved", "by",
]  # fmt: skip


def field_names() -> list[str]:
    """Every form field the console's templates name."""
    names: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        names.update(re.findall(r'name="([A-Za-z_][\w.\-\[\]]*)"', template.read_text()))
    return sorted(names - {"csrf_token"})


def test_a_nul_in_any_console_input_never_answers_500(pg_url: str) -> None:
    prepare(pg_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(pg_url)
    accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
    tenants = {Role.ADMIN: None, Role.PARTNER: "sunco", Role.SOURCE: "web"}
    for role, tenant in tenants.items():
        accounts.create_user(f"{role}@example.com", role, password=PASSWORD, actor="t", tenant=tenant)
    db.dispose()
    fields = field_names()
    crashed: list[str] = []
    with ServerThread(pg_url, workers=0) as server, server.client() as http:
        http.cookies.clear()
        page = http.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        for email in ("a\x00b@example.com", "\x00", "admin@example.com\x00"):
            data = {"email": email, "password": NUL * 5, "csrf_token": token.group(1), "next": NUL}
            answer = http.post("/console/login", data=data)
            assert answer.status_code in (401, 422), answer.text[:300]
        routes = [
            (method, r.path)
            for r in walk(server.app.routes)
            if r.path.startswith("/console") and not r.path.startswith("/console/static")
            for method in sorted((getattr(r, "methods", None) or {"GET"}) - {"HEAD"})
        ]
        routes.sort(key=lambda c: c[1] == "/console/logout")  # the logout last: it ends the session
        for role in tenants:
            cookie, csrf = console_login(http, f"{role}@example.com", PASSWORD)
            headers = {"Cookie": f"lr_session={cookie}"}
            for method, path in routes:
                url = re.sub(r"\{[^}]+\}", "a%00b", path)
                params = dict.fromkeys(QUERY, NUL)
                data: dict[str, Any] = dict.fromkeys(fields, NUL) | {"csrf_token": csrf}
                try:
                    if method == "GET":
                        answer = http.get(url, params=params, headers=headers)
                    else:
                        answer = http.request(method, url, data=data, headers=headers)
                except httpx.HTTPError as exc:
                    crashed.append(f"{role} {method} {path}: {exc!r}")
                    continue
                if answer.status_code >= 500:
                    crashed.append(f"{role} {method} {path}: {answer.status_code} {answer.text[:200]}")
    assert crashed == [], "\n".join(crashed)
