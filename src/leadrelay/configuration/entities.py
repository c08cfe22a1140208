"""An entity's document: its fields with their types, its dedup keys, its consent field; the domain spec
each validated model stands for (``to_spec``)."""

from __future__ import annotations

from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from leadrelay.configuration.values import (
    FieldName,
    FieldNames,
    Names,
    PositiveDuration,
    PositiveInt,
    Strict,
    choice,
    parse_duration,
    problem,
    unique,
    unknown,
)
from leadrelay.domain.model import (
    PERSONAL_TYPES,
    ConsentSpec,
    DedupSpec,
    EntitySpec,
    FieldSpec,
    FieldType,
)


def _region(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a two-letter country code such as US or CA")
    regions = phonenumbers.SUPPORTED_REGIONS
    if value.upper() not in regions:
        raise problem(unknown("region", value, sorted(regions)))
    return value.upper()


def _key_sets(value: Any) -> Any:
    """``email`` → ``[[email]]``; ``[email, phone]`` → one key of both fields; ``[[email], [phone]]`` →
    two keys, a duplicate on either."""
    if isinstance(value, str):
        return [[value]]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [value]
    return value


Region = Annotated[str, BeforeValidator(_region)]
KeySets = Annotated[list[Annotated[FieldNames, Field(min_length=1)]], BeforeValidator(_key_sets)]


class DedupModel(Strict):
    """Duplicates by key sets over normalized values within a lookback window."""

    keys: Annotated[KeySets, Field(min_length=1)]
    window: PositiveDuration = "30d"
    scope: Annotated[str, BeforeValidator(choice("dedup scope", ("entity", "global")))] = "entity"

    def to_spec(self) -> DedupSpec:
        return DedupSpec(tuple(tuple(key) for key in self.keys), parse_duration(self.window), self.scope)


class FieldModel(Strict):
    type: Annotated[str, BeforeValidator(choice("field type", [t.value for t in FieldType]))] = "string"
    required: bool = False
    max_length: PositiveInt | None = None
    choices: Annotated[list[str], AfterValidator(unique)] = []
    sensitive: bool = False
    region: Region | None = None  # phone fields: the default country (else the entity's region)
    personal: bool | None = None  # personal data, never in a ping; None: by type, name and sensitive

    @model_validator(mode="after")
    def _coherent(self) -> FieldModel:
        if self.type == FieldType.ENUM and not self.choices:
            raise problem("an enum field needs 'choices', e.g. choices: [shingle, tile]")
        if self.type != FieldType.ENUM and self.choices:
            raise problem("'choices' applies only to enum fields")
        if self.type != FieldType.STRING and self.max_length is not None:
            raise problem("'max_length' applies only to string fields")
        if self.type != FieldType.PHONE and self.region is not None:
            raise problem("'region' applies only to phone fields (set the entity's 'region' for all)")
        if self.personal is False and (self.type in PERSONAL_TYPES or self.sensitive):
            what = "a sensitive field" if self.sensitive else f"a field of type {self.type}"
            raise problem(f"'personal: false' cannot apply: {what} is always personal")
        return self

    def to_spec(self, name: str) -> FieldSpec:
        return FieldSpec(
            name,
            FieldType(self.type),
            self.required,
            self.max_length,
            tuple(self.choices),
            self.sensitive,
            self.region,
            self.personal,
        )


class ConsentModel(Strict):
    """One-to-one consent: the entity's field listing the sellers the consumer agreed to hear from."""

    field: FieldName

    def to_spec(self) -> ConsentSpec:
        return ConsentSpec(self.field)


class EntityModel(Strict):
    fields: Annotated[dict[FieldName, FieldModel], Field(min_length=1)]
    region: Region = "US"  # the default country of phone numbers
    dedup: DedupModel | None = None
    suppression: Names = []  # suppression lists every lead of this entity is checked against
    consent: ConsentModel | None = None  # only partners the lead's consent names get it

    def to_spec(self, name: str) -> EntitySpec:
        return EntitySpec(
            name,
            {key: field.to_spec(key) for key, field in self.fields.items()},
            region=self.region,
            dedup=dedup_spec(self.dedup),
            suppression=tuple(self.suppression),
            consent=self.consent.to_spec() if self.consent is not None else None,
        )


def dedup_spec(model: DedupModel | None) -> DedupSpec | None:
    """The spec of an entity's, a partner's or a profile's ``dedup`` (None when it has none)."""
    return model.to_spec() if model is not None else None
