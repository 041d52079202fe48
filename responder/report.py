"""report.json (the contract in responder/schemas/report.schema.json), report.md and report.html.

:func:`build_report` turns the key's activity rows into the report; every analysis lives in
``responder.analysis``. Everything that enters the report passes through :func:`responder.redact.redact`
(CloudTrail rows carry session tokens); what was removed is listed by path and SHA-256 only.
:func:`render_markdown` and :func:`responder.report_html.render_html` write what an analyst reads
first: a summary, then the detail. Both redact again what they render.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from responder.analysis.actors import label_actors, owner_ips, owner_rows, owner_summary, suspect_rows
from responder.analysis.attribution import attribution
from responder.analysis.buckets import (
    Insiders,
    analyse_current_policy,
    bucket_policy_changes,
    trust_policy_changes,
)
from responder.analysis.credentials import complete_credentials, derive_credentials
from responder.analysis.exfil import NOT_LOGGED_NOTE, data_access, data_events_logged, exfil_summary
from responder.analysis.inventory import iam_changes, inventory
from responder.analysis.ips import AwsIpRanges, IpIntel, index_remote_ip_details, load_ip_intel, source_ips
from responder.analysis.provenance import key_provenance, provenance_sentence, with_provenance
from responder.analysis.rows import (
    Row,
    coverage_notes,
    iso_time,
    parse_time,
    sort_rows,
    text,
    with_malformed,
)
from responder.analysis.tactics import SEVERITIES, TACTIC_ORDER, findings
from responder.classification import not_looked_up
from responder.encode import md_code, md_fence, md_text
from responder.errors import InvalidInput, ReportInvalid
from responder.models import iso
from responder.next_steps import credential_kind, credential_steps, listed
from responder.query.digest import describe as integrity_line
from responder.query.digest import next_steps as integrity_next_steps
from responder.query.digest import tampering_finding
from responder.redact import redact, redact_text, redacted
from responder.report_tables import (
    ACTOR_HEADERS,
    CLASSIFICATION_HEADERS,
    CLASSIFICATION_NOTE,
    CREDENTIAL_HEADERS,
    INVENTORY_HEADERS,
    SAME_IP_HEADERS,
    SAME_IP_NOTE,
    actor_rows,
    classification_rows,
    credential_rows,
    human_bytes,
    inventory_rows,
    owner_sentence,
    same_ip_leads,
)
from responder.signals import view as signal_view
from responder.timing import contain_sentence

REPORT_VERSION = 1


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """Our copy of the contract (responder/schemas/report.schema.json)."""
    raw = resources.files("responder").joinpath("schemas", "report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(raw)
    return schema


def validate_report(report: Mapping[str, Any]) -> None:
    """Raise :class:`ReportInvalid` naming every place our output breaks the contract."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # in Lambda: jsonschema needs a compiled wheel; Powertools ships fastjsonschema
        _validate_with_powertools(report)
        return

    validator = Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:20]]
        raise ReportInvalid("report does not match report.schema.json: " + "; ".join(lines))


def _validate_with_powertools(report: Mapping[str, Any]) -> None:
    from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

    # fastjsonschema knows drafts 4-7; the contract uses no 2020-12-only keyword.
    schema = {k: v for k, v in report_schema().items() if k not in ("$schema", "$id")}
    try:
        validate(event=json.loads(json.dumps(report, default=str)), schema=schema)
    except SchemaValidationError as exc:
        raise ReportInvalid(f"report does not match report.schema.json: {exc}") from exc


def _time(value: datetime | str, name: str) -> str:
    parsed = parse_time(value)
    if parsed is None:
        raise InvalidInput(f"{name} is not an ISO 8601 time: {value!r}")
    return iso(parsed)


def _tag(rows: Iterable[Row], credential: str) -> list[Row]:
    """Rows of a derived credential: make sure each says which credential made it."""
    out: list[Row] = []
    for row in rows:
        if not text(row, "access_key_id"):
            tagged = dict(row)
            tagged["access_key_id"] = credential
            out.append(tagged)
        else:
            out.append(row)
    return out


def _coverage(rows: Sequence[Row], start: str, end: str) -> dict[str, Any]:
    """Coverage from the key's own rows when the engine did not measure the logs' span."""
    times = sorted(iso_time(r) for r in rows)
    if not times:
        status = "no_data"
    elif times[0] <= start and times[-1] >= end:
        status = "covered"
    else:
        status = "partial"
    return {
        "events_scanned": len(rows),
        "first_event": times[0] if times else None,
        "last_event": times[-1] if times else None,
        "status": status,
        "note": "computed from the key's own events; the span of the logs themselves was not measured",
    }


def _events(rows: Sequence[Row]) -> dict[str, Any]:
    names = Counter(text(r, "event_name") or "?" for r in rows)
    errors = Counter(text(r, "error_code") for r in rows if text(r, "error_code"))
    return {
        "total": len(rows),
        "by_name": dict(sorted(names.items())),
        "errors": sum(errors.values()),
        "by_error": dict(sorted((str(k), v) for k, v in errors.items())),
        "by_source": dict(sorted(Counter(text(r, "event_source") or "?" for r in rows).items())),
        "by_credential": dict(sorted(Counter(text(r, "access_key_id") or "(none)" for r in rows).items())),
        "by_region": dict(sorted(Counter(text(r, "aws_region") or "?" for r in rows).items())),
        "first_event": iso_time(rows[0]) if rows else None,
        "last_event": iso_time(rows[-1]) if rows else None,
    }


