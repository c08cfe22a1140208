"""The hosted form's use case against the fakes: which forms exist, what a post stores (the consent, the
client address and user agent, through intake), what it refuses before anything is stored, the honeypot,
the per-address limit and the form tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leadrelay.domain.hosted_form import TokenCheck, form_subject
from leadrelay.errors import NotFound
from leadrelay.services import hosted_form
from leadrelay.services.hosted_form import FormSetup, HostedForms, forget_old_windows
from leadrelay.services.user_choice import Offers
from tests.fakes.clock import FakeClock
from tests.fakes.keys import FakeDedupKeys
from tests.unit.in_memory import Installation, document, run

CONSENT = "I agree to hear from SunCo Solar."


def form_document(**form: Any) -> dict[str, Any]:
    doc = document(sunco={"aliases": ["SunCo Solar"]})
    solar = doc["entities"]["solar"]
    solar["fields"] |= {
        "consented_sellers": {"type": "string"},
        "household_size": {"type": "integer"},
        "client_ip": {"type": "ip"},
        "cert": {"type": "trustedform_cert_url"},
    }
    solar["consent"] = {"field": "consented_sellers"}
    doc["entities"]["roofing"] = {"fields": {"email": {"type": "email"}}}
    doc["sources"]["web"]["form"] = {
        "consent_text": CONSENT,
        "sellers": ["SunCo Solar"],
        "wait": "0s",
        **form,
    }
    doc["sources"]["closed"] = {"entities": ["solar"]}
    return doc


class World:
    def __init__(self, **form: Any) -> None:
        self.installation = Installation(form_document(**form))
        self.window_clock = FakeClock(datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC))
        i = self.installation
        offers = Offers(i.storage, i.configs, i.notifier, i.sealer, clock=i.clock, ids=i.ids)
        self.forms = HostedForms(
            i.storage,
            i.configs,
            i.intake,
            offers,
            FakeDedupKeys(),
            clock=i.clock,
            window_clock=self.window_clock,
        )

    def admit(self, setup: FormSetup, client: str) -> float | None:
        return run(self.forms.admit(setup, client))

    def setup(self, source: str = "web", entity: str = "solar") -> FormSetup:
        return run(self.forms.setup(source, entity))

    def post(self, values: dict[str, str], *, consented: bool = True, honeypot: str = "") -> Any:
        return run(
            self.forms.submit(
                self.setup(),
                values,
                consented=consented,
                honeypot=honeypot,
                client="203.0.113.7",
                user_agent="Mozilla/5.0",
            )
        )


VALUES = {"first_name": "Ada", "phone": "(512) 555-1212", "zip": "94103", "state": "CA", "_token": "x"}


def test_the_inputs_leave_out_what_the_form_fills_in() -> None:
    setup = World().setup()
    names = [spec.name for spec in setup.inputs]
    assert names == [
        "first_name",
        "last_name",
        "email",
        "phone",
        "zip",
        "state",
        "monthly_bill",
        "household_size",
    ]
    assert setup.ip_field == "client_ip"


@pytest.mark.parametrize(
    ("source", "entity"), [("nobody", "solar"), ("web", "nothing"), ("web", "roofing"), ("closed", "solar")]
)
def test_no_form_for_an_unknown_source_or_entity_or_one_that_did_not_opt_in(source: str, entity: str) -> None:
    with pytest.raises(NotFound):
        World().setup(source, entity)


def test_a_switched_off_form_is_not_found() -> None:
    with pytest.raises(NotFound):
        World(enabled=False).setup()


def test_a_valid_post_goes_through_intake_with_its_consent_address_and_user_agent() -> None:
    world = World()
    done = world.post(VALUES)
    assert done.problems == {} and done.answer is not None and done.answer.status == "queued"
    row = world.installation.one("leads", id=done.answer.lead_id)
    assert (row.source, row.entity) == ("web", "solar")
    assert row.data["client_ip"] == "203.0.113.7" and "ip_address" not in row.data
    assert row.data["user_agent"] == "Mozilla/5.0" and row.data["consent_text"] == CONSENT
    assert row.data["consented_sellers"] == '["SunCo Solar"]'
    assert "_token" not in row.raw


@pytest.mark.parametrize(
    ("values", "consented", "problems"),
    [
        ({**VALUES, "first_name": " "}, True, {"first_name": "required"}),
        ({**VALUES, "household_size": "lots"}, True, {"household_size": "not an integer"}),  # optional
        (
            {**VALUES, "email": "ada@"},
            False,
            {"email": "not a valid email address", "consent": "check the box to agree"},
        ),
    ],
)
def test_a_bad_post_is_answered_per_field_and_nothing_is_stored(
    values: dict[str, str], consented: bool, problems: dict[str, str]
) -> None:
    world = World()
    assert world.post(values, consented=consented).problems == problems
    assert world.installation.all("leads") == []


def test_a_filled_honeypot_stores_nothing_and_is_counted() -> None:
    world = World()
    done = [world.post(VALUES, honeypot="http://spam.example") for _ in range(2)]
    assert all(d.trapped and d.answer is None and not d.problems for d in done)
    assert world.forms.trapped == 2 and world.installation.all("leads") == []


def test_the_limit_counts_posts_per_address_and_source_in_each_window() -> None:
    world = World(max_posts_per_minute=2)
    setup = world.setup()
    assert [world.admit(setup, "203.0.113.7") for _ in range(2)] == [None, None]
    assert world.admit(setup, "203.0.113.7") == pytest.approx(30.0)  # until the next minute
    assert world.admit(setup, "198.51.100.1") is None
    assert [(r.client, r.posts) for r in world.installation.all("form_posts")] == [
        ("203.0.113.7", 2),  # the refused post was not counted
        ("198.51.100.1", 1),
    ]
    world.window_clock.advance(seconds=30)  # the next window: a new count
    assert world.admit(setup, "203.0.113.7") is None
    assert [(r.client, r.posts) for r in world.installation.all("form_posts")] == [
        ("203.0.113.7", 2),  # the previous window's counts are kept (a process a little behind counts there)
        ("198.51.100.1", 1),
        ("203.0.113.7", 1),
    ]
    storage = world.installation.storage
    assert run(forget_old_windows(storage, world.window_clock)) == 0
    world.window_clock.advance(seconds=60)  # two windows on: the first one's counts go
    assert run(forget_old_windows(storage, world.window_clock)) == 2
    assert [(r.client, r.posts) for r in world.installation.all("form_posts")] == [("203.0.113.7", 1)]


def test_old_windows_go_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many addresses posted, the deletion is a series of short transactions."""
    monkeypatch.setattr(hosted_form, "FORGET_CHUNK", 3)
    world = World(max_posts_per_minute=2)
    setup = world.setup()
    for i in range(8):
        assert world.admit(setup, f"203.0.113.{i}") is None
    world.window_clock.advance(seconds=120)
    storage = world.installation.storage
    before = storage.transactions
    assert run(forget_old_windows(storage, world.window_clock)) == 8
    assert world.installation.all("form_posts") == []
    assert storage.transactions - before == 3  # 3 + 3 + 2: a short chunk ends it


