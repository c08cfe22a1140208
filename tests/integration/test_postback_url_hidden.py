"""The signed postback URL is the partner's credential: when the partner's mapping places
``{{ postback.url }}``, the recorded attempt's request does not carry it, so neither a viewer's nor an
operator's token (API) nor a viewer's console session reads it there, and none can report an outcome with it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from argon2 import PasswordHasher

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.integration.test_postbacks import SECRET, _detail, document, staff_tokens
from tests.integration.test_postbacks import buyers as buyers
from tests.integration.test_postbacks import sink as sink
from tests.integration.test_route_access import console_login
from tests.support import ServerThread, lead, prepare, source_headers

WAIT = "/v1/leads?wait=15"
PASSWORD = "review viewer password"


@pytest.mark.sqlite_only
def test_a_viewer_does_not_read_the_signed_postback_url_in_the_attempts(
    db_url: str, buyers: Any, sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTBACK_TEST_WHSEC", SECRET)
    prepare(db_url, document(buyers, sink))
    staff = staff_tokens(db_url)
    db = Database(db_url)
    try:
        fast = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        Accounts(SqlStorage(db), fast).create_user(
            "viewer@example.com", Role.VIEWER, password=PASSWORD, actor="test"
        )
    finally:
        db.dispose()
    with ServerThread(db_url, postback_interval=3600) as server, server.client() as http:
        sold = http.post(WAIT, json=lead(), headers=source_headers())
        assert sold.json()["status"] == "delivered", sold.text
        lead_id = sold.json()["lead_id"]
        [body] = [json.loads(r["body"]) for r in buyers.requests("acme")]
        url = body["postback_url"]
        sig = url.split("?sig=")[1]

        leaks = {}
        for role, headers in staff.items():  # the API: operator and viewer admin tokens
            detail = _detail(http, lead_id, headers)
            assert detail["deliveries"][0]["postback_url"] is None  # hidden here ...
            leaks[f"api-{role}"] = sig in json.dumps(detail)  # ... but not in the attempts
        # the console: a viewer's session on the distribution's page
        cookie, _csrf = console_login(http, "viewer@example.com", PASSWORD)
        job_id = _detail(http, lead_id)["id"]
        page = http.get(f"/console/log/{job_id}", headers={"Cookie": f"lr_session={cookie}"})
        assert page.status_code == 200
        leaks["console-viewer"] = sig in page.text
        history = http.get(f"/console/leads/{lead_id}", headers={"Cookie": f"lr_session={cookie}"})
        assert history.status_code == 200
        leaks["console-viewer-lead-page"] = sig in history.text
        http.cookies.clear()

        # what a viewer can do with it: report the buyer's outcome (no credential but the URL)
        seen = re.search(
            r"https?://[^\"\\ ]+\?sig=[A-Za-z0-9_-]+", json.dumps(_detail(http, lead_id, staff["viewer"]))
        )
        if seen is not None:
            forged = http.get(seen.group(0) + "&outcome=returned")
            leaks["viewer-reported-outcome"] = forged.status_code == 200
        assert leaks == {k: False for k in leaks}, leaks
