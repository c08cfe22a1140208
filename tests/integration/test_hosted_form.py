"""The hosted lead form (issue 12, point 8) through the real app over HTTP: the page generated from the
entity's fields (every field type, labels, autocomplete, the consent checkbox and text), a valid post
stored through the same intake as ``POST /v1/leads`` with its consent, client address and user agent (on
SQLite and PostgreSQL), an invalid post answered per field with nothing stored, the honeypot, the rate
limit, refused tokens, unknown forms, and user choice offers selected from the thank-you page.

The pages are read with lxml. An expired token is one signed with the installation's form key (read from
the test's database, as every process derives it) at a time in the past: nothing waits."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import lxml.html
import pytest
from sqlalchemy import select

from leadrelay.adapters.db.tables import leads
from leadrelay.adapters.dedup_keys import DedupKeys
from leadrelay.domain.hosted_form import KEY_LABEL, form_subject, sign_token
from leadrelay.domain.ping_tokens import key_material
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_routing_flow import with_target
from tests.support import ServerThread, base_config, prepare, reader, rows

FORM = "/f/web/solar"
CONSENT = (
    "By checking this box I agree to be contacted by SunCo Solar and BrightPath Energy about solar offers "
    "at the number I gave, including by autodialed calls and texts. Consent is not a condition of purchase."
)
SELLERS = ["SunCo Solar", "BrightPath Energy"]
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
EXTRA_FIELDS = {
    "roof": {"type": "enum", "choices": ["shingle", "tile", "metal"]},
    "homeowner": {"type": "boolean", "required": True},
    "household_size": {"type": "integer"},
    "install_date": {"type": "date"},
    "callback_at": {"type": "datetime"},
    "dob": {"type": "dob"},
    "gender": {"type": "gender"},
    "home_page": {"type": "url"},
    "ip_address": {"type": "ip"},  # filled with the client's address
    "user_agent": {"type": "string"},  # filled with the browser's
    "trustedform": {"type": "trustedform_cert_url"},  # no input: a vendor's script would fill it
    "leadid": {"type": "jornaya_leadid"},
    "consented_sellers": {"type": "string"},  # the one-to-one consent: the form's sellers
}
INPUTS = {  # what each field is asked with: (element, type, autocomplete)
    "first_name": ("input", "text", "given-name"),
    "last_name": ("input", "text", "family-name"),
    "email": ("input", "email", "email"),
    "phone": ("input", "tel", "tel"),
    "zip": ("input", "text", "postal-code"),
    "state": ("select", None, "address-level1"),
    "monthly_bill": ("input", "number", None),
    "roof": ("select", None, None),
    "homeowner": ("select", None, None),
    "household_size": ("input", "number", None),
    "install_date": ("input", "date", None),
    "callback_at": ("input", "datetime-local", None),
    "dob": ("input", "date", "bday"),
    "gender": ("select", None, "sex"),
    "home_page": ("input", "url", "url"),
}


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def form_config(buyers: BuyersThread, **form: Any) -> dict[str, Any]:
    """base_config's solar entity with every field type and one-to-one consent; the ``web`` source shows a
    hosted form, and so does ``shop``; ``closed`` posts solar without one; ``all`` has its form switched
    off; ``roofing`` is an entity ``web`` may not post."""
    doc = base_config(
        buyers.url,
        sunco={"aliases": ["SunCo Solar"]},
        brightpath={"legal_name": "BrightPath Energy LLC"},
    )
    solar = doc["entities"]["solar"]
    solar["fields"].update(copy.deepcopy(EXTRA_FIELDS))
    solar["consent"] = {"field": "consented_sellers"}
    doc["entities"]["roofing"] = {"fields": {"email": {"type": "email"}}}
    doc["sources"]["web"]["form"] = {"consent_text": CONSENT, "sellers": SELLERS, "wait": "10s", **form}
    doc["sources"]["closed"] = {"entities": ["solar"]}
    doc["sources"]["shop"] = {"entities": ["solar"], "form": {"consent_text": "I agree", "sellers": SELLERS}}
    doc["sources"]["all"] = {"form": {"consent_text": "ok", "sellers": SELLERS, "enabled": False}}
    return doc


def page(r: httpx.Response) -> Any:
    return lxml.html.fromstring(r.text)


def token_of(r: httpx.Response) -> str:
    [token] = page(r).xpath("//input[@name='_token']/@value")
    return str(token)


def person(**overrides: str) -> dict[str, str]:
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "(512) 555-1212",
        "zip": "94103",
        "state": "CA",
        "monthly_bill": "180",
        "homeowner": "true",
        "roof": "tile",
        "household_size": "3",
        "install_date": "2026-07-01",
        "callback_at": "2026-06-02T09:30",
        "dob": "1980-12-10",
        "gender": "female",
        "home_page": "https://ada.example.com/",
        "_consent": "yes",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def send(http: httpx.Client, values: dict[str, str], path: str = FORM, **headers: str) -> httpx.Response:
    """Load the form and post it as a browser would (with the page's token)."""
    shown = http.get(path)
    assert shown.status_code == 200, shown.text
    body = {"_token": token_of(shown), "website": "", **values}
    return http.post(path, data=body, headers={"User-Agent": BROWSER, **headers})


def stored(url: str) -> list[Any]:
    return rows(url, select(leads))


@pytest.mark.sqlite_only
def test_the_form_renders_every_field_type_with_labels_and_the_consent(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, form_config(buyers, title="Get your solar quote"))
    with ServerThread(db_url) as server, server.client() as http:
        r = http.get(FORM)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    doc = page(r)
    assert doc.xpath("string(//h1)") == "Get your solar quote"
    assert doc.xpath("//meta[@name='viewport']/@content") == ["width=device-width, initial-scale=1"]
    form = doc.xpath("//form")[0]
    assert (form.get("method"), form.get("action")) == ("post", FORM)
    shown = {
        el.get("name"): el
        for el in form.xpath(".//input | .//select")
        if el.get("type") != "hidden" and el.getparent().get("class") != "hp"
    }
    assert set(shown) == set(INPUTS) | {"_consent"}  # no input for what the form fills in itself
    for name, (tag, html_type, autocomplete) in INPUTS.items():
        el = shown[name]
        assert (el.tag, el.get("type"), el.get("autocomplete")) == (tag, html_type, autocomplete), name
        [label] = doc.xpath(f"//label[@for='{el.get('id')}']")
        assert label.text_content().strip(), name
        assert (el.get("required") is not None) == (name in ("first_name", "phone", "zip", "homeowner"))
    assert shown["first_name"].get("maxlength") == "50"
    assert shown["household_size"].get("step") == "1" and shown["monthly_bill"].get("step") == "any"
    assert shown["roof"].xpath("./option/@value") == ["", "shingle", "tile", "metal"]
    assert shown["homeowner"].xpath("./option/@value") == ["", "true", "false"]
    assert shown["gender"].xpath("./option/@value") == ["", "male", "female", "other"]
    states = shown["state"].xpath("./option/@value")
    assert {"CA", "TX", "DC", "ON"} <= set(states) and len(states) == 70
    assert doc.xpath("//label[@for='f-zip']")[0].text_content().strip().startswith("ZIP code")
    # the consent: a checkbox labelled by the configured text
    consent = shown["_consent"]
    assert consent.get("type") == "checkbox" and consent.get("required") is not None
    assert doc.xpath("string(//label[@for='f-consent'])") == CONSENT
    # the honeypot: hidden from people, with a label like every input; and the signed token
    [trap] = doc.xpath("//div[@class='hp']//input")
    assert trap.get("name") == "website" and trap.get("tabindex") == "-1"
    assert doc.xpath(f"//label[@for='{trap.get('id')}']")
    assert token_of(r).startswith("ft1.")
    # nothing loaded from elsewhere
    assert not doc.xpath("//script | //link | //img | //iframe")


def test_a_valid_post_stores_the_lead_with_its_consent(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, form_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        r = send(http, person())
    assert r.status_code == 200, r.text
    assert page(r).xpath("string(//h1)") == "Thank you"
    [row] = stored(db_url)
    assert (row.source, row.entity) == ("web", "solar")
    assert row.status == "delivered"  # routed as any lead: west-coast, sunco (in the consent)
    assert row.raw["consent_text"] == CONSENT and row.data["consent_text"] == CONSENT
    assert row.raw["consented_sellers"] == SELLERS
    assert row.data["consented_sellers"] == '["SunCo Solar","BrightPath Energy"]'
    assert row.data["ip_address"] == "127.0.0.1" and row.data["user_agent"] == BROWSER
    assert row.data["phone"] == "+15125551212" and row.data["email"] == "ada@example.com"
    assert row.data["homeowner"] is True and row.data["household_size"] == 3
    assert row.data["callback_at"] == "2026-06-02T09:30:00+00:00"
    assert not {"_token", "_consent", "website"} & set(row.raw)
    assert buyers.stats()["buyers"]["sunco"]["accepted"] == 1


def test_a_nul_in_a_field_is_never_a_500(db_url: str, buyers: BuyersThread) -> None:
    """PostgreSQL's text holds no NUL: a NUL in a value or in the client's headers answers a page."""
    prepare(db_url, form_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        answers = [send(http, person(first_name="Ada\x00")), send(http, person(email="a\x00@example.com"))]
    assert [r.status_code < 500 for r in answers] == [True, True], [r.text[:300] for r in answers]


@pytest.mark.sqlite_only
def test_an_invalid_post_is_shown_again_with_a_message_per_field_and_nothing_stored(
    db_url: str, buyers: BuyersThread
) -> None:
    prepare(db_url, form_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        bad = person(first_name="", phone="123", email="ada@", household_size="lots", _consent="")
        r = send(http, bad)
    assert r.status_code == 422, r.text
    doc = page(r)
    assert doc.xpath("//div[@role='alert']")
    expected = {
        "first_name": "required",
        "phone": "not a valid us number",
        "email": "not a valid email address",
        "household_size": "not an integer",
    }
    for name, words in expected.items():
        [el] = doc.xpath(f"//*[@name='{name}']")
        assert el.get("aria-invalid") == "true", name
        [message] = doc.xpath(f"//*[@id='{el.get('aria-describedby')}']")
        assert words in message.text_content().lower(), (name, message.text_content())
    [consent] = doc.xpath("//input[@name='_consent']")
    assert consent.get("checked") is None and consent.get("aria-describedby") == "e-consent"
    assert doc.xpath("string(//*[@id='e-consent'])") == "Check the box to agree"
    # the values are kept, the valid fields unmarked
    assert doc.xpath("//input[@name='email']/@value") == ["ada@"]
    assert doc.xpath("//input[@name='last_name']/@value") == ["Lovelace"]
    assert doc.xpath("//select[@name='roof']/option[@selected]/@value") == ["tile"]
    assert doc.xpath("//input[@name='last_name']/@aria-invalid") == []
    assert token_of(r).startswith("ft1.")  # a fresh token: the corrected form can be sent
    assert stored(db_url) == []


@pytest.mark.sqlite_only
def test_a_filled_honeypot_is_thanked_and_nothing_is_stored(
    db_url: str, buyers: BuyersThread, caplog: pytest.LogCaptureFixture
) -> None:
    prepare(db_url, form_config(buyers))
    with (
        caplog.at_level(logging.WARNING, logger="leadrelay.forms"),
        ServerThread(db_url) as server,
        server.client() as http,
    ):
        r = send(http, person(website="https://cheap-pills.example"))
    assert r.status_code == 200 and page(r).xpath("string(//h1)") == "Thank you"
    assert stored(db_url) == []
    [line] = [rec.getMessage() for rec in caplog.records if "honeypot" in rec.getMessage()]
    assert "web/solar" in line and "nothing stored" in line and "(1 trapped" in line


@pytest.mark.sqlite_only
def test_too_many_posts_from_one_address_are_answered_429(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, form_config(buyers, max_posts_per_minute=2))
    with ServerThread(db_url) as server, server.client() as http:
        answers = [send(http, person(phone="123")) for _ in range(3)]
    assert [r.status_code for r in answers] == [422, 422, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert page(answers[2]).xpath("string(//h1)") == "Too many requests"
    assert stored(db_url) == []


def _expired_token(url: str) -> str:
    hasher = DedupKeys(reader(url), None).hasher_sync()
    key = key_material(hasher(KEY_LABEL))
    return sign_token(key, form_subject("web", "solar"), datetime.now(UTC) - timedelta(hours=2))


@pytest.mark.sqlite_only
def test_a_bad_expired_or_cross_site_post_is_refused_with_a_page(db_url: str, buyers: BuyersThread) -> None:
    prepare(db_url, form_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        good = token_of(http.get(FORM))
        missing = http.post(FORM, data=person())
        altered = http.post(FORM, data={**person(), "_token": good[:-2] + "AA"})
        moved = http.post("/f/shop/solar", data={**person(), "_token": good})  # another form's token
        expired = http.post(FORM, data={**person(), "_token": _expired_token(db_url)})
        cross = http.post(FORM, data={**person(), "_token": good}, headers={"Origin": "https://evil.example"})
        fetch = http.post(FORM, data={**person(), "_token": good}, headers={"Sec-Fetch-Site": "cross-site"})
        huge = http.post(FORM, data={**person(first_name="x" * 70_000), "_token": good})
        same = http.post(FORM, data={**person(), "_token": good}, headers={"Origin": server.url})
    for r in (missing, altered, expired, cross, fetch, moved):
        assert r.status_code == 403, r.text
        assert page(r).xpath("string(//h1)") == "Form not sent"
        assert page(r).xpath("//a/@href") == [str(r.url.path)]  # the way back to a fresh form
    assert "not sent from its page" in missing.text and "changed" in altered.text and "changed" in moved.text
    assert "open too long" in expired.text
    assert "from another site" in cross.text and "from another site" in fetch.text
    assert huge.status_code == 413 and "too large" in huge.text
    assert same.status_code == 200, same.text
    assert len(stored(db_url)) == 1  # only the same-site post


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "path",
    ["/f/nobody/solar", "/f/web/nothing", "/f/web/roofing", "/f/closed/solar", "/f/all/solar"],
)
def test_an_unknown_or_closed_form_is_404(db_url: str, buyers: BuyersThread, path: str) -> None:
    prepare(db_url, form_config(buyers))
    with ServerThread(db_url) as server, server.client() as http:
        shown = http.get(path)
        posted = http.post(path, data=person())
    assert shown.status_code == 404 and posted.status_code == 404
    assert page(shown).xpath("string(//h1)") == "Form not found"


@pytest.mark.sqlite_only
def test_user_choice_offers_are_shown_and_one_is_selected(db_url: str, buyers: BuyersThread) -> None:
    doc = form_config(buyers)
    doc["partners"]["sunco"].update(display_name="SunCo Solar", show_price=True)
    doc["partners"]["brightpath"]["display_name"] = "BrightPath Energy"
    rule = {"partners": ["sunco", "brightpath"], "strategy": "user_choice"}
    prepare(db_url, with_target(doc, "rule", rule))
    with ServerThread(db_url) as server, server.client() as http:
        thanks = send(http, person())
        offers = page(thanks).xpath("//li[@class='offer']")
        by_name = {o.xpath("string(.//h2)"): o for o in offers}
        chosen_form = by_name["BrightPath Energy"].xpath(".//form")[0]
        token = chosen_form.xpath(".//input[@name='_token']/@value")[0]
        forged = http.post(chosen_form.get("action"), data={"_token": "ft1.1.x"})
        chosen = http.post(chosen_form.get("action"), data={"_token": token})
        again = http.post(chosen_form.get("action"), data={"_token": token})
    assert thanks.status_code == 200, thanks.text
    assert list(by_name) == ["SunCo Solar", "BrightPath Energy"]
    assert by_name["SunCo Solar"].xpath("string(.//*[@class='price'])") == "$25.00"
    assert not by_name["BrightPath Energy"].xpath(".//*[@class='price']")
    assert forged.status_code == 403
    assert chosen.status_code == 200, chosen.text
    assert "passed to BrightPath Energy" in page(chosen).xpath("string(//p)")
    assert again.status_code == 409 and page(again).xpath("string(//h1)") == "Already chosen"
    [row] = stored(db_url)
    assert row.data["consent_text"] == CONSENT


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("caps", "status"), [({"day": 1}, 429), ({"total": 1}, 403)])
def test_a_form_past_its_sources_cap_says_so_and_when(
    db_url: str, buyers: BuyersThread, caps: dict[str, int], status: int
) -> None:
    """Past a day cap: 429 with Retry-After until the source's next day, and a page saying when; past a
    total cap: 403, the form closed. (Both were a 503 "try again in a minute": a fault, and a false hint.)"""
    doc = form_config(buyers, wait="0s")
    doc["sources"]["web"]["caps"] = caps
    prepare(db_url, doc)
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        assert send(http, person()).status_code == 200
        over = send(http, person(phone="(512) 555-1313", email="grace@example.com"))
    text = " ".join(page(over).text_content().split())
    assert over.status_code == status, (over.status_code, text[:300])
    if status == 429:
        assert int(over.headers["Retry-After"]) > 60
        assert "This form takes no more requests for now. Try again in " in text, text
    else:
        assert "Retry-After" not in over.headers and "This form takes no more requests." in text, text
    assert len(stored(db_url)) == 1
