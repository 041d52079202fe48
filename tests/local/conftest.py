"""Fixtures of the local-runner tests: an emulated account configured as the runner needs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from workstation.local import MOTO_CONFIG

ASL = Path(__file__).resolve().parent / "asl"


def load_asl(name: str) -> str:
    """A test workflow from tests/local/asl/<name>.asl.json (never the product ASL)."""
    return (ASL / f"{name}.asl.json").read_text()


@pytest.fixture
def emulated_aws(aws_env: None) -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture(scope="session", autouse=True)
def _sfn_interpreter_imported() -> None:
    # moto's ASL interpreter takes ~1.5 s to import, once per process: pay it here, not in a test.
    import moto.stepfunctions.parser.models  # noqa: F401
