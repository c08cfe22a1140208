"""An alert rule is deleted with `DELETE /v1/alerts/NAME` (audited as the other deletes); applying a
document without it leaves it, as apply never deletes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from tests.integration.test_cli import cli, stored
from tests.support import ADMIN, ServerThread, base_config, prepare


def deletions(url: str) -> list[tuple[str, str]]:
    db = Database(url)
    try:
        rows = db.read(lambda c: list(c.execute(select(audit_log).order_by(audit_log.c.id))))
    finally:
        db.dispose()
    return [(row.object_kind, row.object_id) for row in rows if row.action == "config.deleted"]


def nowhere(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


@pytest.mark.sqlite_only
def test_an_alert_rule_can_be_deleted(db_url: str, tmp_path: Path) -> None:
    doc = base_config(nowhere)
    doc["alerts"] = [
        {
            "name": "queue-stuck",
            "kind": "queue_age",
            "threshold": "10m",
            "notify": {"email": ["ops@example.com"]},
        },
        {
            "name": "old-rule",
            "kind": "queue_backlog",
            "threshold": 5,
            "notify": {"email": ["ops@example.com"]},
        },
    ]
    prepare(db_url, doc)
    assert set(stored(db_url)["alerts"]) == {"queue-stuck", "old-rule"}

    # applying the document without the rule leaves it (apply never deletes, as documented)
    doc["alerts"] = doc["alerts"][:1]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(path)).returncode == 0
    assert "old-rule" in stored(db_url)["alerts"]

    with ServerThread(db_url) as s, s.client() as http:
        r = http.delete("/v1/alerts/old-rule", headers=ADMIN)
        assert r.status_code == 200, r.text
        missing = http.delete("/v1/alerts/old-rule", headers=ADMIN)
        assert missing.status_code == 404, missing.text
    assert set(stored(db_url)["alerts"]) == {"queue-stuck"}
    assert deletions(db_url) == [("alerts", "old-rule")]
