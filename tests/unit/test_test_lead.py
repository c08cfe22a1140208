"""The lead a partner test sends: a plausible value per field type, the entity the partner's profiles route,
or the operator's own lead checked against it."""

from __future__ import annotations

import datetime as dt

import pytest

from leadrelay.domain.fields import validate_lead
from leadrelay.domain.fields.sample import build_test_lead, entities_for_partner, sample_lead
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType, ProfileSpec, Target
from leadrelay.errors import FieldProblem, ValidationFailed

TODAY = dt.date(2026, 2, 28)


def entity(name: str = "solar", region: str = "US", **fields: FieldSpec) -> EntitySpec:
    return EntitySpec(name, fields, region=region)


def every_type() -> dict[str, FieldSpec]:
    return {
        t.value: FieldSpec(
            t.value, t, required=True, choices=("shingle", "tile") if t is FieldType.ENUM else ()
        )
        for t in FieldType
    }


@pytest.mark.parametrize("region", ["US", "CA"])
def test_the_sample_lead_has_a_valid_value_in_every_field_of_every_type(region: str) -> None:
    spec = entity(region=region, **every_type())
    raw = sample_lead(spec, TODAY)
    checked = validate_lead(spec, raw, today=TODAY)
    assert checked.problems == []
    assert not any(f.startswith("invalid") for flags in checked.flags.values() for f in flags)
    assert set(checked.values) == {t.value for t in FieldType}
    assert checked.values["enum"] == "shingle"  # the first choice
    assert checked.values["postal_code"] == ("K1A 0B1" if region == "CA" else "78701")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (FieldSpec("first_name", max_length=50), "Test"),
        (FieldSpec("roof_age", FieldType.INTEGER), 100),
        (FieldSpec("consent_url", FieldType.URL), "https://example.com/test"),
        (FieldSpec("nickname", max_length=6), "test n"),  # within max_length
        (FieldSpec("mobile", FieldType.PHONE, region="GB"), "+441212345678"),
        (FieldSpec("dob", FieldType.DOB), "1986-02-01"),
    ],
)
def test_sample_values_by_type_and_name(field: FieldSpec, expected: object) -> None:
    spec = entity(**{field.name: field})
    assert validate_lead(spec, sample_lead(spec, TODAY), today=TODAY).values[field.name] == expected


def profile(name: str, entity_name: str, *partners: str) -> ProfileSpec:
    return ProfileSpec(name, entity_name, default=Target(tuple(partners)))


def test_the_entity_is_the_one_the_partners_profiles_route() -> None:
    entities = {
        "solar": entity("solar", roof=FieldSpec("roof")),
        "auto": entity("auto", make=FieldSpec("make")),
    }
    profiles = [profile("a", "solar", "sunco"), profile("b", "auto", "carco"), profile("c", "auto", "sunco")]
    assert entities_for_partner("sunco", profiles) == ["auto", "solar"]
    assert entities_for_partner("carco", profiles) == ["auto"]
    assert build_test_lead("carco", entities, profiles, TODAY).raw == {"make": "test make"}
    assert build_test_lead("sunco", entities, profiles, TODAY, entity="solar").raw == {"roof": "test roof"}
    with pytest.raises(ValidationFailed) as several:
        build_test_lead("sunco", entities, profiles, TODAY)
    assert several.value.problems == [
        FieldProblem("entity", "partner sunco takes leads of auto, solar: choose one")
    ]
    with pytest.raises(ValidationFailed) as unknown:
        build_test_lead("sunco", entities, profiles, TODAY, entity="boats")
    assert unknown.value.problems == [FieldProblem("entity", "unknown entity 'boats' (auto, solar)")]


def test_a_partner_no_profile_routes_gets_the_only_entity_or_the_generic_lead() -> None:
    only = {"solar": entity("solar", zip=FieldSpec("zip", FieldType.POSTAL_CODE))}
    assert build_test_lead("loner", only, [], TODAY).values == {"zip": "78701"}
    generic = build_test_lead("loner", {}, [], TODAY)
    assert generic.entity is None and generic.entity_name == "_test"
    assert generic.values["email"] == "test@example.com"


def test_a_passed_lead_is_checked_like_a_posted_one_and_a_bad_optional_value_is_refused_too() -> None:
    spec = entity(
        phone=FieldSpec("phone", FieldType.PHONE, required=True),
        email=FieldSpec("email", FieldType.EMAIL),
        roof=FieldSpec("roof", FieldType.ENUM, choices=("shingle", "tile")),
    )
    good = build_test_lead("p", {"solar": spec}, [], TODAY, lead={"phone": "512 555 0199", "roof": "TILE"})
    assert good.values == {"phone": "+15125550199", "roof": "tile"}
    assert good.raw == {"phone": "512 555 0199", "roof": "TILE"}
    with pytest.raises(ValidationFailed) as bad:
        build_test_lead("p", {"solar": spec}, [], TODAY, lead={"email": "nope", "roof": "straw"})
    assert [p.field for p in bad.value.problems] == ["lead.phone", "lead.email", "lead.roof"]
    assert bad.value.problems[0].error == "required"
    assert "lead.email:" in bad.value.detail and bad.value.detail.startswith(
        "the test lead is not a valid solar"
    )
