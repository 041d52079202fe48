"""Shared test fixtures.

Tests that read ../shared/fixtures use :func:`shared_fixtures` and skip, saying why, where that
folder is absent (a user's fresh clone); CI has it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# jsii (the CDK's bridge to Node) prints a banner about Node 20's end of life on every synth.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,22")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = Path(os.environ.get("RESPONDER_SHARED_FIXTURES", REPO.parent / "shared" / "fixtures"))
EVENTS = Path(__file__).resolve().parent / "events"


def shared_fixture_path(*parts: str) -> Path:
    """Path under ../shared/fixtures, or skip the test with the reason."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures absent ({SHARED_FIXTURES}): they ship with CI, not with a clone")
    return SHARED_FIXTURES.joinpath(*parts)


@pytest.fixture
def shared_fixtures() -> Path:
    return shared_fixture_path()


def load_event(name: str) -> Any:
    """A saved input from tests/events/<name>.json."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a region so that no test can reach a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    from responder import clients
    from responder.settings import get_settings

    clients.reset()
    get_settings.cache_clear()
    yield
    clients.reset()
    get_settings.cache_clear()
