"""Playbook steps 4-5, 7, 9-10 as the workflow runs them: start, poll, save, report.

The state machine drives the polling (Wait/Choice), so each function here is one short call.
Query rows never travel in the state (256 KB limit): they go to evidence as JSON lines with their
SHA-256, redacted, with a hash of each removed secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from responder.analysis.buckets import Insiders
from responder.analysis.ips import load_ip_intel
from responder.bundle import write_report_bundle
from responder.errors import InvalidInput, QueryTimedOut
from responder.evidence import incident_prefix, put_evidence, put_json_evidence, read_evidence
from responder.models import Action, EvidenceRef, Incident, iso, utc_now
from responder.plan import next_batch, report_credentials
from responder.query import PollingEngine, QueryParams
from responder.query.digest import for_state
from responder.query.sql import ACCESS_KEY_RE
from responder.redact import redact
from responder.report import build_report
from responder.state import QueryResult, ReportRef, StepResult, WorkflowState

PRIMARY_QUERY = "key_activity"
MAX_POLLS = 180  # x poll interval: a query still running after this is TIMED_OUT for the workflow
MAX_ROUNDS = 6  # plan rounds: the exposed key's six queries, then one round per pivot depth


class QueryTask(BaseModel):
    """One query of the plan, as the Map state hands it to StartQuery."""

    incident_id: str
    execution_id: str
    access_key_id: str
    name: str
    window: dict[str, str]
    coverage: bool = False  # measured once, on the exposed key's activity query


class QueryHandle(QueryTask):
    """What the Wait/Choice loop carries between StartQuery, QueryStatus and QueryResults."""

    engine: str
    query_id: str
    state: str
    wait_seconds: int
    polls: int = 0
    stats: dict[str, Any] = Field(default_factory=dict)


class PlanOutput(BaseModel):
    """PlanQueries' answer: the next batch for the Map, or done."""

    done: bool
    round: int
    window: dict[str, str]
    batch: list[QueryTask] = Field(default_factory=list)
    queries_run: int = 0


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


def _query_prefix(incident_id: str, execution_id: str) -> str:
    return f"{incident_prefix(incident_id, execution_id)}/queries/"


