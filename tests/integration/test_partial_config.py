"""A document (or one object put through the API) that names some objects is refused when the stored
objects it leaves alone would no longer be valid with it: the problems name the stored objects' paths and
nothing is applied, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.services import configure
from tests.integration.test_auction import auction_config
from tests.integration.test_cli import cli, stored
from tests.support import ADMIN, ServerThread, base_config, prepare


def nowhere(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


def test_a_partial_document_may_not_leave_stored_profiles_invalid(db_url: str, tmp_path: Path) -> None:
    """The whole document with `state` dropped is refused (rules use it); so is the same entity alone,
    which would leave the stored profile's rule on a field the entity no longer has."""
    prepare(db_url, base_config(nowhere))
    before = stored(db_url)
    entity = {k: v for k, v in base_config(nowhere)["entities"]["solar"]["fields"].items() if k != "state"}
    path = tmp_path / "entity.yaml"
    path.write_text(yaml.safe_dump({"entities": {"solar": {"fields": entity}}}), encoding="utf-8")
    r = cli(db_url, "apply", "-f", str(path))
    assert r.returncode == 2, r.stdout
    assert "profiles.solar-main.rules[0].when.field" in r.stderr
    assert stored(db_url) == before


def test_put_of_one_partner_may_not_leave_a_stored_auction_invalid(db_url: str) -> None:
    doc = base_config(nowhere)
    doc["profiles"]["solar-main"]["rules"].append(
        {"name": "tx", "when": {"field": "state", "op": "eq", "value": "TX"},
         "send_to": {"partners": ["sunco", "voltedge"], "strategy": "auction"}}
    )  # fmt: skip
    doc["partners"]["voltedge"]["price"] = 9
    prepare(db_url, doc)
    without_price = {k: v for k, v in doc["partners"]["voltedge"].items() if k != "price"}
    with ServerThread(db_url) as s, s.client() as http:
        r = http.put("/v1/partners/voltedge", json=without_price, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert "profiles.solar-main.rules[1].send_to.partners[1]" in r.text


# ------------------------------------------------------------- non-UTF-8 files given to commands


def test_a_stored_waterfall_validates_again_so_export_re_applies_and_deletes_are_not_refused(
    db_url: str,
) -> None:
    """The stored form of a waterfall lists its tiers' partners in ``partners`` too: it was refused when
    validated again, so with a waterfall stored nothing could be deleted and ``export`` did not re-apply."""
    doc = auction_config(nowhere, lambda name: f"http://127.0.0.1:9/{name}/ping")
    doc["profiles"]["solar-main"]["rules"][0]["send_to"] = {
        "strategy": "waterfall",
        "tiers": [{"partners": ["sunco"]}, {"partners": ["voltedge", "brightpath"]}],
    }
    prepare(db_url, doc)
    db = Database(db_url)
    try:
        storage = SqlStorage(db)
        exported = yaml.safe_load(configure.export_yaml(storage))
        changes = configure.apply_document_sync(storage, exported, actor="test")
        assert {change.action for change in changes} == {"unchanged"}
        asyncio.run(configure.delete_object(storage, "sources", "web", actor="test"))
        assert "web" not in storage.read(configure.stored_objects).get("sources", {})
    finally:
        db.dispose()
