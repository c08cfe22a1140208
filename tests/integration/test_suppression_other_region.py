"""A suppression list takes phone numbers of any country written in international form (+CC…): an entity
of another region (``entities.<name>.region: GB``) normalizes its leads' phones to E.164 (+442079460958)
and checks them against its lists by the SHA-256 of that number, so its do-not-call list can be loaded
as values, through the API (entries and ``check``) and ``leadrelay suppression import`` alike (the
console's upload runs the same import), and the lead with a listed phone is suppressed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, run_cli, source_headers

LISTS = "/v1/suppression-lists"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def _gb_entity(buyers: BuyersThread, *lists: str) -> dict[str, object]:
    config = base_config(buyers.url)
    config["entities"]["solar"]["region"] = "GB"
    config["entities"]["solar"]["suppression"] = list(lists)
    return config


def _suppression(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LEADRELAY_DATABASE_URL": url, "COLUMNS": None, "LINES": None}
    return run_cli(["suppression", *args], env)


def test_an_international_number_listed_through_the_api_suppresses_a_lead_of_its_region(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, base_config(buyers.url))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        r = http.post(LISTS, json={"name": "uk-dnc", "kind": "phone"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        added = http.post(
            f"{LISTS}/uk-dnc/entries",
            json={"values": ["+44 20 7946 0958", "020 7946 0959", "+44 20 79"]},
            headers=ADMIN,
        )
        checked = http.get(f"{LISTS}/uk-dnc/check", params={"value": "+442079460958"}, headers=ADMIN)
        other = http.get(f"{LISTS}/uk-dnc/check", params={"value": "+44 20 7946 0959"}, headers=ADMIN)
    assert added.status_code == 200, added.text
    # a number without its calling code is read as a US number, as before
    assert added.json()["added"] == 1, added.text
    assert added.json()["invalid"] == [
        {"index": 1, "error": "not a valid US number"},
        {"index": 2, "error": "not a valid GB number"},
    ]
    assert checked.status_code == 200 and checked.json()["listed"] is True, checked.text
    assert other.status_code == 200 and other.json()["listed"] is False, other.text

    prepare(db_url, _gb_entity(buyers, "uk-dnc"))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        listed = http.post("/v1/leads", json=lead(phone="020 7946 0958"), headers=source_headers())
        unlisted = http.post(
            "/v1/leads", json=lead(phone="020 7946 0959", email="b@example.com"), headers=source_headers()
        )
    assert listed.status_code == 200, listed.text
    assert listed.json()["status"] == "unsold" and listed.json()["reason"] == "suppressed", listed.text
    assert unlisted.status_code == 202, unlisted.text


def test_an_imported_file_of_international_numbers_suppresses_leads_of_their_region(
    db_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    prepare(db_url, base_config(buyers.url))
    path = tmp_path / "uk-dnc.txt"
    path.write_text("+44 20 7946 0958\n+44 (0)20 7946 0957\n", encoding="utf-8")
    r = _suppression(db_url, "import", str(path), "--list", "uk-dnc", "--kind", "phone")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 added" in " ".join(r.stdout.split()), r.stdout

    prepare(db_url, _gb_entity(buyers, "uk-dnc"))
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        answers = [
            http.post(
                "/v1/leads", json=lead(phone=phone, email=f"{i}@example.com"), headers=source_headers()
            ).json()
            for i, phone in enumerate(["020 7946 0958", "+44 20 7946 0957"])
        ]
    assert [(a["status"], a.get("reason")) for a in answers] == [("unsold", "suppressed")] * 2
