"""Alerts on the command line, on SQLite and PostgreSQL: `leadrelay alerts test NAME` sends a sample to a
rule's targets (a real SMTP server and a webhook on 127.0.0.1) and says where it went or what failed;
`apply` refuses bad rules naming their path; a literal webhook signing secret is sealed, masked on export,
re-applies unchanged and signs. (The checks themselves: ``test_alerts``.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_alerts import SECRET, WebhookSink, _document, sink
from tests.integration.test_cli import cli
from tests.support import Mailbox, base_config, everything_stored, free_port, prepare

__all__ = ["sink"]  # the fixture


def test_alerts_test_sends_a_sample_and_says_where(
    db_url: str,
    mailbox: tuple[Mailbox, int],
    sink: WebhookSink,
    healthy: BuyersThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, port = mailbox
    monkeypatch.setenv("ALERT_SECRET", SECRET)
    document = _document(healthy, healthy, port, sink.url)
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    document["alerts"].append(
        {"name": "dead-hook", "kind": "circuit_open", "notify": {"webhook": {"url": dead}}}
    )
    prepare(db_url, document)

    sent = cli(db_url, "alerts", "test", "sunco-failing")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines() == ["sent to mailto:ops@example.com", f"sent to {sink.url}"]
    (message,) = box.messages
    assert str(message["Subject"]).startswith("[leadrelay] TEST sunco-failing: a test message")
    (payload,) = sink.payloads()
    assert (payload["type"], payload["test"]) == ("alert.test", True)

    broken = cli(db_url, "alerts", "test", "dead-hook")
    assert broken.returncode == 1
    assert f"failed: {dead}: connection error" in " ".join(broken.stderr.split())

    missing = cli(db_url, "alerts", "test", "nobody")
    assert missing.returncode == 1
    assert "no alert named 'nobody'" in missing.stderr

    listed = cli(db_url, "alerts", "list", "--json")
    events = json.loads(listed.stdout)["events"]
    assert [(e["alert"], e["state"], e["error"] is None) for e in events] == [
        ("dead-hook", "test", False),
        ("sunco-failing", "test", True),
    ]
    assert all(rule["state"] == "ok" for rule in json.loads(listed.stdout)["items"])  # a test moves nothing


@pytest.mark.sqlite_only
def test_apply_refuses_bad_rules_naming_the_path(db_url: str, tmp_path: Path, healthy: BuyersThread) -> None:
    document = base_config(healthy.url)
    document["alerts"] = [
        {"name": "typo", "kind": "failure_rat", "threshold": 5, "notify": {"email": ["ops@example.com"]}},
        {"name": "no-threshold", "kind": "latency", "notify": {"email": ["ops@example.com"]}},
        {"name": "bad-mail", "kind": "circuit_open", "notify": {"email": ["ops-at-example.com"]}},
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    applied = cli(db_url, "apply", "-f", str(path))
    assert applied.returncode != 0
    text = " ".join(applied.stderr.split())
    assert "alerts.typo.kind" in text and "did you mean 'failure_rate'" in text
    assert "alerts.no-threshold.threshold" in text and "needs a threshold" in text
    assert "alerts.bad-mail.notify.email[0]" in text and "not an email address" in text
    exported = cli(db_url, "export")
    assert "alerts" not in exported.stdout  # nothing half-applied


@pytest.mark.sqlite_only
def test_a_literal_signing_secret_is_sealed_masked_on_export_and_signs(
    db_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int], sink: WebhookSink, healthy: BuyersThread
) -> None:
    _, port = mailbox
    document = _document(healthy, healthy, port, sink.url)
    document["alerts"][0]["notify"]["webhook"]["secret"] = SECRET  # a literal: stored encrypted
    source = tmp_path / "alerts.yaml"
    source.write_text(yaml.safe_dump(document))
    key = {"LEADRELAY_SECRET_KEY": "a-test-secret-of-enough-length-0018"}
    applied = cli(db_url, "apply", "-f", str(source), **key)
    assert applied.returncode == 0, applied.stderr
    assert SECRET.encode() not in everything_stored(db_url)
    exported = cli(db_url, "export", **key)
    assert exported.returncode == 0, exported.stderr
    assert SECRET not in exported.stdout
    rule = yaml.safe_load(exported.stdout)["alerts"][0]
    assert rule["name"] == "sunco-failing" and rule["notify"]["webhook"]["secret"] == "***"
    again = tmp_path / "exported.yaml"
    again.write_text(exported.stdout)
    reapplied = cli(db_url, "apply", "-f", str(again), **key)
    assert reapplied.returncode == 0, reapplied.stderr
    assert ["alerts", "sunco-failing", "unchanged"] in [
        line.split() for line in reapplied.stdout.splitlines()
    ]
    assert "created" not in reapplied.stdout and "updated" not in reapplied.stdout
    sent = cli(db_url, "alerts", "test", "sunco-failing", **key)
    assert sent.returncode == 0, sent.stderr
    (payload,) = sink.payloads()  # signed with the literal secret, opened to send
    assert payload["type"] == "alert.test"
