"""The log formatter (``adapters.observability.logs``): stdlib log calls come out as JSON lines with the
ids bound for the task, and secrets masked wherever they are (keys named like secrets, leadrelay keys and
Bearer credentials inside any text, a traceback included)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from leadrelay import log_context
from leadrelay.adapters.observability.logs import REDACTED, configure_logging, redacted, use_json


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        log_context.clear()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_stdlib_call_is_one_json_line(json_log: io.StringIO) -> None:
    logging.getLogger("leadrelay.worker").warning("released %d unfinished jobs", 3)
    [line] = lines(json_log)
    assert line["event"] == "released 3 unfinished jobs"
    assert line["level"] == "warning" and line["logger"] == "leadrelay.worker"
    assert line["timestamp"].endswith("Z")


def test_below_the_level_nothing_is_written(json_log: io.StringIO) -> None:
    logging.getLogger("leadrelay.worker").debug("claimed")
    assert json_log.getvalue() == ""


def test_bound_ids_are_on_the_task_s_lines_only(json_log: io.StringIO) -> None:
    log = logging.getLogger("leadrelay.worker")

    async def job(n: int) -> None:
        log_context.bind(lead_id=f"lead_{n}", job_id=f"job_{n}", delivery_id=None)
        await asyncio.sleep(0)
        log.info("working on %d", n)

    async def main() -> None:
        await asyncio.gather(job(1), job(2))
        log.info("outside")

    asyncio.run(main())
    got = {line["event"]: line for line in lines(json_log)}
    assert got["working on 1"]["lead_id"] == "lead_1" and got["working on 1"]["job_id"] == "job_1"
    assert got["working on 2"]["lead_id"] == "lead_2"
    assert "delivery_id" not in got["working on 1"]  # None is not bound
    assert "lead_id" not in got["outside"]


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("source key lr_test_source_key_0001 refused", f"source key {REDACTED} refused"),
        ("partner key lrp_live_abcdef123 rotated", f"partner key {REDACTED} rotated"),
        ("admin token lra_test_admin_token_0001", f"admin token {REDACTED}"),
        ("header Authorization: Bearer eyJhbGciOi.x.y", f"header Authorization: Bearer {REDACTED}"),
        ("basic auth Basic dXNlcjpwYXNz, then", f"basic auth Basic {REDACTED}, then"),
        ("lead lead_06h3 for ptr_x, job job_1", "lead lead_06h3 for ptr_x, job job_1"),  # ids stay
    ],
)
def test_secrets_in_the_message_are_masked(json_log: io.StringIO, message: str, shown: str) -> None:
    logging.getLogger("leadrelay.api").warning(message)
    assert lines(json_log)[0]["event"] == shown


def test_fields_named_like_secrets_are_masked_at_any_depth(json_log: io.StringIO) -> None:
    extra = {
        "api_key": "anything",
        "password": "hunter2",
        "request": {"headers": {"Authorization": "xyz", "X-Api-Key": "k", "Accept": "json"}, "url": "/a"},
        "oauth": [{"access_token": "t", "scope": "leads"}],
        "note": "with lr_abcdefgh inside",
    }
    logging.getLogger("leadrelay.channels").warning("posting", extra=extra)
    [line] = lines(json_log)
    assert line["api_key"] == REDACTED and line["password"] == REDACTED
    assert line["request"] == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "json"},
        "url": "/a",
    }
    assert line["oauth"] == [{"access_token": REDACTED, "scope": "leads"}]
    assert line["note"] == f"with {REDACTED} inside"


def test_a_traceback_is_masked_too(json_log: io.StringIO) -> None:
    try:
        raise ValueError("bad key lr_live_key_999999")
    except ValueError:
        logging.getLogger("leadrelay.worker").exception("job failed")
    [line] = lines(json_log)
    assert "ValueError: bad key [redacted]" in line["exception"]
    assert "lr_live_key_999999" not in json_log.getvalue()


def test_redacted_helper() -> None:
    assert redacted({"token": "x", "n": 1}) == {"token": REDACTED, "n": 1}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("fmt", "stream", "as_json"),
    [
        ("auto", _Tty(), False),
        ("auto", io.StringIO(), True),
        ("json", _Tty(), True),
        ("console", io.StringIO(), False),
    ],
)
def test_json_unless_on_a_terminal(fmt: str, stream: io.StringIO, as_json: bool) -> None:
    assert use_json(fmt, stream) is as_json


def test_console_lines_are_text_with_the_ids_and_masked_tracebacks() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("console", "info", stream)
    try:
        log_context.bind(lead_id="lead_7")
        try:
            raise RuntimeError("token lr_live_key_777777 refused")
        except RuntimeError:
            logging.getLogger("leadrelay.worker").exception("job failed")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        log_context.clear()
    text = stream.getvalue()
    assert not text.startswith("{") and "job failed" in text and "lead_id=lead_7" in text
    assert "RuntimeError: token [redacted] refused" in text and "lr_live_key_777777" not in text
