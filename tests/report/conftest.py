"""Shared pieces of the report tests: a small incident's rows, and headless Chromium when present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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


def chromium_path() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


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
