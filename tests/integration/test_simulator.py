"""The routing simulator and backtest on SQLite and PostgreSQL: real leads routed by a real server, then
simulated and replayed (the service, the CLI in this process, the API): every row of every table is the
same before and after (caps, rotations, budgets, dedup marks, bids, jobs, deliveries, audit)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, select

from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.schema import metadata
from leadrelay.adapters.db.tables import cap_counters, leads
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.bootstrap import Runtime
from leadrelay.config import Settings
from leadrelay.configuration.load import MAX_POSTED_CHARS
from leadrelay.services.simulation import parse_since
from leadrelay.services.simulation_views import backtest_dict, simulation_dict
from leadrelay.simulate.buyers import BuyersThread
from tests.documents import alias_bomb
from tests.integration.test_auction import auction_config, fixed
from tests.support import (
    ADMIN,
    ServerThread,
    base_config,
    lead,
    prepare,
    rows,
    run_async,
    run_cli,
    source_headers,
)

WAIT = "/v1/leads?wait=15"
VIEWER_TOKEN, OPERATOR_TOKEN = "lra_viewer_token_of_a_test_01", "lra_operator_token_of_a_test_01"


@pytest.fixture
def buyers() -> Iterator[BuyersThread]:
    with BuyersThread(count=3, latency_ms=0, accept_rate=1.0) as b:
        yield b


def config(buyers: BuyersThread) -> dict[str, Any]:
    return base_config(
        buyers.url,
        sunco={
            "caps": {"day": 5},
            "budget": {"day": 1000},
            "dedup": {"keys": ["phone"], "window": "30d"},
            "price_from_answer": False,
        },
    )


def draft_voltedge_first(strategy: str = "priority") -> str:
    """A draft: the west coast goes to voltedge at 40 (a rule's price), then sunco."""
    return yaml.safe_dump(
        {
            "profiles": {
                "solar-main": {
                    "entity": "solar",
                    "rules": [
                        {
                            "name": "west-coast",
                            "when": {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]},
                            "send_to": {
                                "partners": ["voltedge", "sunco"],
                                "strategy": strategy,
                                "prices": {"voltedge": 40},
                            },
                        }
                    ],
                    "default": {"partners": ["brightpath", "voltedge"], "strategy": "round_robin"},
                }
            }
        }
    )


def snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted."""
    db = Database(url)
    try:

        def read(conn: Connection) -> dict[str, list[str]]:
            return {
                t.name: sorted(str(tuple(r)) for r in conn.execute(select(t))) for t in metadata.sorted_tables
            }

        return db.read(read)
    finally:
        db.dispose()


def routed_leads(url: str, buyers: BuyersThread) -> list[str]:
    """Three leads routed by a real server: CA to sunco, TX by round robin, CA again (sunco's dedup)."""
    prepare(url, config(buyers))
    with ServerThread(url) as server, server.client() as http:
        answers = [
            http.post(WAIT, json=body, headers=source_headers()).json()
            for body in (lead(), lead(state="TX", phone="(512) 555-0101"), lead(first_name="Bea"))
        ]
    assert [a["status"] for a in answers] == ["delivered"] * 3, answers
    return [a["lead_id"] for a in answers]


def runtime(url: str) -> Runtime:
    return Runtime(settings=Settings(database_url=url), db=Database(url))


def test_nothing_moves_and_routing_is_explained(db_url: str, buyers: BuyersThread, tmp_path: Path) -> None:
    ids = routed_leads(db_url, buyers)
    before = snapshot(db_url)
    assert before["cap_counters"] and before["dedup_marks"] and before["budget_counters"]

    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        rt = runtime(db_url)
        try:
            stored = await rt.simulator.simulate(lead_id=ids[0])
            pasted = await rt.simulator.simulate(
                entity="solar", source="web", lead=lead(phone="(512) 555-0199"), draft=draft_voltedge_first()
            )
            since = parse_since("1d", rt.simulator.now())
            back = await rt.simulator.backtest(draft_voltedge_first(), since=since, limit=100)
            other = lead(phone="(512) 555-0177")
            budget = await rt.simulator.simulate(entity="solar", source="web", lead=other)  # sunco's budget
            for strategy in ("user_choice", "broadcast"):
                choice = await rt.simulator.simulate(
                    entity="solar", source="web", lead=other, draft=draft_voltedge_first(strategy)
                )
                outcomes[strategy] = simulation_dict(choice)["profiles"][0]
            outcomes["in force"] = simulation_dict(budget)["profiles"][0]
            return simulation_dict(stored), simulation_dict(pasted), backtest_dict(back)
        finally:
            await rt.stop()

    outcomes: dict[str, dict[str, Any]] = {}
    stored, pasted, back = run_async(run())
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_voltedge_first())
    env = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": "200"}
    shown = run_cli(["simulate", "--lead", ids[1], "--json"], env)
    table = run_cli(["simulate", "--config", str(draft), "--since", "1d"], env)
    assert snapshot(db_url) == before  # not a row written, moved or removed

    # the stored lead, routed now: sunco already has this person (its own dedup mark), brightpath takes it
    (route,) = stored["profiles"]
    assert (route["rule"], route["outcome"], stored["config"]) == ("west-coast", "delivering", "in force")
    verdicts = {p["partner"]: p for p in route["partners"]}
    assert verdicts["sunco"]["verdict"] == "skipped"
    assert "already received this person" in verdicts["sunco"]["reasons"][0]
    assert (
        verdicts["brightpath"]["verdict"] == "chosen" and verdicts["voltedge"]["verdict"] == "not in the rule"
    )
    assert route["order"] == ["sunco", "brightpath"]

    # a pasted lead through the draft: voltedge at the rule's price, sunco not needed
    (route,) = pasted["profiles"]
    verdicts = {p["partner"]: p for p in route["partners"]}
    assert pasted["config"] == "draft" and pasted["lead_id"] is None and pasted["delivered"] is False
    assert (verdicts["voltedge"]["price"], verdicts["voltedge"]["price_basis"]) == ("40.00", "rule")
    assert verdicts["sunco"]["verdict"] == "not needed" and verdicts["sunco"]["position"] == 2
    assert route["expected_revenue"] == "40.00"

    # the backtest: the two CA leads go to voltedge in the draft; sunco sold one (the other was a dedup)
    assert (back["leads"], back["actual"]["sold"], back["draft"]["sold"]) == (3, 3, 3)
    shares = {p["partner"]: p for p in back["partners"]}
    assert shares["sunco"]["actual"] == 1 and shares["sunco"]["draft"] == 0
    assert shares["voltedge"]["draft"] >= 2
    assert back["draft"]["revenue"] != back["actual"]["revenue"]

    # sunco's budget and caps are reserved in memory; user choice offers (no offer row); broadcast to both
    assert outcomes["in force"]["order"] == ["sunco", "brightpath"]
    assert outcomes["in force"]["partners"][0]["price"] == "25.00"
    assert outcomes["user_choice"]["outcome"] == "offered"
    assert {p["verdict"] for p in outcomes["user_choice"]["partners"][:2]} == {"offered"}
    assert outcomes["broadcast"]["expected_revenue"] == "65.00"  # voltedge at 40, sunco at its list 25

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["profiles"][0]["rule"] == "default"
    assert table.returncode == 0, table.stderr
    assert "backtest of the draft on 3 leads" in table.stdout and "voltedge" in table.stdout


