"""QueryResults (playbook step 12): fetch a finished query's rows and keep them as evidence.

Query rows never travel in the state (256 KB limit): they go to evidence as JSON lines with their
SHA-256, redacted, with a hash of each removed secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from responder.evidence import put_evidence, put_json_evidence, query_prefix
from responder.query import PollingEngine, QueryParams
from responder.query.digest import for_state
from responder.redact import redact
from responder.state import QueryHandle, QueryResult


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
    base = f"{query_prefix(handle.incident_id, handle.execution_id)}{handle.access_key_id}/{handle.name}"
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
