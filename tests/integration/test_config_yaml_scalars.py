"""Unquoted values keep their text: `state eq ON` is Ontario, a ZIP prefix `07` is New Jersey, and a
mapping constant `012345` is posted as written (YAML 1.2's core schema, not YAML 1.1's booleans and
octal numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import ROOT, cli

pytestmark = pytest.mark.sqlite_only

RULES = """    rules:
      - name: new-jersey
        when: {field: zip, op: starts_with, value: 07}
        send_to: {partner: inbox-partner}
      - name: ontario
        when: {field: state, op: eq, value: ON}
        send_to: {partner: voltedge}
      - name: west-coast"""


def _lead(tmp_path: Path, name: str, **values: str) -> Path:
    body = {"first_name": "Ada", "last_name": "L", "email": "ada@example.com", "monthly_bill": 180, **values}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def _rule(db_url: str, lead_file: Path) -> str:
    r = cli(
        db_url,
        "simulate",
        "--lead-file",
        str(lead_file),
        "--entity",
        "solar",
        "--source",
        "demo-web",
        "--json",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return str(json.loads(r.stdout)["profiles"][0]["rule"])


def test_unquoted_state_and_zip_values_keep_their_text(db_url: str, tmp_path: Path) -> None:
    demo = (ROOT / "examples" / "demo.yaml").read_text(encoding="utf-8")
    document = demo.replace("    rules:\n      - name: west-coast", RULES, 1)
    assert "new-jersey" in document
    path = tmp_path / "config.yaml"
    path.write_text(document, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path))
    assert r.returncode == 0, r.stdout + r.stderr

    texas = _lead(tmp_path, "tx", phone="(214) 555-1234", zip="75201", state="TX")
    new_jersey = _lead(tmp_path, "nj", phone="(201) 555-1234", zip="07030", state="NJ")
    ontario = _lead(tmp_path, "on", phone="(416) 555-1234", zip="M5V 2T6", state="ON")

    assert _rule(db_url, texas) != "new-jersey"
    assert _rule(db_url, new_jersey) == "new-jersey"
    assert _rule(db_url, ontario) == "ontario"


def test_a_leading_zero_mapping_constant_is_sent_as_written(db_url: str, tmp_path: Path) -> None:
    """A buyer's id written as a constant with a leading zero is that text, not an octal number."""
    demo = (ROOT / "examples" / "demo.yaml").read_text(encoding="utf-8")
    document = demo.replace(
        "        headers: {X-Source: leadrelay}",
        "        headers: {X-Source: leadrelay}\n"
        "        mapping: {campaign_id: 012345, email: '{{ lead.email }}'}",
        1,
    )
    path = tmp_path / "config.yaml"
    path.write_text(document, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    exported = cli(db_url, "export").stdout
    assert "campaign_id: 5349" not in exported
    assert "012345" in exported