def saved_results(
    s3: Any, bucket: str, incident_id: str, execution_id: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every query result this execution saved: ``{(key, name): meta}`` from the .meta.json objects."""
    prefix = _query_prefix(incident_id, execution_id)
    metas: dict[tuple[str, str], dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".meta.json"):
                meta = json.loads(read_evidence(s3, f"s3://{bucket}/{obj['Key']}"))
                metas[(meta["query"]["access_key_id"], meta["query"]["name"])] = meta
    return metas


def _planning_rows(s3: Any, metas: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the plan reads: the minting and same-IP answers; other results only count as done."""
    results: dict[tuple[str, str], Any] = {}
    for key, meta in metas.items():
        needed = key[1] in ("minted_credentials", "same_ip_credentials")
        results[key] = load_rows(s3, meta["rows"]) if needed else ()
    return results


def plan_queries(
    s3: Any,
    bucket: str,
    incident: Incident,
    *,
    execution_id: str,
    started_at: datetime,
    round_: int = 0,
) -> PlanOutput:
    """The next batch: the exposed key's six queries, then each credential it minted, bounded."""
    if not incident.access_key_id or not ACCESS_KEY_RE.fullmatch(incident.access_key_id):
        # A sample finding or one naming no key: nothing to query; the report says so.
        return PlanOutput(done=True, round=round_ + 1, window={})
    params = window_for(incident, now=started_at)
    window = {"start": iso(params.window_start), "end": iso(params.window_end)}
    metas = saved_results(s3, bucket, incident.incident_id, execution_id)
    batch = [] if round_ >= MAX_ROUNDS else next_batch(params.access_key_id, _planning_rows(s3, metas))
    return PlanOutput(
        done=not batch,
        round=round_ + 1,
        window=window,
        queries_run=len(metas),
        batch=[
            QueryTask(
                incident_id=incident.incident_id,
                execution_id=execution_id,
                access_key_id=t.access_key_id,
                name=t.name,
                window=window,
                coverage=t.access_key_id == params.access_key_id and t.name == PRIMARY_QUERY,
            )
            for t in batch
        ],
    )


def start_query(engine: PollingEngine, task: QueryTask, *, poll_seconds: int) -> QueryHandle:
    params = QueryParams.of({"access_key_id": task.access_key_id, **task.window})
    query_id = engine.start(task.name, params)
    status = engine.status(query_id)
    return QueryHandle(
        **task.model_dump(),
        engine=engine.name,
        query_id=query_id,
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


def save_results(
    s3: Any,
    evidence_bucket: str,
    engine: PollingEngine,
    handle: QueryHandle,
    *,
    log_validation: Callable[[QueryParams], dict[str, Any] | None] | None = None,
) -> QueryResult:
    """Fetch every row (a bad end raises QueryFailed/Cancelled/TimedOut) and save them to evidence.

    ``log_validation``: the digest check of the window's log files (responder/query/digest.py), run
    with the coverage measure and kept beside it (``coverage.log_file_validation``)."""
    rows = engine.results(handle.query_id)
    params = QueryParams.of({"access_key_id": handle.access_key_id, **handle.window})
    coverage = engine.coverage(params) if handle.coverage else {}
    if handle.coverage and log_validation is not None:
        validation = log_validation(params)
        if validation is not None:
            coverage = {**coverage, "log_file_validation": validation}
    base = f"{_query_prefix(handle.incident_id, handle.execution_id)}{handle.access_key_id}/{handle.name}"
    rows_ref = put_evidence(
        s3,
        evidence_bucket,
        f"{base}.jsonl",
        rows_to_jsonl(rows),
        content_type="application/x-ndjson",
        kind=f"query:{handle.name}",
    )
    meta = {
        "query": handle.model_dump(),
        "row_count": len(rows),
        "coverage": coverage,
        "rows": rows_ref.uri,
        "rows_sha256": rows_ref.sha256,
    }
    meta_ref = put_json_evidence(s3, evidence_bucket, f"{base}.meta.json", meta, kind="query-meta")
    return QueryResult(
        name=handle.name,
        engine=handle.engine,
        rows_uri=rows_ref.uri,
        rows_sha256=rows_ref.sha256,
        row_count=len(rows),
        window=handle.window,
        coverage=for_state(coverage),
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


def write_report(
    s3: Any,
    evidence_bucket: str,
    state: WorkflowState,
    *,
    execution_id: str,
    started_at: str | None = None,
    insiders: Insiders | None = None,
) -> ReportRef:
    """Analyse every saved query result and write report.json and report.md to evidence.

    ``insiders``: this account as the live account shows it (responder.insiders.read_insiders), so
    the report calls external exactly what Remediate would remove.
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
        credentials=report_credentials(key, results),
        derived_rows={k: rows for (k, name), rows in results.items() if name == PRIMARY_QUERY and k != key},
        remote_ip_details=_remote_ip_details(s3, state),
        response=response,
        account_id=inc.account_id,
        insiders=insiders,
        current_bucket_policies=_bucket_policies(s3, state),
        ip_intel=_ip_intel(s3),
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
    """Shipped AWS ranges and Tor exits, plus the team's threat list in S3 when one is configured."""
    from responder.analysis.ips import load_threat_list
    from responder.settings import get_settings

    settings = get_settings()
    cache = "/tmp/ip-intel"  # noqa: S108 - Lambda's only writable place; a warm container reuses it
    threat = None
    if settings.threat_list_bucket and settings.threat_list_key:
        threat = load_threat_list(s3, settings.threat_list_bucket, settings.threat_list_key, cache_dir=cache)
    return load_ip_intel(cache, threat=threat)


def _unredacted_row(row: dict[str, Any]) -> dict[str, Any]:
    """A saved row minus its redaction record (the report redacts again on its own)."""
    row.pop("_redacted", None)
    return row


def _policies_put(results: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]) -> dict[str, str | None]:
    """event id -> the bucket policy text a PutBucketPolicy put (None for DeleteBucketPolicy)."""
    put: dict[str, str | None] = {}
    for (_, name), rows in results.items():
        if name != PRIMARY_QUERY:
            continue
        for row in rows:
            event = row.get("event_name")
            if event not in ("PutBucketPolicy", "DeleteBucketPolicy") or not row.get("event_id"):
                continue
            policy: Any = None
            if event == "PutBucketPolicy":
                params = json.loads(str(row.get("request_parameters") or "{}"))
                policy = params.get("bucketPolicy")
                policy = policy if isinstance(policy, str) or policy is None else json.dumps(policy)
            put[str(row["event_id"])] = policy
    return put


def _public_access_changed(
    results: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], attacker_keys: set[str]
) -> set[str]:
    """Buckets whose Block Public Access an attacker key changed by a successful call."""
    names = {"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock"}
    changed: set[str] = set()
    for rows in results.values():
        for row in rows:
            mine = row.get("access_key_id") in attacker_keys and not row.get("error_code")
            if mine and row.get("event_name") in names:
                params = json.loads(str(row.get("request_parameters") or "{}"))
                if isinstance(params, dict) and params.get("bucketName"):
                    changed.add(str(params["bucketName"]))
    return changed


def remediation_allowed(state: WorkflowState) -> tuple[bool, str]:
    """Rogue resources are contained under the key's approval policy: automatic, approved, or not."""
    inc = state.incident
    if inc is None:
        return False, "no incident"
    if state.approval is not None:
        return True, f"approved by {state.approval.get('by') or 'unknown'}"
    if state.owner is not None and state.owner.protected:
        return False, "the principal is protected and nobody approved: the plan is reported, nothing changes"
    contained = any(
        a.action == "disable_access_key" and a.status in ("done", "already_done", "would_do")
        for a in state.actions()
    )
    if contained:
        # Automatic containment, or the approval timeout's "contain" default: the same policy applies.
        return True, "the policy that contained the key"
    return False, f"not approved ({inc.decision.action}): the plan is reported, nothing changes"


def remediate(
    s3: Any,
    iam: Any,
    ddb: Any,
    table: str,
    evidence_bucket: str,
    state: WorkflowState,
    *,
    execution_id: str,
    insiders: Any = None,
) -> StepResult:
    """Playbook step 8: contain the backdoored buckets and the IAM persistence the key created.

    ``insiders``: this account's :class:`responder.analysis.buckets.Insiders` as the live account
    shows them (``responder.insiders.read_insiders``); without it only the account id is inside.
    """
    from responder.remediate import apply_bucket_fix, contain_persistence, plan_bucket_fixes, plan_persistence
    from responder.remediate.persistence import REMEDIATE_TIMEOUT_SECONDS, events_by_id, save_plan
    from responder.settings import get_settings
    from responder.snapshot import bucket_state

    inc = state.incident
    if inc is None or state.report is None or not state.report.uri:
        return StepResult()
    report = json.loads(read_evidence(s3, state.report.uri))
    metas = saved_results(s3, evidence_bucket, inc.incident_id, execution_id)
    results = {k: load_rows(s3, m["rows"]) for k, m in metas.items() if k[1] == PRIMARY_QUERY}
    flagged = {c["bucket"] for c in report.get("bucket_policy_changes", []) if c.get("grants_external")}
    flagged |= {c["bucket"] for c in report.get("current_bucket_policies", []) if c.get("grants_external")}
    buckets = sorted(flagged | set(inc.buckets))
    live = {b: bucket_state(s3, b) for b in buckets}
    attacker_keys = {
        c["access_key_id"] for c in report.get("credentials", []) if c.get("relation") != "same_ip"
    }
    fixes = plan_bucket_fixes(
        report,
        live,
        finding_type=inc.finding.type if inc.finding else None,
        finding_buckets=inc.buckets,
        account_id=insiders or inc.account_id,
        attacker_keys=attacker_keys,
        policies=_policies_put(results),
        public_access_changed=_public_access_changed(results, attacker_keys),
    )
    # Persistence: each event's row (its responseElements) is what the live account is checked against.
    rows = [row for key_rows in results.values() for row in key_rows]
    rogue = plan_persistence(
        report, exposed_user=state.owner.user_name if state.owner else None, events=events_by_id(rows)
    )
    allowed, why = remediation_allowed(state)
    dry_run = inc.dry_run or not allowed
    actions: list[Action] = []
    for fix in fixes:
        actions += apply_bucket_fix(
            s3,
            ddb,
            table,
            evidence_bucket,
            inc.incident_id,
            fix,
            execution_id=execution_id,
            approved_by=why,
            dry_run=dry_run,
        )
    settings = get_settings()
    persistence = contain_persistence(
        iam,
        ddb,
        table,
        inc.incident_id,
        rogue,
        approved_by=why,
        dry_run=dry_run,
        deny_policy_arn=settings.deny_all_policy_arn,
        protected=settings.protected_principals,
        protected_tag=settings.protected_tag,
        max_principals=settings.max_auto_contain,
        execution_id=execution_id,
        once_scope=f"key/{inc.access_key_id}",
        stale_after_seconds=REMEDIATE_TIMEOUT_SECONDS,
        insiders=insiders,
    )
    actions += persistence.actions
    # The full lists (every inconsistent record, everything waiting for a person) go to evidence.
    evidence = [save_plan(s3, evidence_bucket, incident_prefix(inc.incident_id, execution_id), persistence)]
    if not allowed and not inc.dry_run:
        # A plan nobody approved is reported as such, not as something that will happen.
        actions = [
            a.model_copy(update={"status": "skipped", "detail": f"{why}; would: {a.detail or a.action}"})
            if a.status == "would_do"
            else a
            for a in actions
        ]
    return StepResult(actions=actions, evidence=evidence)


def latest_report(s3: Any, bucket: str, incident_id: str) -> dict[str, Any]:
    """The newest report.json an earlier run of this incident wrote to evidence."""
    newest: tuple[Any, str] | None = None
    prefix = incident_prefix(incident_id).rsplit("/", 1)[0] + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/report.json") and (newest is None or obj["LastModified"] > newest[0]):
                newest = (obj["LastModified"], obj["Key"])
    if newest is None:
        raise InvalidInput(f"no report of incident {incident_id} in evidence: run the investigation first")
    return dict(json.loads(read_evidence(s3, f"s3://{bucket}/{newest[1]}")))


def plan_eradication(s3: Any, iam: Any, bucket: str, incident_id: str) -> dict[str, Any]:
    """What an approved eradication of this incident would delete (reads only)."""
    from responder.remediate import eradication_plan
    from responder.remediate.persistence import PLAN_NAME, load_plan

    # What the Remediate step verified against the live account (and what waits for a person):
    # never the report's records alone, which the attacker may have written.
    saved = latest_evidence(s3, bucket, incident_id, f"/{PLAN_NAME}-")
    rogue = load_plan(saved) if saved else []
    from responder.remediate.eradicate import MAX_PLANNED

    # The plan travels in the workflow's state: bounded, the rest left to the next approved run.
    plan = eradication_plan(iam, rogue, incident_id=incident_id, max_items=MAX_PLANNED)
    if saved is None:
        plan.not_deleted.append(
            "no persistence plan of this incident in evidence: nothing verified to delete"
        )
    return {**plan.model_dump(mode="json"), "digest": plan.digest, "lines": plan.describe()}


def latest_evidence(s3: Any, bucket: str, incident_id: str, marker: str) -> dict[str, Any] | None:
    """The newest JSON evidence object of the incident whose key contains ``marker``, or None."""
    newest: tuple[Any, str] | None = None
    prefix = incident_prefix(incident_id).rsplit("/", 1)[0] + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if marker in obj["Key"] and (newest is None or obj["LastModified"] > newest[0]):
                newest = (obj["LastModified"], obj["Key"])
    return None if newest is None else dict(json.loads(read_evidence(s3, f"s3://{bucket}/{newest[1]}")))


def run_eradication(
    iam: Any, ddb: Any, table: str, state: WorkflowState, plan_doc: Mapping[str, Any]
) -> StepResult:
    """Delete the planned rogue resources with the approval this run got, or refuse and list them."""
    from responder.errors import EradicationNotApproved
    from responder.remediate import Approval, EradicationPlan, eradicate

    inc = state.incident
    if inc is None:
        raise InvalidInput("eradication needs the incident")
    plan = EradicationPlan.model_validate(
        {k: v for k, v in plan_doc.items() if k in EradicationPlan.model_fields}
    )
    approval = None
    if state.approval is not None:
        # The approver answered the request that showed this very plan: bind the approval to it.
        approval = Approval(
            approved=True,
            by=str(state.approval.get("by") or "unknown"),
            reason=state.approval.get("reason"),
            plan_digest=plan.digest,
        )
    try:
        actions = eradicate(iam, ddb, table, inc.incident_id, plan, approval=approval, dry_run=inc.dry_run)
    except EradicationNotApproved as exc:
        actions = [
            Action.now(
                "delete_resource",
                item.target,
                "skipped",
                f"refused without an approval: would {'; '.join(item.steps)}",
            )
            for item in plan.items
        ] or [Action.now("delete_resource", inc.incident_id, "skipped", str(exc))]
    return StepResult(actions=actions)


def deliver(
    sns: Any,
    s3: Any,
    secrets: Any,
    settings: Any,
    state: WorkflowState,
    message: Any,
    *,
    execution_id: str,
    workflow_status: str,
) -> StepResult:
    """Send the SOC message (and the chat webhook, best effort), then record the final response.

    ``response.json`` in evidence holds every action of the run, the SOC message's included, so the
    record is complete even for steps that ran after the report (Remediate) or instead of it.
    """
    from responder.notify import post_webhook, publish

    message_id = publish(sns, settings.soc_topic_arn, message)
    actions = [Action.now("notify_soc", settings.soc_topic_arn, "done", f"SNS message {message_id}")]
    if settings.webhook_secret_id:
        posted = post_webhook(secrets, settings.webhook_secret_id, message)
        # A chat outage never fails the workflow: the email went out, the status says what happened.
        actions.append(Action.now("notify_chat", "webhook", "done" if posted else "failed", None))
    inc = state.incident
    if inc is not None and settings.evidence_bucket:
        response = response_of(state, workflow_status)
        response["actions"] += [a.model_dump(mode="json") for a in actions]
        response["execution_id"] = execution_id
        ref = put_json_evidence(
            s3,
            settings.evidence_bucket,
            f"{incident_prefix(inc.incident_id, execution_id)}/response.json",
            response,
            kind="response",
        )
        return StepResult(actions=actions, evidence=[ref])
    return StepResult(actions=actions)
