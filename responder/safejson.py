"""JSON that an attacker wrote, read within limits: bounded depth and size, one rule for duplicate keys.

CloudTrail records carry request parameters the caller chose. Python's ``json`` recurses once per
nesting level (``loads`` and ``dumps`` both), so a value nested ~1,000 deep raises RecursionError in
whatever touches it. Every reader of a CloudTrail document goes through :func:`load_json`, which
measures the depth without recursing and refuses (keeping the text) what is too deep or too large.

Duplicate keys: DuckDB (yyjson) reads the first value of a duplicated key; Python's ``json`` the last.
Here the first wins too, so the saved queries and the analysis read the same record the same way, and
the document is reported as having a duplicate key. Low floor: imports nothing of the domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 64  # CloudTrail documents nest ~10 deep (a bucket policy's conditions); deeper is hostile
MAX_VALUE_BYTES = 256 * 1024  # CloudTrail's own limit on one event; a larger value is not CloudTrail's

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonLimit(ValueError):
    """A JSON document over a limit (too deep, too large); the message says which."""


class _FirstWins(dict[str, Any]):
    """An object whose duplicated keys keep their first value (as DuckDB reads them)."""

    duplicates: list[str]


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = _FirstWins()
    dupes: list[str] = []
    for key, value in pairs:
        if key in out:
            dupes.append(key)
        else:
            out[key] = value
    out.duplicates = dupes
    return out


def text_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of JSON text, counted up to ``limit + 1`` (no recursion, no parsing)."""
    if text.count("{") + text.count("[") <= limit:
        return min(limit, text.count("{") + text.count("["))  # an upper bound, within the limit
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
    return deepest


def value_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of a parsed value, counted up to ``limit + 1`` (no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth) for v in (item.values() if isinstance(item, Mapping) else item))
    return deepest


def check_text(text: str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_VALUE_BYTES) -> None:
    """JsonLimit when ``text`` is larger than ``max_bytes`` or nested deeper than ``max_depth``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise JsonLimit(f"larger than {max_bytes} bytes ({size} bytes)")
    if text_depth(text, max_depth) > max_depth:
        raise JsonLimit(f"nested deeper than {max_depth} levels")


def duplicate_keys(value: Any) -> list[str]:
    """The keys :func:`load_json` found duplicated anywhere in ``value`` (first value kept)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found += getattr(item, "duplicates", [])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(found))


def load_json(text: str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_VALUE_BYTES) -> Any:
    """Parse JSON text within the limits (JsonLimit, else ValueError when not JSON); duplicate keys:
    the first value wins, and :func:`duplicate_keys` lists them."""
    check_text(text, max_depth=max_depth, max_bytes=max_bytes)
    return json.loads(text, object_pairs_hook=_first_wins)


def dumps_within(value: Any, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> str:
    """``json.dumps`` of a parsed value, JsonLimit when it is nested deeper than ``max_depth``."""
    if value_depth(value, max_depth) > max_depth:
        raise JsonLimit(f"nested deeper than {max_depth} levels")
    return json.dumps(value, **kwargs)
