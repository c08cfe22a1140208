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


def recreated(db_url: str, healthy: BuyersThread, tmp_path: Path, rule: dict[str, Any]) -> None:
    """A queue-backlog rule "ops" fires on two ready jobs and is deleted through the API; ``rule`` is then
    applied under the same name (the CLI)."""
    document = base_config(healthy.url)
    document["alerts"] = [{"name": "ops", "kind": "queue_backlog", "threshold": 0, "notify": NOTIFY}]
    prepare(db_url, document)
    assert [(a, s) for a, s, _ in _check(db_url, queue=2)] == [("ops", "firing")]
    with ServerThread(db_url, workers=0) as s, s.client() as http:
        r = http.delete("/v1/alerts/ops", headers=ADMIN)
        assert r.status_code == 200, r.text
    document["alerts"] = [{"name": "ops", "notify": NOTIFY, **rule}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    applied = cli(db_url, "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr


def test_a_recreated_rule_does_not_resolve_what_it_never_fired_on(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    recreated(db_url, healthy, tmp_path, {"kind": "circuit_open"})  # every breaker closed: nothing to say
    assert _check(db_url, queue=0) == []  # no "resolved" ("every circuit closed")


def test_a_recreated_rule_is_listed_ok_until_it_is_checked(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    recreated(db_url, healthy, tmp_path, {"kind": "queue_age", "threshold": "1s"})
    with ServerThread(db_url, workers=0) as s, s.client() as http:
        (rule,) = http.get("/v1/alerts", headers=ADMIN).json()["items"]
    assert (rule["kind"], rule["state"], rule["detail"]) == ("queue_age", "ok", None), rule


def test_a_recreated_rule_announces_its_own_breach(
    db_url: str, healthy: BuyersThread, tmp_path: Path
) -> None:
    recreated(db_url, healthy, tmp_path, {"kind": "queue_age", "threshold": "1m"})
    # five minutes on: both jobs have waited 5m > 1m, the new rule's condition holds (within the old
    # rule's cool-down of 30m: the inherited firing state kept it silent)
    sent = _check(db_url, queue=0, ahead=timedelta(minutes=5))
    assert [(a, s) for a, s, _ in sent] == [("ops", "firing")]
