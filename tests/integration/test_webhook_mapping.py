"""Partner mappings end to end, on SQLite and PostgreSQL: a lead posted to the real API reaches a simulated
buyer in the shape its mapping describes (JSON, form, XML, a GET query), and a mapping that cannot render a
lead is an error attempt with its reason, never a crashed worker."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest

from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.configuration.load import load_yaml_text
from leadrelay.domain.attempts import LeadView
from leadrelay.domain.model import WebhookChannel
from leadrelay.services import configure
from leadrelay.simulate.buyers import BuyersThread
from tests.support import ADMIN, ServerThread, base_config, lead, prepare, source_headers

WAIT = "/v1/leads?wait=15"
CONTACT = {
    "contact.email": "{{ lead.email }}",
    "contact.phones.0": "{{ lead.phone | national }}",
    "contact.name": "{{ lead.first_name | upper }} {{ lead.last_name }}",
}

pytestmark = pytest.mark.sqlite_only  # what is sent to buyers: no storage of its own


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=0, latency_ms=0, accept_rate=1.0) as b:
        yield b


def config(buyers: BuyersThread, url_suffix: str = "", **webhook: Any) -> dict[str, Any]:
    """The test configuration with one partner, acme, taking every lead through ``webhook``."""
    doc = copy.deepcopy(base_config(buyers.url))
    doc["partners"] = {
        "acme": {
            "channel": {
                "webhook": {
                    "url": buyers.url("acme") + url_suffix,
                    "timeout": "5s",
                    "max_attempts": 2,
                    **webhook,
                }
            }
        }
    }
    doc["profiles"]["solar-main"]["rules"] = []
    doc["profiles"]["solar-main"]["default"] = {"partners": ["acme"]}
    return doc


def deliver(db_url: str, document: dict[str, Any], *leads: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply ``document``, post ``leads`` and return each one's answer with its distribution's detail."""
    prepare(db_url, document)
    results: list[dict[str, Any]] = []
    with ServerThread(db_url) as server, server.client() as http:
        for body in leads:
            answer = http.post(WAIT, json=body, headers=source_headers())
            assert answer.status_code == 200, answer.text
            results.append({"answer": answer.json(), "job": job_of(http, answer.json()["lead_id"])})
    return results


def job_of(http: httpx.Client, lead_id: str) -> dict[str, Any]:
    r = http.get("/v1/distributions", params={"lead": lead_id}, headers=ADMIN)
    [item] = r.json()["items"]
    detail = http.get(f"/v1/distributions/{item['id']}", headers=ADMIN)
    assert detail.status_code == 200, detail.text
    job: dict[str, Any] = detail.json()
    return job


def attempt_of(result: dict[str, Any]) -> dict[str, Any]:
    [delivery] = result["job"]["deliveries"]
    attempt: dict[str, Any] = delivery["attempts"][-1]
    return attempt


def test_a_json_mapping_sends_the_nested_body(db_url: str, buyers: BuyersThread) -> None:
    mapping = {
        **CONTACT,
        "bill": {"field": "monthly_bill"},
        "source": "leadrelay",
        "tier": {
            "when": {"field": "monthly_bill", "op": "gte", "value": 200},
            "value": "gold",
            "else": "silver",
        },
        "ref": "{{ lead_id }}",
    }
    [result] = deliver(db_url, config(buyers, mapping=mapping), lead(state="TX"))
    assert result["answer"]["status"] == "delivered", result
    lead_id = result["answer"]["lead_id"]
    expected = {
        "contact": {"email": "ada@example.com", "phones": ["5125551212"], "name": "ADA Lovelace"},
        "bill": 180.0,
        "source": "leadrelay",
        "tier": "silver",
        "ref": lead_id,
    }
    [received] = buyers.leads("acme")
    assert received["body"] == expected
    [request] = buyers.requests("acme")
    assert (request["method"], request["content_type"]) == ("POST", "application/json")
    assert orjson.loads(request["body"]) == expected
    attempt = attempt_of(result)
    assert attempt["outcome"] == "success"
    assert orjson.loads(attempt["request"]["body"]) == expected  # the attempt shows what was sent


def test_a_form_mapping(db_url: str, buyers: BuyersThread) -> None:
    mapping = {**CONTACT, "consent": True, "campaign": "solar 2024"}
    [result] = deliver(db_url, config(buyers, format="form", mapping=mapping), lead(state="TX"))
    assert result["answer"]["status"] == "delivered", result
    [request] = buyers.requests("acme")
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["body"] == (
        "contact.email=ada%40example.com&contact.phones=5125551212&contact.name=ADA%20Lovelace"
        "&consent=true&campaign=solar%202024"
    )
    assert buyers.leads("acme")[0]["body"]["contact.name"] == "ADA Lovelace"


