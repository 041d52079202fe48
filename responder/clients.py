"""One cached boto3 client factory: every client gets the same retry policy and user agent.

Service functions take clients as arguments; only handlers and the CLI call :func:`client`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from responder import __version__
from responder.accounts import SESSION_SECONDS, Power, assume_member
from responder.errors import (
    THROTTLING_CODES,
    Throttled,
    error_code,
)

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
    _MEMBER_SESSIONS.clear()


# (account, power, incident) -> (expires at, credentials): a warm Lambda reuses a member session.
_MEMBER_SESSIONS: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
_MEMBER_MARGIN = 120.0  # seconds of a session left unused: a step never starts a call on a dying one


def member_client(
    service: str,
    account_id: str,
    power: Power,
    incident_id: str,
    *,
    region: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """A client acting in member ``account_id`` as its ``responder-member-<power>`` role, the session
    named after the incident (:func:`responder.accounts.assume_member`); sessions are reused until
    :data:`_MEMBER_MARGIN` before they expire."""
    key = (account_id, power, incident_id)
    now = clock()
    cached = _MEMBER_SESSIONS.get(key)
    if cached is None or cached[0] <= now:
        creds = assume_member(client("sts"), account_id, power, incident_id)
        cached = (now + SESSION_SECONDS - _MEMBER_MARGIN, creds)
        _MEMBER_SESSIONS[key] = cached
    return boto3.client(service, region_name=region, config=_CONFIG, **cached[1])


def acting_client(account_id: str, own_account: str, power: Power, incident_id: str) -> Callable[[str], Any]:
    """The client factory a step uses for the incident's account: this account's own clients, or the
    member's through its role (a hub deployment)."""
    if account_id == own_account:
        return client
    return functools.partial(member_client, account_id=account_id, power=power, incident_id=incident_id)


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def throttling_retried(handler: _Handler) -> _Handler:
    """A handler whose throttled AWS call (past the SDK's retries) ends as ``Throttled``, by name.

    The ASL retries ``Throttled`` with backoff; a bare ``ClientError`` would go straight to the Catch.
    Service code has already recorded what it did by the time the error reaches the handler, so a
    retry of the whole step is safe (every step is idempotent: conditional claims, write-once
    evidence, ``already_done``).
    """

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code in THROTTLING_CODES:
                raise Throttled(f"{exc.operation_name} {code} past the SDK's retries") from exc
            raise

    return wrapped  # type: ignore[return-value]


READ_BACK_DELAYS = (0.0, 0.5, 1.0, 2.0, 4.0)  # IAM is eventually consistent: read again, bounded (~7.5 s)


def read_back(
    read: Callable[[], Any], good: Callable[[Any], bool], sleep: Callable[[float], None]
) -> tuple[bool, Any]:
    """Read until ``good`` holds, with the bounded :data:`READ_BACK_DELAYS`; (held, last value read)."""
    value: Any = None
    for delay in READ_BACK_DELAYS:
        if delay:
            sleep(delay)
        value = read()
        if good(value):
            return True, value
    return False, value


def account_of(context: Any) -> str | None:
    """The account this function runs in, from its ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME).

    A manual input usually names no account; the responder is deployed in the account it protects,
    so its own account is the right default. Reading it from the context costs no STS call, no
    permission and no extra environment variable.
    """
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None
