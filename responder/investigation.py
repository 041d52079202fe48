"""Playbook steps 4-5, 7, 9-10 as the workflow runs them: start, poll, save, report.

The state machine drives the polling (Wait/Choice), so each function here is one short call.
Query rows never travel in the state (256 KB limit): they go to evidence as JSON lines with their
SHA-256, redacted, with a hash of each removed secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from responder.errors import InvalidInput, QueryTimedOut
from responder.evidence import incident_prefix, put_evidence, put_json_evidence, read_evidence
from responder.models import Incident, iso, utc_now
from responder.query import PollingEngine, QueryParams
from responder.redact import redact
from responder.report import build_report, render_markdown
from responder.state import QueryResult, ReportRef, WorkflowState

PRIMARY_QUERY = "key_activity"
MAX_POLLS = 180  # x poll interval: a query still running after this is TIMED_OUT for the workflow


class QueryHandle(BaseModel):
    """What the Wait/Choice loop carries between StartQuery, QueryStatus and QueryResults."""

    incident_id: str
    execution_id: str
    access_key_id: str
    name: str = PRIMARY_QUERY
    engine: str
    query_id: str
    window: dict[str, str]
    state: str
    wait_seconds: int
    polls: int = 0
    stats: dict[str, Any] = Field(default_factory=dict)


def window_for(
    incident: Incident, *, now: datetime | None = None, lookback_days: int | None = None
) -> QueryParams:
    """The window: ``lookback_days`` before the finding (or now), up to now (activity continues)."""
    now = now or utc_now()
    anchor = now
    if incident.event_time:
        try:
            anchor = min(now, datetime.fromisoformat(incident.event_time.replace("Z", "+00:00")))
        except ValueError:
            anchor = now
    days = lookback_days or incident.lookback_days
    if not incident.access_key_id:
        raise InvalidInput("the incident names no access key to query")
    return QueryParams(incident.access_key_id, anchor - timedelta(days=days), now)


def start_query(
    engine: PollingEngine,
    incident: Incident,
    *,
    execution_id: str,
    poll_seconds: int,
    now: datetime | None = None,
) -> QueryHandle:
    params = window_for(incident, now=now)
    query_id = engine.start(PRIMARY_QUERY, params)
    status = engine.status(query_id)
    return QueryHandle(
        incident_id=incident.incident_id,
        execution_id=execution_id,
        access_key_id=params.access_key_id,
        engine=engine.name,
        query_id=query_id,
        window={"start": iso(params.window_start), "end": iso(params.window_end)},
        state=status.state,
        wait_seconds=0 if status.done else poll_seconds,
        stats={k: v for k, v in status.to_dict().items() if v is not None and k not in ("query_id", "state")},
    )


def poll_query(engine: PollingEngine, handle: QueryHandle) -> QueryHandle:
    status = engine.status(handle.query_id)
    polls = handle.polls + 1
    if not status.done and polls >= MAX_POLLS:
        raise QueryTimedOut(f"query {handle.query_id} still {status.state} after {polls} polls")
    return handle.model_copy(
        update={
            "state": status.state,
            "polls": polls,
            "stats": {
                k: v for k, v in status.to_dict().items() if v is not None and k not in ("query_id", "state")
            },
        }
    )


def rows_to_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Redacted JSON lines; each line keeps the SHA-256 of any secret removed from it."""
    lines = []
    for row in rows:
        clean, removed = redact(dict(row))
        if removed:
            clean["_redacted"] = removed
        lines.append(json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def save_results(s3: Any, evidence_bucket: str, engine: PollingEngine, handle: QueryHandle) -> QueryResult:
    """Fetch every row (a bad end raises QueryFailed/Cancelled/TimedOut) and save them to evidence."""
    rows = engine.results(handle.query_id)
    params = QueryParams.of({"access_key_id": handle.access_key_id, **handle.window})
    coverage = engine.coverage(params)
    prefix = incident_prefix(handle.incident_id, handle.execution_id)
    rows_ref = put_evidence(
        s3,
        evidence_bucket,
        f"{prefix}/queries/{handle.name}.jsonl",
        rows_to_jsonl(rows),
        content_type="application/x-ndjson",
        kind=f"query:{handle.name}",
    )
    meta = {"query": handle.model_dump(), "row_count": len(rows), "coverage": coverage, "rows": rows_ref.uri}
    meta_ref = put_json_evidence(
        s3, evidence_bucket, f"{prefix}/queries/{handle.name}.meta.json", meta, kind="query-meta"
    )
    return QueryResult(
        name=handle.name,
        engine=handle.engine,
        rows_uri=rows_ref.uri,
        rows_sha256=rows_ref.sha256,
        row_count=len(rows),
        window=handle.window,
        coverage=coverage,
        evidence=[rows_ref, meta_ref],
    )


def load_rows(s3: Any, uri: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_evidence(s3, uri).decode().splitlines() if line.strip()]


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
                action = (detail.get("service") or {}).get("action") or {}
                found = [
                    v.get("remoteIpDetails")
                    for v in action.values()
                    if isinstance(v, dict) and isinstance(v.get("remoteIpDetails"), dict)
                ]
                return [d for d in found if d]
    return []


def response_of(state: WorkflowState, workflow_status: str) -> dict[str, Any]:
    inc = state.incident
    return {
        "workflow_status": workflow_status,
        "decision": inc.decision.action if inc else "ignore",
        "actions": [a.model_dump(mode="json") for a in state.actions()],
        "evidence": [{"uri": e.uri, "sha256": e.sha256, "kind": e.kind} for e in state.evidence()],
    }


def write_report(s3: Any, evidence_bucket: str, state: WorkflowState, *, execution_id: str) -> ReportRef:
    """Analyse the saved rows and write report.json and report.md to evidence."""
    inc = state.incident
    query = state.query
    if inc is None or query is None or not query.rows_uri:
        raise ValueError("the report needs the incident and the saved query results")
    rows = load_rows(s3, query.rows_uri)
    for row in rows:
        row.pop("_redacted", None)
    owner = state.owner
    principal = {
        **inc.principal.model_dump(mode="json"),
        **({"owner": owner.owner, "user_name": owner.user_name} if owner else {}),
    }
    report = build_report(
        rows,
        access_key_id=inc.access_key_id or "",
        window_start=query.window["start"],
        window_end=query.window["end"],
        principal=principal,
        coverage=query.coverage or None,
        remote_ip_details=_remote_ip_details(s3, state),
        response=response_of(state, "SUCCEEDED"),
        account_id=inc.account_id,
        current_bucket_policies=_bucket_policies(s3, state),
    )
    report["incident"] = inc.model_dump(mode="json")
    report["execution_id"] = execution_id
    prefix = incident_prefix(inc.incident_id, execution_id)
    json_ref = put_json_evidence(s3, evidence_bucket, f"{prefix}/report.json", report, kind="report")
    md_ref = put_evidence(
        s3,
        evidence_bucket,
        f"{prefix}/report.md",
        render_markdown(report).encode(),
        content_type="text/markdown",
        kind="report-md",
    )
    by_tactic: dict[str, int] = {}
    for finding in report["findings"]:
        by_tactic[finding["tactic"]] = by_tactic.get(finding["tactic"], 0) + len(finding["event_ids"])
    return ReportRef(
        uri=json_ref.uri,
        markdown_uri=md_ref.uri,
        sha256=json_ref.sha256,
        headline=report.get("summary", {}).get("headline"),
        top_source_ips=[ip["ip"] for ip in sorted(report["source_ips"], key=lambda i: -i["event_count"])][:5],
        findings_by_tactic=by_tactic,
        evidence=[json_ref, md_ref],
    )
