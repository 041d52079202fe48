"""Report (playbook steps 6, 7, 9, 11): analyse every saved query result and write the report bundle."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from responder.analysis.buckets import Insiders
from responder.analysis.ips import load_ip_intel, load_threat_list, refresh_shared
from responder.analysis.pivot import report_credentials
from responder.bundle import write_report_bundle
from responder.classification import classify_buckets
from responder.errors import InvalidInput
from responder.evidence import (
    incident_prefix,
    load_rows,
    read_evidence,
    saved_results,
)
from responder.models import EvidenceRef, iso, utc_now
from responder.query.sql import ACCESS_KEY_RE, PRIMARY_QUERY
from responder.report import build_report
from responder.settings import get_settings
from responder.state import ReportRef, WorkflowState, response_of


def _bucket_policies(s3: Any, state: WorkflowState) -> dict[str, str | None]:
    policies: dict[str, str | None] = {}
    snap = state.snapshot
    for ref in snap.evidence if snap else []:
        if ref.kind == "bucket":
            saved = json.loads(read_evidence(s3, ref.uri))
            policies[saved["bucket"]] = saved.get("policy")
    return policies


def _remote_ip_details(s3: Any, state: WorkflowState) -> list[dict[str, Any]]:
    """GuardDuty's remoteIpDetails from the finding saved in evidence (ASN, org, country)."""
    snap = state.snapshot
    for ref in snap.evidence if snap else []:
        if ref.kind == "finding":
            finding = json.loads(read_evidence(s3, ref.uri))
            if isinstance(finding, dict):
                detail = finding.get("detail", finding)
                # An AWS Health event's detail.service is a name ("RISK"), not GuardDuty's object.
                service = detail.get("service") if isinstance(detail, dict) else None
                action = (service.get("action") if isinstance(service, dict) else None) or {}
                found = [
                    v.get("remoteIpDetails")
                    for v in action.values()
                    if isinstance(v, dict) and isinstance(v.get("remoteIpDetails"), dict)
                ]
                return [d for d in found if d]
    return []


