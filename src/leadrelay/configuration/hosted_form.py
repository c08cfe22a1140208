"""A source's ``form:`` in the configuration language (issue 12, point 8): the source opts in to the hosted
lead form at ``/f/{source}/{entity}``, and says what its consent checkbox reads.

```yaml
sources:
  demo-web:
    entities: [solar]
    form:
      consent_text: >-                  # shown beside the consent checkbox, stored with every lead
        By checking this box I agree to be contacted by SunCo Solar and BrightPath Energy about solar
        offers at the number I gave, including by autodialed calls and texts. Consent is not a condition
        of purchase.
      sellers: [SunCo Solar, BrightPath Energy]   # the entity's one-to-one consent field gets these
      title: Get your solar quote       # the page's heading (default: the entity's name)
      wait: 5s                          # how long a post waits for the outcome / user choice offers
      max_posts_per_minute: 10          # per client address (one count for every API process)
      token_ttl: 1h                     # how long a page may stay open before it is sent
      enabled: true                     # false: the form answers 404, its settings kept
```

Without ``form:`` the source has no hosted form (404). The checks that need the source's entities (a
one-to-one consent field needs ``sellers``; a required field the form cannot collect) are
:func:`form_problems`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from leadrelay.configuration.values import (
    PositiveDuration,
    Strict,
    Wait,
    parse_duration,
    problem,
    unique,
)
from leadrelay.domain.hosted_form import HostedFormSpec
from leadrelay.domain.model import FieldType

__all__ = ["NOT_ON_THE_FORM", "HostedFormModel", "form_problems"]

MAX_CONSENT_TEXT = 5000
MAX_TOKEN_TTL_S = 86_400.0
NOT_ON_THE_FORM = frozenset({FieldType.IP, FieldType.TRUSTEDFORM_CERT_URL, FieldType.JORNAYA_LEADID})
"""Field types the form has no input for: the client's address is filled in; certificates come from a
vendor's script, which the hosted form does not load."""


def _printable(what: str, limit: int) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise problem("must be a string")
        text = " ".join(value.split())
        if not text:
            raise problem("must not be empty")
        if len(text) > limit or not text.isprintable():
            raise problem(f"{what} must be 1 to {limit} printable characters")
        return text

    return check


def _token_ttl(text: str) -> str:
    if parse_duration(text) > MAX_TOKEN_TTL_S:
        raise problem("must be at most 1d")
    return text


ConsentText = Annotated[str, BeforeValidator(_printable("the consent text", MAX_CONSENT_TEXT))]
Seller = Annotated[str, BeforeValidator(_printable("a seller's name", 200))]
Title = Annotated[str, BeforeValidator(_printable("the title", 200))]


class HostedFormModel(Strict):
    consent_text: ConsentText
    sellers: Annotated[list[Seller], AfterValidator(unique)] = []
    title: Title | None = None
    enabled: bool = True
    wait: Wait = "5s"
    max_posts_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 10
    token_ttl: Annotated[PositiveDuration, AfterValidator(_token_ttl)] = "1h"

    def to_spec(self) -> HostedFormSpec:
        return HostedFormSpec(
            consent_text=self.consent_text,
            sellers=tuple(self.sellers),
            title=self.title,
            enabled=self.enabled,
            wait_s=parse_duration(self.wait),
            max_posts_per_minute=self.max_posts_per_minute,
            token_ttl_s=parse_duration(self.token_ttl),
        )


def form_problems(form: Any, entities: Iterable[tuple[str, Any]], path: str) -> list[tuple[str, str]]:
    """(path, message) of what a valid ``form`` cannot do for the source's entities (name, canonical
    document): an entity with one-to-one consent needs ``sellers`` (the checkbox gives consent to them);
    a required field of a type the form has no input for would refuse every post."""
    if not isinstance(form, Mapping):
        return []
    found: list[tuple[str, str]] = []
    for name, entity in entities:
        if not isinstance(entity, Mapping):
            continue
        consent = entity.get("consent")
        if isinstance(consent, Mapping) and not form.get("sellers"):
            found.append(
                (
                    f"{path}.sellers",
                    f"entity {name} records one-to-one consent ({consent.get('field')}): "
                    "name the sellers the consent text names",
                )
            )
        fields = entity.get("fields")
        for field_name, spec in fields.items() if isinstance(fields, Mapping) else ():
            kind = spec.get("type") if isinstance(spec, Mapping) else None
            if (
                isinstance(kind, str) and spec.get("required") and kind in NOT_ON_THE_FORM
            ):  # others: its own error
                if spec.get("type") == FieldType.IP:
                    continue  # filled with the client's address
                found.append(
                    (
                        path,
                        f"entity {name}'s required field {field_name} ({spec.get('type')}) cannot be "
                        "collected by the hosted form",
                    )
                )
    return found