@pytest.mark.sqlite_only
def test_the_api_answers_with_its_documented_shapes_and_names_bad_input(
    db_url: str, buyers: BuyersThread
) -> None:
    ids = routed_leads(db_url, buyers)
    bad_draft = copy.deepcopy(yaml.safe_load(draft_voltedge_first()))
    bad_draft["profiles"]["solar-main"]["rules"][0]["send_to"]["strategy"] = "lottery"
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        post = http.post
        assert post("/v1/simulate", json={"lead_id": ids[0]}).status_code == 401
        ok = post("/v1/simulate", json={"lead_id": ids[0]}, headers=ADMIN)
        missing = post("/v1/simulate", json={"lead_id": "lead_nope"}, headers=ADMIN)
        neither = post("/v1/simulate", json={}, headers=ADMIN)
        invalid = post(
            "/v1/simulate",
            json={"entity": "solar", "source": "web", "lead": lead(phone="12")},
            headers=ADMIN,
        )
        draft = post(
            "/v1/simulate", json={"lead_id": ids[0], "draft": yaml.safe_dump(bad_draft)}, headers=ADMIN
        )
        broken = post("/v1/simulate", json={"lead_id": ids[0], "draft": "profiles: [1"}, headers=ADMIN)
        back = post("/v1/backtest", json={"draft": draft_voltedge_first(), "since": "2d"}, headers=ADMIN)
        bad_since = post(
            "/v1/backtest", json={"draft": draft_voltedge_first(), "since": "soon"}, headers=ADMIN
        )
        bad_limit = post("/v1/backtest", json={"draft": draft_voltedge_first(), "limit": 0}, headers=ADMIN)
        schema = http.get("/openapi.json").json()
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert set(body) == {
        "config",
        "version",
        "lead_id",
        "entity",
        "source",
        "at",
        "delivered",
        "profiles",
        "notes",
    }
    assert set(body["profiles"][0]["partners"][0]) == {
        "partner",
        "verdict",
        "reasons",
        "position",
        "price",
        "price_basis",
    }
    assert missing.status_code == 404
    assert neither.status_code == 422 and neither.json()["errors"][0]["field"] == "lead_id"
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "phone"
    assert draft.status_code == 422, draft.text
    paths = [e["path"] for e in draft.json()["errors"]]
    assert any(p.startswith("profiles.solar-main.rules[0].send_to") for p in paths), paths
    assert broken.status_code == 422 and "invalid YAML" in broken.json()["errors"][0]["error"]
    assert back.status_code == 200, back.text
    assert back.json()["actual"]["sold"] == 3 and back.json()["difference"]["leads"] == 0
    assert bad_since.status_code == 422 and bad_since.json()["errors"][0]["field"] == "since"
    assert bad_limit.status_code == 422
    ops = schema["paths"]
    assert "/v1/simulate" in ops and "/v1/backtest" in ops
    ref = ops["/v1/simulate"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/SimulationOut")


def probe(prefix: str) -> str:
    """A draft whose rule matches when the sealed ``ssn`` starts with ``prefix``: an oracle, if allowed."""
    rule = {
        "name": "probe",
        "when": {"field": "ssn", "op": "regex", "value": f"^{prefix}"},
        "send_to": {"partners": ["voltedge"]},
    }
    profile = {"entity": "solar", "rules": [rule], "default": {"partners": ["sunco"]}}
    return yaml.safe_dump({"profiles": {"solar-main": profile}})


@pytest.mark.sqlite_only
def test_a_viewer_may_not_probe_a_sealed_value_through_a_draft(db_url: str, buyers: BuyersThread) -> None:
    """A viewer simulates a stored lead under the configuration in force; a draft (whose conditions would
    read the lead's sealed values, one match at a time) and the backtest need the configure permission."""
    doc = config(buyers)
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    prepare(db_url, doc)
    db = Database(db_url)
    db.transaction(
        lambda c: config_store.add_admin_token(c, "v", VIEWER_TOKEN, datetime.now(UTC), role="viewer")
    )
    db.transaction(
        lambda c: config_store.add_admin_token(c, "o", OPERATOR_TOKEN, datetime.now(UTC), role="operator")
    )
    db.dispose()
    secret = "a-review-secret-key-of-32-chars!!"
    with ServerThread(db_url, secret_key=secret) as server, server.client() as http:
        sent = http.post(WAIT, json={**lead(), "ssn": "123-45-6789"}, headers=source_headers())
        assert sent.status_code in (200, 202), sent.text
        lead_id = sent.json()["lead_id"]
        for token in (VIEWER_TOKEN, OPERATOR_TOKEN):
            caller = {"Authorization": f"Bearer {token}"}
            plain = http.post("/v1/simulate", json={"lead_id": lead_id}, headers=caller)
            probed = http.post("/v1/simulate", json={"lead_id": lead_id, "draft": probe("1")}, headers=caller)
            back = http.post("/v1/backtest", json={"draft": probe("1")}, headers=caller)
            assert plain.status_code == 200, plain.text
            assert probed.status_code == 403 and "configure" in probed.json()["detail"], probed.text
            assert back.status_code == 403, back.text
        matched = http.post("/v1/simulate", json={"lead_id": lead_id, "draft": probe("1")}, headers=ADMIN)
    assert matched.status_code == 200 and matched.json()["profiles"][0]["rule"] == "probe"  # an admin may


@pytest.mark.sqlite_only
def test_the_cli_names_the_option_or_the_config_path_of_bad_input(
    db_url: str, buyers: BuyersThread, tmp_path: Path
) -> None:
    ids = routed_leads(db_url, buyers)
    env = {"LEADRELAY_DATABASE_URL": db_url, "COLUMNS": "200"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("partners:\n  sunco:\n    caps: {day: -1}\n")
    lead_file = tmp_path / "lead.json"
    lead_file.write_text(json.dumps(lead(phone="(512) 555-0142")))

    def cli(*args: str) -> tuple[int, str]:
        result = run_cli(list(args), env)
        return result.returncode, result.stdout + result.stderr

    code, text = cli("simulate", "--lead", ids[0])
    assert code == 0 and "west-coast" in text and "not in the rule" in text, text
    code, text = cli("simulate", "--lead-file", str(lead_file), "--entity", "solar", "--source", "web")
    assert code == 0 and "sunco" in text and "25.00 (list)" in text, text
    assert cli("partners", "unavailable", "sunco")[0] == 0
    code, text = cli(
        "simulate", "--lead-file", str(lead_file), "--entity", "solar", "--source", "web", "--json"
    )
    (route,) = json.loads(text)["profiles"]
    sunco = next(p for p in route["partners"] if p["partner"] == "sunco")
    assert sunco["verdict"] == "skipped" and sunco["reasons"] == ["partner unavailable (checked out)"]
    assert route["order"] == ["brightpath"]
    assert cli("simulate")[0] != 0 and "--lead" in cli("simulate")[1]
    code, text = cli("simulate", "--lead-file", str(lead_file), "--entity", "solar")
    assert code != 0 and "--source" in text
    code, text = cli("simulate", "--lead", ids[0], "--config", str(bad))
    assert code != 0 and "partners.sunco.caps" in text, text
    code, text = cli("simulate", "--since", "7d")
    assert code != 0 and "--config" in text
    code, text = cli("simulate", "--config", str(bad), "--since", "7d")
    assert code != 0 and "partners.sunco.caps" in text
    code, text = cli("simulate", "--config", str(tmp_path / "none.yaml"), "--since", "7d")
    assert code != 0 and "--config: cannot read" in text
    good = tmp_path / "good.yaml"
    good.write_text(draft_voltedge_first())
    code, text = cli("simulate", "--config", str(good), "--since", "whenever")
    assert code != 0 and "--since" in text
    code, text = cli("simulate", "--config", str(good), "--since", "7d", "--limit", "0")
    assert code != 0 and "--limit" in text
    code, text = cli("simulate", "--lead", "lead_nope")
    assert code != 0 and "lead_nope" in text
    assert rows(db_url, select(cap_counters)) and len(rows(db_url, select(leads))) == 3


@pytest.mark.sqlite_only
def test_an_auction_is_decided_again_on_the_leads_recorded_bids(db_url: str) -> None:
    prices = {"sunco": fixed(12), "brightpath": fixed(15), "voltedge": fixed(9)}
    with BuyersThread(accept_rate=1.0, bidders=prices) as bidders:
        doc = auction_config(bidders.url, bidders.ping_url)
        prepare(db_url, doc)
        with ServerThread(db_url) as server, server.client() as http:
            answer = http.post(WAIT, json=lead(), headers=source_headers()).json()
        pings = {name: len(bidders.pings(name)["pings"]) for name in prices}
    assert answer["partner"] == "brightpath"
    before = snapshot(db_url)
    dearer = copy.deepcopy(doc["profiles"])
    dearer["solar-main"]["rules"][0]["send_to"]["floor"] = 13

    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        rt = runtime(db_url)
        try:
            again = await rt.simulator.simulate(lead_id=answer["lead_id"])
            draft = yaml.safe_dump({"profiles": dearer})
            floor = await rt.simulator.simulate(lead_id=answer["lead_id"], draft=draft)
            since = parse_since("1h", rt.simulator.now())
            back = await rt.simulator.backtest(draft, since=since)
            return simulation_dict(again), simulation_dict(floor), backtest_dict(back)
        finally:
            await rt.stop()

    again, floor, back = run_async(run())
    assert snapshot(db_url) == before
    (route,) = again["profiles"]
    verdicts = {p["partner"]: p for p in route["partners"]}
    assert route["auction_prices"] == "recorded bids" and any("recorded bids" in n for n in again["notes"])
    assert (verdicts["brightpath"]["verdict"], verdicts["brightpath"]["price"]) == ("chosen", "15.00")
    assert verdicts["brightpath"]["price_basis"] == "bid"
    assert "auction: brightpath wins at 15.00 (margin 3.00)" in route["trace"]
    (route,) = floor["profiles"]  # a floor of 13: sunco's 12 no longer counts; brightpath's 15 still wins
    assert "auction: brightpath wins at 15.00 (margin 2.00)" in route["trace"], route["trace"]
    assert back["auctions"] == {"on_recorded_bids": 1, "on_list_prices": 0}
    assert back["draft"]["revenue"] == back["actual"]["revenue"] == "15.00"
    assert pings == {name: 1 for name in prices}  # pinged once, by the real auction; never by the simulator


def test_the_dry_runs_transaction_refuses_writes_at_the_database(db_url: str) -> None:
    """The guard under every simulation: a write that reached the database would fail, not land; SQLite's
    pooled connection is writable again afterwards."""
    prepare(db_url, {"entities": {"solar": {"fields": {"phone": {"type": "phone"}}}}})
    db = Database(db_url)
    try:
        storage = SqlStorage(db)

        def write_in_dry_run(tx: Any) -> None:
            with tx.simulation.read_only():
                tx.caps.next_rotation("p:r")

        for _ in range(2):  # the same pooled connection, twice
            with pytest.raises(Exception, match=r"(?i)read.only|readonly|query_only|attempt to write"):
                storage.read(write_in_dry_run)
        assert storage.transaction(lambda tx: tx.caps.next_rotation("p:r")) == 0
        assert storage.read(lambda tx: tx.simulation.rotation("p:r")) == 1
    finally:
        db.dispose()


def test_a_draft_of_nested_aliases_is_refused_with_a_422_naming_the_problem(db_url: str) -> None:
    """ "Billion laughs" (a few hundred bytes of nested anchors expanding to 387 million values) answers 422
    with the alias budget's words, for the simulator and the backtest; a draft over the size limit 422
    naming ``draft``. Nothing is parsed inside a transaction (``services.drafts``)."""
    prepare(db_url, base_config(lambda name: f"http://127.0.0.1:9/{name}"))
    pasted = {"entity": "solar", "source": "web", "lead": lead()}
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        simulated = http.post("/v1/simulate", json={**pasted, "draft": alias_bomb()}, headers=ADMIN)
        backtest = http.post("/v1/backtest", json={"draft": alias_bomb(), "since": "1d"}, headers=ADMIN)
        too_long = http.post(
            "/v1/simulate", json={**pasted, "draft": "# " + "x" * MAX_POSTED_CHARS}, headers=ADMIN
        )
        fine = http.post("/v1/simulate", json={**pasted, "draft": ANCHORED_DRAFT}, headers=ADMIN)
    for answer in (simulated, backtest):
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "invalid_config"
        [problem] = body["errors"]
        assert problem["path"] == "" and "expands to more than" in problem["error"], body
        assert "through aliases" in body["detail"]
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "draft", too_long.text
    assert fine.status_code == 200, fine.text
    assert fine.json()["config"] == "draft"


ANCHORED_DRAFT = """
partners:
  sunco: {caps: &caps {day: 9}}
  voltedge: {caps: *caps}
"""


def test_a_backtest_counts_a_lead_whose_partners_were_all_at_their_caps_as_not_routed(
    db_url: str, buyers: BuyersThread
) -> None:
    """ "Routed" means in the draft what it means in the actual column: a partner was sent the lead (or
    offered it, or pinged). A lead whose only candidate was at its cap reached nobody; the draft counted it
    routed, and a draft the same as the stored configuration showed a routed difference (black-box pass,
    2026-12-06)."""
    routed_leads(db_url, buyers)  # CA, TX, CA again
    rule = {
        "name": "west-coast",
        "when": {"field": "state", "op": "in", "value": ["CA", "OR", "WA"]},
        "send_to": {"partners": ["voltedge"]},
    }
    profile = {
        "entity": "solar",
        "rules": [rule],
        "default": {"partners": ["brightpath"]},
        "partner_caps": {"voltedge": {"total": 1}},  # the second CA lead finds voltedge at its cap
    }
    draft = yaml.safe_dump({"profiles": {"solar-main": profile}})
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        back = http.post("/v1/backtest", json={"draft": draft, "since": "2d"}, headers=ADMIN)
    assert back.status_code == 200, back.text
    drafted = back.json()["draft"]
    assert (drafted["leads"], drafted["routed"], drafted["sold"], drafted["unsold"]) == (3, 2, 2, 1), drafted