def write_report(
    s3: Any,
    evidence_bucket: str,
    state: WorkflowState,
    *,
    execution_id: str,
    started_at: str | None = None,
    insiders: Insiders | None = None,
    macie: Any = None,
) -> ReportRef:
    """Analyse every saved query result and write report.json and report.md to evidence.

    ``insiders``: this account as the live account shows it (responder.insiders.read_insiders), so
    the report calls external exactly what Remediate would remove. ``macie``: the Macie client the
    touched buckets' classification is asked of (with their tags as the fallback); without it they
    are ``unknown``, not looked up.
    """
    inc = state.incident
    if inc is None:
        raise InvalidInput("the report needs the triaged incident")
    key = inc.access_key_id or "none"
    metas = saved_results(s3, evidence_bucket, inc.incident_id, execution_id)
    primary = metas.get((key, PRIMARY_QUERY))
    if primary is None and ACCESS_KEY_RE.fullmatch(key):
        raise InvalidInput(f"no saved {PRIMARY_QUERY} results for {key} in this execution")
    if primary is None:
        # Nothing was queried (a sample key): an empty investigation whose coverage says so.
        end = datetime.fromisoformat(started_at.replace("Z", "+00:00")) if started_at else utc_now()
        start = end - timedelta(days=inc.lookback_days)
        primary = {
            "query": {"window": {"start": iso(start), "end": iso(end)}},
            "coverage": {
                "events_scanned": 0,
                "first_event": None,
                "last_event": None,
                "status": "no_data",
                "note": "no query ran: the finding names no usable access key",
            },
        }
    results = {k: [_unredacted_row(r) for r in load_rows(s3, m["rows"])] for k, m in metas.items()}
    results.setdefault((key, PRIMARY_QUERY), [])
    query_evidence = [
        EvidenceRef(uri=m["rows"], sha256=m["rows_sha256"], kind=f"query:{k[1]}")
        for k, m in sorted(metas.items())
    ]
    owner = state.owner
    principal = {
        **inc.principal.model_dump(mode="json"),
        **({"owner": owner.owner, "user_name": owner.user_name} if owner else {}),
    }
    response = response_of(state, "SUCCEEDED")
    response["evidence"] += [{"uri": e.uri, "sha256": e.sha256, "kind": e.kind} for e in query_evidence]
    report = build_report(
        results[(key, PRIMARY_QUERY)],
        access_key_id=key,
        window_start=primary["query"]["window"]["start"],
        window_end=primary["query"]["window"]["end"],
        principal=principal,
        coverage=primary.get("coverage") or None,
        credentials=report_credentials(key, results, seeds=inc.related_key_ids),
        derived_rows={k: rows for (k, name), rows in results.items() if name == PRIMARY_QUERY and k != key},
        remote_ip_details=_remote_ip_details(s3, state),
        response=response,
        account_id=inc.account_id,
        insiders=insiders,
        current_bucket_policies=_bucket_policies(s3, state),
        ip_intel=_ip_intel(s3),
        classify=(lambda buckets: classify_buckets(macie, s3, buckets)) if macie is not None else None,
        provenance=results.get((key, "key_provenance")) if (key, "key_provenance") in metas else None,
        # A retried Report step must render the very same bytes: evidence is write-once.
        generated_at=datetime.fromisoformat(started_at.replace("Z", "+00:00")) if started_at else None,
    )
    report["incident"] = inc.model_dump(mode="json")
    report["execution_id"] = execution_id
    report["queries"] = [
        {"access_key_id": k, "name": n, "rows": m["row_count"], "uri": m["rows"], "sha256": m["rows_sha256"]}
        for (k, n), m in sorted(metas.items())
    ]
    prefix = incident_prefix(inc.incident_id, execution_id)
    # manifest.json, report.json/.md/.html, then manifest.final.json: every artifact with its SHA-256.
    manifest_ref, json_ref, md_ref, html_ref, root_ref = write_report_bundle(
        s3, evidence_bucket, prefix, report
    )
    by_tactic: dict[str, int] = {}
    for finding in report["findings"]:
        by_tactic[finding["tactic"]] = by_tactic.get(finding["tactic"], 0) + len(finding["event_ids"])
    return ReportRef(
        uri=json_ref.uri,
        markdown_uri=md_ref.uri,
        sha256=json_ref.sha256,
        headline=report.get("summary", {}).get("headline"),
        coverage_status=report["coverage"]["status"],
        top_source_ips=[ip["ip"] for ip in sorted(report["source_ips"], key=lambda i: -i["event_count"])][:5],
        findings_by_tactic=by_tactic,
        html_uri=html_ref.uri,
        manifest_uri=root_ref.uri,
        evidence=[*query_evidence, manifest_ref, json_ref, md_ref, html_ref, root_ref],
    )


def _ip_intel(s3: Any) -> Any:
    """AWS ranges and Tor exits (refreshed daily when deployed, else the shipped snapshots), plus the
    team's threat list in S3 when one is configured."""

    settings = get_settings()
    cache = "/tmp/ip-intel"  # noqa: S108 - Lambda's only writable place; a warm container reuses it
    if settings.ip_intel_refresh and settings.evidence_bucket:
        refresh_shared(s3, settings.evidence_bucket, cache)
    threat = None
    if settings.threat_list_bucket and settings.threat_list_key:
        threat = load_threat_list(s3, settings.threat_list_bucket, settings.threat_list_key, cache_dir=cache)
    return load_ip_intel(cache, threat=threat)


def _unredacted_row(row: dict[str, Any]) -> dict[str, Any]:
    """A saved row minus its redaction record (the report redacts again on its own)."""
    row.pop("_redacted", None)
    return row
