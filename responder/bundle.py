"""The report bundle in the Object Lock bucket: report files plus a two-level evidence manifest.

The chicken-and-egg (the manifest should list the report's hash, the report should carry the
manifest's hash) is broken in two levels, each verifiable on its own:

1. ``manifest.json`` lists every artifact of the run *except* the report files: the finding, the
   incident, bucket snapshots, query results. ``report.json`` (and the .md and .html rendered from
   it) carries ``evidence_manifest: {uri, sha256}``, the hash of those exact manifest bytes.
2. ``manifest.final.json``, written last, lists ``manifest.json`` and the three report files with
   their hashes. It is the root of the bundle: hand its URI and SHA-256 to whoever must verify.

:func:`verify_bundle` walks root -> report files and manifest -> artifacts. Every object is written
once (:func:`responder.evidence.put_evidence`) and carries its SHA-256 in metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from responder.errors import EvidenceConflict, InvalidInput
from responder.evidence import canonical_json, put_evidence, read_evidence, sha256_hex
from responder.models import EvidenceRef, iso
from responder.report import render_markdown
from responder.report_html import render_html

MANIFEST_VERSION = 1
MANIFEST = "manifest.json"
FINAL_MANIFEST = "manifest.final.json"
REPORT_FILES = ("report.json", "report.md", "report.html")
CONTENT_TYPES = {
    "report.json": "application/json",
    "report.md": "text/markdown; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
}
_KINDS = {"report.json": "report", "report.md": "report-md", "report.html": "report-html"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BUNDLE_NAMES = frozenset({*REPORT_FILES, MANIFEST, FINAL_MANIFEST})


def build_manifest(
    evidence: Iterable[Mapping[str, Any] | EvidenceRef],
    *,
    incident_id: str,
    execution_id: str | None,
    created_at: datetime | str,
    role: str = "artifacts",
) -> dict[str, Any]:
    """A manifest document: each artifact's ``uri``, ``sha256`` and ``kind``, sorted by URI.

    Duplicates (a retried step) collapse; one URI with two different hashes is an
    :class:`EvidenceConflict`. ``role`` is ``artifacts`` (manifest.json) or ``final``.
    """
    by_uri: dict[str, dict[str, Any]] = {}
    for item in evidence:
        ref = item.model_dump(mode="json") if isinstance(item, EvidenceRef) else dict(item)
        uri, digest = str(ref.get("uri") or ""), str(ref.get("sha256") or "")
        if not uri or not _SHA256.match(digest):
            raise InvalidInput(f"evidence entry needs a uri and a lower-case hex sha256: {uri or ref!r}")
        seen = by_uri.get(uri)
        if seen is not None and seen["sha256"] != digest:
            raise EvidenceConflict(f"{uri} is listed with two hashes ({seen['sha256']} and {digest})")
        if seen is None or not seen.get("kind"):
            by_uri[uri] = {"uri": uri, "sha256": digest, "kind": ref.get("kind")}
    created = created_at if isinstance(created_at, str) else iso(created_at)
    return {
        "manifest_version": MANIFEST_VERSION,
        "role": role,
        "incident_id": incident_id,
        "execution_id": execution_id,
        "created_at": created,
        "algorithm": "sha256",
        "artifact_count": len(by_uri),
        "artifacts": [by_uri[uri] for uri in sorted(by_uri)],
    }


def _is_bundle_file(uri: str, prefix_uri: str) -> bool:
    folder, _, name = uri.rpartition("/")
    return folder == prefix_uri and name in _BUNDLE_NAMES


def _ids(report: Mapping[str, Any], prefix: str) -> tuple[str, str | None]:
    incident = (report.get("incident") or {}).get("incident_id")
    if not incident:
        parts = prefix.strip("/").split("/")
        incident = parts[1] if len(parts) >= 2 and parts[0] == "incidents" else prefix
    execution = report.get("execution_id") or report.get("execution_arn")
    return str(incident), str(execution) if execution else None


def write_report_bundle(
    s3: Any,
    bucket: str,
    prefix: str,
    report: MutableMapping[str, Any],
    *,
    created_at: datetime | str | None = None,
    redaction_key: bytes | None = None,
    artifacts: Iterable[Mapping[str, Any] | EvidenceRef] | None = None,
) -> list[EvidenceRef]:
    """Write manifest.json, report.json/.md/.html and manifest.final.json under ``prefix``.

    Sets ``report["evidence_manifest"] = {"uri", "sha256"}`` (of manifest.json) before rendering.
    The manifest lists ``artifacts`` when given (the final bundle: every object of the run), else
    ``report["evidence"]`` (or ``report["response"]["evidence"]``) minus any earlier bundle files. ``created_at`` defaults to the report's ``generated_at`` so that a retried
    step writes the same bytes (write-once objects accept identical rewrites only). Returns the refs
    in write order: manifest, report.json, report.md, report.html, manifest.final (the root).
    """
    prefix = prefix.strip("/")
    prefix_uri = f"s3://{bucket}/{prefix}"
    incident_id, execution_id = _ids(report, prefix)
    stamp = created_at or report.get("generated_at") or iso(datetime.now(UTC))
    if artifacts is None:
        evidence = report.get("evidence") or (report.get("response") or {}).get("evidence") or []
        artifacts = [e for e in evidence if not _is_bundle_file(str(e.get("uri")), prefix_uri)]

    manifest = build_manifest(artifacts, incident_id=incident_id, execution_id=execution_id, created_at=stamp)
    manifest_ref = put_evidence(s3, bucket, f"{prefix}/{MANIFEST}", canonical_json(manifest), kind="manifest")
    report["evidence_manifest"] = {"uri": manifest_ref.uri, "sha256": manifest_ref.sha256}

    refs = [manifest_ref]
    for name, body in render_report_files(report, redaction_key=redaction_key).items():
        refs.append(
            put_evidence(
                s3, bucket, f"{prefix}/{name}", body, content_type=CONTENT_TYPES[name], kind=_KINDS[name]
            )
        )
    final = build_manifest(
        refs, incident_id=incident_id, execution_id=execution_id, created_at=stamp, role="final"
    )
    final["covers"] = (
        f"{MANIFEST} (every other artifact of the run) and the report files; "
        f"report.json carries the sha256 of {MANIFEST} as evidence_manifest"
    )
    refs.append(
        put_evidence(s3, bucket, f"{prefix}/{FINAL_MANIFEST}", canonical_json(final), kind="manifest-final")
    )
    return refs


FINAL_FOLDER = "final"


def final_uris(report_uri: str) -> dict[str, str]:
    """Where the final bundle of the run whose draft report is ``report_uri`` lives (Notify writes it)."""
    folder = report_uri.rpartition("/")[0]
    return {name: f"{folder}/{FINAL_FOLDER}/{name}" for name in (*REPORT_FILES, FINAL_MANIFEST)}


def run_objects(
    s3: Any, bucket: str, prefix: str, known: Mapping[str, str] | None = None
) -> list[EvidenceRef]:
    """Every object under the run's ``prefix`` but its final bundle, with the SHA-256 each was written
    with: from ``known`` (``{uri: sha256}`` the steps recorded), else the object's metadata
    (``put_evidence`` keeps it there), else read and hashed. The listing, not ``known``, decides what
    is in: an object a step wrote and did not record is in too."""
    known = known or {}
    prefix = prefix.strip("/") + "/"
    skip = f"{prefix}{FINAL_FOLDER}/"
    out: list[EvidenceRef] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents") or []:
            key = str(item["Key"])
            if key.startswith(skip):
                continue
            uri = f"s3://{bucket}/{key}"
            digest = known.get(uri)
            if not digest or not _SHA256.match(str(digest)):
                digest = (s3.head_object(Bucket=bucket, Key=key).get("Metadata") or {}).get("sha256")
            if not digest or not _SHA256.match(str(digest)):
                digest = sha256_hex(read_evidence(s3, uri))
            out.append(EvidenceRef(uri=uri, sha256=str(digest), kind=_kind_of(key)))
    return out


def _kind_of(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name in _KINDS:
        return _KINDS[name]
    if name == MANIFEST:
        return "manifest"
    if name == FINAL_MANIFEST:
        return "manifest-final"
    if "/queries/" in key:
        return "query-meta" if name.endswith(".meta.json") else "query-rows"
    if "/buckets/" in key:
        return "bucket-before-fix" if name.startswith("before-fix-") else "bucket-snapshot"
    return name.removesuffix(".json")


def verify_bundle(s3: Any, final_uri: str, *, final_sha256: str | None = None) -> list[str]:
    """Check a bundle from its root; returns the problems found (empty: every hash matches)."""
    problems: list[str] = []

    def fetch(uri: str, expected: str) -> bytes | None:
        try:
            body = read_evidence(s3, uri)
        except (ClientError, EvidenceConflict, ValueError) as exc:  # missing or altered: a finding
            problems.append(f"{uri}: unreadable ({type(exc).__name__}: {exc})")
            return None
        if sha256_hex(body) != expected:
            problems.append(f"{uri}: sha256 {sha256_hex(body)} != listed {expected}")
        return body

    root_body = read_evidence(s3, final_uri)
    if final_sha256 and sha256_hex(root_body) != final_sha256:
        problems.append(f"{final_uri}: sha256 {sha256_hex(root_body)} != expected {final_sha256}")
    root = json.loads(root_body)
    listed = {a["uri"].rsplit("/", 1)[-1]: a for a in root.get("artifacts", [])}
    bodies = {name: fetch(a["uri"], a["sha256"]) for name, a in listed.items()}
    for name in (MANIFEST, *REPORT_FILES):
        if name not in listed:
            problems.append(f"{final_uri} does not list {name}")
    report_body, manifest_body = bodies.get("report.json"), bodies.get(MANIFEST)
    if report_body is not None and MANIFEST in listed:
        pointer = json.loads(report_body).get("evidence_manifest") or {}
        if pointer.get("sha256") != listed[MANIFEST]["sha256"]:
            problems.append(f"report.json names manifest sha256 {pointer.get('sha256')}, not the one sealed")
    if manifest_body is not None:
        for artifact in json.loads(manifest_body).get("artifacts", []):
            fetch(artifact["uri"], artifact["sha256"])
    return problems


def report_json_bytes(report: Mapping[str, Any]) -> bytes:
    """report.json as written everywhere (sorted keys, indent 2, trailing newline)."""
    return (json.dumps(report, sort_keys=True, indent=2) + "\n").encode("utf-8")


def render_report_files(report: Mapping[str, Any], *, redaction_key: bytes | None = None) -> dict[str, bytes]:
    """The three report files by name: report.json, report.md, report.html."""
    return {
        "report.json": report_json_bytes(report),
        "report.md": render_markdown(report, redaction_key=redaction_key).encode("utf-8"),
        "report.html": render_html(report, redaction_key=redaction_key).encode("utf-8"),
    }


def write_report(
    report: Mapping[str, Any], out_dir: str | Path, *, redaction_key: bytes | None = None
) -> list[Path]:
    """Write report.json (sorted keys, indent 2), report.md and report.html into ``out_dir``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, body in render_report_files(report, redaction_key=redaction_key).items():
        path = folder / name
        path.write_bytes(body)
        paths.append(path)
    return paths
