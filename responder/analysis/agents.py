"""User agents as a person reads them: tool, version and platform, grouped with their counts."""

from __future__ import annotations

import re
from collections.abc import Iterable

_FAMILY = re.compile(r"^\s*\[?([A-Za-z][\w.-]*?)[/ ]", re.ASCII)
_PLATFORMS = ("kali", "macos", "darwin", "windows", "linux", "android", "ios")


def ua_family(agent: str | None) -> str:
    """A user agent's tool and platform, without versions: ``aws-cli on darwin``, ``boto3 on linux``."""
    value = (agent or "").lower()
    match = _FAMILY.match(value)
    tool = match.group(1) if match else (value.split(" ", 1)[0] or "(none)")
    platform = next((p for p in _PLATFORMS if p in value), "")
    return f"{tool} on {platform}" if platform else tool


_TOOL_VERSION = re.compile(r"^\s*\[?([A-Za-z][\w.-]*?)/([\w.+-]+)")
_PLATFORM_NAMES = (
    ("kali", "Kali Linux"),
    ("parrot", "Parrot OS"),
    ("darwin", "macOS"),
    ("macos", "macOS"),
    ("windows", "Windows"),
    ("android", "Android"),
    ("iphone", "iOS"),
    ("linux", "Linux"),
)


def ua_label(agent: str | None) -> str:
    """What a person reads of a user agent: ``aws-cli 2.13.25 on Kali Linux``, ``Boto3 1.34.0 on Linux``."""
    value = agent or ""
    match = _TOOL_VERSION.match(value)
    tool = f"{match.group(1)} {match.group(2)}" if match else (value.split(" ", 1)[0][:40] or "(none)")
    low = value.lower()
    platform = next((name for key, name in _PLATFORM_NAMES if key in low), "")
    return f"{tool} on {platform}" if platform else tool


def ua_groups(agents: Iterable[str | None]) -> list[str]:
    """User agents grouped by tool, version and platform, busiest first: ``aws-cli 2.13.25 on Kali
    Linux (17 calls)``. The full strings stay in the report's ``user_agents``."""
    counts: dict[str, int] = {}
    for agent in agents:
        label = ua_label(agent)
        counts[label] = counts.get(label, 0) + 1
    return [
        f"{label} ({n} call{'s' if n != 1 else ''})"
        for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
