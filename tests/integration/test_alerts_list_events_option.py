"""`leadrelay alerts list --events N` takes 0 to 1000, as the API's `GET /v1/alerts?events=` does: a bad
number is a usage error naming the option. (It went to SQL's LIMIT unchecked: a negative one was a traceback
on PostgreSQL and every message ever sent on SQLite; one past 32 bits a traceback on PostgreSQL.) The check
is the option's, before any database: SQLite alone."""

from __future__ import annotations

import pytest

from tests.integration.test_cli import cli
from tests.support import base_config, prepare


@pytest.mark.sqlite_only
@pytest.mark.parametrize("events", ["-1", "10000000000"])
def test_a_bad_events_count_is_refused_naming_the_option(db_url: str, events: str) -> None:
    doc = base_config(lambda name: f"http://127.0.0.1:9/{name}")
    doc["alerts"] = [
        {"name": "q", "kind": "queue_backlog", "threshold": 5, "notify": {"email": ["ops@example.com"]}}
    ]
    prepare(db_url, doc)
    r = cli(db_url, "alerts", "list", "--events", events)
    assert "Traceback" not in r.stderr, r.stderr[-600:]
    assert r.returncode == 2, (r.returncode, r.stdout[-300:], r.stderr[-300:])
    assert "--events" in r.stderr