def _account(rows: Sequence[Row], principal: Mapping[str, Any] | None) -> str | None:
    accounts = Counter(text(r, "account_id") for r in rows if text(r, "account_id"))
    if accounts:
        return accounts.most_common(1)[0][0]
    value = (principal or {}).get("account_id")
    return str(value) if value else None


def build_report(
    rows: Iterable[Row],
    *,
    access_key_id: str,
    window_start: datetime | str,
    window_end: datetime | str,
    principal: Mapping[str, Any] | None = None,
    coverage: Mapping[str, Any] | None = None,
    credentials: Sequence[Mapping[str, Any]] | None = None,
    derived_rows: Mapping[str, Iterable[Row]] | None = None,
    remote_ip_details: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    evidence: Sequence[Mapping[str, Any]] | None = None,
    account_id: str | None = None,
    current_bucket_policies: Mapping[str, str | None] | None = None,
    ip_ranges: AwsIpRanges | None = None,
    ip_intel: IpIntel | None = None,
    generated_at: datetime | None = None,
    redaction_key: bytes | None = None,
    insiders: Insiders | None = None,
    classify: Callable[[list[str]], list[dict[str, Any]]] | None = None,
    provenance: Iterable[Row] | None = None,
) -> dict[str, Any]:
    """The investigation report for one exposed key, validated against the contract.

    ``rows``: the ``key_activity`` rows (row contract). ``derived_rows``: rows of credentials minted
    from the key, keyed by that credential. ``coverage``: the engine's measure of the logs' span
    (computed from the rows when omitted). ``credentials``: derived from the rows when omitted.
    ``remote_ip_details``: GuardDuty ``remoteIpDetails`` (a list, or keyed by IP) for enrichment.
    ``response``/``evidence``: what the workflow did and preserved. ``current_bucket_policies``:
    live policy text per bucket (None: no policy), analysed for statements still open to outsiders.
    ``ip_intel``: the reputation sources (AWS ranges, Tor exits, threat list); the shipped snapshots
    when omitted (``ip_ranges`` replaces just the AWS ranges). ``redaction_key``: HMAC key for the
    digests of redacted secrets (plain SHA-256 without it). ``insiders``: who is inside this account
    as the live account shows it (its organization, VPC endpoints, principal ids): grants pinned to
    them are internal, as Remediate judges them; without it only the account id is inside.
    ``classify``: what each touched bucket holds (:func:`responder.classification.classify_buckets`
    over the live account); without it every one is ``unknown``, not looked up.
    """
    all_rows: list[Row] = list(rows)
    for credential, extra in (derived_rows or {}).items():
        all_rows.extend(_tag(extra, credential))
    ordered = sort_rows(all_rows)
    start, end = _time(window_start, "window start"), _time(window_end, "window end")
    account = account_id or _account(ordered, principal)
    # One judge of "external" for the report and for Remediate: the live account's insiders.
    judged: Insiders | str | None = insiders if insiders is not None else account
    intel = ip_intel if ip_intel is not None else load_ip_intel()
    if ip_ranges is not None:
        intel = IpIntel(ranges=ip_ranges, tor=intel.tor, threat=intel.threat)
    ranges = intel.ranges
    now = generated_at or datetime.now(UTC)

    ips = source_ips(ordered, ranges, remote_ip_details, intel=intel)
    # The owner's everyday calls apart from the attacker's: findings, attribution, timing, inventory
    # and timeline are about the rest (responder/analysis/actors.py says how, and why conservatively).
    actors = label_actors(ordered, ips, index_remote_ip_details(remote_ip_details))
    labels = {a["ip"]: a["label"] for a in actors}
    for ip in ips:
        ip["actor"] = labels.get(str(ip["ip"]), "unknown")
    suspect = suspect_rows(ordered, actors)
    suspect_ips = [ip for ip in ips if ip["actor"] != "owner"]
    access = data_access(ordered)
    logged = data_events_logged(ordered)
    # Where the key came from: the call that returned it, made by another identity (key_provenance).
    origin = key_provenance(access_key_id, provenance, start, actors)
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "generated_at": iso(now),
        "subject": {"access_key_id": access_key_id, "principal": dict(principal) if principal else None},
        "account_id": account,
        "window": {"start": start, "end": end},
        "coverage": with_malformed(
            dict(coverage) if coverage is not None else _coverage(ordered, start, end), ordered
        ),
        "provenance": origin,
        "credentials": with_provenance(
            _owners_addresses_marked(
                complete_credentials(credentials, ordered)
                if credentials is not None
                else derive_credentials(ordered, access_key_id),
                owner_ips(actors),
            ),
            origin,
        ),
        "source_ips": ips,
        "ip_ranges": ranges.describe(now),
        "ip_sources": intel.sources(now, guardduty=bool(remote_ip_details)),
        "actors": actors,
        "owner_activity": owner_summary(ordered, actors),
        "timeline": timeline(suspect, suspect_ips, owner_rows=owner_rows(ordered, actors)),
        "events": _events(ordered),
        "iam_changes": iam_changes(suspect),
        "inventory": inventory(suspect),
        "bucket_policy_changes": bucket_policy_changes(ordered, judged),
        "role_trust_changes": trust_policy_changes(ordered, judged),
        "data_access": access,
        "data_access_summary": exfil_summary(access),
        "data_events_logged": logged,
        "data_access_notes": [f"{bucket}: {NOT_LOGGED_NOTE}" for bucket, seen in logged.items() if not seen],
        "findings": with_tampering_finding(findings(suspect), coverage),
        "attribution": attribution(suspect, suspect_ips),
    }
    touched = sorted(
        set(report["data_access_summary"]["by_bucket"])
        | {c["bucket"] for c in report["bucket_policy_changes"]}
        | set(current_bucket_policies or {})
    )
    report["data_classification"] = (
        classify(touched)
        if classify is not None
        else not_looked_up(touched, "not looked up (no account read)")
    )
    if current_bucket_policies is not None:
        report["current_bucket_policies"] = [
            {"bucket": bucket, **analyse_current_policy(policy, judged)}
            for bucket, policy in sorted(current_bucket_policies.items())
        ]
    ev = [dict(e) for e in (evidence or [])]
    if response is not None:
        resp = copy.deepcopy(dict(response))
        resp.setdefault("evidence", ev)
        report["response"] = resp
        ev = ev or [dict(e) for e in resp.get("evidence") or []]
    report["evidence"] = ev
    report["summary"] = summarize(report)
    clean, removed = redact(report, key=redaction_key)
    clean["redactions"] = removed
    validate_report(clean)
    result: dict[str, Any] = clean
    return result


