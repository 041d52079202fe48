"""The exposed key and every credential minted from it, recursively (report ``credentials``).

A session token minted by the exposed key outlives the key's deactivation; a key it created for
another user is a backdoor. Both must be found and contained, so the chain is followed to its end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from responder.analysis.rows import Row, event_name, mapping, succeeded, text

DERIVING = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRole"})
CREATING = frozenset({"CreateAccessKey"})


def minted(row: Row) -> tuple[str, str] | None:
    """(new access key id, relation) when this event minted a credential."""
    if not succeeded(row):
        return None
    name = event_name(row)
    response = mapping(row, "response_elements")
    if name in DERIVING:
        key = (response.get("credentials") or {}).get("accessKeyId")
        return (str(key), "derived") if key else None
    if name in CREATING:
        key = (response.get("accessKey") or {}).get("accessKeyId")
        return (str(key), "created") if key else None
    return None


def derive_credentials(rows: Sequence[Row], exposed_key: str) -> list[dict[str, Any]]:
    """The exposed key, then what it minted, then what those minted (breadth first)."""
    counts = Counter(text(r, "access_key_id") for r in rows)
    entries: list[dict[str, Any]] = [
        {"access_key_id": exposed_key, "relation": "exposed", "parent": None, "via": None}
    ]
    known = {exposed_key}
    frontier = [exposed_key]
    while frontier:
        parents = set(frontier)
        frontier = []
        for row in rows:
            parent = text(row, "access_key_id")
            if parent not in parents:
                continue
            found = minted(row)
            if not found or found[0] in known:
                continue
            key, relation = found
            known.add(key)
            frontier.append(key)
            entries.append(
                {
                    "access_key_id": key,
                    "relation": relation,
                    "parent": parent,
                    "via": event_name(row),
                    "minted_at": text(row, "event_time"),
                    "event_id": text(row, "event_id"),
                }
            )
    for entry in entries:
        entry["event_count"] = counts.get(entry["access_key_id"], 0)
    return entries


def complete_credentials(given: Sequence[Mapping[str, Any]], rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Caller-supplied credentials, with event_count filled from the rows where it is missing."""
    counts = Counter(text(r, "access_key_id") for r in rows)
    out: list[dict[str, Any]] = []
    for item in given:
        entry = dict(item)
        entry.setdefault("parent", None)
        entry.setdefault("via", None)
        if entry.get("event_count") is None:
            entry["event_count"] = counts.get(str(entry.get("access_key_id")), 0)
        out.append(entry)
    return out
