"""One cached boto3 client factory: every client gets the same retry policy and user agent.

Service functions take clients as arguments; only handlers and the CLI call :func:`client`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from responder import __version__

# Standard mode retries throttling and 5xx with backoff; the state machine retries on top of that.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    user_agent_extra=f"aws-incident-responder/{__version__}",
)


@lru_cache(maxsize=32)
def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` with the shared config (cached per service and region)."""
    return boto3.client(service, region_name=region, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (the local runner and tests call this when they swap the backend)."""
    client.cache_clear()
