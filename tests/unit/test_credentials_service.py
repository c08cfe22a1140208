"""API keys of sources and partners through the real credentials service on the fakes: a partner's key is
its own kind (never a source's, even under the same name), listed without the key, revoked once (bumping
the configuration version), dies with its partner's deletion, and every change is audited."""

from __future__ import annotations

import pytest

from leadrelay.errors import Conflict, NotFound
from leadrelay.services import configure, credentials
from tests.unit.in_memory import Installation, document, run


@pytest.fixture
def world() -> Installation:
    doc = document(extra={})  # "extra": a partner no profile names (deletable)
    doc["sources"]["sunco"] = {"entities": ["solar"]}  # a source and a partner of one name
    return Installation(doc)


def actions(world: Installation, object_id: str) -> list[tuple[str, str]]:
    return [(r.action, r.actor) for r in world.storage.rows("audit_log") if r.object_id == object_id]


def test_a_partner_key_is_created_listed_and_revoked_apart_from_a_same_named_sources(
    world: Installation,
) -> None:
    now = world.clock()
    key = credentials.new_partner_key()
    assert key.startswith("lrp_") and credentials.new_source_key().startswith("lr_")
    pid = world.storage.transaction(
        lambda tx: credentials.create_partner_key(tx, "sunco", key, actor="a", now=now)
    )
    sid = world.storage.transaction(
        lambda tx: credentials.create_key(tx, "sunco", "lr_source-sunco-0001", actor="a", now=now)
    )
    again = world.storage.transaction(
        lambda tx: credentials.create_partner_key(tx, "sunco", key, actor="a", now=now)
    )
    assert again == pid != sid

    [listed] = world.storage.read(lambda tx: credentials.list_partner_keys(tx, "sunco"))
    assert listed == {
        "id": pid,
        "partner": "sunco",
        "prefix": key[:8],
        "created_at": now.isoformat(),
        "last_used_at": None,
        "revoked_at": None,
    }
    assert [k["id"] for k in world.storage.read(lambda tx: credentials.list_keys(tx, "sunco"))] == [sid]
    assert world.storage.read(lambda tx: tx.credentials.source_for_key(key)) is None

    version = world.storage.read(lambda tx: tx.config.config_version())
    with pytest.raises(NotFound):  # a partner's key is not the source's to revoke
        world.storage.transaction(lambda tx: credentials.revoke_key(tx, "sunco", pid, actor="a", now=now))
    view = world.storage.transaction(
        lambda tx: credentials.revoke_partner_key(tx, "sunco", pid, actor="a", now=now)
    )
    assert view["revoked_at"] == now.isoformat()
    assert world.storage.read(lambda tx: tx.config.config_version()) == version + 1
    world.storage.transaction(lambda tx: credentials.revoke_partner_key(tx, "sunco", pid, actor="a", now=now))
    assert world.storage.read(lambda tx: tx.config.config_version()) == version + 1  # nothing changed
    with pytest.raises(Conflict):  # a revoked key never comes back, nor becomes another owner's
        world.storage.transaction(
            lambda tx: credentials.create_partner_key(tx, "sunco", key, actor="a", now=now)
        )
    with pytest.raises(Conflict):
        world.storage.transaction(lambda tx: credentials.create_key(tx, "web", key, actor="a", now=now))
    assert actions(world, "sunco").count(("partner.key_created", "a")) == 1
    assert actions(world, "sunco").count(("partner.key_revoked", "a")) == 1
    assert ("source.key_created", "a") in actions(world, "sunco")


def test_an_unknown_partner_has_no_keys(world: Installation) -> None:
    now = world.clock()
    with pytest.raises(NotFound, match="no partner named 'nobody'"):
        world.storage.transaction(
            lambda tx: credentials.create_partner_key(tx, "nobody", "lrp_whatever-key-01", actor="a", now=now)
        )
    with pytest.raises(NotFound, match="no partner named 'web'"):  # a source is not a partner
        world.storage.read(lambda tx: credentials.list_partner_keys(tx, "web"))


def test_deleting_a_partner_revokes_its_keys(world: Installation) -> None:
    now = world.clock()
    kid = world.storage.transaction(
        lambda tx: credentials.create_partner_key(tx, "extra", "lrp_extra-own-key-01", actor="a", now=now)
    )
    run(configure.delete_object(world.storage, "partners", "extra", actor="admin:ops", clock=world.clock))
    [row] = world.storage.read(lambda tx: tx.credentials.list_api_keys("extra", owner_kind="partner"))
    assert row.revoked_at is not None
    [event] = [r for r in world.storage.rows("audit_log") if r.action == "partner.keys_revoked"]
    assert (event.actor, event.object_id, event.detail) == (
        "admin:ops",
        "extra",
        {"key_ids": [kid], "why": "partner deleted"},
    )
