"""The YAML alias budget (``configuration.load``): a document whose aliases expand it into millions of
values ("billion laughs") or into itself is refused with a ``ConfigError`` saying so, before any Python value
is built; a document with a few anchors (and merge keys) loads as before. A simulator draft is parsed
before any transaction is opened (``services.drafts``)."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from leadrelay.configuration import load
from leadrelay.configuration.load import ALIAS_BUDGET, load_yaml_text, validate_document
from leadrelay.errors import ConfigError
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.drafts import draft_config, parse_draft, underneath
from leadrelay.services.simulation import Simulator
from tests.documents import alias_bomb
from tests.fakes import FakeStorage
from tests.unit.in_memory import Installation


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(text)
    [problem] = caught.value.problems
    assert problem.path == ""
    return problem.message


def test_an_alias_bomb_is_refused_naming_the_expansion() -> None:
    text = alias_bomb()
    assert len(text) < 600  # 9 ** 9 values (387 million) from a few hundred bytes
    message = refusal(text)
    assert message.startswith("invalid YAML: the document expands to more than")
    assert "values through aliases" in message and f"at most {ALIAS_BUDGET:,}" in message


def test_a_bomb_of_doubling_anchors_is_refused_too() -> None:
    lines = ["l0: &l0 [1, 2]"] + [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 3000)]
    assert "expands to more than" in refusal("\n".join(lines))


@pytest.mark.parametrize(
    ("text", "where"),
    [("&a [*a]", "line 1, column 1"), ("top:\n  a: &a {b: [1, *a]}\n", "line 2, column 6")],
)
def test_an_alias_inside_its_own_anchor_is_refused(text: str, where: str) -> None:
    message = refusal(text)
    assert f"invalid YAML at {where}: an alias refers to a value it is part of" in message


def test_aliases_are_counted_as_the_values_they_repeat() -> None:
    node = yaml.compose("a: &a [1, 2]\nb: [*a, *a, *a]\n", Loader=load._Loader)
    # written: the mapping, "a", the list and its 2 items, "b", the second list = 7;
    # expanded: the same with the second list's 3 aliases each 3 values (a list of 2) = 7 + 9
    assert load.expansion(node) == (7, 16)


def test_the_budget_is_what_aliases_add_to_the_values_written(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: &a [1, 2]\nb: [*a, *a, *a]\n"
    monkeypatch.setattr(load, "ALIAS_BUDGET", 9)  # 7 written + 9 = 16: just enough
    assert load_yaml_text(text) == {"a": [1, 2], "b": [[1, 2]] * 3}
    monkeypatch.setattr(load, "ALIAS_BUDGET", 8)
    assert "expands to more than 15 values through aliases (it writes 7" in refusal(text)
    many = {f"key{i}": "*" for i in range(200)}  # (a "*" in the text: counted) 401 values written
    monkeypatch.setattr(load, "ALIAS_BUDGET", 0)
    assert load_yaml_text(yaml.safe_dump(many)) == many  # no alias: nothing added, whatever its size


ANCHORED = """
entities:
  solar:
    fields:
      first_name: &name {type: string, required: true, max_length: 50}
      last_name: *name
      phone: {type: phone, required: true}
      zip: {type: postal_code, required: true}
      state: {type: state}
sources:
  web: {entities: [solar]}
partners:
  sunco: &buyer
    channel:
      webhook: {url: "https://buyer.example/sunco", method: POST}
    caps: &caps {day: 50}
    price: 25
  brightpath:
    <<: *buyer
    channel:
      webhook: {url: "https://buyer.example/brightpath", method: POST}
    caps: *caps
profiles:
  solar-main:
    entity: solar
    default: {partners: &both [sunco, brightpath], strategy: priority}
"""


def test_a_configuration_with_a_few_anchors_and_a_merge_key_still_loads() -> None:
    data = load_yaml_text(ANCHORED)
    assert (
        data["entities"]["solar"]["fields"]["last_name"] == data["entities"]["solar"]["fields"]["first_name"]
    )
    assert data["partners"]["brightpath"]["price"] == 25
    assert data["partners"]["brightpath"]["channel"]["webhook"]["url"].endswith("/brightpath")
    objects = validate_document(data)
    assert objects["profiles"]["solar-main"]["default"]["partners"] == ["sunco", "brightpath"]
    assert objects["partners"]["brightpath"]["caps"] == objects["partners"]["sunco"]["caps"]


# ---------------------------------------------------------------- drafts: parsed before the transaction


def test_a_bomb_draft_is_refused_before_any_transaction_opens() -> None:
    storage = FakeStorage()
    simulator = Simulator(storage, ConfigCache(), sealer=None)  # type: ignore[arg-type]  # (not reached)
    with pytest.raises(ConfigError) as caught:
        asyncio.run(simulator.simulate(lead_id="lead_1", draft=alias_bomb()))
    assert "expands to more than" in str(caught.value)
    assert (storage.reads, storage.transactions) == (0, 0)


def test_a_draft_is_checked_and_compiled_after_its_one_read() -> None:
    world = Installation()
    draft = parse_draft("partners:\n  sunco: &p {caps: {day: 7}}\n  voltedge: *p\n")  # no transaction
    reads = world.storage.reads
    live, under = world.storage.read(lambda tx: (world.configs.current(tx), underneath(tx)))
    assert world.storage.reads == reads + 1
    drafted = draft_config(draft, under, live, None)  # pure: no storage
    assert world.storage.reads == reads + 1 and world.storage.transactions == 1  # (the configure)
    assert drafted.specs.partners["voltedge"].caps == drafted.specs.partners["sunco"].caps
    assert drafted.specs.partners["voltedge"].caps != live.specs.partners["voltedge"].caps
    with pytest.raises(ConfigError) as caught:
        draft_config(parse_draft("profiles:\n  solar-main: {entity: nope}\n"), under, live, None)
    assert any(p.path.startswith("profiles.solar-main") for p in caught.value.problems)
