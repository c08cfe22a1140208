"""Partner tests with a real lead: made up from the fields of the partner's entity, or the operator's own
(`POST /v1/partners/{name}/test-delivery {"lead": …}`, `leadrelay partners test NAME --lead FILE`), and
delivered by the installation's workers, whose settings every process reads from the same `.env`."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import audit_log, jobs
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ROOT, ServerThread, base_config, leadrelay_cmd, prepare, rows

SECRET = "a-test-secret-key-0123456789"
MAPPING = {
    "applicant.name": "{{ lead.first_name }}",
    "applicant.zip": "{{ lead.zip }}",
    "applicant.bill": {"field": "monthly_bill"},
    "home.roof": "{{ lead.roof }}",
    "home.built": "{{ lead.built }}",
    "home.ssn": "{{ lead.ssn }}",
}


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def config(buyers: BuyersThread, **webhook: Any) -> dict[str, Any]:
    """The solar entity with fields of its own (an enum, a date, a sensitive one), a partner acme whose
    mapping uses them, and a second entity, auto, routed to carco (and, when asked, to acme too)."""
    doc = copy.deepcopy(base_config(buyers.url))
    doc["entities"]["solar"]["fields"].update(
        {
            "roof": {"type": "enum", "choices": ["shingle", "tile", "metal"]},
            "built": {"type": "date"},
            "ssn": {"type": "string", "sensitive": True},
        }
    )
    doc["entities"]["auto"] = {"fields": {"make": {"type": "string", "required": True}}}
    hook = {"url": buyers.url("acme"), "timeout": "5s", "max_attempts": 1, "mapping": MAPPING, **webhook}
    doc["partners"] = {
        "acme": {"channel": {"webhook": hook}},
        "carco": {"channel": {"webhook": {"url": buyers.url("carco"), "timeout": "5s"}}},
    }
    doc["profiles"] = {
        "solar-main": {"entity": "solar", "default": {"partners": ["acme"]}},
        "auto-main": {"entity": "auto", "default": {"partners": ["carco"]}},
    }
    return doc


def send_test(server: ServerThread, body: dict[str, Any] | None = None, partner: str = "acme") -> Any:
    with server.client() as http:
        return http.post(f"/v1/partners/{partner}/test-delivery?wait=20", headers=ADMIN, json=body)


def test_a_mapping_of_the_entitys_own_fields_renders_the_made_up_values_not_nulls(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, config(buyers))
    with ServerThread(db_url, secret_key=SECRET) as server:
        r = send_test(server)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["status"] == "delivered" and shown["kind"] == "test"
    [received] = buyers.leads("acme")
    built = received["body"]["home"].pop("built")
    assert received["body"] == {
        "applicant": {"name": "Test", "zip": "78701", "bill": 150.0},
        "home": {"roof": "shingle", "ssn": "test ssn"},
    }
    assert len(built) == 10 and built[4] == "-"  # today, as an ISO date
    recorded = shown["deliveries"][0]["attempts"][0]["request"]["body"]
    assert "test ssn" not in recorded and "***" in recorded  # the sensitive value is redacted as ever
    [test_job] = rows(db_url, select(jobs.c.kind, jobs.c.lead_id).where(jobs.c.id == shown["id"]))
    assert test_job.kind == "test"


def test_the_operators_lead_is_sent_and_a_bad_one_is_refused_naming_the_field(
    sqlite_url: str, buyers: BuyersThread
) -> None:
    prepare(sqlite_url, config(buyers))
    mine = {"first_name": "Grace", "phone": "512-555-0142", "zip": "73301", "roof": "METAL", "ssn": "078-05"}
    with ServerThread(sqlite_url, secret_key=SECRET) as server:
        good = send_test(server, {"lead": mine})
        bad = send_test(server, {"lead": {"first_name": "Grace", "zip": "nowhere", "roof": "straw"}})
        several = send_test(server, {"entity": "boats"})
        other = send_test(server, {"entity": "auto", "lead": {"make": "Volvo"}}, partner="carco")
    assert good.status_code == 200 and good.json()["status"] == "delivered", good.text
    [received] = buyers.leads("acme")
    assert received["body"]["applicant"] == {"name": "Grace", "zip": "73301", "bill": None}
    assert received["body"]["home"]["roof"] == "metal" and received["body"]["home"]["ssn"] == "078-05"
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "lead.phone", "error": "required"},
        {"field": "lead.zip", "error": "not a valid postal code"},
        {"field": "lead.roof", "error": "must be one of: shingle, tile, metal"},
    ]
    assert several.status_code == 422
    assert several.json()["errors"] == [{"field": "entity", "error": "unknown entity 'boats' (auto, solar)"}]
    assert other.status_code == 200 and other.json()["status"] == "delivered", other.text
    assert buyers.leads("carco")[0]["body"]["make"] == "Volvo"
    audited = rows(
        sqlite_url, select(audit_log.c.detail).where(audit_log.c.action == "partner.test_delivery")
    )
    assert [a.detail for a in audited] == [
        {"partner": "acme", "entity": "solar"},
        {"partner": "carco", "entity": "auto"},
    ]  # the refused ones left nothing behind


def test_a_partner_of_two_entities_needs_one_named(sqlite_url: str, buyers: BuyersThread) -> None:
    doc = config(buyers)
    doc["profiles"]["auto-main"]["default"]["partners"] = ["carco", "acme"]
    prepare(sqlite_url, doc)
    with ServerThread(sqlite_url, secret_key=SECRET) as server:
        unnamed = send_test(server)
        named = send_test(server, {"entity": "solar"})
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"] == [
        {"field": "entity", "error": "partner acme takes leads of auto, solar: choose one"}
    ]
    assert named.status_code == 200 and named.json()["status"] == "delivered", named.text


# ---------------------------------------------------------------- the command line, in its own process


def launch(url: str, *args: str, cwd: Path = ROOT, **env: str) -> subprocess.Popen[str]:
    """A CLI process with a new terminal's environment: no loopback allowance and the default settings file
    (./.env in ``cwd``) unless given."""
    dropped = ("LEADRELAY_ALLOWED_TARGET_NETWORKS", "LEADRELAY_ENV_FILE", "COLUMNS")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update({"LEADRELAY_DATABASE_URL": url, "LEADRELAY_SECRET_KEY": SECRET, **env})
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), clean.get("PYTHONPATH")]))
    return subprocess.Popen(
        leadrelay_cmd(*args), env=clean, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def cli(url: str, *args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return finish(launch(url, *args, cwd=cwd, **env))


def test_the_cli_reads_the_installations_env_file_and_sends_a_lead_from_a_file(
    sqlite_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    """No server runs: the command delivers the test itself, with the settings of the installation's
    `.env` (the loopback allowance the demo buyers need), not only those of its own environment."""
    prepare(sqlite_url, config(buyers))
    (tmp_path / ".env").write_text("LEADRELAY_ALLOWED_TARGET_NETWORKS=127.0.0.0/8\n")
    (tmp_path / "lead.json").write_text(
        json.dumps({"first_name": "Grace", "phone": "5125550142", "zip": "73301"})
    )
    (tmp_path / "bad.json").write_text(json.dumps({"first_name": "Grace", "phone": "123", "zip": "73301"}))
    ok = cli(sqlite_url, "partners", "test", "acme", "--lead", "lead.json", cwd=tmp_path)
    bad = cli(sqlite_url, "partners", "test", "acme", "--lead", "bad.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert json.loads(ok.stdout)["status"] == "delivered"
    assert buyers.leads("acme")[0]["body"]["applicant"]["name"] == "Grace"
    assert bad.returncode == 1
    assert "lead.phone: not a valid US number" in " ".join(bad.stderr.split())


def test_the_cli_leaves_the_test_to_the_running_server_whatever_its_own_settings(
    sqlite_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    """The server allows loopback; this CLI process does not (no `.env`, nothing in its environment). The
    server's workers deliver the test, as they deliver real leads: the answer does not depend on a race
    between the two processes (it was "target 127.0.0.1 is in a private network" most of the time)."""
    prepare(sqlite_url, config(buyers))
    with ServerThread(sqlite_url, secret_key=SECRET, allowed_target_networks="127.0.0.0/8"):
        procs = [
            launch(sqlite_url, "partners", "test", "acme", cwd=tmp_path, LEADRELAY_ENV_FILE="")
            for _ in range(3)
        ]
        results = [finish(proc) for proc in procs]
    for done in results:
        assert done.returncode == 0, done.stderr + done.stdout
        assert json.loads(done.stdout)["status"] == "delivered"
    assert len(buyers.leads("acme")) == 3
