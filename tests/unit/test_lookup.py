"""The lookup keys of the console's lead search: one key per person's email or phone however written,
the query read as intake reads values, an email's key never a phone's."""

from __future__ import annotations

import pytest

from leadrelay.domain.dedup import MarkHasher
from leadrelay.domain.fields import normalize_field
from leadrelay.domain.lookup import BadQuery, lead_keys, lookup_key, parse_query, phone_regions
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType
from leadrelay.errors import Unavailable
from tests.documents import lead
from tests.fakes.keys import DEDUP_KEY
from tests.unit.in_memory import Installation, document, run

HASHER = MarkHasher(b"k" * 32)


def entity() -> EntitySpec:
    fields = {
        "email": FieldSpec("email", FieldType("email")),
        "phone": FieldSpec("phone", FieldType("phone")),
        "work_phone": FieldSpec("work_phone", FieldType("phone"), sensitive=True),
        "note": FieldSpec("note", FieldType("string")),
    }
    return EntitySpec("solar", fields)


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("(512) 789-1111", "phone", "+15127891111"),
        ("+1 512 789 1111", "phone", "+15127891111"),
        ("512.789.1111 x12", "phone", "+15127891111"),
        ("5127891111", "phone", "+15127891111"),
        (" Jane.Doe@Example.COM ", "email", "jane.doe@example.com"),
        ("lead_06h3pkg6dzk2dqztr4v7rsd6", None, None),
        ("12345", None, None),  # too few digits for a phone: an id
    ],
)
def test_a_query_is_read_as_intake_reads_values(text: str, kind: str | None, canonical: str | None) -> None:
    query = parse_query(text)
    assert (query.kind, query.canonical) == (kind, canonical)


@pytest.mark.parametrize(
    ("text", "why"),
    [("jane@", "not a valid email"), ("(512) 000-0000", "not a valid phone"), ("  ", "type a lead id")],
)
def test_a_bad_query_says_why(text: str, why: str) -> None:
    with pytest.raises(BadQuery, match=why):
        parse_query(text)


def test_a_lead_is_found_by_the_keys_of_its_normalized_values_whatever_the_query_looked_like() -> None:
    values = {
        "email": normalize_field("email", "Jane.Doe@Example.com").normal,
        "phone": normalize_field("phone", "(512) 789-1111 ext 4").normal,
        "work_phone": normalize_field("phone", "+1 512 789 2222").normal,
        "note": "+15127893333",
    }
    keys = lead_keys(entity(), values, HASHER)
    assert len(keys) == 3  # a text field is not a contact, even when it looks like one
    for text in ("jane.doe@example.com", "512-789-1111", "(512) 789-2222"):
        assert set(parse_query(text).keys(HASHER)) <= keys
    assert not set(parse_query("512 789 3333").keys(HASHER)) & keys
    assert lookup_key("email", "x", HASHER) != lookup_key("phone", "x", HASHER)
    assert lookup_key("phone", "+15127891111", HASHER) != lookup_key(
        "phone", "+15127891111", MarkHasher(b"o" * 32)
    )
    assert lead_keys(entity(), {"email": "", "phone": None}, HASHER) == set()


def test_a_phone_without_its_country_is_read_in_every_region_the_entities_use() -> None:
    uk = EntitySpec("insurance", {"phone": FieldSpec("phone", FieldType("phone"))}, region="GB")
    regions = phone_regions([entity(), uk])
    assert regions == ["US", "GB"]
    assert parse_query("020 7946 0958", regions).canonicals == ("+442079460958",)  # not a US number
    assert parse_query("(512) 789-1111", regions).canonicals == ("+15127891111",)
    assert parse_query("+44 20 7946 0958", regions).canonicals == ("+442079460958",)
    with pytest.raises(BadQuery):  # intake refuses it where only US numbers are taken: no lead has it
        parse_query("+44 20 7946 0958", ["US"])
    assert phone_regions([]) == ["US"]


class _OtherKeyRecorded:
    """``DedupKeys`` after a process with another secret recorded its key: asking for the hasher fails."""

    cached = None

    async def hasher(self) -> MarkHasher:
        raise Unavailable("the dedup marks were made with another LEADRELAY_SECRET_KEY")

    def hasher_sync(self, **_: object) -> MarkHasher:
        raise Unavailable("the dedup marks were made with another LEADRELAY_SECRET_KEY")


def test_intake_writes_a_lead_s_lookup_keys_with_it_and_erasure_removes_them() -> None:
    world = Installation()
    answer = world.accept(lead(email="Jane@Example.com", phone="(512) 789-1111"))
    keys = {r.key_hash for r in world.all("lead_lookup", lead_id=answer.lead_id)}
    hasher = MarkHasher(DEDUP_KEY)
    assert keys == {
        lookup_key("email", "jane@example.com", hasher),
        lookup_key("phone", "+15127891111", hasher),
    }
    run(world.privacy.erase_lead(answer.lead_id, actor="test"))
    assert world.all("lead_lookup", lead_id=answer.lead_id) == []


def test_a_lead_is_taken_without_lookup_keys_when_the_dedup_key_changed_and_nothing_dedups() -> None:
    """The search's keys are not worth refusing a lead for (``leadrelay leads reindex`` adds them later);
    a lead that dedups is still refused, as before."""
    world = Installation()
    world.configs.dedup_keys = _OtherKeyRecorded()  # type: ignore[assignment]
    answer = world.accept(lead(phone="(512) 789-1111"))
    assert answer.status == "queued" and world.all("lead_lookup") == []
    dedups = document()
    dedups["entities"]["solar"]["dedup"] = {"keys": [["phone"]], "window": "1d"}
    world.configure(dedups)
    with pytest.raises(Unavailable, match="another LEADRELAY_SECRET_KEY"):
        world.accept(lead(phone="(512) 789-2222"))
