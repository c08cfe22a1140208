"""A ``***`` kept secret stays with the request it was given for: after a failover step is removed from an
exported document, the step that moved up is refused (give its secret again) rather than given the removed
buyer's token; given again, each URL carries its own token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services.configure import SecretKeeper
from leadrelay.services.ports import Tx
from tests.integration.test_cli import cli

SECRET = "0123456789abcdef0123"
DOCUMENT = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      phone: {type: phone, required: true}
sources:
  web: {entities: [solar]}
partners:
  acme:
    channel:
      webhook: {url: "https://primary.example/leads", auth: {bearer: {token: primary-token}}}
    failover:
      - webhook: {url: "https://buyer-a.example/leads", auth: {bearer: {token: token-for-A}}}
      - webhook: {url: "https://buyer-b.example/leads", auth: {bearer: {token: token-for-B}}}
profiles:
  p:
    entity: solar
    default: {partner: acme}
"""


def _tokens_by_url(url: str) -> dict[str, str]:
    db = Database(url)
    try:
        doc = db.read(config_store.load_objects)["partners"]["acme"]

        def opened(tx: Tx) -> dict[str, Any]:
            return SecretKeeper(tx, Sealer(db, SECRET)).opened("partners", "acme", doc)

        partner = SqlStorage(db).transaction(opened)
    finally:
        db.dispose()
    steps = [partner["channel"], *partner["failover"]]
    return {s["webhook"]["url"]: s["webhook"]["auth"]["bearer"]["token"] for s in steps}


@pytest.mark.sqlite_only
def test_a_kept_secret_stays_with_its_request_when_failover_steps_move(db_url: str, tmp_path: Path) -> None:
    first = tmp_path / "config.yaml"
    first.write_text(DOCUMENT, encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(first), LEADRELAY_SECRET_KEY=SECRET)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _tokens_by_url(db_url)["https://buyer-b.example/leads"] == "token-for-B"

    exported = cli(db_url, "export", LEADRELAY_SECRET_KEY=SECRET)
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert document["partners"]["acme"]["failover"][1]["webhook"]["auth"] == {"bearer": {"token": "***"}}
    del document["partners"]["acme"]["failover"][0]  # buyer A is no longer a failover
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(edited), LEADRELAY_SECRET_KEY=SECRET)

    assert r.returncode != 0
    assert "partners.acme.failover[0].webhook.auth.bearer.token" in r.stderr
    assert "give the secret again" in r.stderr
    assert _tokens_by_url(db_url)["https://buyer-b.example/leads"] == "token-for-B"

    document["partners"]["acme"]["failover"][0]["webhook"]["auth"]["bearer"]["token"] = "token-for-B"
    edited.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(edited), LEADRELAY_SECRET_KEY=SECRET)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _tokens_by_url(db_url) == {
        "https://primary.example/leads": "primary-token",
        "https://buyer-b.example/leads": "token-for-B",
    }
