"""What AWS's signal said, in one wording for the report (its "What AWS reported" section and next
steps) and the SOC message: where AWS Health found the key, and an attack sequence's indicators and
signals beside the responder's own analysis.

Input is the incident as JSON (``report["incident"]``, or an :class:`Incident` dumped): every value
in it came from the event and is data; the callers encode it for where it goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from responder.next_steps import listed

SIGNAL_HEADERS = ("Signal", "Type", "First seen", "Last seen", "Count")
INDICATOR_HEADERS = ("Indicator", "Title", "Values")


def _extra(incident: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = (incident or {}).get(key)
    return value if isinstance(value, Mapping) else {}


def _urls(exposure: Mapping[str, Any]) -> list[str]:
    """Where AWS Health found the key."""
    return [str(u) for u in exposure.get("exposed_urls") or []]


def _keys(sequence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The access keys the attack sequence names (each with its account and holder)."""
    return [k for k in sequence.get("keys") or [] if isinstance(k, Mapping)]


def facts(incident: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) rows of what AWS reported; [] when the run was not started by such a signal."""
    exposure, sequence = _extra(incident, "exposure"), _extra(incident, "sequence")
    rows: list[tuple[str, str]] = []
    if exposure:
        urls = _urls(exposure)
        rows += [
            ("Reported by", f"AWS Health, {exposure.get('event_type')} ({exposure.get('event_arn')})"),
            ("Where the key was found", listed(urls) if urls else "AWS Health's description names no URL"),
            ("Keys named", listed([str(k) for k in exposure.get("access_keys") or []])),
            ("Reported at", str(exposure.get("start_time") or "-")),
        ]
        if exposure.get("description"):
            rows.append(("AWS's description", str(exposure["description"])))
    if sequence:
        keys = [str(k.get("access_key_id")) for k in _keys(sequence)]
        rows += [
            ("Reported by", f"GuardDuty attack sequence {sequence.get('uid')}"),
            ("Description", str(sequence.get("description") or "-")),
            ("Access keys", listed(keys, 10) if keys else "none"),
            ("Principals", listed([str(p) for p in sequence.get("principals") or []], 10) or "none"),
            ("Addresses", listed([str(a) for a in sequence.get("addresses") or []], 10) or "none"),
            ("Buckets", listed([str(b) for b in sequence.get("buckets") or []], 10) or "none"),
            ("High-risk and other calls", listed([str(a) for a in sequence.get("apis") or []], 10) or "none"),
        ]
    return rows


def indicator_rows(incident: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """GuardDuty's indicators of the sequence (Tor, malicious IP, unusual ASN, high-risk API, tactics)."""
    out = []
    for ind in _extra(incident, "sequence").get("indicators") or []:
        values = [str(v) for v in ind.get("values") or []]
        more = int(ind.get("more_values") or 0)
        shown = ", ".join(values) + (f" and {more} more" if more else "")
        out.append((str(ind.get("key") or ""), str(ind.get("title") or ""), shown))
    return out


def signal_rows(incident: Mapping[str, Any] | None) -> list[tuple[str, str, str, str, str]]:
    out = []
    for sig in _extra(incident, "sequence").get("signals") or []:
        out.append(
            (
                str(sig.get("name") or ""),
                str(sig.get("type") or ""),
                str(sig.get("first_seen") or ""),
                str(sig.get("last_seen") or ""),
                "" if sig.get("count") is None else str(sig.get("count")),
            )
        )
    return out


def message_lines(incident: Mapping[str, Any] | None) -> list[str]:
    """The SOC message's lines about the signal (short: the report has the tables)."""
    exposure, sequence = _extra(incident, "exposure"), _extra(incident, "sequence")
    lines: list[str] = []
    if exposure:
        urls = _urls(exposure)
        lines.append("AWS Health found the key in public at: " + (listed(urls) if urls else "(no URL given)"))
    if sequence:
        lines.append(f"GuardDuty attack sequence {sequence.get('uid')}: {sequence.get('description') or ''}")
        keys = [str(k.get("access_key_id")) for k in _keys(sequence)]
        if keys:
            lines.append("Keys in the sequence: " + listed(keys, 10))
        indicators = [f"{key} ({values})" if values else key for key, _, values in indicator_rows(incident)]
        if indicators:
            lines.append("GuardDuty indicators: " + listed(indicators, 8))
    return lines


def next_steps(incident: Mapping[str, Any] | None, contained: Sequence[str] = ()) -> list[str]:
    """What a person must do about the signal itself: remove the public copy AWS found; deal with the
    sequence's keys this run could not contain (another account's, a role session's)."""
    exposure, sequence = _extra(incident, "exposure"), _extra(incident, "sequence")
    account = str((incident or {}).get("account_id") or "")
    steps: list[str] = []
    if exposure:
        urls = _urls(exposure)
        where = listed(urls) if urls else "the place AWS Health's notice names"
        steps.append(
            f"Remove the key from where AWS found it: {where}. Delete the file, rewrite the history that "
            "still holds it and ask the host to purge caches and forks; the key stays disabled either way, "
            "a copy may already have been taken."
        )
    if sequence:
        keys = _keys(sequence)
        foreign = [
            f"{k.get('access_key_id')} (account {k.get('account_id')})"
            for k in keys
            if k.get("account_id") not in (None, account)
        ]
        left = [
            str(k.get("access_key_id"))
            for k in keys
            if k.get("account_id") in (None, account) and str(k.get("access_key_id")) not in contained
        ]
        if foreign:
            steps.append(
                "Keys of other accounts are in the attack sequence: tell those accounts' security "
                f"contacts: {listed(foreign, 10)}."
            )
        if left:
            steps.append(
                "Contain the attack sequence's keys this run did not (a role session's key cannot be "
                f"set Inactive: revoke its role's sessions): {listed(left, 10)}."
            )
    return steps