def test_a_key_the_database_refused_is_refused_again_without_asking_it() -> None:
    """A flood from one address costs one write per window, not one per post."""
    world = World(max_posts_per_minute=1)
    setup = world.setup()
    assert world.admit(setup, "203.0.113.7") is None
    storage = world.installation.storage
    assert world.admit(setup, "203.0.113.7") == pytest.approx(30.0)  # refused by the stored count
    writes = storage.transactions
    assert [world.admit(setup, "203.0.113.7") for _ in range(50)] == [pytest.approx(30.0)] * 50
    assert storage.transactions == writes  # refused without a transaction
    assert world.admit(setup, "198.51.100.1") is None  # another address asks the database
    assert storage.transactions == writes + 1
    world.window_clock.advance(seconds=30)  # the next window: asked again
    assert world.admit(setup, "203.0.113.7") is None


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    world = World(max_posts_per_minute=2)
    setup = world.setup()
    assert [world.admit(setup, f"2001:db8:5:6::{i}") for i in (1, 2)] == [None, None]
    assert world.admit(setup, "2001:db8:5:6:ffff::9") is not None  # another address, same /64
    assert world.admit(setup, "2001:db8:5:7::1") is None  # the next /64


def test_a_token_holds_for_its_form_for_its_ttl() -> None:
    world = World(token_ttl="10m")
    subject = form_subject("web", "solar")
    token = run(world.forms.token(subject))
    assert run(world.forms.check(subject, token, 600)) is TokenCheck.OK
    assert run(world.forms.check(form_subject("web", "roofing"), token, 600)) is TokenCheck.INVALID
    world.installation.clock.advance(seconds=601)
    assert run(world.forms.check(subject, token, 600)) is TokenCheck.EXPIRED
