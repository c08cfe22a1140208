"""The hosted form's pure parts and configuration: form tokens (signed, bound to their form, expiring), the
per-address post window, the ``form:`` of a source and what ``apply`` refuses about it, naming the path;
the input each field type is asked with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from leadrelay.configuration.schema import SourceModel
from leadrelay.configuration.validation import validate_document
from leadrelay.domain.hosted_form import (
    HostedFormSpec,
    PostWindow,
    TokenCheck,
    check_token,
    form_subject,
    offer_subject,
    sign_token,
)
from leadrelay.domain.model import FieldSpec, FieldType
from leadrelay.entrypoints.web.form_inputs import honeypot_name, input_of
from leadrelay.errors import ConfigError

KEY = b"k" * 32
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FORM = form_subject("web", "solar")


@pytest.mark.parametrize(
    ("token", "subject", "at", "expected"),
    [
        (sign_token(KEY, FORM, NOW), FORM, NOW + timedelta(minutes=59), TokenCheck.OK),
        (sign_token(KEY, FORM, NOW), FORM, NOW + timedelta(minutes=61), TokenCheck.EXPIRED),
        (sign_token(KEY, FORM, NOW + timedelta(seconds=30)), FORM, NOW, TokenCheck.OK),  # clock skew
        (sign_token(KEY, FORM, NOW + timedelta(hours=1)), FORM, NOW, TokenCheck.INVALID),  # from the future
        (sign_token(KEY, FORM, NOW), form_subject("web", "roofing"), NOW, TokenCheck.INVALID),
        (sign_token(KEY, FORM, NOW), offer_subject("web", "ofr_1"), NOW, TokenCheck.INVALID),
        (sign_token(b"x" * 32, FORM, NOW), FORM, NOW, TokenCheck.INVALID),  # another installation's
        (sign_token(KEY, FORM, NOW)[:-1] + "A", FORM, NOW, TokenCheck.INVALID),
        ("ft1.1.abc", FORM, NOW, TokenCheck.INVALID),
        (42, FORM, NOW, TokenCheck.INVALID),
        ("", FORM, NOW, TokenCheck.MISSING),
        (None, FORM, NOW, TokenCheck.MISSING),
    ],
)
def test_a_form_token_holds_for_its_form_until_it_expires(
    token: object, subject: str, at: datetime, expected: TokenCheck
) -> None:
    assert check_token(KEY, token, subject, at, 3600.0) is expected


def test_a_token_cannot_be_moved_in_time() -> None:
    token = sign_token(KEY, FORM, NOW)
    _, issued, sig = token.split(".")
    later = f"ft1.{int(issued) + 3600}.{sig}"
    assert check_token(KEY, later, FORM, NOW + timedelta(hours=1, minutes=30), 3600.0) is TokenCheck.INVALID


def test_the_windows_are_aligned_on_the_epoch_so_every_process_agrees() -> None:
    window = PostWindow()
    at = datetime(2026, 12, 3, 12, 41, 17, 500_000, tzinfo=UTC)
    assert window.start(at) == datetime(2026, 12, 3, 12, 41, tzinfo=UTC)
    assert window.start(at.astimezone(timezone(timedelta(hours=5, minutes=30)))) == window.start(at)
    assert window.wait(at) == pytest.approx(42.5)  # until 12:42:00
    assert window.start(datetime(2026, 12, 3, 12, 42, tzinfo=UTC)) == datetime(
        2026, 12, 3, 12, 42, tzinfo=UTC
    )
    assert PostWindow(seconds=300).start(at) == datetime(2026, 12, 3, 12, 40, tzinfo=UTC)


def test_a_sources_form_and_its_defaults() -> None:
    spec = SourceModel.model_validate(
        {"form": {"consent_text": "  I agree\n to be called. ", "sellers": ["SunCo"]}}
    ).to_spec("web")
    assert spec.form == HostedFormSpec("I agree to be called.", ("SunCo",))
    assert spec.form.wait_s == 5.0 and spec.form.max_posts_per_minute == 10 and spec.form.token_ttl_s == 3600
    assert SourceModel.model_validate({}).to_spec("web").form is None


def _doc(form: Any, **entity: Any) -> dict[str, Any]:
    fields = {"email": {"type": "email", "required": True}, "sellers": {"type": "string"}}
    return {
        "entities": {"solar": {"fields": fields, **entity}},
        "sources": {"web": {"entities": ["solar"], "form": form}},
    }


@pytest.mark.parametrize(
    ("form", "entity", "path", "words"),
    [
        ({}, {}, "sources.web.form.consent_text", "required"),
        ({"consent_text": " "}, {}, "sources.web.form.consent_text", "must not be empty"),
        ({"consent_text": "x" * 5001}, {}, "sources.web.form.consent_text", "1 to 5000"),
        ({"consent_text": "ok", "wait": "2m"}, {}, "sources.web.form.wait", ""),
        ({"consent_text": "ok", "max_posts_per_minute": 0}, {}, "sources.web.form.max_posts_per_minute", ""),
        ({"consent_text": "ok", "token_ttl": "2d"}, {}, "sources.web.form.token_ttl", "at most 1d"),
        ({"consent_text": "ok", "captcha": True}, {}, "sources.web.form.captcha", "unknown key"),
        (
            {"consent_text": "ok"},
            {"consent": {"field": "sellers"}},
            "sources.web.form.sellers",
            "entity solar records one-to-one consent (sellers): name the sellers",
        ),
        (
            {"consent_text": "ok", "sellers": ["SunCo"]},
            {"fields": {"cert": {"type": "trustedform_cert_url", "required": True}}},
            "sources.web.form",
            "required field cert (trustedform_cert_url) cannot be collected by the hosted form",
        ),
    ],
)
def test_apply_refuses_a_bad_form_naming_the_path(form: Any, entity: Any, path: str, words: str) -> None:
    doc = _doc(form, **{k: v for k, v in entity.items() if k != "fields"})
    doc["entities"]["solar"]["fields"].update(entity.get("fields", {}))
    with pytest.raises(ConfigError) as caught:
        validate_document(doc)
    found = {p.path: p.message for p in caught.value.problems}
    assert path in found and words in found[path], found


def test_apply_takes_a_form_with_its_sellers_and_a_filled_in_ip_field() -> None:
    doc = _doc({"consent_text": "I agree", "sellers": ["SunCo"]}, consent={"field": "sellers"})
    doc["entities"]["solar"]["fields"]["ip_address"] = {"type": "ip", "required": True}
    objects = validate_document(doc)
    form = objects["sources"]["web"]["form"]
    assert form["consent_text"] == "I agree" and form["sellers"] == ["SunCo"] and form["wait"] == "5s"


@pytest.mark.parametrize(
    ("spec", "html_type", "autocomplete", "options"),
    [
        (FieldSpec("first_name", FieldType.STRING, max_length=50), "text", "given-name", 0),
        (FieldSpec("email", FieldType.EMAIL), "email", "email", 0),
        (FieldSpec("phone", FieldType.PHONE), "tel", "tel", 0),
        (FieldSpec("zip", FieldType.POSTAL_CODE), "text", "postal-code", 0),
        (FieldSpec("state", FieldType.STATE), "select", "address-level1", 69),
        (FieldSpec("dob", FieldType.DOB), "date", "bday", 0),
        (FieldSpec("move_date", FieldType.DATE), "date", None, 0),
        (FieldSpec("call_at", FieldType.DATETIME), "datetime-local", None, 0),
        (FieldSpec("size", FieldType.INTEGER), "number", None, 0),
        (FieldSpec("bill", FieldType.NUMBER), "number", None, 0),
        (FieldSpec("owner", FieldType.BOOLEAN), "select", None, 2),
        (FieldSpec("roof", FieldType.ENUM, choices=("shingle", "tile")), "select", None, 2),
        (FieldSpec("gender", FieldType.GENDER), "select", "sex", 3),
        (FieldSpec("site", FieldType.URL), "url", "url", 0),
    ],
)
def test_each_field_type_has_its_input(
    spec: FieldSpec, html_type: str, autocomplete: str | None, options: int
) -> None:
    shown = input_of(spec)
    assert (shown.html_type, shown.autocomplete, len(shown.options)) == (html_type, autocomplete, options)


def test_the_honeypot_takes_a_name_the_entity_does_not_use() -> None:
    assert honeypot_name({"email"}) == "website"
    assert honeypot_name({"website", "homepage"}) == "company_url"
