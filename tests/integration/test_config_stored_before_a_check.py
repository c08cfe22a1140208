"""A check added by an upgrade does not lock an installation out of every change: a stored entity with a
field named ``source`` (valid before that name was refused) does not stop a document that only adds a
source; re-applying the entity itself meets the check."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update

from leadrelay.adapters.db.tables import config_objects
from tests.integration.test_cli import cli

FIRST = """
entities:
  solar:
    fields:
      first_name: {type: string, required: true}
      phone: {type: phone, required: true}
sources:
  web: {}
partners:
  acme:
    channel: {hold: {}}
profiles:
  p: {entity: solar, default: {partner: acme}}
"""
NEW_SOURCE = """
sources:
  affiliate-2: {}
"""


def _store_field_named_source(db_url: str) -> None:
    """What a configuration applied with the previous release holds (a field 'source' was valid then)."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        c = config_objects.c
        where = (c.kind == "entities", c.name == "solar")
        doc = conn.execute(select(c.doc).where(*where)).scalar_one()
        doc = {**doc, "fields": {**doc["fields"], "source": {"type": "string"}}}
        conn.execute(update(config_objects).where(*where).values(doc=doc))
    engine.dispose()


@pytest.mark.sqlite_only
def test_an_unrelated_apply_is_not_refused_for_a_stored_object_valid_before_the_upgrade(
    db_url: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(FIRST, encoding="utf-8")
    second.write_text(NEW_SOURCE, encoding="utf-8")
    assert cli(db_url, "apply", "-f", str(first)).returncode == 0
    _store_field_named_source(db_url)

    r = cli(db_url, "apply", "-f", str(second))
    assert r.returncode == 0, r.stderr
    first.write_text(FIRST.replace("      phone:", "      source: {type: string}\n      phone:"), "utf-8")
    again = cli(db_url, "apply", "-f", str(first))
    assert again.returncode != 0 and "entities.solar.fields.source" in again.stderr, again.stderr
