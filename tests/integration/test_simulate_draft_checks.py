"""The routing simulator refuses a draft that `apply` refuses because of a stored object it would leave
invalid (a stored profile's rule on the field the draft removes), naming the same path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import ROOT, cli

DRAFT = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true, max_length: 50}
      last_name: {type: string, required: true, max_length: 50}
      email: {type: email, required: true}
      phone: {type: phone, required: true}
      zip: {type: postal_code, required: true}
      monthly_bill: {type: number}
"""


@pytest.mark.sqlite_only
def test_the_simulator_refuses_a_draft_apply_refuses(db_url: str, tmp_path: Path) -> None:
    assert cli(db_url, "apply", "-f", str(ROOT / "examples" / "demo.yaml")).returncode == 0
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT, encoding="utf-8")
    lead = tmp_path / "lead.json"
    lead.write_text(
        json.dumps({"first_name": "Ada", "last_name": "L", "email": "ada@example.com",
                    "phone": "(512) 555-1212", "zip": "94103", "state": "CA", "monthly_bill": 180}),
        encoding="utf-8",
    )  # fmt: skip

    dry = cli(db_url, "apply", "--dry-run", "-f", str(draft))
    assert dry.returncode == 2
    assert "profiles.solar-main.rules[0].when.field" in dry.stderr

    r = cli(db_url, "simulate", "--lead-file", str(lead), "--entity", "solar", "--source", "demo-web",
            "--config", str(draft), "--json")  # fmt: skip
    assert r.returncode != 0, r.stdout[:400]
    assert "profiles.solar-main.rules[0].when.field" in r.stdout + r.stderr
