"""What the Markdown and the HTML report both show, computed once: the inventory's rows, sizes in bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVENTORY_HEADERS = ["Change", "Event", "Time", "Target", "Detail", "Result"]


def inventory_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """The inventory's created/modified/deleted entries as table rows (Markdown and HTML share them)."""
    inv = report.get("inventory") or {}
    return [
        [
            kind,
            e["event_name"],
            e["event_time"],
            e["target"],
            e.get("detail"),
            "ok" if e["succeeded"] else f"failed ({e.get('error_code')})",
        ]
        for kind in ("created", "modified", "deleted")
        for e in inv.get(kind, [])
    ]


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
