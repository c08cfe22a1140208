"""Running a command against the installation's runtime (``build_runtime``), and showing its answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from leadrelay.bootstrap import Runtime, build_runtime
from leadrelay.entrypoints.commands.common import fail, out, settings_for
from leadrelay.errors import LeadrelayError

T = TypeVar("T")


def with_runtime(database_url: str | None, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        rt = build_runtime(settings_for(database_url))
        try:
            return await fn(rt)
        finally:
            await rt.stop()

    try:
        return asyncio.run(main())
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))