def test_an_xml_mapping_with_ascii_text(db_url: str, buyers: BuyersThread) -> None:
    mapping = {
        "lead@id": "{{ lead_id }}",
        "lead.contact.email": "{{ lead.email }}",
        "lead.contact.name": "{{ lead.first_name }}",
        "lead.bill": {"field": "monthly_bill"},
    }
    document = config(buyers, format="xml", ascii=True, mapping=mapping)
    [result] = deliver(db_url, document, lead(state="TX", first_name="Zoë"))
    assert result["answer"]["status"] == "delivered", result
    lead_id = result["answer"]["lead_id"]
    [request] = buyers.requests("acme")
    assert request["content_type"] == "application/xml"
    assert request["body"] == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<lead id="{lead_id}">\n'
        "  <contact>\n"
        "    <email>ada@example.com</email>\n"
        "    <name>Zoe</name>\n"
        "  </contact>\n"
        "  <bill>180</bill>\n"
        "</lead>"
    )


def test_get_puts_the_values_in_the_query_string(db_url: str, buyers: BuyersThread) -> None:
    mapping = {
        "email": "{{ lead.email }}",
        "phone": "{{ lead.phone | e164 }}",
        "name": {"field": "first_name"},
    }
    document = config(buyers, "?campaign=42&key=abc", method="GET", mapping=mapping)
    [result] = deliver(db_url, document, lead(state="TX"))
    assert result["answer"]["status"] == "delivered", result
    [request] = buyers.requests("acme")
    assert request["method"] == "GET" and request["body"] == ""
    assert request["content_type"] is None  # no body, no Content-Type
    assert parse_qsl(request["query"]) == [
        ("campaign", "42"),
        ("key", "abc"),
        ("email", "ada@example.com"),
        ("phone", "+15125551212"),
        ("name", "Ada"),
    ]
    recorded = attempt_of(result)["request"]
    assert recorded["method"] == "GET" and recorded["body"] == ""
    assert "email=ada%40example.com" in recorded["url"] and "key=***&" in recorded["url"]


def test_get_without_a_mapping_sends_the_fields(db_url: str, buyers: BuyersThread) -> None:
    [result] = deliver(db_url, config(buyers, method="GET", fields=["first_name", "zip"]), lead(state="TX"))
    assert result["answer"]["status"] == "delivered", result
    [request] = buyers.requests("acme")
    assert parse_qsl(request["query"]) == [("first_name", "Ada"), ("zip", "94103")]


@pytest.mark.parametrize(
    ("webhook", "expected"),
    [
        ({"content_type": "application/vnd.acme+json"}, "application/vnd.acme+json"),
        (
            {
                "content_type": "application/vnd.acme+json",
                "headers": {"content-type": "application/json; v=2"},
            },
            "application/json; v=2",
        ),
        ({"headers": {"Content-Type": "text/json"}}, "text/json"),
    ],
)
def test_the_content_type_is_the_header_then_content_type_then_the_formats(
    db_url: str, buyers: BuyersThread, webhook: dict[str, Any], expected: str
) -> None:
    [result] = deliver(db_url, config(buyers, mapping=CONTACT, **webhook), lead(state="TX"))
    assert result["answer"]["status"] == "delivered", result
    [request] = buyers.requests("acme")
    assert request["content_type"] == expected
    assert [name for name in request["headers"] if name.lower() == "content-type"] == ["Content-Type"]


def test_a_conditional_mapping_picks_the_branch_of_each_lead(db_url: str, buyers: BuyersThread) -> None:
    mappings = [
        {
            "when": {"field": "state", "op": "in", "value": ["CA", "OR"]},
            "mapping": {"region": "west", "email": "{{ lead.email }}"},
        },
        {"when": {"field": "monthly_bill", "op": "gte", "value": 300}, "mapping": {"region": "big"}},
        {"mapping": {"region": "other", "state": {"field": "state"}}},
    ]
    results = deliver(
        db_url,
        config(buyers, mappings=mappings),
        lead(state="CA"),
        lead(state="TX", monthly_bill=400),
        lead(state="TX"),
    )
    assert [r["answer"]["status"] for r in results] == ["delivered"] * 3
    assert [received["body"] for received in buyers.leads("acme")] == [
        {"region": "west", "email": "ada@example.com"},
        {"region": "big"},
        {"region": "other", "state": "TX"},
    ]


