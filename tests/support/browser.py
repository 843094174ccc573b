"""A headless Chromium for the browser tests: Debian's ``chromium``, driven by Playwright.

The tests never download a browser (no ``playwright install``): they use the system's
chromium at :data:`CHROMIUM`. When it is missing the tests are skipped, unless
``OPENBELL_REQUIRE_BROWSER=1`` is set (CI sets it), in which case they fail.

Use it from a module-scoped fixture, one browser per test module (and per xdist worker)::

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Browser]:
        with launched_browser() as launched:
            yield launched
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "OPENBELL_REQUIRE_BROWSER"
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def chromium_path() -> Path:
    """Debian's chromium; the test is skipped (or fails, under ``OPENBELL_REQUIRE_BROWSER=1``)
    when it is not installed."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = (
        f"browser tests: expected Debian's chromium at {CHROMIUM}, found none "
        "(apt-get install chromium; never `playwright install`)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(message)


@contextmanager
def launched_browser() -> Iterator[Browser]:
    """A headless chromium for the length of the ``with`` block (Playwright's sync API)."""
    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=list(ARGS))
        try:
            yield browser
        finally:
            browser.close()
