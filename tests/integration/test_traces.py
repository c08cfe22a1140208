"""OpenTelemetry traces of a real ``leadrelay serve``, switched on by the standard variables and sent over
OTLP/HTTP to a real receiver on 127.0.0.1 (an aiohttp server decoding the protobuf requests): one span per
stage of the lead (intake, routing, the auction's pings, delivery), each with the lead's id."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from leadrelay.simulate.bidding import BiddingOptions
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_auction import auction_config
from tests.support import (
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

pytestmark = pytest.mark.slow

LEAD = "leadrelay.lead_id"


class Receiver:
    """An OTLP/HTTP trace receiver: keeps every span it is sent, with its service's resource attributes."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["Content-Type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        got = []
        for rs in export.resource_spans:
            resource = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    got.append(
                        {"name": span.name, "attributes": attributes, "resource": resource, "span": span}
                    )
        with self.lock:
            self.spans.extend(got)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def named(self, name: str, lead_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                s
                for s in self.spans
                if s["name"] == name and s["attributes"].get("leadrelay.lead_id") == lead_id
            ]

    def __enter__(self) -> Receiver:
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_each_stage_of_a_lead_is_a_span_with_its_id(db_url: str, receiver: Receiver, tmp_path: Path) -> None:
    prices = {name: BiddingOptions(bid_min=p, bid_max=p) for name, p in (("sunco", 12), ("brightpath", 15))}
    prices["voltedge"] = BiddingOptions(bid_min=11, bid_max=11)
    with BuyersThread(accept_rate=1.0, bidders=prices) as buyers:  # an auction: brightpath's bid wins
        prepare(db_url, auction_config(buyers.url, buyers.ping_url))
        port = free_port()
        env = {
            "LEADRELAY_DATABASE_URL": db_url,
            "LEADRELAY_ENV_FILE": "",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        with process(leadrelay_cmd("serve", "--port", str(port)), env, log=tmp_path / "serve.log") as proc:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/health", timeout=STARTUP, proc=proc)
            with httpx.Client(base_url=base, timeout=30) as http:
                r = http.post("/v1/leads?wait=15", json=lead(), headers=source_headers())
            answer = r.json()
            assert answer["status"] == "delivered", r.text
            lead_id = answer["lead_id"]
            stages = ("intake", "routing", "auction", "delivery")
            wait_for(lambda: all(receiver.named(n, lead_id) for n in stages), timeout=STARTUP)
    [intake] = receiver.named("intake", lead_id)
    [routing] = receiver.named("routing", lead_id)
    [auction] = receiver.named("auction", lead_id)
    [delivery] = receiver.named("delivery", lead_id)
    assert intake["attributes"]["leadrelay.source"] == "web"
    assert intake["attributes"]["leadrelay.status"] == "delivered"
    assert routing["attributes"]["leadrelay.outcome"] == "auction"
    assert auction["attributes"]["leadrelay.pings"] == 3
    assert auction["attributes"]["leadrelay.job_id"] == routing["attributes"]["leadrelay.job_id"]
    assert routing["attributes"]["leadrelay.job_id"].startswith("job_")
    assert delivery["attributes"]["leadrelay.partner"] == "brightpath"
    assert delivery["attributes"]["leadrelay.outcome"] == "success"
    assert delivery["attributes"]["leadrelay.delivery_id"].startswith("dlv_")
    assert delivery["attributes"]["http.response.status_code"] == 200
    assert delivery["attributes"]["leadrelay.job_id"] == routing["attributes"]["leadrelay.job_id"]
    assert intake["resource"]["service.name"] == "leadrelay"
    span = delivery["span"]
    assert span.end_time_unix_nano > span.start_time_unix_nano
