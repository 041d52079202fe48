"""Shared pieces of the report tests: headless Chromium when present, bare (--dump-dom) or under Playwright."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# One launch recipe for the tests and the README's screenshot (make screenshot).
from workstation.screenshot import CHROMIUM_FLAGS, BrowserUnavailable, chromium_path, launched, open_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def dump_dom(tmp_path: Path):
    """Open a file in headless Chromium and return the DOM it built (skip where Chromium is absent)."""
    binary = chromium_path()
    if binary is None:
        pytest.skip(
            "headless Chromium not installed (apt-get install -y chromium): HTML rendering not checked"
        )

    def run(page: Path) -> str:
        profile = tmp_path / "chromium-profile"
        done = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run


# Per module, not per session: Playwright's sync API keeps an event loop open while it runs.
@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    """One Chromium under Playwright for the module (skip where Chromium or playwright is absent)."""
    try:
        with launched() as browser:
            yield browser
    except BrowserUnavailable as exc:
        pytest.skip(f"{exc}: the report's layout in a browser not checked")


@pytest.fixture
def browser_page(chromium_browser: Browser) -> Iterator[Callable[[Path], Page]]:
    """Open a file in a new 1280 px wide page of that Chromium; the pages close after the test."""
    pages: list[Page] = []

    def open_(html: Path) -> Page:
        pages.append(open_page(chromium_browser, html))
        return pages[-1]

    yield open_
    for page in pages:
        page.close()
