"""A document of only new objects is refused when a stored object would not stay valid with them (a new
entity's required TrustedForm field that the stored source's hosted form cannot collect), so the stored
configuration stays valid and its export re-applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli import cli, stored

FIRST = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      phone: {type: phone, required: true}
sources:
  web:
    form: {consent_text: "I agree to be contacted."}
partners:
  acme:
    channel: {hold: {}}
profiles:
  p: {entity: solar, default: {partner: acme}}
"""
NEW_ENTITY = """
entities:
  auto:
    fields:
      first_name: {type: string, required: true}
      cert: {type: trustedform_cert_url, required: true}
"""


@pytest.mark.sqlite_only
def test_new_objects_may_not_leave_stored_objects_invalid(db_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(FIRST, encoding="utf-8")
    second.write_text(NEW_ENTITY, encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(first)).returncode == 0
    before = stored(db_url)

    r = cli(db_url, "apply", "-f", str(second))
    exported = cli(db_url, "export")
    again = tmp_path / "export.yaml"
    again.write_text(exported.stdout, encoding="utf-8")
    reapplied = cli(db_url, "apply", "-f", str(again))
    assert reapplied.returncode == 0, reapplied.stderr
    assert r.returncode == 2, r.stdout
    assert "sources.web.form" in r.stderr
    assert stored(db_url) == before
