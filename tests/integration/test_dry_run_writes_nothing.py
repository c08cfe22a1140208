"""`apply --dry-run` of a document with a literal secret writes nothing (it made the installation's first
data key to seal the secret), yet says what would change, and refuses the secret without a key as apply
does."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadrelay.adapters.db.tables import metadata
from tests.integration.test_cli import cli, count

DOCUMENT = """
partners:
  acme:
    channel:
      webhook: {url: "https://buyer.example/leads", auth: {bearer: {token: literal-token}}}
"""


@pytest.mark.sqlite_only
def test_a_dry_run_writes_nothing(db_url: str, tmp_path: Path) -> None:
    data_keys = metadata.tables["data_keys"]
    path = tmp_path / "config.yaml"
    path.write_text(DOCUMENT, encoding="utf-8")
    assert count(db_url, data_keys) == 0
    r = cli(db_url, "apply", "--dry-run", "-f", str(path), LEADRELAY_SECRET_KEY="0123456789abcdef0123")
    assert r.returncode == 0, r.stderr
    assert "created" in r.stdout
    assert "nothing was changed" in r.stdout
    assert count(db_url, data_keys) == 0

    refused = cli(db_url, "apply", "--dry-run", "-f", str(path), LEADRELAY_SECRET_KEY="")
    assert refused.returncode == 2
    assert "partners.acme.channel.webhook.auth.bearer.token" in refused.stderr
    assert "LEADRELAY_SECRET_KEY" in refused.stderr