def test_a_render_error_is_a_final_error_attempt_with_its_reason(db_url: str, buyers: BuyersThread) -> None:
    mapping = {"email": "{{ lead.email }}", "bill": "{{ lead.first_name | format('{:.2f}') }}"}
    [result] = deliver(db_url, config(buyers, mapping=mapping), lead(state="TX"))
    assert result["answer"]["status"] == "unsold", result
    [delivery] = result["job"]["deliveries"]
    assert delivery["status"] == "failed"
    [attempt] = delivery["attempts"]  # not retried: max_attempts is 2, but no retry fixes a mapping
    assert attempt["outcome"] == "error"
    assert attempt["reason"] == "mapping: bill: ValueError: Unknown format code 'f' for object of type 'str'"
    assert buyers.requests("acme") == []  # nothing was sent


def test_an_escape_that_depends_on_the_lead_fails_only_that_delivery(
    db_url: str, buyers: BuyersThread
) -> None:
    """``lead[lead.last_name]`` passes every check when applied; a last name of ``__class__`` must not
    reach Python's internals, and the next lead is delivered as usual."""
    mapping = {"x": "{{ lead[lead.last_name] }}"}
    bad, good = deliver(
        db_url, config(buyers, mapping=mapping), lead(last_name="__class__"), lead(last_name="zip")
    )
    assert attempt_of(bad)["outcome"] == "error"
    assert attempt_of(bad)["reason"].startswith("mapping: x: not allowed: access to attribute '__class__'")
    assert good["answer"]["status"] == "delivered"
    assert [received["body"] for received in buyers.leads("acme")] == [{"x": "94103"}]


def test_an_exported_mapping_applies_unchanged(db_url: str, buyers: BuyersThread) -> None:
    mapping = {
        **CONTACT,
        "required": False,
        "nothing": None,
        "literal": {"value": "{{ as is }}"},
        "vip": {"when": {"field": "monthly_bill", "op": "gte", "value": 500}, "value": True},
    }
    document = config(buyers, mapping=mapping, ascii=True, content_type="application/vnd.acme+json")
    document["partners"]["beta"] = {
        "channel": {
            "webhook": {
                "url": buyers.url("beta"),
                "format": "xml",
                "mappings": [
                    {"when": {"field": "state", "op": "eq", "value": "CA"}, "mapping": {"lead.west": True}},
                    {"mapping": {"lead.email": "{{ lead.email }}"}},
                ],
            }
        }
    }
    prepare(db_url, document)
    db = Database(db_url)
    try:
        text = configure.export_yaml(SqlStorage(db))
        changes = configure.apply_document_sync(SqlStorage(db), load_yaml_text(text), actor="test")
        assert configure.export_yaml(SqlStorage(db)) == text
    finally:
        db.dispose()
    assert {(c.kind, c.name): c.action for c in changes}[("partners", "acme")] == "unchanged"
    assert {c.action for c in changes} == {"unchanged"}, changes


# ---------------------------------------------------------------- the sender alone, without a mapping


def send(buyers: BuyersThread, values: dict[str, Any], **spec: Any) -> Any:
    async def scenario() -> Any:
        sender = WebhookSender()
        try:
            view = LeadView("lead_01", "solar", "acme", values, "idem-1")
            return await sender.send(view, WebhookChannel(url=buyers.url("acme"), **spec))
        finally:
            await sender.close()

    return asyncio.run(scenario())


def test_xml_without_a_mapping_wraps_the_fields_in_a_lead_element(buyers: BuyersThread) -> None:
    result = send(buyers, {"first_name": "Zoë", "bill": 180.0, "consent": True}, format="xml")
    assert result.outcome == "success", result
    [request] = buyers.requests("acme")
    assert request["body"] == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<lead>\n  <first_name>Zoë</first_name>\n'
        "  <bill>180</bill>\n  <consent>true</consent>\n</lead>"
    )
    assert result.request["body"] == request["body"]


def test_ascii_without_a_mapping_and_patch(buyers: BuyersThread) -> None:
    result = send(buyers, {"first_name": "Zoë", "city": "Montréal"}, ascii=True, method="PATCH")
    assert result.outcome == "success", result
    [request] = buyers.requests("acme")
    assert request["method"] == "PATCH"
    assert orjson.loads(request["body"]) == {"first_name": "Zoe", "city": "Montreal"}
