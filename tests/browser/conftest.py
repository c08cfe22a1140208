"""The browser tier: Playwright (the pip package) driving Debian's Chromium at /usr/bin/chromium; no
browser is downloaded. One browser for the package's tests (they run one after another on one xdist
worker: a launch and a close are about 1.3 CPU-seconds, and the tier took about 11 fewer with one browser
than with one per module, alternated twice), one context (cookies, storage) per test, and a real leadrelay
server on loopback per test. Not one browser for the session: Playwright's sync API keeps an event loop
running on the main thread while it is open, and every later test of the same xdist worker that calls
``asyncio.run`` there would fail ("cannot be called from a running event loop"); pytest closes a package's
fixture as soon as the next test is outside the package. Screenshots go
to ``tests/artifacts/browser`` (or ``$LEADRELAY_ARTIFACTS``), which git ignores."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_ALL
from tests.support import ROOT

CHROMIUM = os.environ.get("LEADRELAY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LEADRELAY_ARTIFACTS") or ROOT / "tests" / "artifacts" / "browser")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem is not None:
        if REQUIRE_ALL:
            pytest.fail(f"LEADRELAY_REQUIRE_ALL=1 and {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-dev-shm-usage"],  # as root in a container
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
