"""Alerts, the pure part: what a rule's reading and last state decide (fire, stay quiet in the cool-down,
remind, resolve, fire again after the cool-down), what each kind measures, and the configuration's
``alerts:`` list (canonical form, export, and bad rules refused with their path)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadrelay.configuration.load import build_specs, dump_yaml, load_yaml_text, validate_document
from leadrelay.domain.alert_checks import Observations, reading
from leadrelay.domain.alerts import (
    Action,
    AlertKind,
    AlertSpec,
    AlertState,
    Memory,
    Reading,
    decide,
)
from leadrelay.domain.health import Result
from leadrelay.errors import ConfigError

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
COOL = 1800.0  # 30 minutes
BAD = Reading(True, "acme: failure rate 100%")
GOOD = Reading(False, "failure rate below 50%")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ---------------------------------------------------------------- decisions


def test_a_breach_fires_and_the_state_remembers_when() -> None:
    decision = decide(BAD, Memory(), COOL, T0)
    assert decision.action is Action.FIRE
    assert decision.memory == Memory(AlertState.FIRING, T0, T0, BAD.detail, 1)


def test_nothing_happens_while_all_is_well() -> None:
    memory = Memory(AlertState.OK, at(-60), at(-90), "old", 4)
    assert decide(GOOD, memory, COOL, T0).action is Action.NOTHING
    assert decide(GOOD, memory, COOL, T0).memory is memory


def test_a_firing_rule_stays_quiet_within_its_cool_down() -> None:
    firing = decide(BAD, Memory(), COOL, T0).memory
    for minutes in (1, 10, 29.9):
        decision = decide(BAD, firing, COOL, at(minutes))
        assert decision.action is Action.NOTHING
        assert decision.memory is firing


def test_a_lasting_breach_is_repeated_once_per_cool_down() -> None:
    firing = decide(BAD, Memory(), COOL, T0).memory
    decision = decide(BAD, firing, COOL, at(30))
    assert decision.action is Action.FIRE
    assert decision.memory.since == T0  # firing since the first message
    assert decision.memory.last_fired_at == at(30)
    assert decision.memory.version == firing.version + 1


def test_a_cleared_condition_resolves() -> None:
    firing = decide(BAD, Memory(), COOL, T0).memory
    decision = decide(GOOD, firing, COOL, at(2))
    assert decision.action is Action.RESOLVE
    assert decision.memory.state is AlertState.OK
    assert decision.memory.since == at(2)
    assert decision.memory.last_fired_at == T0  # the cool-down still counts from the last firing
    assert decision.memory.detail == GOOD.detail


def test_a_flapping_condition_does_not_fire_again_within_the_cool_down_then_does() -> None:
    memory = decide(BAD, Memory(), COOL, T0).memory
    memory = decide(GOOD, memory, COOL, at(5)).memory
    quiet = decide(BAD, memory, COOL, at(10))
    assert quiet.action is Action.NOTHING
    assert quiet.memory.state is AlertState.OK  # nothing was sent, so nothing to resolve later
    assert decide(GOOD, quiet.memory, COOL, at(20)).action is Action.NOTHING
    again = decide(BAD, quiet.memory, COOL, at(30))
    assert again.action is Action.FIRE
    assert again.memory.since == at(30)


@pytest.mark.parametrize(
    ("state", "breached", "last_fired", "expected"),
    [
        (AlertState.OK, True, None, Action.FIRE),
        (AlertState.OK, True, -29, Action.NOTHING),
        (AlertState.OK, True, -30, Action.FIRE),
        (AlertState.OK, False, None, Action.NOTHING),
        (AlertState.FIRING, True, -1, Action.NOTHING),
        (AlertState.FIRING, True, -31, Action.FIRE),
        (AlertState.FIRING, False, -1, Action.RESOLVE),
        (AlertState.FIRING, False, -100, Action.RESOLVE),
    ],
)
def test_decisions_table(
    state: AlertState, breached: bool, last_fired: float | None, expected: Action
) -> None:
    memory = Memory(state, at(-100), at(last_fired) if last_fired is not None else None, None, 3)
    assert decide(Reading(breached, "x"), memory, COOL, T0).action is expected


# ---------------------------------------------------------------- readings


def spec(kind: AlertKind, threshold: Any = None, **extra: Any) -> AlertSpec:
    return AlertSpec("a", kind, threshold, emails=("ops@example.com",), **extra)


def posts(partner: str, results: list[Result], minutes_ago: float = 1, ms: float = 100) -> list[Any]:
    return [(partner, at(-minutes_ago), ms, r) for r in results]


def test_failure_rate_counts_errors_and_timeouts_not_refusals() -> None:
    rule = spec(AlertKind.FAILURE_RATE, 50.0, min_requests=4)
    rows = posts("acme", [Result.ERROR, Result.TIMEOUT, Result.REFUSED, Result.OK])
    got = reading(rule, Observations(T0, posts=rows))
    assert got == Reading(True, "acme: failure rate 50% (2 of 4 posts in 15m) at or above 50%")
    rows = posts("acme", [Result.ERROR, Result.REFUSED, Result.REFUSED, Result.OK])
    assert not reading(rule, Observations(T0, posts=rows)).breached


def test_rates_need_their_minimum_of_requests_and_keep_to_the_window_and_partners() -> None:
    rule = spec(AlertKind.FAILURE_RATE, 50.0, min_requests=3, window_s=600, partners=("acme",))
    few = posts("acme", [Result.ERROR, Result.ERROR])
    assert not reading(rule, Observations(T0, posts=few)).breached
    old = posts("acme", [Result.ERROR] * 5, minutes_ago=11)
    assert not reading(rule, Observations(T0, posts=old)).breached
    other = posts("beta", [Result.ERROR] * 5)
    assert not reading(rule, Observations(T0, posts=other)).breached
    assert reading(rule, Observations(T0, posts=few + posts("acme", [Result.OK]))).breached  # 2 of 3


def test_timeout_rate_counts_posts_and_pings() -> None:
    rule = spec(AlertKind.TIMEOUT_RATE, 40.0, min_requests=5)
    obs = Observations(
        T0,
        posts=posts("acme", [Result.TIMEOUT, Result.OK, Result.ERROR]),
        pings=posts("acme", [Result.TIMEOUT, Result.REFUSED]),
    )
    assert reading(rule, obs).detail == "acme: timeout rate 40% (2 of 5 requests in 15m) at or above 40%"


def test_latency_is_the_p95_above_the_threshold() -> None:
    rule = spec(AlertKind.LATENCY, 800.0, min_requests=20)
    fast = [("acme", at(-1), float(ms), Result.OK) for ms in range(100, 2100, 100)]  # 20 posts
    got = reading(rule, Observations(T0, posts=fast))
    assert got == Reading(True, "acme: p95 latency 1900 ms (20 posts in 15m) above 800 ms")
    assert not reading(
        spec(AlertKind.LATENCY, 1900.0, min_requests=20), Observations(T0, posts=fast)
    ).breached


def test_cap_early_fires_before_the_local_time_and_holds_for_the_day() -> None:
    rule = spec(AlertKind.CAP_EARLY, 100.0, before=time(14, 0))
    # 12:00 UTC is 07:00 in New York: the cap of 50 is used up early
    used_up = Observations(T0, day_caps={"acme": (50, 50, "America/New_York")})
    assert reading(rule, used_up).detail == (
        "acme: 50 of its day cap of 50 used (100%, at or above 100%) before 14:00 America/New_York"
    )
    late = Observations(at(8 * 60), day_caps={"acme": (50, 50, "America/New_York")})  # 15:00 there
    assert not reading(rule, late).breached
    assert reading(rule, late, held={"acme"}).breached  # reached early today: it stays firing
    next_day = Observations(at(20 * 60), day_caps={"acme": (50, 3, "America/New_York")})
    assert not reading(rule, next_day, held={"acme"}).breached
    half = spec(AlertKind.CAP_EARLY, 50.0, before=time(14, 0))
    assert reading(half, Observations(T0, day_caps={"acme": (50, 25, "America/New_York")})).breached


def test_wallet_low_compares_balance_plus_credit() -> None:
    rule = spec(AlertKind.WALLET_LOW, Decimal("100"))
    obs = Observations(
        T0, wallets={"acme": (Decimal("20"), Decimal("50")), "beta": (Decimal("90"), Decimal("10"))}
    )
    assert reading(rule, obs) == Reading(True, "acme: wallet 20 with credit 50 leaves 70, below 100")
    assert not reading(rule, Observations(T0)).breached  # the pending wallet answers nothing


def test_queue_backlog_and_age() -> None:
    assert reading(spec(AlertKind.QUEUE_BACKLOG, 10), Observations(T0, ready_jobs=11)).breached
    assert not reading(spec(AlertKind.QUEUE_BACKLOG, 10), Observations(T0, ready_jobs=10)).breached
    old = Observations(T0, ready_jobs=1, oldest_ready=at(-11))
    assert reading(spec(AlertKind.QUEUE_AGE, 600.0), old) == Reading(
        True, "the oldest ready job has waited 11m, over 10m"
    )
    assert not reading(spec(AlertKind.QUEUE_AGE, 600.0), Observations(T0, oldest_ready=at(-9))).breached
    assert not reading(spec(AlertKind.QUEUE_AGE, 600.0), Observations(T0)).breached


def test_failed_batches_in_the_window() -> None:
    rule = spec(AlertKind.BATCH_FAILED, 1, window_s=86_400)
    obs = Observations(T0, failed_batches=[("acme", "bat_1", at(-60)), ("acme", "bat_0", at(-2000))])
    assert reading(rule, obs) == Reading(True, "1 failed batches cut in 1d (acme: bat_1), at least 1")
    assert not reading(rule, Observations(T0)).breached


def test_circuit_open() -> None:
    rule = spec(AlertKind.CIRCUIT_OPEN)
    obs = Observations(T0, breakers={"acme": "open", "beta": "closed", "gamma": "half_open"})
    assert reading(rule, obs) == Reading(True, "acme: circuit open; gamma: circuit half-open")
    assert not reading(spec(AlertKind.CIRCUIT_OPEN, partners=("beta",)), obs).breached


# ---------------------------------------------------------------- configuration

NOTIFY = {"email": ["ops@example.com"]}
PARTNERS = {"partners": {"acme": {}}}


def test_the_alerts_list_is_stored_by_name_and_exported_as_a_list() -> None:
    document = {
        **PARTNERS,
        "alerts": [
            {
                "name": "acme-failing",
                "kind": "failure_rate",
                "threshold": "20%",
                "partners": ["acme"],
                "notify": {"email": "ops@example.com", "webhook": {"url": "https://hooks.example.com/a"}},
            },
            {
                "name": "backlog",
                "kind": "queue_backlog",
                "threshold": 500,
                "cool_down": "1h",
                "notify": NOTIFY,
            },
            {"name": "stuck", "kind": "queue_age", "threshold": "600s", "notify": NOTIFY},
            {"name": "cap", "kind": "cap_early", "before": "14:00", "notify": NOTIFY},
            {"name": "breakers", "kind": "circuit_open", "notify": NOTIFY},
        ],
    }
    objects = validate_document(document)
    assert objects["alerts"]["acme-failing"] == {
        "kind": "failure_rate",
        "threshold": 20.0,
        "window": "15m",
        "partners": ["acme"],
        "min_requests": 10,
        "before": None,
        "cool_down": "30m",
        "notify": {
            "email": ["ops@example.com"],
            "webhook": {"url": "https://hooks.example.com/a", "secret": None},
        },
    }
    assert objects["alerts"]["stuck"]["threshold"] == "10m"
    assert objects["alerts"]["cap"]["threshold"] == 100.0
    text = dump_yaml(objects)
    assert re.search(r"^alerts:\n- name: acme-failing\n", text, re.MULTILINE)
    assert validate_document(load_yaml_text(text)) == objects
    specs = build_specs(objects).alerts
    assert specs["stuck"].threshold == 600.0
    assert specs["cap"].before == time(14, 0)
    assert specs["acme-failing"].targets() == ["mailto:ops@example.com", "https://hooks.example.com/a"]


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            {"kind": "failure_rat", "threshold": 5},
            "alerts.a.kind",
            "unknown alert kind 'failure_rat'; did you mean 'failure_rate'?",
        ),
        (
            {"kind": "failure_rate"},
            "alerts.a.threshold",
            "required: alert kind 'failure_rate' needs a threshold",
        ),
        ({"kind": "latency", "threshold": "fast"}, "alerts.a.threshold", "must be a number of milliseconds"),
        (
            {"kind": "failure_rate", "threshold": 150},
            "alerts.a.threshold",
            "must be a percentage above 0, at most 100",
        ),
        ({"kind": "queue_age", "threshold": "soon"}, "alerts.a.threshold", "invalid duration 'soon'"),
        (
            {"kind": "circuit_open", "threshold": 3},
            "alerts.a.threshold",
            "alert kind 'circuit_open' takes no threshold",
        ),
        ({"kind": "cap_early"}, "alerts.a.before", "required: the local time"),
        ({"kind": "cap_early", "before": "2pm"}, "alerts.a.before", 'must be a local time "HH:MM"'),
        (
            {"kind": "queue_backlog", "threshold": 5, "partners": ["acme"]},
            "alerts.a.partners",
            "is not about partners",
        ),
        ({"kind": "queue_backlog", "threshold": 5, "window": "5m"}, "alerts.a.window", "has no window"),
        (
            {"kind": "circuit_open", "partners": ["nobody"]},
            "alerts.a.partners[0]",
            "unknown partner 'nobody'",
        ),
        (
            {"kind": "circuit_open", "notify": {"email": ["not-an-email"]}},
            "alerts.a.notify.email[0]",
            "not an email address: 'not-an-email'",
        ),
        (
            {"kind": "circuit_open", "notify": {"webhook": {"url": "ftp://x"}}},
            "alerts.a.notify.webhook.url",
            "must be an http:// or https:// URL",
        ),
        (
            {
                "kind": "circuit_open",
                "notify": {"webhook": {"url": "https://h.example.com/", "secret": "whsec_!"}},
            },
            "alerts.a.notify.webhook",
            "secret: the whsec_ signing secret is not valid base64",
        ),
        ({"kind": "circuit_open", "notify": {}}, "alerts.a.notify", "give 'email: [addresses]' or 'webhook"),
        ({"kind": "circuit_open", "cool_down": "0s"}, "alerts.a.cool_down", "must be more than zero"),
        ({"kind": "circuit_open", "colldown": "1m"}, "alerts.a.colldown", "unknown key"),
    ],
)
def test_bad_rules_are_refused_with_their_path(rule: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_document({**PARTNERS, "alerts": [{"name": "a", "notify": NOTIFY, **rule}]})
    found = {p.path: p.message for p in caught.value.problems}
    assert path in found, found
    assert message in found[path]


@pytest.mark.parametrize(
    ("alerts", "path", "message"),
    [
        ("everything", "alerts", "must be a list of alert rules"),
        ([{"kind": "circuit_open", "notify": NOTIFY}], "alerts[0].name", "required"),
        (
            [{"name": "a", "kind": "circuit_open", "notify": NOTIFY}] * 2,
            "alerts[1].name",
            "duplicate alert name 'a'",
        ),
        ([{"name": "Bad Name", "kind": "circuit_open", "notify": NOTIFY}], "alerts.Bad Name", "invalid name"),
    ],
)
def test_a_bad_alerts_list_is_refused_with_its_path(alerts: Any, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_document({"alerts": alerts})
    found = {p.path: p.message for p in caught.value.problems}
    assert path in found, found
    assert message in found[path]


def test_the_readme_example_applies() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Alerts", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    objects = validate_document(load_yaml_text(example[1]), {"partners": {"acme": {}, "sunco": {}}})
    assert set(objects["alerts"]) >= {"acme-failing", "queue-stuck"}


def test_a_webhook_signing_secret_is_a_secret_of_the_rule() -> None:
    from leadrelay.configuration import secrets

    hook = {"url": "https://hooks.example.com/a", "secret": "whsec_c2VjcmV0"}
    objects = validate_document(
        {"alerts": [{"name": "a", "kind": "circuit_open", "notify": {"webhook": hook}}]}
    )
    doc = objects["alerts"]["a"]
    assert [path for path, _, _ in secrets.secret_places("alerts", doc)] == ["notify.webhook.secret"]
    assert secrets.mask("alerts", doc)["notify"]["webhook"]["secret"] == "***"
    sealed = secrets.seal_all("alerts", "a", doc, lambda text, aad: f"lr1:k1:{text[::-1]}")
    assert sealed == ["notify.webhook.secret"]
    reference = {**hook, "secret": "${ALERT_SECRET}"}
    kept = validate_document(
        {"alerts": [{"name": "a", "kind": "circuit_open", "notify": {"webhook": reference}}]}
    )
    assert secrets.mask("alerts", kept["alerts"]["a"])["notify"]["webhook"]["secret"] == "${ALERT_SECRET}"
