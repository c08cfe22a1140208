"""Structured logs of a real ``leadrelay serve`` (``LEADRELAY_LOG_FORMAT=json``): one JSON object per line,
the lead, job and delivery ids on the worker's lines about a delivery, secrets masked; and readable text
when asked for (``console``)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.support import (
    ADMIN,
    base_config,
    free_port,
    lead,
    leadrelay_cmd,
    prepare,
    process,
    source_headers,
    wait_for,
    wait_http,
)

STARTUP = 60.0  # seconds: a Python process starting on a loaded 2-core machine

SECRET = "lrp_live_0123456789abcdef"
SSN = "078-05-1120"


def sensitive(buyer: RefusingBuyer) -> dict[str, Any]:
    """The test configuration with a sensitive field (``ssn``), which the buyers are sent."""
    doc = base_config(buyer.url)
    doc["entities"]["solar"]["fields"]["ssn"] = {"type": "string", "sensitive": True}
    return doc


class RefusingBuyer:
    """A buyer on 127.0.0.1 that refuses every lead, its reason quoting a partner key (as a careless
    buyer's error message might)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        # and a sensitive value it was sent, and the person's email (no sensitive field: logged, it would
        # stay in the log file after the lead's erasure)
        reason = f"unknown key {SECRET}; ssn {body.get('ssn')} on file for {body.get('email')}"
        return web.json_response({"status": "rejected", "reason": reason}, status=400)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return int(self.runner.addresses[0][1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> RefusingBuyer:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def refusing() -> Iterator[RefusingBuyer]:
    with RefusingBuyer() as buyer:
        yield buyer


def run_and_post(url: str, tmp_path: Path, fmt: str) -> tuple[dict[str, Any], str]:
    """``serve`` with ``LEADRELAY_LOG_FORMAT=fmt``; one lead posted and answered; (its answer, the log)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        "LEADRELAY_DATABASE_URL": url,
        "LEADRELAY_ENV_FILE": "",
        "LEADRELAY_LOG_FORMAT": fmt,
        "LEADRELAY_SECRET_KEY": "a-test-secret-key-of-some-length",
    }
    with process(leadrelay_cmd("serve", "--port", str(port)), env, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", timeout=STARTUP, proc=proc)
        with httpx.Client(base_url=base, timeout=30) as http:
            r = http.post("/v1/leads?wait=15", json=lead(ssn=SSN), headers=source_headers())
            assert r.status_code == 200, r.text
            answer: dict[str, Any] = r.json()
            # the links it gives (a buyer's postback URL) name the port it listens on (--port), not 8000
            [job] = http.get("/v1/distributions", params={"lead": answer["lead_id"]}, headers=ADMIN).json()[
                "items"
            ]
            shown = http.get(f"/v1/distributions/{job['id']}", headers=ADMIN).json()["deliveries"]
            assert shown and all(d["postback_url"].startswith(f"{base}/") for d in shown), shown
        wait_for(lambda: "delivery attempt" in log.read_text(), timeout=10)
    return answer, log.read_text()


def test_json_lines_carry_the_ids_and_hide_secrets(
    db_url: str, refusing: RefusingBuyer, tmp_path: Path
) -> None:
    prepare(db_url, sensitive(refusing))
    answer, text = run_and_post(db_url, tmp_path, "json")
    assert answer["status"] == "unsold"
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, text
    assert all({"event", "level", "logger", "timestamp"} <= set(line) for line in lines)
    attempts = [line for line in lines if line["event"].startswith("delivery attempt")]
    assert attempts, text
    for line in attempts:
        assert line["lead_id"] == answer["lead_id"]
        assert line["job_id"].startswith("job_")
        assert line["delivery_id"].startswith("dlv_")
        assert line["logger"] == "leadrelay.worker" and line["level"] == "info"
    assert SECRET not in text and SSN not in text and lead()["email"] not in text
    # of a buyer's answer, only its status (black-box pass, 2026-12-06: its text quoted the person)
    assert all("(HTTP 400; its answer is in the distribution's record)" in line["event"] for line in attempts)


def test_console_format_is_readable_text(sqlite_url: str, refusing: RefusingBuyer, tmp_path: Path) -> None:
    prepare(sqlite_url, sensitive(refusing))
    answer, text = run_and_post(sqlite_url, tmp_path, "console")
    attempt = next(line for line in text.splitlines() if "delivery attempt" in line)
    assert not attempt.startswith("{")
    assert f"lead_id={answer['lead_id']}" in attempt and "job_id=job_" in attempt
    assert SECRET not in text and SSN not in text and lead()["email"] not in text
