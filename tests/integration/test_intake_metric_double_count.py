"""`leadrelay_intake_leads_total` counts each intake request once (README: "`repeat` (an Idempotency-Key
repeat) or `refused` (an error answer ...)"): a keyed repeat answered 409 (the first request still waiting for
its outcome) is `refused` only. (The intake service counted it `repeat` before the entry point counted the 409
`refused`.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from leadrelay.adapters.db.tables import leads
from leadrelay.simulate.buyers import BuyersThread
from tests.integration.test_intake_api import count
from tests.integration.test_metrics import buyers, scrape, value  # noqa: F401 (fixture)
from tests.support import ServerThread, base_config, lead, prepare, source_headers, wait_for

NAME = "leadrelay_intake_leads_total"


def _total(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items() if name == NAME)


def test_a_409_repeat_is_counted_once(db_url: str, buyers: BuyersThread) -> None:  # noqa: F811
    prepare(db_url, base_config(buyers.url))
    headers = {**source_headers(), "Idempotency-Key": "slow-1"}
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        before = scrape(http)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(http.post, "/v1/leads?wait=2", json=lead(), headers=headers)
            wait_for(lambda: count(db_url, leads) == 1)
            during = http.post("/v1/leads", json=lead(), headers=headers)
            assert first.result().status_code == 202
        assert during.status_code == 409, during.text
        after = scrape(http)
    counted = {
        status: value(after, NAME, status=status) - value(before, NAME, status=status)
        for status in ("queued", "repeat", "refused")
    }
    # two requests: one stored (queued), one refused with 409
    assert _total(after) - _total(before) == 2, counted
    assert counted == {"queued": 1, "repeat": 0, "refused": 1}
