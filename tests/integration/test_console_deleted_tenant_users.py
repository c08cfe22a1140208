"""A portal user does not outlive its source: deleting the source disables its console users and ends their
sessions (audited), as it revokes its keys. A supplier later set up under the same name is another party:
the old user neither sees its submissions nor mints a key for it, and cannot log in again. SQLite and
PostgreSQL."""

from __future__ import annotations

import re

import httpx

from tests.documents import lead
from tests.integration.test_console_portals import Browser, Portal
from tests.integration.test_console_portals import portal as portal
from tests.support import ADMIN


def test_a_source_portal_user_loses_access_when_its_source_is_deleted(db_url: str, portal: Portal) -> None:
    _, http = portal
    old = Browser(http, "other")  # the portal user of the source "other"
    assert old.get("/console/source/submissions").status_code == 200
    gone = http.delete("/v1/sources/other", headers=ADMIN)
    assert gone.status_code == 200, gone.text
    after = old.get("/console/source/submissions")
    assert after.status_code in (303, 401, 403), after.status_code

    made = http.put("/v1/sources/other", json={"entities": ["solar"]}, headers=ADMIN)  # another supplier
    assert made.status_code in (200, 201), made.text
    key = http.post("/v1/sources/other/keys", json={}, headers=ADMIN).json()["key"]
    posted = http.post(
        "/v1/leads?wait=10",
        json=lead(email="new-supplier@example.com"),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert posted.status_code == 200, posted.text
    seen = old.get("/console/source/submissions")
    assert posted.json()["lead_id"] not in seen.text
    minted = old.post("/console/source/keys")
    assert minted.status_code in (303, 401, 403), minted.status_code
    assert re.search(r"lr_[A-Za-z0-9_\-]{20,}", minted.text) is None
    try:
        Browser(http, "other")
        logged_in = True
    except AssertionError:  # console_login asserts the login's 303
        logged_in = False
    assert not logged_in, "the deleted source's user logged in again"
    audit = http.get("/v1/audit", params={"action": "user.disabled"}, headers=ADMIN).json()
    assert any(e.get("detail", {}).get("why") == "source other deleted" for e in _items(audit)), audit


def _items(page: object) -> list[dict[str, object]]:
    if isinstance(page, dict):
        found = page.get("items") or page.get("entries") or []
        return list(found) if isinstance(found, list) else []
    return list(page) if isinstance(page, list) else []


__all__ = ["httpx"]
