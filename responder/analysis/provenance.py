"""Where the exposed key came from: the call that returned it (the ``key_provenance`` rows).

A key is created by another identity (a console session, an administrator's key, the attacker's session)
and that call is in the logs even when the key itself made no call there. Its fields are the
attacker's to write only as far as the creator could: the report shows them as the logs say, encoded by
each renderer, and never acts on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The columns of key_provenance.sql the report keeps, under the same names.
FIELDS: tuple[str, ...] = (
    "event_time",
    "event_name",
    "created_for",
    "created_status",
    "creator_arn",
    "creator_type",
    "creator_access_key_id",
    "source_ip",
    "user_agent",
    "aws_region",
    "account_id",
    "event_id",
)


def key_provenance(
    access_key_id: str,
    rows: Iterable[Mapping[str, Any]] | None,
    window_start: str,
    actors: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """report.json's ``provenance``: the first call that returned the key (CreateAccessKey for a user's
    key, AssumeRole or GetSessionToken for a session), or ``found`` false and why.

    ``rows``: the key_provenance rows, oldest first (None: the query did not run). ``actors``: the
    report's labels of the key's own addresses: a creation from one of them is labelled the same."""
    if rows is None:
        return {
            "access_key_id": access_key_id,
            "found": False,
            "looked_up": False,
            "note": "not looked up: the key_provenance query did not run",
        }
    found = list(rows)
    if not found:
        return {
            "access_key_id": access_key_id,
            "found": False,
            "looked_up": True,
            "note": (
                f"no call in the logs of the window created {access_key_id}: it was created before "
                f"{window_start}, or in a trail these logs do not hold"
            ),
        }
    first = found[0]
    labels = {str(a.get("ip")): str(a.get("label")) for a in actors}
    out: dict[str, Any] = {"access_key_id": access_key_id, "found": True, "looked_up": True}
    out.update({name: first.get(name) for name in FIELDS})
    out["actor"] = labels.get(str(first.get("source_ip")), "unknown")
    # More than one call returning one key id cannot happen in AWS: a second one is a forged record.
    out["other_calls"] = len(found) - 1
    return out


def with_provenance(credentials: list[dict[str, Any]], provenance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The exposed credential's minting columns (via, minted_at, minted_for, minted_from, minted_by)
    filled from its provenance, as a derived credential's are from its parent's minting call."""
    if not provenance.get("found"):
        return credentials
    for cred in credentials:
        if cred.get("relation") != "exposed":
            continue
        cred["via"] = cred.get("via") or provenance.get("event_name")
        cred["minted_at"] = cred.get("minted_at") or provenance.get("event_time")
        cred["minted_for"] = cred.get("minted_for") or provenance.get("created_for")
        cred["minted_from"] = cred.get("minted_from") or provenance.get("source_ip")
        cred["minted_by"] = provenance.get("creator_arn")
    return credentials


def provenance_sentence(report: Mapping[str, Any]) -> str | None:
    """Where the key came from, in one sentence (plain text: each renderer encodes it), or None."""
    p = report.get("provenance") or {}
    if not p:
        return None
    key = p.get("access_key_id")
    if not p.get("found"):
        return f"Where {key} came from: {p.get('note')}." if p.get("looked_up") else None
    creator = p.get("creator_arn") or "an unnamed identity"
    kind = f" ({p['creator_type']})" if p.get("creator_type") else ""
    with_key = f" with key {p['creator_access_key_id']}" if p.get("creator_access_key_id") else ""
    agent = f" using {p['user_agent']}" if p.get("user_agent") else ""
    actor = f", an address labelled {p['actor']}" if p.get("actor") in {"attacker", "owner"} else ""
    made_for = f" for {p['created_for']}" if p.get("created_for") else ""
    extra = (
        f" {p['other_calls']} further call(s) claim to have returned the same key id: forged records?"
        if p.get("other_calls")
        else ""
    )
    return (
        f"Where {key} came from: {p.get('event_name')} at {p.get('event_time')}{made_for}, by "
        f"{creator}{kind}{with_key} from {p.get('source_ip') or 'no address'}{actor}{agent} "
        f"(event {p.get('event_id')}).{extra}"
    )
