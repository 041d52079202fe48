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


CREDENTIAL_HEADERS = ("Access key", "Relation", "Minted by", "How", "When", "For", "From", "Events")
SAME_IP_HEADERS = ("Access key", "Shared address", "Events")
SAME_IP_NOTE = "Other access keys used from the key's source addresses (same actor, other credentials?):"
ACTOR_HEADERS = ("Address", "Label", "Events", "Why")
CLASSIFICATION_HEADERS = ("Bucket", "Classification", "Source", "Detail")
CLASSIFICATION_NOTE = "What the touched buckets hold:"


def same_ip_leads(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Other keys used from the key's addresses, but the owner's: a colleague at the owner's office is
    no lead on the attacker (``from_owner_address``)."""
    return [
        c for c in report["credentials"] if c["relation"] == "same_ip" and not c.get("from_owner_address")
    ]


def actor_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [a["ip"], a["label"], a["event_count"], "; ".join(a["reasons"])] for a in report.get("actors") or []
    ]


def owner_sentence(report: Mapping[str, Any]) -> str | None:
    """The owner's activity in one sentence (plain text: each renderer encodes it), or None."""
    owner = report.get("owner_activity") or {}
    if not owner.get("event_count"):
        return None
    return (
        f"The owner's activity, set apart from the findings, attribution, inventory and timeline: "
        f"{owner['event_count']} calls from {', '.join(owner['source_ips'])} between "
        f"{owner['first_event']} and {owner['last_event']} ({', '.join(owner['user_agent_families'])}); "
        f"mostly {', '.join(owner['top_events'][:5])}."
    )


def classification_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [c["bucket"], c["classification"], c["source"], c.get("detail")]
        for c in report.get("data_classification") or []
    ]


def credential_rows(report: Mapping[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The report's credentials as table rows: ``(followed from the key, seen from its addresses)``.

    A credential found but not followed (the run's limit) says so instead of showing 0 events."""
    chain: list[list[Any]] = []
    same_ip = [[c["access_key_id"], c.get("via"), c["event_count"]] for c in same_ip_leads(report)]
    for c in report["credentials"]:
        if c["relation"] == "same_ip":
            continue
        events = (
            c["event_count"] if c.get("investigated") is not False else "not investigated (limit reached)"
        )
        chain.append(
            [
                c["access_key_id"],
                c["relation"],
                c.get("parent"),
                c.get("via"),
                c.get("minted_at"),
                c.get("minted_for"),
                c.get("minted_from"),
                events,
            ]
        )
    return chain, same_ip