def _owners_addresses_marked(credentials: list[dict[str, Any]], owner_ips: set[str]) -> list[dict[str, Any]]:
    """A key seen from the owner's own address is a colleague's, not the attacker's: kept in
    report.json (``from_owner_address``), never named as the attacker's other credentials."""
    for cred in credentials:
        if cred["relation"] == "same_ip":
            cred["from_owner_address"] = str(cred.get("via")) in owner_ips
    return credentials


_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
TIMELINE_MAX_BUCKETS = 150
TIMELINE_MAX_SERIES = 20


def owner_band(rows: Sequence[Row], start: datetime | None, end: datetime | None) -> dict[str, Any] | None:
    """The owner's baseline as one band of the chart: how many calls, from where, over what span, and
    how many fall before or after the chart (which spans the attacker's and unknown events only)."""
    times = sorted(t for r in rows if (t := parse_time(iso_time(r))) is not None)
    if not times:
        return None
    return {
        "event_count": len(times),
        "first_event": iso(times[0]),
        "last_event": iso(times[-1]),
        "source_ips": sorted({text(r, "source_ip") or "(none)" for r in rows}),
        "before_chart": sum(1 for t in times if start is not None and t < start),
        "after_chart": sum(1 for t in times if end is not None and t >= end),
    }


def timeline(
    rows: Sequence[Row], ips: Sequence[Mapping[str, Any]], *, owner_rows: Sequence[Row] = ()
) -> dict[str, Any]:
    """Calls per source IP per time bucket, for the report's chart.

    The bucket is the smallest of 1 min ... 1 week that keeps the chart under
    ``TIMELINE_MAX_BUCKETS`` columns; the busiest ``TIMELINE_MAX_SERIES`` addresses get a lane each
    and the rest share one lane, ``(other)``. Points are ``[bucket index, calls, failed calls]``.
    ``rows`` are the attacker's and unknown events, so the chart zooms to the attack; the owner's
    (``owner_rows``) are collapsed to one band, ``owner_band``, however long their baseline.
    """
    timed = [(t, r) for r in rows if (t := parse_time(iso_time(r))) is not None]
    if not timed:
        return {
            "start": None,
            "end": None,
            "bucket_seconds": None,
            "buckets": 0,
            "series": [],
            "owner_band": owner_band(owner_rows, None, None),
        }
    first = min(t for t, _ in timed)
    last = max(t for t, _ in timed)
    span = (last - first).total_seconds()
    size = next((b for b in _BUCKETS if span / b < TIMELINE_MAX_BUCKETS), _BUCKETS[-1])
    start_epoch = int(first.timestamp()) // size * size
    count = int((last.timestamp() - start_epoch) // size) + 1
    lanes = [str(ip["ip"]) for ip in ips[:TIMELINE_MAX_SERIES]]
    classes = {str(ip["ip"]): str(ip["classification"]) for ip in ips}
    cells: dict[str, dict[int, list[int]]] = {}
    for when, row in timed:
        ip = text(row, "source_ip") or "(none)"
        lane = ip if ip in lanes else "(other)"
        cell = cells.setdefault(lane, {}).setdefault(int((when.timestamp() - start_epoch) // size), [0, 0])
        cell[0] += 1
        cell[1] += 1 if text(row, "error_code") else 0
    series = [
        {
            "ip": lane,
            "classification": classes.get(lane, "mixed"),
            "points": [[index, calls, failed] for index, (calls, failed) in sorted(cells[lane].items())],
        }
        for lane in [*lanes, "(other)"]
        if lane in cells
    ]
    chart_start = datetime.fromtimestamp(start_epoch, UTC)
    chart_end = datetime.fromtimestamp(start_epoch + count * size, UTC)
    return {
        "start": iso(chart_start),
        "end": iso(chart_end),
        "bucket_seconds": size,
        "buckets": count,
        "series": series,
        "owner_band": owner_band(owner_rows, chart_start, chart_end),
    }


# --- summary -------------------------------------------------------------------------------


def _top_severity(report: Mapping[str, Any]) -> str:
    return max((f["severity"] for f in report["findings"]), key=SEVERITIES.index, default="low")


def _actions_done(report: Mapping[str, Any]) -> dict[str, set[str]]:
    done: dict[str, set[str]] = {}
    for action in (report.get("response") or {}).get("actions") or []:
        if action.get("status") in {"done", "already_done"}:
            done.setdefault(action["action"], set()).add(str(action.get("target")))
    return done


def _what_happened(report: Mapping[str, Any]) -> str:
    key = report["subject"]["access_key_id"]
    events = report["events"]
    if not events["total"]:
        cov = report["coverage"]["status"]
        if cov == "no_data":
            return (
                f"No events for {key} were found, but the logs do not cover the window "
                f"({report['window']['start']} to {report['window']['end']}): absence of evidence is not "
                "evidence of absence."
            )
        origin = provenance_sentence(report) if (report.get("provenance") or {}).get("found") else None
        return (
            f"No call by {key} itself between {report['window']['start']} and {report['window']['end']}."
            + (f" {origin}" if origin else "")
        )
    ips = report["source_ips"]
    classes = Counter(ip["classification"] for ip in ips)
    parts = [
        f"Access key {key} made {events['total']} calls ({events['errors']} failed) between "
        f"{events['first_event']} and {events['last_event']} from {len(ips)} source address(es) "
        f"({', '.join(f'{n} {c}' for c, n in classes.most_common())})."
    ]
    serious = [f for f in report["findings"] if f["severity"] in {"high", "critical"}]
    if serious:
        titles = "; ".join(f"{f['title']} [{f['tactic']}]" for f in serious[:6])
        more = f" and {len(serious) - 6} more" if len(serious) > 6 else ""
        parts.append(f"High-severity activity: {titles}{more}.")
    minted = [c for c in report["credentials"] if c["relation"] in {"derived", "created"}]
    if minted:
        followed = [c for c in minted if c.get("investigated") is not False]
        parts.append(
            f"It minted {len(minted)} further credential(s): "
            + listed([f"{c['access_key_id']} ({c['via']})" for c in minted])
            + (
                f"; {len(minted) - len(followed)} of them not investigated (the limit was reached)."
                if len(followed) < len(minted)
                else "."
            )
        )
    backdoors = [b for b in report["bucket_policy_changes"] if b["grants_external"]]
    if backdoors:
        parts.append(
            "Bucket policies were changed to let outsiders in: "
            + listed([f"{b['bucket']} -> {', '.join(b['external_principals'])}" for b in backdoors])
            + ("" if all(b.get("succeeded", True) for b in backdoors) else " (some attempts failed)")
            + "."
        )
    summary = report["data_access_summary"]
    if summary["read_calls"]:
        parts.append(
            f"It read {summary['objects_read']} S3 object(s) in {summary['read_calls']} call(s), "
            f"{human_bytes(summary['bytes_out'])} out."
        )
    unlogged = [b for b, seen in report["data_events_logged"].items() if not seen]
    if unlogged:
        parts.append(
            f"No S3 data events are in the logs for {listed(unlogged, 10)}: object reads there may not be logged."
        )
    att = report["attribution"]
    parts.append(f"Attribution: {att['assessment']}.")
    return " ".join(parts)


def _what_was_done(report: Mapping[str, Any]) -> list[str]:
    response = report.get("response")
    if not response:
        return ["No automated response is recorded in this report (investigation only)."]
    lines = [f"Workflow {response['workflow_status']}, decision: {response['decision']}."]
    timing = contain_sentence(response.get("time_to_contain"))
    if timing:
        lines.append(timing)
    for action in response.get("actions") or []:
        line = f"{action['action']} on {action['target']}: {action['status']}"
        if action.get("detail"):
            line += f" ({action['detail']})"
        lines.append(line)
    return lines


def _next_steps(report: Mapping[str, Any]) -> list[str]:
    """What a person must still do, derived from what the run did (``response.actions``) and did not,
    and from the kind of credential: nothing the workflow already did is asked for again."""
    done = _actions_done(report)
    return [
        *_credential_next_steps(report, done),
        *_resource_next_steps(report, done),
        *_data_next_steps(report),
        *integrity_next_steps(report["coverage"]),
        *_coverage_next_steps(report),
        *_provenance_next_steps(report),
        *signal_view.next_steps(report.get("incident"), sorted(done.get("disable_access_key", set()))),
    ]


def _provenance_next_steps(report: Mapping[str, Any]) -> list[str]:
    """Who created the key is a lead when that identity is not one this run already followed: if the
    creation was not expected, the creator is compromised too."""
    origin = report.get("provenance") or {}
    key = report["subject"]["access_key_id"]
    if not origin.get("found"):
        if origin.get("looked_up") and not report["events"]["total"]:
            return [
                f"Find where {key} came from: its creation is not in these logs (before "
                f"{report['window']['start']}): search CloudTrail for the CreateAccessKey, AssumeRole or "
                "GetSessionToken call whose response returned it, and the key's CreateDate in IAM."
            ]
        return []
    creator_key = origin.get("creator_access_key_id")
    followed = {c["access_key_id"] for c in report["credentials"] if c["relation"] != "same_ip"}
    if creator_key in followed:
        return []
    who = origin.get("creator_arn") or "an unnamed identity"
    lead = (
        f" investigate that key too (responder investigate --access-key {creator_key})"
        if creator_key
        else " investigate that identity's sessions too"
    )
    return [
        f"Confirm that {who} creating {key} ({origin.get('event_name')} at {origin.get('event_time')} from "
        f"{origin.get('source_ip') or 'no address'}) was expected; if it was not, that identity is "
        f"compromised as well:{lead}."
    ]


def _credential_next_steps(report: Mapping[str, Any], done: Mapping[str, set[str]]) -> list[str]:
    key = report["subject"]["access_key_id"]
    response = report.get("response") or {}
    principal = report["subject"].get("principal") or {}
    steps = credential_steps(
        credential_kind(key, principal.get("type"), response.get("validation_error")),
        key,
        disabled=key in done.get("disable_access_key", set()),
        sessions_revoked="revoke_sessions" in done,
        incident_id=str((report.get("incident") or {}).get("incident_id") or "ID"),
    )
    minted = [c for c in report["credentials"] if c["relation"] in {"derived", "created"}]
    derived = [c["access_key_id"] for c in minted if c["relation"] == "derived"]
    if derived and "revoke_sessions" not in done:
        steps.append(
            f"Revoke the sessions minted from the key ({listed(derived)}): temporary credentials "
            "outlive the key; deny on aws:TokenIssueTime for the user or role."
        )
    contained = done.get("contain_principal", set())
    created_keys = [
        c["access_key_id"]
        for c in minted
        if c["relation"] == "created"
        and c["access_key_id"] not in done.get("disable_access_key", set())
        and f"user/{c.get('minted_for')}" not in contained
    ]
    if created_keys:
        steps.append(f"Deactivate the access keys the attacker created: {listed(created_keys, 10)}.")
    skipped = [c["access_key_id"] for c in report["credentials"] if c.get("investigated") is False]
    if skipped:
        steps.append(
            f"Investigate the credentials the run did not follow (its limit of "
            f"{len(report['credentials']) - len(skipped)} was reached): {listed(skipped, 10)}; "
            "`responder investigate --access-key KEY` over the same logs follows each."
        )
    others = same_ip_leads(report)
    if others:
        steps.append(
            "Find out whose these access keys are, used from the key's own source addresses: "
            + listed([f"{c['access_key_id']} (from {c['via']})" for c in others], 10)
            + "; contain any the owner does not recognise."
        )
    return steps


def _resource_next_steps(report: Mapping[str, Any], done: Mapping[str, set[str]]) -> list[str]:
    steps: list[str] = []
    contained = done.get("contain_principal", set())
    created = sorted(
        {
            e["target"]
            for e in report["inventory"]["created"]
            if e["succeeded"]
            and not e.get("deleted_later")
            and e["target"].split("/", 1)[0] in {"user", "role", "group", "policy", "function", "instance"}
        }
    )
    held = [t for t in created if t in contained]
    loose = [t for t in created if t not in contained]
    if held:
        steps.append(
            "Delete the principals the workflow contained (deny-all attached, keys inactive) once reviewed: "
            f"{listed(held, 10)}."
        )
    if loose:
        steps.append(f"Review and remove the resources the key created: {listed(loose, 10)}.")
    fixed = done.get("remove_policy_statements", set()) | done.get("restore_bucket_policy", set())
    for change in report["bucket_policy_changes"]:
        if change["grants_external"] and change["bucket"] not in fixed:
            sids = ", ".join(s["sid"] for s in change["offending_statements"])
            steps.append(
                f"Remove the backdoor statement(s) {sids} from the policy of bucket {change['bucket']} "
                f"(grants {', '.join(change['external_principals'])}): the workflow did not."
            )
    for role in report.get("role_trust_changes") or []:
        if role["grants_external"] and f"role/{role['role']}" not in done.get(
            "remove_trust_statements", set()
        ):
            steps.append(
                f"Review the trust policy of role {role['role']}: it lets "
                f"{', '.join(role['external_principals'])} assume it."
            )
    for current in report.get("current_bucket_policies") or []:
        # Read before Remediate: a bucket it fixed since is in "What was done".
        if current["grants_external"] and current["bucket"] not in fixed:
            steps.append(
                f"The live policy of bucket {current['bucket']} still grants "
                f"{', '.join(current['external_principals'])}: fix it."
            )
    return steps


def _data_next_steps(report: Mapping[str, Any]) -> list[str]:
    steps: list[str] = []
    summary = report["data_access_summary"]
    if summary["read_calls"] or report["bucket_policy_changes"]:
        classes = report.get("data_classification") or []
        sensitive = [c["bucket"] for c in classes if c["classification"] == "sensitive"]
        unknown = [c["bucket"] for c in classes if c["classification"] == "unknown"]
        declared = [f"{c['bucket']} ({c['classification']})" for c in classes if c["source"] == "tag"]
        if sensitive:
            steps.append(
                f"Buckets {listed(sensitive, 10)} hold sensitive data (Macie): establish what was read "
                "and involve Legal and the data owners (a possible breach notification)."
            )
        if declared:
            steps.append(
                f"Check what was read from {listed(declared, 10)} against its declared classification; "
                "involve Legal if personal or customer data is in them."
            )
        if unknown:
            steps.append(
                f"Find out what buckets {listed(unknown, 10)} hold (no Macie result, no classification "
                "tag) and what was read; involve Legal if personal or customer data is in them."
            )
    unlogged = [b for b, seen in report["data_events_logged"].items() if not seen]
    if unlogged:
        steps.append(
            f"Find out whether objects in {listed(unlogged, 10)} were read: S3 data events are not in "
            "the logs (check server access logs; enable data events for sensitive buckets)."
        )
    evasion = [f["title"] for f in report["findings"] if f["tactic"] == "Defense Evasion" and f["succeeded"]]
    if evasion:
        steps.append(f"Restore logging and detection the attacker turned off: {listed(evasion)}.")
    impact = [f["title"] for f in report["findings"] if f["technique"] == "T1496" and f["succeeded"]]
    if impact:
        steps.append(f"Stop resource abuse and check the bill: {listed(impact)}.")
    return steps


def _coverage_next_steps(report: Mapping[str, Any]) -> list[str]:
    steps = []
    if report["coverage"]["status"] != "covered":
        steps.append(
            f"The logs cover the window only {report['coverage']['status']}: widen the search "
            "(playbook step 10) before concluding."
        )
    outside = report["coverage"].get("outside_window") or {}
    key, window = report["subject"]["access_key_id"], report["window"]
    before, after = outside.get("before"), outside.get("after")
    if before:
        # Activity up to the window's first day: the exposure may be older than the window.
        older = ((outside.get("days_not_opened") or {}).get("before") or [None])[0]
        start = f"{older}T00:00:00Z" if older else before["first_event"]
        steps.append(
            f"{key} was active before the window ({before['events']} event(s) from {before['first_event']}): "
            f"investigate again from earlier (responder investigate --access-key {key} --start {start} "
            f"--end {window['end']})."
        )
    if after:
        steps.append(
            f"{key} has {after['events']} event(s) after the window ({after['first_event']} to "
            f"{after['last_event']}): investigate again with --end {after['last_event']} if they are real "
            "(records dated in the future are not believed for the default window)."
        )
    return steps


def summarize(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``summary``: what happened, what was done, what a human must do now."""
    severity = _top_severity(report) if report["findings"] else "low"
    att = report["attribution"]["assessment"]
    return {
        "headline": (
            f"{report['subject']['access_key_id']}: {report['events']['total']} events, "
            f"{len(report['findings'])} findings (top severity {severity}), attribution {att}"
        ),
        "severity": severity,
        "what_happened": _what_happened(report),
        "what_was_done": _what_was_done(report),
        "next_steps": _next_steps(report),
    }


# --- markdown --------------------------------------------------------------------------------
# Every value below may come from CloudTrail, GuardDuty or the account: identifiers are code spans
# (md_code), anything else escaped text (md_text), each on one line with control characters gone;
# only the headings, labels and punctuation of this module are live Markdown.

_PROSE_MAX = 4000  # a summary sentence that quotes many values


def _join(values: Iterable[Any], *, table: bool = False) -> str:
    return ", ".join(md_code(v, table=table) for v in values if v not in (None, ""))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Code):
        return value.render(table=True)
    if isinstance(value, list | tuple | set):
        return ", ".join(md_text(v) for v in value)
    return md_text(value)


class Code:
    """A table cell (or list of them) shown as code spans: an identifier, verbatim and inert."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, *, table: bool = False) -> str:
        if isinstance(self.value, list | tuple | set):
            return _join(self.value, table=table)
        return md_code(self.value, table=table) if self.value not in (None, "") else ""


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(md_text(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)
    return [*lines, ""]


def _md_summary(report: Mapping[str, Any]) -> list[str]:
    summary = report.get("summary") or summarize(report)
    cov = report["coverage"]
    out = [
        f"# Exposed key {md_text(report['subject']['access_key_id'])}",
        "",
        f"**{md_text(summary['headline'])}**",
        "",
    ]
    out += [
        f"Window {md_text(report['window']['start'])} to {md_text(report['window']['end'])}; logs: "
        f"{md_text(cov['status'])} ({md_text(cov['events_scanned'])} events scanned).",
        "",
    ]
    # What was not read (files, records, documents): the SOC must not take silence for absence.
    notes = [
        md_text(line, limit=_PROSE_MAX) for line in coverage_notes(cov, report["subject"]["access_key_id"])
    ]
    out += [*notes, ""] if notes else []
    if cov.get("log_file_validation"):
        out += [md_text(integrity_line(cov["log_file_validation"]), limit=_PROSE_MAX), ""]
    out += ["## What happened", "", md_text(summary["what_happened"], limit=_PROSE_MAX), ""]
    done = [f"- {md_text(line, limit=_PROSE_MAX)}" for line in summary["what_was_done"]]
    out += ["## What was done", "", *done, ""]
    todo = [f"- [ ] {md_text(line, limit=_PROSE_MAX)}" for line in summary["next_steps"]]
    out += ["## What you must do now", "", *todo, ""]
    return out


def _md_ips(report: Mapping[str, Any]) -> list[str]:
    out = ["## Source IPs", ""]
    if not report["source_ips"]:
        return [*out, "None.", ""]
    return out + _table(
        ["IP", "Class", "Events", "First seen", "Last seen", "Org / country", "User agents"],
        (
            [
                Code(ip["ip"]),
                ip["classification"],
                ip["event_count"],
                ip["first_seen"],
                ip["last_seen"],
                " / ".join(str(v) for v in (ip.get("org"), ip.get("country")) if v),
                Code(ip["user_agents"]),
            ]
            for ip in report["source_ips"]
        ),
    )


def _md_signal(report: Mapping[str, Any]) -> list[str]:
    """What AWS reported (AWS Health's exposure, GuardDuty's attack sequence), beside the analysis."""
    incident = report.get("incident")
    rows = signal_view.facts(incident)
    if not rows:
        return []
    out = ["## What AWS reported", ""]
    out += _table(("", "What AWS says"), rows)
    if indicators := signal_view.indicator_rows(incident):
        out += ["### GuardDuty's indicators", "", *_table(signal_view.INDICATOR_HEADERS, indicators)]
    if signals := signal_view.signal_rows(incident):
        out += ["### Signals in the sequence", "", *_table(signal_view.SIGNAL_HEADERS, signals)]
    return out


def _md_actors(report: Mapping[str, Any]) -> list[str]:
    out = ["## Who used the key", ""]
    out += _table(ACTOR_HEADERS, ([Code(r[0]), *r[1:]] for r in actor_rows(report)))
    sentence = owner_sentence(report)
    return out + ([md_text(sentence, limit=_PROSE_MAX), ""] if sentence else [])


def _md_credentials(report: Mapping[str, Any]) -> list[str]:
    chain, same_ip = credential_rows(report)
    out = ["## Credentials", ""]
    origin = provenance_sentence(report)
    out += [md_text(origin, limit=_PROSE_MAX), ""] if origin else []
    out += _table(
        CREDENTIAL_HEADERS,
        (
            [Code(r[0]), r[1], Code(r[2]) if r[2] else None, *r[3:5], Code(r[5]) if r[5] else None, *r[6:]]
            for r in chain
        ),
    )
    if same_ip:
        out += [SAME_IP_NOTE, "", *_table(SAME_IP_HEADERS, ([Code(r[0]), Code(r[1]), r[2]] for r in same_ip))]
    return out


def _md_findings(report: Mapping[str, Any]) -> list[str]:
    out = ["## Findings by tactic", ""]
    tactic = None
    for finding in report["findings"]:
        if finding["tactic"] != tactic:
            tactic = finding["tactic"]
            out += [*([""] if out[-1] else []), f"### {md_text(tactic)}", ""]
        ids = finding["event_ids"]
        shown = _join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        out.append(
            f"- **{md_text(str(finding['severity']).upper())}** {md_text(finding['title'])}"
            f" ({md_text(finding.get('technique') or 'no technique')}; {len(ids)} event(s): {shown})"
        )
    return [*out, "" if report["findings"] else "None.", ""]


def _md_inventory(report: Mapping[str, Any]) -> list[str]:
    inv = report.get("inventory") or {}
    out = ["## Resources created, modified, deleted", ""]
    changes = [
        [kind, Code(event), when, Code(target), detail, result]
        for kind, event, when, target, detail, result in inventory_rows(report)
    ]
    if changes:
        out += _table(INVENTORY_HEADERS, changes)
    else:
        out += ["None.", ""]
    reads = inv.get("read") or []
    if reads:
        out += ["Reads (counted):", ""]
        out += _table(
            ["Event", "Target", "Count", "Failed"],
            ([Code(r["event_name"]), Code(r["target"]), r["count"], r["failed"]] for r in reads[:30]),
        )
        if len(reads) > 30:
            out += [f"... and {len(reads) - 30} more in report.json.", ""]
    return out


def _md_backdoors(report: Mapping[str, Any]) -> list[str]:
    out = ["## Backdoors (policies open to outsiders)", ""]
    backdoors = [b for b in report["bucket_policy_changes"] if b["grants_external"]]
    backdoors += [
        {**r, "bucket": f"role {r['role']}"}
        for r in report.get("role_trust_changes") or []
        if r["grants_external"]
    ]
    backdoors += [
        {**c, "event_name": "current policy", "event_time": "now"}
        for c in report.get("current_bucket_policies") or []
        if c["grants_external"]
    ]
    for change in backdoors:
        state = "" if change.get("succeeded", True) else " (attempt failed)"
        out += [
            f"### {md_code(change['bucket'])}: {md_code(change['event_name'])} at "
            f"{md_text(change['event_time'])}{state}",
            "",
            f"Grants: {_join(change['external_principals'])}",
            "",
        ]
        for statement in change.get("offending_statements") or []:
            reasons = "; ".join(str(r) for r in statement["reasons"])
            out += [f"Statement {md_code(statement['sid'])}: {md_text(reasons, limit=_PROSE_MAX)}", ""]
            pretty = json.dumps(json.loads(statement["statement"]), indent=2, sort_keys=True)
            out += [*md_fence(pretty, "json"), ""]
    if not backdoors:
        out += [f"None found ({len(report['bucket_policy_changes'])} bucket policy change(s) reviewed).", ""]
    return out


def _md_data(report: Mapping[str, Any]) -> list[str]:
    out = ["## Data accessed", ""]
    if report["data_access"]:
        out += _table(
            ["Bucket", "Object", "Event", "Count", "Bytes out"],
            (
                [
                    Code(a["bucket"]),
                    Code(a["object_key"]),
                    Code(a["event_name"]),
                    a["count"],
                    a.get("bytes_out"),
                ]
                for a in report["data_access"][:50]
            ),
        )
    else:
        out += ["No S3 data events from the key in the logs.", ""]
    for note in report.get("data_access_notes") or []:
        out += [f"> {md_text(note, limit=_PROSE_MAX)}", ""]
    if report.get("data_classification"):
        out += [CLASSIFICATION_NOTE, ""]
        out += _table(CLASSIFICATION_HEADERS, ([Code(r[0]), *r[1:]] for r in classification_rows(report)))
    att = report["attribution"]
    out += [f"## Attribution: {md_text(att['assessment'])}", ""]
    out += [f"- {md_text(r, limit=_PROSE_MAX)}" for r in att["reasons"]] + [""]
    return out


def _md_response(report: Mapping[str, Any]) -> list[str]:
    response = report.get("response")
    out = ["## Response actions", ""]
    if response and response.get("actions"):
        out += _table(
            ["Action", "Target", "Status", "At", "Detail"],
            (
                [a["action"], Code(a["target"]), a["status"], a.get("at"), a.get("detail")]
                for a in response["actions"]
            ),
        )
    else:
        out += ["None recorded.", ""]
    out += ["## Evidence", ""]
    evidence = report.get("evidence") or (response or {}).get("evidence") or []
    if evidence:
        out += _table(["Object", "SHA-256"], ([Code(e["uri"]), Code(e["sha256"])] for e in evidence))
    else:
        out += ["None recorded.", ""]
    if report.get("redactions"):
        out += [
            f"{len(report['redactions'])} secret value(s) were redacted from this report (see report.json).",
            "",
        ]
    manifest = report.get("evidence_manifest")
    if manifest:
        out += [f"Evidence manifest: {md_code(manifest['uri'])} sha256 {md_code(manifest['sha256'])}", ""]
    sources = report.get("ip_sources") or []
    if sources:
        out += ["## IP reputation sources", ""]
        out += _table(
            ["Source", "From", "As of", "Age (days)", "Note"],
            ([s["name"], s["source"], s.get("as_of"), s.get("age_days"), s.get("note")] for s in sources),
        )
    else:
        ranges = report.get("ip_ranges") or {}
        if ranges:
            out += [
                f"_AWS IP ranges: {md_text(ranges.get('source'))} ({md_text(ranges.get('prefixes'))} prefixes, "
                f"{md_text(ranges.get('age_days'))} days old{', sample only' if ranges.get('sample') else ''}._",
                "",
            ]
    return out


def _md_placeholder(placeholder: str) -> str:
    # A secret found only in the finished text: its placeholder must not read as an HTML tag.
    return placeholder.replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(report: Mapping[str, Any], *, redaction_key: bytes | None = None) -> str:
    """report.md: summary first, then who used the key, credentials, IPs, findings, inventory,
    backdoors, data, attribution, response.

    Safe to open in any Markdown viewer: the headings are this function's own, and no value from the
    logs renders as markup (see :mod:`responder.encode`).
    """
    clean: Mapping[str, Any] = redacted(report, key=redaction_key)
    out: list[str] = []
    for section in (
        _md_summary,
        _md_signal,
        _md_actors,
        _md_credentials,
        _md_ips,
        _md_findings,
        _md_inventory,
        _md_backdoors,
        _md_data,
        _md_response,
    ):
        out += section(clean)
    return redact_text("\n".join(out).rstrip() + "\n", key=redaction_key, wrap=_md_placeholder)


def with_tampering_finding(
    found: list[dict[str, Any]], coverage: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """``found`` plus the tampering finding, in the tactics' order."""

    extra = tampering_finding((coverage or {}).get("log_file_validation"))
    if extra is None:
        return found
    out = [*found, extra]
    out.sort(
        key=lambda f: TACTIC_ORDER.index(f["tactic"]) if f["tactic"] in TACTIC_ORDER else len(TACTIC_ORDER)
    )
    return out
