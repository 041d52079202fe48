"""Time to contain: from the signal's creation to the exposed credential contained, in seconds.

The figure a SOC tracks, measured on what the run itself recorded: the start is the finding's
``createdAt`` (GuardDuty, or Security Hub's ``CreatedAt``), else the event's time (AWS's quarantine
attach, AWS Health's exposed-key event), else when the request reached the responder (an analyst's run); the end is the ``at`` of
the action that contained the key (``disable_access_key`` done; for a role session's ``ASIA`` key,
which cannot be set Inactive, ``revoke_sessions`` done). The responder's own share is also given,
from ``received_at`` (when Triage read the input). Both times have a second's resolution.

A run that contained nothing (notify only, approval pending, ``already_done`` by an earlier run, a
dry run) has no time to contain: None, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from responder.models import Action, Incident, parse_time

# An analyst's run starts when its request reaches the responder: the two figures are one.
BY_REQUEST = "the request reached the responder"


def containing_action(access_key_id: str | None) -> str:
    """The action whose ``done`` contains this key: a session key's sessions are revoked instead."""
    return "revoke_sessions" if (access_key_id or "").startswith("ASIA") else "disable_access_key"


def _start(incident: Incident) -> tuple[str | None, str]:
    if incident.finding is not None and incident.finding.created_at:
        return incident.finding.created_at, "the finding was created"
    if incident.source == "quarantine-policy":
        return incident.event_time, "AWS attached its quarantine policy"
    if (incident.model_extra or {}).get("signal") == "aws-health":
        return incident.event_time, "AWS Health reported the key exposed"
    return incident.received_at or incident.event_time, BY_REQUEST


def time_to_contain(incident: Incident | None, actions: Sequence[Action]) -> dict[str, Any] | None:
    """``response.time_to_contain`` (report.schema.json), or None when this run contained nothing."""
    if incident is None:
        return None
    wanted = containing_action(incident.access_key_id)
    done = next((a for a in actions if a.action == wanted and a.status == "done" and a.at), None)
    if done is None:
        return None
    start_text, since = _start(incident)
    start, end, received = parse_time(start_text), parse_time(done.at), parse_time(incident.received_at)
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    out: dict[str, Any] = {
        "seconds": seconds if seconds >= 0 else None,
        "from": start_text,
        "since": since,
        "to": done.at,
        "action": wanted,
        "seconds_after_received": (end - received).total_seconds() if received and end >= received else None,
    }
    if seconds < 0:
        # A signal dated after the containment (a clock, or an input's forged time): not a measure.
        out["note"] = f"{since} at {start_text}, after the key was contained at {done.at}: not measured"
    return out


def contain_sentence(timing: dict[str, Any] | None) -> str | None:
    """One line for the report and the SOC message, or None when nothing was contained."""
    if not timing:
        return None
    if timing.get("seconds") is None:
        return f"Time to contain: not measured ({timing.get('note') or 'no start time'})."
    line = f"Time to contain: {_duration(timing['seconds'])} after {timing['since']} ({timing['from']})"
    if (
        timing.get("seconds_after_received") is not None
        and timing["since"] != BY_REQUEST  # the same start as the responder's own share: said once
    ):
        line += f", {_duration(timing['seconds_after_received'])} after the responder received it"
    return line + "."


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 120:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
