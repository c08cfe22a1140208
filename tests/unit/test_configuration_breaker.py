"""A partner's ``breaker:`` and ``adaptive_ping_timeout:`` (issue 10, point 10): defaults, ``off``, rates as
percentages or fractions, bad values refused with their path, canonical and round-tripping through export."""

from __future__ import annotations

from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, dump_yaml, load_yaml_text, validate_document
from leadrelay.domain.health import DEFAULT_POLICY, BreakerPolicy
from leadrelay.errors import ConfigError

HOLD = {"hold": {}}


def partner(**extra: Any) -> dict[str, Any]:
    return {"partners": {"acme": {"channel": HOLD} | extra}}


def spec_of(document: dict[str, Any]) -> Any:
    return build_specs(validate_document(document)).partners["acme"]


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        validate_document(document)
    return [(p.path, p.message) for p in caught.value.problems]


def test_a_partner_without_a_breaker_block_has_the_defaults() -> None:
    assert validate_document(partner())["partners"]["acme"]["breaker"] is None
    assert spec_of(partner()).breaker == DEFAULT_POLICY == BreakerPolicy(True, 0.5, 0.5, 300.0, 20, 60.0)
    assert spec_of(partner()).adaptive_ping_margin_ms is None


@pytest.mark.parametrize("off", ["off", False])
def test_breaker_off(off: Any) -> None:
    assert spec_of(partner(breaker=off)).breaker == BreakerPolicy(enabled=False)


def test_yaml_off_is_the_breaker_switched_off() -> None:
    document = load_yaml_text("partners:\n  acme: {channel: {hold: {}}, breaker: off}\n")
    assert spec_of(document).breaker.enabled is False


@pytest.mark.parametrize("on", ["on", True, {}])
def test_breaker_on_is_the_defaults(on: Any) -> None:
    assert spec_of(partner(breaker=on)).breaker == DEFAULT_POLICY


def test_every_setting_is_taken_and_canonical() -> None:
    block = {"error_rate": 0.25, "timeout_rate": "12.5%", "window": 90, "min_requests": 5, "cool_down": "30s"}
    canonical = validate_document(partner(breaker=block))["partners"]["acme"]["breaker"]
    assert canonical == {
        "enabled": True,
        "error_rate": "25%",
        "timeout_rate": "12.5%",
        "window": "90s",
        "min_requests": 5,
        "cool_down": "30s",
    }
    assert spec_of(partner(breaker=block)).breaker == BreakerPolicy(True, 0.25, 0.125, 90.0, 5, 30.0)


@pytest.mark.parametrize("breaker", ["off", {"error_rate": "30%", "cool_down": "2m"}, None])
def test_the_export_applies_to_the_same_objects(breaker: Any) -> None:
    objects = validate_document(partner() if breaker is None else partner(breaker=breaker))
    assert validate_document(load_yaml_text(dump_yaml(objects))) == objects


@pytest.mark.parametrize(
    ("breaker", "path", "message"),
    [
        ("maybe", "partners.acme.breaker", "must be 'off', 'on' or a mapping"),
        (3, "partners.acme.breaker", "must be 'off', 'on' or a mapping"),
        ({"error_rate": "150%"}, "partners.acme.breaker.error_rate", "at most 100%"),
        ({"error_rate": 0}, "partners.acme.breaker.error_rate", "more than 0%"),
        ({"timeout_rate": "half"}, "partners.acme.breaker.timeout_rate", "invalid rate 'half'"),
        ({"timeout_rate": True}, "partners.acme.breaker.timeout_rate", "a rate must be a percentage"),
        ({"window": "0s"}, "partners.acme.breaker.window", "must be more than zero"),
        ({"cool_down": "soon"}, "partners.acme.breaker.cool_down", "invalid duration 'soon'"),
        ({"min_requests": 0}, "partners.acme.breaker.min_requests", "a positive integer"),
        ({"cooldown": "1m"}, "partners.acme.breaker.cooldown", "did you mean 'cool_down'?"),
    ],
)
def test_bad_breaker_values_are_refused_with_their_path(breaker: Any, path: str, message: str) -> None:
    found = problems(partner(breaker=breaker))
    assert [p for p, _ in found] == [path], found
    assert message in found[0][1]


PING = {"url": "https://buyer.example/ping", "fields": ["state"]}
POST = {"webhook": {"url": "https://buyer.example/post"}}


def test_an_adaptive_ping_timeout_takes_its_margin() -> None:
    document = {"partners": {"acme": {"channel": POST, "ping": PING, "adaptive_ping_timeout": {}}}}
    assert spec_of(document).adaptive_ping_margin_ms == 50.0
    document["partners"]["acme"]["adaptive_ping_timeout"] = {"margin": "120ms"}
    assert spec_of(document).adaptive_ping_margin_ms == 120.0


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ({"adaptive_ping_timeout": {"margin": "50ms"}}, "partners.acme.adaptive_ping_timeout", "needs"),
        (
            {"ping": PING, "adaptive_ping_timeout": {"margin": "11s"}},
            "partners.acme.adaptive_ping_timeout.margin",
            "at most 10s",
        ),
        (
            {"ping": PING, "adaptive_ping_timeout": {"margin": 0}},
            "partners.acme.adaptive_ping_timeout.margin",
            "more than zero",
        ),
    ],
)
def test_bad_adaptive_ping_timeouts_are_refused(extra: dict[str, Any], path: str, message: str) -> None:
    found = problems({"partners": {"acme": {"channel": POST} | extra}})
    assert [p for p, _ in found] == [path], found
    assert message in found[0][1]


@pytest.mark.parametrize(
    ("written", "canonical", "rate"),
    [("0.001%", "0.001%", 0.00001), (0.00001, "0.001%", 0.00001), (0.12345, "12.345%", 0.12345)],
)
def test_a_rate_keeps_its_digits_so_the_canonical_form_loads_again(
    written: Any, canonical: str, rate: float
) -> None:
    """Rounded to two decimals, 0.001 % was stored as ``0%``: the next load refused it and the configuration
    in force could not be built (every lead answered 500); 12.345 % became 12.35 %."""
    stored = validate_document(partner(breaker={"error_rate": written}))
    assert stored["partners"]["acme"]["breaker"]["error_rate"] == canonical
    again = validate_document(stored)  # as the configuration in force is built from what was stored
    assert spec_of(again).breaker.error_rate == pytest.approx(rate)
