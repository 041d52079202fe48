"""The attacker apart from the key's owner: each source address of the key's activity labelled
``attacker``, ``owner`` or ``unknown``, with its reasons (report ``actors``).

An exposed key is usually used by two parties: its owner, as every day, and whoever found it. Their
calls are mixed in the same logs, and an analysis that takes the owner's routine for the attacker's
recon (or the owner's office for the attacker's address) misleads the SOC. The separation is
conservative, because what it calls the owner's is left out of the findings, attribution, timing,
inventory and timeline:

* **attacker**: an address with a strong signal: a Tor exit, an address of the team's threat list,
  a hosting or VPN provider, offensive tooling in its user agents (Kali, Pacu, TruffleHog...), or
  named by the finding itself;
* **owner**: an address with no strong signal that used the key *before* the first attacker call
  (the baseline), or that shares a /24 (IPv6: /48) network and a user-agent family with such an
  address afterwards;
* **unknown**: everything else, and every address when nothing is a strong signal (the two cannot
  be told apart, so nothing is set aside).

Bucket policy and trust changes, and data access, are judged on every event whatever its label: a
backdoor is a backdoor, and the label is a judgement, not a fact.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from responder.analysis.agents import ua_family
from responder.analysis.attribution import OFFENSIVE_TOOLS
from responder.analysis.rows import Row, text

Label = str  # attacker | owner | unknown
_STRONG_CLASSES = {
    "tor": "a Tor exit node",
    "threat-list": "on the team's threat list",
    "hosting": "a hosting provider",
    "vpn": "a VPN provider",
}


def _network(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False))


def label_actors(
    rows: Sequence[Row], ips: Sequence[Mapping[str, Any]], finding_ips: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """One entry per source address (as report ``source_ips`` lists them): its label, reasons, and
    the first anomalous call the baseline is cut at."""
    named = set(finding_ips)
    agents: dict[str, set[str]] = {}
    for row in rows:
        agents.setdefault(text(row, "source_ip") or "(none)", set()).add(text(row, "user_agent") or "")
    strong: dict[str, list[str]] = {}
    for entry in ips:
        ip = str(entry["ip"])
        why = []
        if entry.get("classification") in _STRONG_CLASSES:
            why.append(_STRONG_CLASSES[str(entry["classification"])])
        if entry.get("threat_list"):
            why.append("on the team's threat list")
        tools = sorted(
            {name for ua in agents.get(ip, ()) for k, name in OFFENSIVE_TOOLS.items() if k in ua.lower()}
        )
        if tools:
            why.append(f"offensive tooling in its user agents ({', '.join(tools)})")
        if ip in named:
            why.append("named by the finding")
        if why:
            strong[ip] = sorted(set(why))
    first_seen = {str(e["ip"]): str(e.get("first_seen") or "") for e in ips}
    if not strong:
        return [
            {
                "ip": str(e["ip"]),
                "label": "unknown",
                "reasons": [
                    "no address shows a strong signal: the owner's calls and any attacker's cannot be told apart"
                ],
                "event_count": e["event_count"],
            }
            for e in ips
        ]
    anomaly = min(first_seen[ip] for ip in strong)
    baseline = {
        str(e["ip"])
        for e in ips
        if str(e["ip"]) not in strong and first_seen[str(e["ip"])] and first_seen[str(e["ip"])] < anomaly
    }
    owner_networks = {_network(ip) for ip in baseline} - {None}
    owner_families = {ua_family(ua) for ip in baseline for ua in agents.get(ip, ())}
    out = []
    for e in ips:
        ip = str(e["ip"])
        if ip in strong:
            label, reasons = "attacker", strong[ip]
        elif ip in baseline:
            label = "owner"
            reasons = [f"used the key before the first anomalous call ({anomaly}), with no strong signal"]
        elif (
            _network(ip) in owner_networks and {ua_family(ua) for ua in agents.get(ip, ())} <= owner_families
        ):
            label = "owner"
            reasons = ["the owner's network and user-agent family, no strong signal"]
        else:
            label, reasons = (
                "unknown",
                [f"first seen after the first anomalous call ({anomaly}), no strong signal"],
            )
        out.append(
            {"ip": ip, "label": label, "reasons": reasons, "event_count": e["event_count"], "since": anomaly}
        )
    return out


def owner_summary(rows: Sequence[Row], actors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The owner's activity, on its own: how much, when, from where, doing what (top calls)."""
    owner = owner_ips(actors)
    mine = owner_rows(rows, actors)
    times = sorted(t for r in mine if (t := text(r, "event_time")))
    names: dict[str, int] = {}
    for row in mine:
        names[text(row, "event_name") or "?"] = names.get(text(row, "event_name") or "?", 0) + 1
    return {
        "source_ips": sorted(owner),
        "event_count": len(mine),
        "first_event": times[0] if times else None,
        "last_event": times[-1] if times else None,
        "user_agent_families": sorted({ua_family(text(r, "user_agent")) for r in mine}),
        "top_events": [f"{n} x{c}" for n, c in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[:10]],
    }


def owner_ips(actors: Sequence[Mapping[str, Any]]) -> set[str]:
    """The addresses labelled owner: one rule for the owner's rows and the suspects'."""
    return {a["ip"] for a in actors if a["label"] == "owner"}


def owner_rows(rows: Sequence[Row], actors: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The owner's events: those :func:`suspect_rows` leaves out."""
    owner = owner_ips(actors)
    return [r for r in rows if (text(r, "source_ip") or "(none)") in owner]


def suspect_rows(rows: Sequence[Row], actors: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The events that are not the owner's: what findings, attribution and inventory are about."""
    owner = owner_ips(actors)
    return [r for r in rows if (text(r, "source_ip") or "(none)") not in owner]
