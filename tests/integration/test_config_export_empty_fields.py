"""An empty `fields: []` (a channel that carries no lead value) survives `export`: the exported document
re-applies unchanged, not as "every field"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli import changes, cli, stored

DOCUMENT = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      email: {type: email}
      phone: {type: phone, required: true}
partners:
  notify-hook:
    email: ops@example.com
    channel:
      webhook: {url: "https://hooks.example.com/new-lead", fields: []}   # a notice, no personal data
    failover:
      - email: {subject: "A new lead", fields: []}
"""


@pytest.mark.sqlite_only
def test_an_empty_field_list_survives_export_and_apply(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(DOCUMENT, encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(path)).returncode == 0
    before = stored(db_url)
    assert before["partners"]["notify-hook"]["channel"]["webhook"]["fields"] == []

    exported = cli(db_url, "export")
    again = tmp_path / "export.yaml"
    again.write_text(exported.stdout, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(again))
    assert r.returncode == 0, r.stderr
    after = stored(db_url)["partners"]["notify-hook"]
    assert after["channel"]["webhook"]["fields"] == []
    assert after["failover"][0]["email"]["fields"] == []
    assert changes(r.stdout)[("partners", "notify-hook")] == "unchanged"
