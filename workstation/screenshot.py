"""``python -m workstation.screenshot REPORT_HTML OUT_PNG``: a report.html as the analyst sees it.

Debian's Chromium, driven by Playwright, never a browser Playwright downloads (``playwright install``
is not run: a closed network cannot fetch one, and the page must look right in the browser a SOC has).
The README's picture (``make screenshot``) and the report's layout tests (tests/report) both launch
it through :func:`launched`, so what the tests measure is what the picture shows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from responder.encode import terminal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 900  # the first screen; a full-page shot grows past it
# The top of a report (summary, then the timeline) fits in this; the rest is tables, better read live.
DEFAULT_MAX_HEIGHT = 2000
# Without the background-networking flags Chromium keeps calling Google's hosts, which a closed
# network refuses, many at a time; --no-sandbox because CI and developers' machines run as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserUnavailable(RuntimeError):
    """Chromium or the playwright package is missing; the message says how to install it."""


def chromium_path() -> str | None:
    """The Chromium binary on this machine (Debian's first), or None."""
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def launched() -> Iterator[Browser]:
    """Headless Chromium under Playwright, closed on exit; each launch gets a new empty profile."""
    binary = chromium_path()
    if binary is None:
        raise BrowserUnavailable("headless Chromium not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a dev dependency: the responder itself never needs a browser
        raise BrowserUnavailable("playwright not installed (pip install -r requirements-dev.txt)") from exc
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=list(CHROMIUM_FLAGS), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, html: Path, *, width: int = DEFAULT_WIDTH) -> Page:
    """A new page ``width`` CSS px wide (one device pixel each) with ``html`` loaded."""
    page = browser.new_page(viewport={"width": width, "height": DEFAULT_HEIGHT}, device_scale_factor=1)
    page.goto(html.resolve().as_uri(), wait_until="load")
    return page


def screenshot(
    page: Page, out: Path, *, max_height: int | None = DEFAULT_MAX_HEIGHT, width: int = DEFAULT_WIDTH
) -> Path:
    """Write the page as PNG: the whole page, or its top ``max_height`` px when it is taller."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if max_height is None:
        page.screenshot(path=str(out), full_page=True)
        return out
    height = min(int(page.evaluate("document.documentElement.scrollHeight")), max_height)
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height})
    return out


def _say(text: str, stream: TextIO) -> None:
    """One line, with any control character of a path shown as text (a file name can hold one)."""
    stream.write(terminal(text) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Screenshot a report.html; exit 2 with one line on stderr when it or the browser is missing."""
    parser = argparse.ArgumentParser(prog="python -m workstation.screenshot", description=__doc__)
    parser.add_argument("report_html", type=Path, metavar="REPORT_HTML")
    parser.add_argument("out_png", type=Path, metavar="OUT_PNG")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="viewport width in CSS px")
    parser.add_argument(
        "--max-height",
        type=int,
        default=DEFAULT_MAX_HEIGHT,
        help="keep the top this many px (0: the whole page)",
    )
    args = parser.parse_args(argv)
    if not args.report_html.is_file():
        _say(
            f"screenshot: {args.report_html}: no such file (make demo writes out/demo/report.html)",
            sys.stderr,
        )
        return 2
    try:
        with launched() as browser:
            page = open_page(browser, args.report_html, width=args.width)
            screenshot(page, args.out_png, max_height=args.max_height or None, width=args.width)
    except BrowserUnavailable as exc:
        _say(f"screenshot: {exc}", sys.stderr)
        return 2
    _say(f"{args.out_png}: {args.out_png.stat().st_size // 1024} KB", sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
