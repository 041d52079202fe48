"""The query engine the three query steps share, and the permissions each engine needs.

A warm Lambda keeps its engine between invocations; the local DuckDB engine also keeps its results
in-process, which is what lets StartQuery, QueryStatus and QueryResults run as separate steps.
"""

from __future__ import annotations

from responder.clients import client
from responder.permissions import Permission
from responder.query import ENGINE_SPECS, PollingEngine, engine_from_settings
from responder.settings import Settings, get_settings

# Every engine's calls: the engine is chosen by configuration, and the stack grants only the chosen
# engine's (its references), so a step's role holds what the code it runs can call.
# Engines that share a resource share its Permission (Athena's workgroup): each is declared once.
ENGINE_PERMISSIONS: tuple[Permission, ...] = tuple(
    dict.fromkeys(p for spec in ENGINE_SPECS.values() for p in spec.permissions)
)

_CACHED: list[tuple[Settings, PollingEngine]] = []


def engine() -> PollingEngine:
    """One engine per settings object (per warm container; the local runner swaps settings)."""
    settings = get_settings()
    if not _CACHED or _CACHED[0][0] is not settings:
        built = engine_from_settings(settings, client)
        _CACHED[:] = [(settings, built)]
    return _CACHED[0][1]
