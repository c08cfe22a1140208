"""A rule created under the name of a deleted one starts afresh: the deleted rule's state goes with it. (It
stayed: the new rule started "firing" with the old one's detail, sent a "resolved" for a condition it never
fired on, and its own breach within the old rule's cool-down was never announced.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from leadrelay.bootstrap import build_runtime
from leadrelay.config import Settings
from leadrelay.services.alerts import Alerting
from leadrelay.services.intake_answers import IntakeRequest
from leadrelay.services.ports import Sent
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_cli import cli
from tests.support import ADMIN, ServerThread, base_config, lead, prepare


class _Quiet:
    async def send(self, spec: Any, message: Any) -> list[Any]:
        return [Sent(target) for target in spec.targets()]


NOTIFY = {"email": ["ops@example.com"]}


def _check(db_url: str, queue: int, ahead: timedelta = timedelta(0)) -> list[tuple[str, str, str]]:
    async def go() -> list[tuple[str, str, str]]:
        rt = build_runtime(Settings(database_url=db_url))
        try:
            for _ in range(queue):
                answer = await rt.intake.accept(IntakeRequest("web", "solar", lead(state="CA")))
                assert answer.status == "queued"
            alerts = Alerting(rt.storage, rt.configs, _Quiet(), clock=lambda: datetime.now(UTC) + ahead)
            return [(s.message.alert, s.message.state, s.message.detail) for s in await alerts.check()]
        finally:
            await rt.channels.close()
            rt.db.dispose()

    return asyncio.run(go())


def test_a_recreated_rule_does_not_inherit_the_deleted_rules_state(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    document = base_config(healthy.url)
    document["alerts"] = [{"name": "ops", "kind": "queue_backlog", "threshold": 0, "notify": NOTIFY}]
    prepare(db_url, document)
    fired = _check(db_url, queue=2)  # two jobs ready to run: the old rule fires
    assert [(a, s) for a, s, _ in fired] == [("ops", "firing")]

    with ServerThread(db_url, workers=0) as s, s.client() as http:
        r = http.delete("/v1/alerts/ops", headers=ADMIN)
        assert r.status_code == 200, r.text

    # a new, different rule under the same name: every breaker is closed, so it has nothing to say
    document["alerts"] = [{"name": "ops", "kind": "circuit_open", "notify": NOTIFY}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    applied = cli(db_url, "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr

    # its first check: it never fired, so no "resolved" ("every circuit closed") should go out
    assert _check(db_url, queue=0) == []


def test_a_recreated_rule_announces_its_own_breach(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    document = base_config(healthy.url)
    document["alerts"] = [{"name": "ops", "kind": "queue_backlog", "threshold": 0, "notify": NOTIFY}]
    prepare(db_url, document)
    assert [(a, s) for a, s, _ in _check(db_url, queue=2)] == [("ops", "firing")]

    with ServerThread(db_url, workers=0) as s, s.client() as http:
        assert http.delete("/v1/alerts/ops", headers=ADMIN).status_code == 200

    # re-created as a queue-age rule whose condition holds (jobs waiting since before "now")
    document["alerts"] = [{"name": "ops", "kind": "queue_age", "threshold": "1s", "notify": NOTIFY}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(path)).returncode == 0
    with ServerThread(db_url, workers=0) as s, s.client() as http:
        (rule,) = http.get("/v1/alerts", headers=ADMIN).json()["items"]
    # the new rule was never checked: it is listed ok (it was listed firing, with the old rule's detail)
    assert (rule["kind"], rule["state"], rule["detail"]) == ("queue_age", "ok", None), rule


def test_a_recreated_rule_announces_its_own_breach_after_listing(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    """Same as above without the listing assertion: the breach of the new rule is silent."""
    document = base_config(healthy.url)
    document["alerts"] = [{"name": "ops", "kind": "queue_backlog", "threshold": 0, "notify": NOTIFY}]
    prepare(db_url, document)
    assert [(a, s) for a, s, _ in _check(db_url, queue=2)] == [("ops", "firing")]
    with ServerThread(db_url, workers=0) as s, s.client() as http:
        assert http.delete("/v1/alerts/ops", headers=ADMIN).status_code == 200
    document["alerts"] = [{"name": "ops", "kind": "queue_age", "threshold": "1m", "notify": NOTIFY}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(path)).returncode == 0
    # five minutes on: both jobs have waited 5m > 1m, the new rule's condition holds
    sent = _check(db_url, queue=0, ahead=timedelta(minutes=5))
    assert [(a, s) for a, s, _ in sent] == [("ops", "firing")]
