"""Checks of the values read from an input the attacker may have written (a finding, an AWS event,
an analyst's console input): each returns a clean value or raises :class:`InvalidInput` with what
was wrong, cut short. Display strings are data, never instructions; only the ids later steps act on
(account, key, bucket) are validated to their exact form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from responder.errors import InvalidInput
from responder.models import iso

ACCOUNT_RE = re.compile(r"^[0-9]{12}\Z")
MAX_TEXT = 512  # display strings are cut here; they are data, never instructions


def short(text: str, limit: int) -> str:
    """One line, at most ``limit`` characters: safe to show in an error message or a report."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def text(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    return short(value, MAX_TEXT)


def required(value: Any, what: str) -> str:
    found = text(value, what)
    if found is None:
        raise InvalidInput(f"{what} is missing")
    return found


def account(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ACCOUNT_RE.match(value):
        shown = short(str(value), 20) if isinstance(value, str | int) else type(value).__name__
        raise InvalidInput(f"{what} must be a 12-digit AWS account id, not {shown!r}")
    return value


def count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def iso_time(value: Any) -> str | None:
    """ISO 8601 UTC ``...Z``, or None when absent or unparseable (times here are informational)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):  # epoch seconds or milliseconds
            seconds = value / 1000 if value > 1e11 else value
            return iso(datetime.fromtimestamp(seconds, tz=UTC))
        if isinstance(value, str):
            # Panther writes "2025-02-25 20:40:06.000000000": Python parses at most 6 fraction digits.
            text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
            parsed = datetime.fromisoformat(text)
            return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def first_time(*values: Any) -> str | None:
    for value in values:
        parsed = iso_time(value)
        # EventBridge test events carry time 1970-01-01: no real finding is that old.
        if parsed and not parsed.startswith("1970-"):
            return parsed
    return None


def ips(values: Any) -> list[str]:
    """Valid IP addresses, deduplicated in order; anything else is dropped (it cannot be queried)."""
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            continue
        text = str(address)
        if not address.is_unspecified and text not in out:
            out.append(text)
    return out


def obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
