"""Targeted or opportunistic? (playbook step 11) An estimate with its reasons, never a verdict.

Opportunistic actors harvest leaked keys in bulk: a key checker (GetCallerIdentity from TruffleHog
or a bare SDK) within minutes, fast automated enumeration across services, then whatever pays
(instances, Bedrock, SES, a generic backdoor user). Targeted actors know what they came for: little
recon, straight to named data, human pace, sometimes the console. Each signal adds to one side and
writes a sentence; the side ahead by two or more wins, else ``undetermined``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from responder.analysis.rows import Row, event_name, is_read, service, text, time_of

OFFENSIVE_TOOLS = {
    "kali": "Kali Linux",
    "parrot": "Parrot OS",
    "pentoo": "Pentoo",
    "pacu": "Pacu",
    "trufflehog": "TruffleHog",
    "cloudfox": "CloudFox",
    "scoutsuite": "ScoutSuite",
    "prowler": "Prowler",
    "stratus-red-team": "Stratus Red Team",
    "weirdaal": "WeirdAAL",
    "enumerate-iam": "enumerate-iam",
    "aws_pwn": "aws_pwn",
    "cloudmapper": "CloudMapper",
    "nuclei": "nuclei",
}
_SCRIPTED = re.compile(
    r"boto3|botocore|python-requests|aws-sdk-|aiobotocore|Go-http-client|curl/|okhttp|aws-cli|Python/", re.I
)
_CONSOLE = re.compile(r"console\.amazonaws\.com|S3Console|AWS Internal|Mozilla/5", re.I)
_MONETIZE = {
    "RunInstances",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "Converse",
    "PutFoundationModelEntitlement",
    "CreateFoundationModelAgreement",
    "SendEmail",
    "SendRawEmail",
    "GetSendQuota",
    "UpdateAccountSendingEnabled",
}
_RECON_PREFIXES = ("List", "Describe", "Get")
_DATA_READS = {"GetObject", "GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters"}
_ANONYMIZERS = {"tor": "Tor exit nodes", "vpn": "VPN providers", "hosting": "hosting providers"}


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _peak_per_minute(times: list[datetime]) -> int:
    """The most calls inside any 60-second window: bursts show a script even in a long incident."""
    peak, start = 0, 0
    for end, when in enumerate(times):
        while (when - times[start]).total_seconds() >= 60:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def _duration(minutes: float) -> str:
    if minutes < 120:
        return f"{minutes} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} hours"
    return f"{minutes / 1440:.1f} days"


def _is_recon(row: Row) -> bool:
    name = event_name(row)
    return name.startswith(_RECON_PREFIXES) and name not in _DATA_READS and is_read(row)


_LISTINGS = {
    "ListBuckets",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListSecrets",
    "DescribeParameters",
}

Timed = list[tuple[datetime, Row]]


@dataclass
class _Tally:
    targeted: list[str] = field(default_factory=list)
    opportunistic: list[str] = field(default_factory=list)
    neutral: list[str] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)


def _agents(timed: Timed, tally: _Tally) -> None:
    """User agents: offensive tooling, scripts, console."""
    agents = {text(r, "user_agent") or "" for _, r in timed}
    tools = sorted({label for ua in agents for key, label in OFFENSIVE_TOOLS.items() if key in ua.lower()})
    scripted = sorted(ua for ua in agents if _SCRIPTED.search(ua))
    console = sorted(ua for ua in agents if _CONSOLE.search(ua))
    tally.signals.update(tools=tools, scripted_agents=len(scripted), console_agents=len(console))
    if tools:
        tally.opportunistic.append(
            f"Offensive tooling in the user agent ({', '.join(tools)}): typical of automated abuse of leaked keys."
        )
    if scripted and not console:
        tally.neutral.append(
            f"All calls came from SDKs or scripts ({len(scripted)} distinct user agents), none from the console."
        )
    if console:
        tally.targeted.append(
            f"Console or browser activity ({len(console)} user agent(s)): a human working interactively."
        )


def _recon(timed: Timed, tally: _Tally) -> Timed:
    """Breadth and speed of List/Describe/Get; a key check as the very first call."""
    recon = [(t, r) for t, r in timed if _is_recon(r)]
    services = sorted({service(r) for _, r in recon})
    names = {event_name(r) for _, r in recon}
    rate = _peak_per_minute([t for t, _ in recon])
    tally.signals.update(
        recon_calls=len(recon), recon_distinct=len(names), recon_services=services, recon_per_minute=rate
    )
    if len(names) >= 15 and rate >= 10:
        tally.opportunistic.append(
            f"Fast, broad enumeration: {len(names)} distinct List/Describe/Get calls across {len(services)} "
            f"services, peaking at {rate} calls in one minute: the pace of a script."
        )
    elif len(services) >= 5:
        tally.opportunistic.append(
            f"Recon across {len(services)} services ({', '.join(services[:8])}): a sweep, not a search."
        )
    elif recon and len(names) <= 3:
        tally.targeted.append(
            f"Little recon: {len(recon)} read call(s) of {len(names)} kind(s) before acting."
        )
    if event_name(timed[0][1]) == "GetCallerIdentity":
        tally.opportunistic.append(
            "The first call was GetCallerIdentity: checking whether a found key works."
        )
    return recon


def _pace(timed: Timed, recon: Timed, tally: _Tally) -> None:
    """Time from first use to the first write and to the first data read."""
    first = timed[0][0]
    writes = [(t, r) for t, r in timed if not is_read(r)]
    if writes:
        to_write = _minutes(writes[0][0] - first)
        tally.signals["minutes_to_first_write"] = to_write
        if to_write <= 5:
            tally.opportunistic.append(
                f"First write ({event_name(writes[0][1])}) {to_write} minute(s) after first use: "
                "an automated playbook."
            )
        elif to_write >= 60:
            tally.neutral.append(
                f"First write ({event_name(writes[0][1])}) {to_write} minutes after first use."
            )
    data = [(t, r) for t, r in timed if event_name(r) in _DATA_READS]
    if data:
        to_data = _minutes(data[0][0] - first)
        recon_before = sum(1 for t, _ in recon if t < data[0][0])
        listed = any(event_name(r) in _LISTINGS for _, r in recon)
        tally.signals.update(minutes_to_first_data_read=to_data, recon_before_data=recon_before)
        if recon_before <= 3 and to_data <= 30:
            tally.targeted.append(
                f"Went straight to data: {event_name(data[0][1])} {to_data} minute(s) after first use, "
                f"after only {recon_before} recon call(s)."
            )
        if not listed:
            tally.targeted.append("Read data by name without listing it first: the actor knew where to look.")
    cash = sorted({event_name(r) for _, r in timed if event_name(r) in _MONETIZE})
    if cash:
        tally.opportunistic.append(
            f"Resource abuse ({', '.join(cash)}): compute, models or email for the attacker's own use."
        )


def _origin(source_ips: Sequence[Mapping[str, Any]], tally: _Tally) -> None:
    """Where from: anonymizing infrastructure, many addresses."""
    classes = dict(Counter(str(ip["classification"]) for ip in source_ips))
    tally.signals["ip_classes"] = classes
    anonymizing = [f"{n} from {_ANONYMIZERS[c]}" for c, n in sorted(classes.items()) if c in _ANONYMIZERS]
    if anonymizing:
        tally.neutral.append(
            f"Source addresses include {', '.join(anonymizing)}, hiding the operator's location."
        )
    if len(source_ips) >= 5:
        tally.opportunistic.append(
            f"{len(source_ips)} distinct source addresses: distributed infrastructure."
        )


def attribution(rows: Sequence[Row], source_ips: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Report ``attribution``: assessment, human-readable reasons, and the measured signals."""
    timed: Timed = sorted(((t, r) for r in rows if (t := time_of(r)) is not None), key=lambda p: p[0])
    tally = _Tally(signals={"events": len(rows)})
    if len(timed) < 3:
        return {
            "assessment": "undetermined",
            "reasons": [f"Only {len(rows)} event(s) from the key: too little activity to tell."],
            "signals": tally.signals,
            "score": {"targeted": 0, "opportunistic": 0},
        }
    _agents(timed, tally)
    recon = _recon(timed, tally)
    _pace(timed, recon, tally)
    _origin(source_ips, tally)
    first, last = timed[0][0], timed[-1][0]
    duration = _minutes(last - first)
    tally.signals["active_minutes"] = duration
    score = {"targeted": len(tally.targeted), "opportunistic": len(tally.opportunistic)}
    if score["opportunistic"] - score["targeted"] >= 2:
        assessment = "opportunistic"
    elif score["targeted"] - score["opportunistic"] >= 2:
        assessment = "targeted"
    else:
        assessment = "undetermined"
    reasons = [*tally.opportunistic, *tally.targeted, *tally.neutral]
    reasons.append(
        f"Activity spanned {_duration(duration)} from {first:%Y-%m-%d %H:%M} UTC; signals: "
        f"{score['opportunistic']} opportunistic, {score['targeted']} targeted."
    )
    return {"assessment": assessment, "reasons": reasons, "signals": tally.signals, "score": score}
