"""The configuration pages over a real server (SQLite): every page renders; a partner's cap edited through
the form shows its YAML diff, then saves through `apply` (export and the audit log have it); an invalid
value comes back next to its field and nothing changes; secrets never appear in a page and a blank secret
keeps the stored one; a viewer cannot save; a form without its CSRF token is refused; the condition
builder's output (JSON in the rule's field) goes through `apply` and back; a partner's test delivery shows
its rendered request and the answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import lxml.html
import pytest
import yaml
from argon2 import PasswordHasher
from sqlalchemy import select

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.tables import audit_log
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.configuration.load import MAX_POSTED_CHARS
from leadrelay.domain.access import Role
from leadrelay.services.users import Accounts
from tests.documents import alias_bomb
from tests.integration.test_routing_flow import ScriptedBuyer
from tests.support import ServerThread, base_config, prepare, rows, run_cli

PASSWORD = "config pages password"
KEY = "a-test-secret-of-enough-length-0012"
SENTINEL = "sentinel-s3cret-7f1c"


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[httpx.Client, str]]:
    prepare(sqlite_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    db = Database(sqlite_url)
    accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
    accounts.create_user("ada@example.com", Role.ADMIN, password=PASSWORD, actor="test")
    accounts.create_user("vic@example.com", Role.VIEWER, password=PASSWORD, actor="test")
    db.dispose()
    with ServerThread(sqlite_url, workers=0, secret_key=KEY) as server, server.client() as http:
        log_in(http, "ada@example.com")
        yield http, sqlite_url


def log_in(http: httpx.Client, email: str) -> None:
    http.cookies.clear()
    page = http.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = http.post(
        "/console/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text


def form_data(html: str, action_end: str) -> dict[str, str]:
    """What a browser would submit of the page's form whose action ends with ``action_end`` (without
    its submit buttons)."""
    tree = lxml.html.fromstring(html)
    form = next(f for f in tree.forms if (f.action or "").endswith(action_end))
    data: dict[str, str] = {}
    for el in form.inputs:
        name = el.get("name")
        if not name or el.tag == "button":
            continue
        if el.tag == "input" and el.get("type") == "checkbox":
            if el.checked:
                data[name] = el.get("value") or "on"
        elif el.tag == "select":
            data[name] = el.value or ""
        elif el.tag == "textarea":
            data[name] = el.text_content()
        else:
            data[name] = el.get("value") or ""
    return data


def export(url: str) -> str:
    done = run_cli(["export"], {"LEADRELAY_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored(url: str, kind: str, name: str) -> dict[str, Any] | None:
    db = Database(url)
    try:
        return db.read(config_store.load_objects).get(kind, {}).get(name)
    finally:
        db.dispose()


def preview(http: httpx.Client, kind: str, data: dict[str, str], source: str = "form") -> httpx.Response:
    return http.post(f"/console/config/{kind}/preview", data={**data, "source": source})


def save(http: httpx.Client, kind: str, page: httpx.Response) -> httpx.Response:
    return http.post(f"/console/config/{kind}/save", data=form_data(page.text, f"/{kind}/save"))


def diff_of(page: httpx.Response) -> tuple[list[str], list[str]]:
    tree = lxml.html.fromstring(page.text)
    added = [el.text_content() for el in tree.cssselect("pre.diff ins")]
    removed = [el.text_content() for el in tree.cssselect("pre.diff del")]
    return added, removed


def test_every_configuration_page_renders_and_the_download_is_the_export(site: Any) -> None:
    http, url = site
    listing = http.get("/console/config")
    assert listing.status_code == 200
    tree = lxml.html.fromstring(listing.text)
    links = {a.get("href") for a in tree.cssselect("a")}
    for path in (
        "/console/config/entities/solar",
        "/console/config/sources/web",
        "/console/config/partners/sunco",
        "/console/config/profiles/solar-main",
        "/console/config/partners/new",
    ):
        assert path in links
        page = http.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        labelled = lxml.html.fromstring(page.text)
        for control in labelled.cssselect("input:not([type=hidden]), select, textarea"):
            has_label = (
                control.get("aria-label")
                or (control.get("id") and labelled.cssselect(f'label[for="{control.get("id")}"]'))
                or control.getparent().tag == "label"
            )
            assert has_label, (path, lxml.html.tostring(control))
    assert "west-coast" in listing.text
    assert "monthly_bill" in http.get("/console/config/partners/brightpath").text
    delete = http.get("/console/config/partners/voltedge/delete")  # still routed to by solar-main
    assert delete.status_code == 409 and "after deleting partners.voltedge" in delete.text
    assert http.get("/console/config/partners/nobody").status_code == 404
    assert http.get("/console/config/widgets/new").status_code == 404
    download = http.get("/console/config/export.yaml")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.text == export(url)


def test_editing_a_partner_cap_shows_the_diff_then_saves_through_apply(site: Any) -> None:
    http, url = site
    form = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    assert form["f.caps.day"] == "" and form["f.timezone"] == "America/Los_Angeles"
    shown = preview(http, "partners", {**form, "f.caps.day": "40"})
    assert shown.status_code == 200, shown.text
    added, removed = diff_of(shown)
    assert "+    caps: {day: 40}" in added and removed == []
    assert "partners <strong>sunco</strong>: updated" in shown.text
    assert "day: 40" not in export(url)  # not saved yet

    done = save(http, "partners", shown)
    assert done.status_code == 303 and "saved=partner+sunco+updated" in done.headers["location"]
    exported = yaml.safe_load(export(url))
    assert exported["partners"]["sunco"]["caps"] == {"day": 40}
    audit = rows(url, select(audit_log).where(audit_log.c.object_id == "sunco"))
    assert [(r.action, r.actor) for r in audit][-1] == ("config.updated", "user:ada@example.com")
    assert http.get(done.headers["location"]).text.count("Saved: partner sunco updated") == 1

    again = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    assert again["f.caps.day"] == "40"
    unchanged = preview(http, "partners", again)
    assert "Nothing changes." in unchanged.text


def test_an_invalid_value_comes_back_next_to_its_field_and_nothing_changes(site: Any) -> None:
    http, url = site
    before = export(url)
    form = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    refused = preview(http, "partners", {**form, "f.caps.day": "-3", "f.channel.webhook.url": "ftp://x"})
    assert refused.status_code == 422
    tree = lxml.html.fromstring(refused.text)
    cap = tree.get_element_by_id("f-caps-day")
    assert cap.get("aria-invalid") == "true" and cap.get("value") == "-3"
    message = tree.get_element_by_id(cap.get("aria-describedby").split()[0])
    assert message.getparent() is cap.getparent() and "positive integer" in message.text_content()
    url_field = tree.get_element_by_id("f-channel-webhook-url")
    assert url_field.get("aria-invalid") == "true"
    assert "http" in tree.get_element_by_id(url_field.get("aria-describedby").split()[0]).text_content()

    yaml_refused = preview(http, "partners", {**form, "yaml": "timezone: Mars/Base\n"}, source="yaml")
    assert yaml_refused.status_code == 422
    textarea = lxml.html.fromstring(yaml_refused.text).get_element_by_id("f-yaml")
    assert "partners.sunco.timezone" in yaml_refused.text and textarea.get("aria-invalid") == "true"
    broken = preview(http, "partners", {**form, "yaml": "timezone: [unclosed\n"}, source="yaml")
    assert broken.status_code == 422 and "invalid YAML at line" in broken.text
    laughs = preview(http, "partners", {**form, "yaml": alias_bomb()}, source="yaml")
    assert laughs.status_code == 422 and "expands to more than" in laughs.text
    huge = preview(http, "partners", {**form, "yaml": "#" * (MAX_POSTED_CHARS + 1)}, source="yaml")
    assert huge.status_code == 413 and f"yaml: at most {MAX_POSTED_CHARS:,} characters" in huge.text

    new = form_data(http.get("/console/config/partners/new").text, "/partners/preview")
    nameless = preview(http, "partners", new)
    assert nameless.status_code == 422
    assert lxml.html.fromstring(nameless.text).get_element_by_id("f-name").get("aria-invalid") == "true"
    taken = preview(http, "partners", {**new, "name": "sunco", "f.channel.webhook.url": "http://x.test"})
    assert taken.status_code == 422 and "exists already" in taken.text
    assert export(url) == before
    forged = http.post("/console/config/partners/save", data={**new, "draft": "p:{}"})
    assert forged.status_code == 400
    assert export(url) == before


def test_secrets_never_come_back_and_a_blank_secret_keeps_the_stored_one(site: Any) -> None:
    http, url = site
    new = form_data(http.get("/console/config/partners/new").text, "/partners/preview")
    new.update(
        {
            "name": "acme",
            "f.channel.webhook.url": "http://127.0.0.1:9/acme",
            "f.channel.webhook.auth.bearer.token": SENTINEL,
            "f.ping.url": "http://127.0.0.1:9/acme-ping",
            "f.ping.auth.bearer.token": SENTINEL + "-ping",
        }
    )
    pages = []
    refused = preview(http, "partners", {**new, "f.caps.hour": "many"})  # an error: the form again
    assert refused.status_code == 422 and "caps.hour" not in refused.text.split("Nothing was saved")[0]
    pages.append(refused)
    # the secrets typed are not on the page, and each says so (they were dropped unsaid: black-box pass)
    assert refused.text.count("type it again") == 2, refused.text
    shown = preview(http, "partners", new)
    assert shown.status_code == 200, shown.text
    pages.append(shown)
    assert save(http, "partners", shown).status_code == 303
    sealed = stored(url, "partners", "acme")
    assert sealed is not None
    token = sealed["channel"]["webhook"]["auth"]["bearer"]["token"]
    assert token.startswith("lr1:") and SENTINEL not in json.dumps(sealed)

    edit = http.get("/console/config/partners/acme")
    pages += [edit, http.get("/console/config"), http.get("/console/config/export.yaml")]
    assert "set — leave blank to keep" in edit.text
    form = form_data(edit.text, "/partners/preview")
    assert form["f.channel.webhook.auth.bearer.token"] == ""
    changed = preview(http, "partners", {**form, "f.caps.day": "5"})  # the secret left blank
    pages.append(changed)
    added, removed = diff_of(changed)
    assert all("token" not in line for line in added + removed)
    assert save(http, "partners", changed).status_code == 303
    kept = stored(url, "partners", "acme")
    assert kept is not None and kept["caps"] == {"day": 5}
    assert kept["channel"]["webhook"]["auth"]["bearer"]["token"] == token  # the same ciphertext

    in_yaml = form_data(http.get("/console/config/partners/acme").text, "/partners/preview")
    assert "token: '***'" in in_yaml["yaml"]
    leaking = in_yaml["yaml"].replace("token: '***'", f"token: {SENTINEL}-yaml", 1) + "caps: {day: 0}\n"
    pages.append(preview(http, "partners", {**in_yaml, "yaml": leaking}, source="yaml"))
    unparsable = f"channel:\n  webhook:\n    auth: {{bearer: {{token: {SENTINEL}-yaml}}\n  [broken\n"
    pages.append(preview(http, "partners", {**in_yaml, "yaml": unparsable}, source="yaml"))
    assert [p.status_code for p in pages[-2:]] == [422, 422]
    for page in pages:
        assert SENTINEL not in page.text, page.url
    assert SENTINEL not in export(url)


def test_a_viewer_cannot_see_or_save_the_configuration(site: Any) -> None:
    http, url = site
    form = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    shown = preview(http, "partners", {**form, "f.caps.day": "7"})
    draft = form_data(shown.text, "/partners/save")
    log_in(http, "vic@example.com")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', http.get("/console").text)
    assert csrf is not None
    assert http.get("/console/config").status_code == 403
    assert http.get("/console/config/export.yaml").status_code == 403
    own = {"csrf_token": csrf.group(1)}
    assert preview(http, "partners", {**form, **own}).status_code == 403
    assert http.post("/console/config/partners/save", data={**draft, **own}).status_code == 403
    assert http.post("/console/config/partners/sunco/test", data=own).status_code == 403
    assert "day: 7" not in export(url)


def test_forms_without_the_csrf_token_are_refused(site: Any) -> None:
    http, url = site
    form = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    shown = preview(http, "partners", {**form, "f.caps.day": "7"})
    draft = form_data(shown.text, "/partners/save")
    for data in ({k: v for k, v in draft.items() if k != "csrf_token"}, {**draft, "csrf_token": "forged"}):
        assert http.post("/console/config/partners/save", data=data).status_code == 403
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert preview(http, "partners", no_token).status_code == 403
    assert http.post("/console/config/partners/sunco/test", data={"what": "post"}).status_code == 403
    assert "day: 7" not in export(url)
    assert save(http, "partners", shown).status_code == 303  # the same draft with its token
    assert "day: 7" in export(url)
    stale = save(http, "partners", shown)  # previewed against what was stored before that save
    assert stale.status_code == 409 and "changed since the preview" in stale.text


# what the condition builder (static/config.js) writes into a rule's field: JSON, every operator
BUILT = {
    "all": [
        {"field": "state", "op": "in", "value": ["CA", "OR"]},
        {"field": "state", "op": "not_in", "value": ["TX"]},
        {"not": {"field": "monthly_bill", "op": "lt", "value": 100}},
        {
            "any": [
                {"field": "email", "op": "ends_with", "value": ".org"},
                {"field": "email", "op": "starts_with", "value": "solar", "case_sensitive": True},
                {"field": "email", "op": "contains", "value": "@"},
                {"field": "first_name", "op": "regex", "value": "^[A-Z]"},
                {"field": "zip", "op": "exists"},
                {"field": "last_name", "op": "empty", "value": False},
            ]
        },
        {"field": "monthly_bill", "op": "between", "value": [100, 900]},
        {"field": "monthly_bill", "op": "gt", "value": 99.5},
        {"field": "monthly_bill", "op": "gte", "value": 100},
        {"field": "monthly_bill", "op": "lte", "value": 1000},
        {"field": "state", "op": "eq", "value": "CA"},
        {"field": "state", "op": "ne", "value": "NV"},
    ]
}


def test_an_apply_between_the_preview_and_the_save_is_kept_and_the_save_refused(
    site: Any, tmp_path: Path
) -> None:
    """The save checks its preview against what is stored in the transaction that writes (409 when stale):
    the whole document it applies never overwrites a `leadrelay apply` that landed after the preview."""
    http, url = site
    form = form_data(http.get("/console/config/partners/sunco").text, "/partners/preview")
    shown = preview(http, "partners", {**form, "f.caps.day": "7"})
    assert shown.status_code == 200, shown.text
    voltedge = yaml.safe_load(export(url))["partners"]["voltedge"]
    change = tmp_path / "voltedge.yaml"
    change.write_text(yaml.safe_dump({"partners": {"voltedge": {**voltedge, "caps": {"day": 9}}}}))
    applied = run_cli(["apply", "-f", str(change)], {"LEADRELAY_DATABASE_URL": url})
    assert applied.returncode == 0, applied.stderr
    stale = save(http, "partners", shown)
    assert stale.status_code == 409 and "changed since the preview" in stale.text
    assert (stored(url, "partners", "voltedge") or {}).get("caps") == {"day": 9}  # the apply kept
    assert (stored(url, "partners", "sunco") or {}).get("caps") == {}  # nothing saved


def test_the_condition_builders_output_goes_through_apply_and_back(site: Any) -> None:
    http, url = site
    page = http.get("/console/config/profiles/solar-main")
    form = form_data(page.text, "/profiles/preview")
    source = lxml.html.fromstring(page.text).get_element_by_id("rules-0-when")
    first = _without_defaults(json.loads(source.get("data-condition")))
    assert first == {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]}
    form.update(
        {
            "rules-1-name": "quality",
            "rules-1-when": json.dumps(BUILT),
            "rules-1-partners": "brightpath",
            "rules-1-strategy": "priority",
        }
    )
    shown = preview(http, "profiles", form)
    assert shown.status_code == 200, shown.text
    assert save(http, "profiles", shown).status_code == 303
    rules = yaml.safe_load(export(url))["profiles"]["solar-main"]["rules"]
    assert [r["name"] for r in rules] == ["west-coast", "quality"]
    assert rules[1]["send_to"] == {"partners": ["brightpath"], "strategy": "priority"}
    edit = lxml.html.fromstring(http.get("/console/config/profiles/solar-main").text)
    back = json.loads(edit.get_element_by_id("rules-1-when").get("data-condition"))
    assert _without_defaults(back) == BUILT  # what the builder starts from is what it wrote

    bad = dict(form, **{"rules-1-when": json.dumps({"all": [{"field": "stat", "op": "eq", "value": "CA"}]})})
    refused = preview(http, "profiles", bad)
    assert refused.status_code == 422
    assert "&#39;stat&#39; is not a field of entity &#39;solar&#39;" in refused.text
    assert "all[0].field" in refused.text


def _without_defaults(node: Any) -> Any:
    """The canonical condition without what the builder leaves out (case_sensitive false, value null)."""
    if isinstance(node, dict) and "field" in node:
        out = {k: v for k, v in node.items() if not (k == "case_sensitive" and v is False)}
        return {k: v for k, v in out.items() if not (k == "value" and v is None)}
    if isinstance(node, dict):
        return {k: [_without_defaults(i) for i in v] if isinstance(v, list) else _without_defaults(v)
                for k, v in node.items()}  # fmt: skip
    return node


def test_new_objects_and_a_deletion_with_its_confirmation(site: Any) -> None:
    http, url = site
    entity = form_data(http.get("/console/config/entities/new").text, "/entities/preview")
    entity.update({"name": "roofing", "fields-0-name": "email", "fields-0-type": "email"})
    entity["fields-0-required"] = "1"
    entity.update({"fields-1-name": "ssn", "fields-1-type": "string", "fields-1-sensitive": "1"})
    shown = preview(http, "entities", entity)
    assert shown.status_code == 200, shown.text
    assert save(http, "entities", shown).status_code == 303
    assert stored(url, "entities", "roofing") == {
        "fields": {
            "email": {"type": "email", "required": True, "max_length": None, "choices": [],
                      "sensitive": False, "region": None, "personal": None},
            "ssn": {"type": "string", "required": False, "max_length": None, "choices": [],
                    "sensitive": True, "region": None, "personal": None},
        },
        "region": "US", "dedup": None, "suppression": [], "consent": None,
    }  # fmt: skip
    profile = form_data(http.get("/console/config/profiles/new").text, "/profiles/preview")
    assert profile["f.enabled"] == "1"  # the default a new profile gets, shown
    source = form_data(http.get("/console/config/sources/new").text, "/sources/preview")
    source.update({"name": "roof-web", "f.entities": "roofing", "f.wait": "5s"})
    created = preview(http, "sources", source)
    assert save(http, "sources", created).status_code == 303
    assert yaml.safe_load(export(url))["sources"]["roof-web"]["entities"] == ["roofing"]

    confirm = http.get("/console/config/sources/roof-web/delete")
    assert confirm.status_code == 200 and "sources <strong>roof-web</strong>: deleted" in confirm.text
    _, removed = diff_of(confirm)
    assert any("roof-web" in line for line in removed)
    assert save(http, "sources", confirm).status_code == 303
    assert "roof-web" not in export(url)
    audit = rows(url, select(audit_log.c.action).where(audit_log.c.object_id == "roof-web"))
    assert [r.action for r in audit] == ["config.created", "config.deleted"]


def test_a_partners_test_delivery_shows_the_request_as_rendered_and_the_answer_as_read(
    sqlite_url: str,
) -> None:
    """The partner page's "Test delivery": the test lead goes through the running worker to the buyer,
    and the page shows the attempt, its rendered request (the lead's fields as the mapping sent them) and
    the buyer's answer as it was read (its reference)."""
    with ScriptedBuyer([(200, {})]) as buyer:
        prepare(sqlite_url, base_config(lambda name: buyer.url(name)))
        db = Database(sqlite_url)
        accounts = Accounts(SqlStorage(db), Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=1024)))
        accounts.create_user("ada@example.com", Role.ADMIN, password=PASSWORD, actor="test")
        db.dispose()
        settings = {"secret_key": KEY, "allowed_target_networks": "127.0.0.0/8"}
        with ServerThread(sqlite_url, workers=1, **settings) as server, server.client() as http:
            log_in(http, "ada@example.com")
            form = form_data(http.get("/console/config/partners/sunco").text, "/sunco/test")
            shown = http.post("/console/config/partners/sunco/test", data={**form, "what": "post"})
        assert buyer.calls == 1
    assert shown.status_code == 200, shown.text
    page = lxml.html.fromstring(shown.text)
    assert page.xpath('string(//p[@role="status"]/strong)') == "delivered"
    assert page.xpath("string(//section[@class='card']/h2)") == "Attempt 1: success"
    request, answer = (json.loads(pre.text_content()) for pre in page.xpath("//section//pre")[:2])
    assert request["url"] == buyer.url("sunco") and request["method"] == "POST"
    assert request["body"]["test"] is True and request["body"]["email"] == "test@example.com"  # shown as JSON
    assert request["headers"]["X-Leadrelay-Test"] == "true"
    assert answer["status_code"] == 200 and answer["reference"] == "ref-1"
    assert answer["body"] == {"status": "accepted", "reference": "ref-1"}
