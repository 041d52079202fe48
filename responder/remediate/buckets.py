"""Contain a backdoored bucket (playbook step 8 and "Remediating compromised S3 buckets").

:func:`plan_bucket_fixes` is pure: from the investigation's report and each bucket's live state
(``responder.snapshot.bucket_state``) it decides, with reasons, whether to put back the policy that
was in place before the attacker's change (:func:`restore_candidate`), or else to remove only the
statements that let outsiders in, and whether the finding type calls for Block Public Access.

:func:`apply_bucket_fix` saves everything a fix could change to write-once evidence first, then
makes the change, each recorded with before, after and who approved it, so ``responder recover``
can put the policy back byte for byte. It re-reads the bucket and acts on what is live: a retry is
``already_done``, a policy changed since the plan is left alone (``skipped``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder.analysis.buckets import analyse_policy, statement_external
from responder.evidence import canonical_json, incident_prefix, put_json_evidence, sha256_hex
from responder.models import Action, EvidenceRef
from responder.permissions import Permission
from responder.remediate.record import recorded_change, require_approver
from responder.revoke import canonical, failure
from responder.snapshot import bucket_state

PUBLIC_FINDING_TYPES = frozenset(
    {
        "Policy:S3/BucketAnonymousAccessGranted",
        "Policy:S3/BucketBlockPublicAccessDisabled",
        "Policy:S3/BucketPublicAccessGranted",
        "Policy:S3/AccountBlockPublicAccessDisabled",
    }
)
"""GuardDuty finding types whose remediation (per the GuardDuty guide) is Block Public Access."""

BLOCK_ALL: dict[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

PERMISSIONS_BUCKET_FIX: tuple[Permission, ...] = (
    Permission(
        (
            "s3:GetBucketPolicy",
            "s3:GetBucketAcl",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetBucketOwnershipControls",
            "s3:GetBucketVersioning",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            # Also what DeletePublicAccessBlock is authorized as; apply only puts.
            "s3:PutBucketPublicAccessBlock",
        ),
        ("arn:{partition}:s3:::*",),
    ),
    # GetObject backs the HEAD that checks an existing snapshot's hash before refusing to overwrite.
    Permission(("s3:PutObject", "s3:GetObject"), ("@evidence_bucket/*",)),
    Permission(("dynamodb:PutItem",), ("@incident_table",)),
)
"""What :func:`apply_bucket_fix` calls (:func:`plan_bucket_fixes` and :func:`restore_candidate` call nothing)."""


class FlaggedStatement(BaseModel):
    """One live statement to remove: its canonical JSON is how apply finds it again."""

    index: int
    sid: str
    statement: str
    reasons: list[str] = Field(default_factory=list)
    external_principals: list[str] = Field(default_factory=list)


class PolicySnapshot(BaseModel):
    """A bucket policy known at a time: from an earlier snapshot's evidence, or a config history."""

    bucket: str
    taken_at: str
    policy: str | None
    source: str


class RestoreCandidate(BaseModel):
    """The policy in place before the attacker's first change (None: the bucket had no policy)."""

    policy: str | None
    source: str
    as_of: str
    before_event: str


class BucketFix(BaseModel):
    """What to do to one bucket, and why. Exactly one of ``restore`` / ``remove`` carries the policy fix."""

    bucket: str
    restore: RestoreCandidate | None = None
    remove: list[FlaggedStatement] = Field(default_factory=list)
    block_public_access: bool = False
    planned_on_sha256: str | None = None
    reasons: list[str] = Field(default_factory=list)

    @property
    def changes_policy(self) -> bool:
        return self.restore is not None or bool(self.remove)


# ------------------------------------------------------------------------------------ reading


def _document(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("a bucket policy is a JSON object")
    return parsed


def _statements(document: Mapping[str, Any] | None) -> list[Any]:
    if not document:
        return []
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def policy_canonical(text: str | None) -> str | None:
    """One text per policy document (None: no policy): how live, recorded and planned policies compare."""
    document = _document(text)
    return None if document is None else canonical(document)


def _matches_sha(text: str | None, sha: str | None) -> bool:
    """Is ``text`` the policy whose SHA-256 the report recorded (of the text, or of CloudTrail's object)?"""
    if not text or not sha:
        return False
    document = _document(text)
    forms = {text, json.dumps(document, sort_keys=True)}
    return any(hashlib.sha256(f.encode()).hexdigest() == sha for f in forms)


def external_statements(policy: str | None, account_id: str | None) -> list[FlaggedStatement]:
    """The live policy's statements that let someone outside ``account_id`` in."""
    out: list[FlaggedStatement] = []
    for index, statement in enumerate(_statements(_document(policy))):
        if not isinstance(statement, Mapping):
            continue
        ext, who, reasons = statement_external(statement, account_id)
        if ext:
            out.append(
                FlaggedStatement(
                    index=index,
                    sid=str(statement.get("Sid") or f"#{index}"),
                    statement=canonical(statement),
                    reasons=reasons,
                    external_principals=sorted(set(who)),
                )
            )
    return out


# ---------------------------------------------------------------------------------- planning


def restore_candidate(
    bucket: str,
    changes: Sequence[Mapping[str, Any]],
    *,
    live_policy: str | None,
    attacker_keys: Collection[str] = (),
    policies: Mapping[str, str | None] | None = None,
    history: Sequence[PolicySnapshot] = (),
    account_id: str | None = None,
) -> tuple[RestoreCandidate | None, str]:
    """The policy before the attacker's first change to ``bucket``, or None and why not.

    ``changes``: PutBucketPolicy / DeleteBucketPolicy in the report's ``bucket_policy_changes`` form,
    of anyone (the report's own are all the key's; a bucket-wide query adds the owner's). A change is
    the attacker's when its ``access_key_id`` is in ``attacker_keys`` (with none given: when it grants
    outsiders access). The policy text of a Put comes from its ``policy`` key or ``policies``
    (event id -> text, as in the event's requestParameters.bucketPolicy). ``history``: policies known
    at earlier times (an earlier incident's snapshot). Refused when the live policy is no longer the
    attacker's last one (the owner changed it since: restoring would undo that), when the policy
    before is unknown, or when it lets outsiders in too.
    """
    policies = policies or {}
    mine = sorted(
        (c for c in changes if c.get("bucket") == bucket and c.get("succeeded", True)),
        key=lambda c: str(c.get("event_time", "")),
    )

    def attackers(c: Mapping[str, Any]) -> bool:
        if attacker_keys:
            return c.get("access_key_id") in attacker_keys
        return bool(c.get("grants_external"))

    theirs = [c for c in mine if attackers(c)]
    if not theirs:
        return None, "no change by the exposed key (or its credentials) to this bucket's policy is known"
    first, last = theirs[0], theirs[-1]
    if any(not attackers(c) and str(c.get("event_time")) > str(last.get("event_time")) for c in mine):
        return None, "the policy was changed by someone else after the attacker's last change"

    def text_of(c: Mapping[str, Any]) -> tuple[bool, str | None]:
        if c.get("event_name") == "DeleteBucketPolicy":
            return True, None
        if isinstance(c.get("policy"), str):
            return True, str(c["policy"])
        if c.get("event_id") in policies:
            return True, policies[str(c["event_id"])]
        return False, None

    known, last_text = text_of(last)
    if last.get("event_name") == "DeleteBucketPolicy":
        if live_policy:
            return None, "the attacker deleted the policy, and the bucket has one again since"
    elif known and policy_canonical(live_policy) != policy_canonical(last_text):
        return None, "the live policy is not the one the attacker put: changed since"
    elif not known and not _matches_sha(live_policy, last.get("policy_sha256")):
        return None, "the live policy cannot be matched to the attacker's last PutBucketPolicy"

    start = str(first.get("event_time"))
    earlier: list[tuple[str, str, bool, str | None]] = []
    for c in mine:
        if not attackers(c) and str(c.get("event_time")) < start:
            ok, text = text_of(c)
            earlier.append((str(c.get("event_time")), f"cloudtrail:{c.get('event_id')}", ok, text))
    for snap in history:
        if snap.bucket == bucket and snap.taken_at < start:
            earlier.append((snap.taken_at, snap.source, True, snap.policy))
    if not earlier:
        return None, f"no policy of this bucket before {start} is known (no earlier change or snapshot)"
    as_of, source, ok, text = max(earlier, key=lambda e: e[0])
    if not ok:
        return None, f"the policy before {start} was put at {as_of} ({source}) but its text is not known"
    if text is not None and analyse_policy(text, account_id).grants_external:
        return None, f"the policy before the attacker's change ({source}) also lets outsiders in"
    return (
        RestoreCandidate(policy=text, source=source, as_of=as_of, before_event=str(first.get("event_id"))),
        f"the policy as of {as_of} ({source}), before the attacker's {first.get('event_name')} at {start}",
    )


def _flagged(report: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for change in report.get("bucket_policy_changes") or []:
        if change.get("succeeded", True) and change.get("grants_external"):
            out.setdefault(str(change["bucket"]), []).append(
                f"{change.get('event_name')} at {change.get('event_time')} let in "
                + ", ".join(change.get("external_principals") or ["outsiders"])
            )
    for current in report.get("current_bucket_policies") or []:
        if current.get("grants_external"):
            out.setdefault(str(current["bucket"]), []).append(
                "the live policy lets in " + ", ".join(current.get("external_principals") or ["outsiders"])
            )
    return out


def plan_bucket_fixes(
    report: Mapping[str, Any],
    live_state: Mapping[str, Mapping[str, Any]],
    *,
    finding_type: str | None,
    finding_buckets: Iterable[str] = (),
    account_id: str | None = None,
    attacker_keys: Collection[str] = (),
    policies: Mapping[str, str | None] | None = None,
    history: Sequence[PolicySnapshot] = (),
    changes: Sequence[Mapping[str, Any]] | None = None,
) -> list[BucketFix]:
    """One fix per bucket the investigation flags (or the finding names, when it calls for BPA). Pure.

    ``report``: ``bucket_policy_changes`` and ``current_bucket_policies`` (and ``account_id``).
    ``live_state``: ``responder.snapshot.bucket_state`` per bucket. ``changes``: the bucket policy
    changes to consider for a restore (default: the report's; add the owner's from a bucket-wide
    query). The rest as for :func:`restore_candidate`.
    """
    account = account_id or report.get("account_id")
    flagged = _flagged(report)
    wants_bpa = (finding_type or "") in PUBLIC_FINDING_TYPES
    if wants_bpa:
        for bucket in finding_buckets:
            flagged.setdefault(bucket, []).append(f"named by the {finding_type} finding")
    all_changes = list(changes) if changes is not None else list(report.get("bucket_policy_changes") or [])
    fixes: list[BucketFix] = []
    for bucket in sorted(flagged):
        reasons = list(flagged[bucket])
        state = live_state.get(bucket)
        if state is None:
            reasons.append("no live state of this bucket was read: nothing planned")
            fixes.append(BucketFix(bucket=bucket, reasons=reasons))
            continue
        live = state.get("policy")
        fix = BucketFix(
            bucket=bucket,
            planned_on_sha256=sha256_hex(live.encode()) if isinstance(live, str) else None,
            reasons=reasons,
        )
        offending = external_statements(live, account)
        candidate, why = restore_candidate(
            bucket,
            all_changes,
            live_policy=live,
            attacker_keys=attacker_keys,
            policies=policies,
            history=history,
            account_id=account,
        )
        if candidate is not None and policy_canonical(candidate.policy) != policy_canonical(live):
            fix.restore = candidate
            reasons.append(f"restore {why}")
        elif offending:
            reasons.append(f"no restore: {why}" if candidate is None else "no restore: already that policy")
            prior = {canonical(s) for s in _statements(_document(candidate.policy))} if candidate else set()
            for flagged_statement in offending:
                if flagged_statement.statement in prior:
                    reasons.append(
                        f"kept {flagged_statement.sid}: in the policy before the attacker's change"
                    )
                else:
                    fix.remove.append(flagged_statement)
            if fix.remove:
                reasons.append(
                    "remove " + ", ".join(s.sid for s in fix.remove) + "; every other statement kept"
                )
        else:
            reasons.append("the live policy lets nobody outside the account in: no policy change")
        if wants_bpa:
            if state.get("public_access_block") == BLOCK_ALL:
                reasons.append("Block Public Access is already fully on")
            else:
                fix.block_public_access = True
                reasons.append(f"{finding_type}: turn Block Public Access fully on")
        fixes.append(fix)
    return fixes


# ---------------------------------------------------------------------------------- applying


def _without(policy: str, remove: Sequence[FlaggedStatement]) -> tuple[str | None, list[str]]:
    """The live policy minus the planned statements still in it (None: nothing left), and their sids."""
    document = _document(policy) or {}
    targets = {s.statement: s.sid for s in remove}
    kept, gone = [], []
    for statement in _statements(document):
        key = canonical(statement)
        if key in targets:
            gone.append(targets[key])
        else:
            kept.append(statement)
    if not gone:
        return policy, []
    if not kept:
        return None, gone
    return json.dumps({**document, "Statement": kept}), gone


def _policy_call(s3: Any, bucket: str, policy: str | None) -> Any:
    if policy is None:
        return lambda: s3.delete_bucket_policy(Bucket=bucket)
    return lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy)


def _snapshot_key(incident_id: str, execution_id: str, bucket: str, state: Mapping[str, Any]) -> str:
    # Named by content: a retry writes the same object (a no-op), another state another object,
    # so write-once evidence can never conflict.
    digest = sha256_hex(canonical_json(state))[:16]
    return f"{incident_prefix(incident_id, execution_id)}/buckets/{bucket}/before-fix-{digest}.json"


PolicyChange = tuple[str, str | None, str]
"""(action, the new policy or None to delete it, detail)."""


def _decide_policy(
    fix: BucketFix, live: str | None, live_sha: str | None, results: list[Action]
) -> PolicyChange | None:
    """The policy change still to make against the live policy; already done / skipped ones go to results."""
    bucket = fix.bucket
    if fix.restore is not None:
        target = fix.restore.policy
        if policy_canonical(live) == policy_canonical(target):
            results.append(
                Action.now("restore_bucket_policy", bucket, "already_done", f"already {fix.restore.source}")
            )
        elif live_sha != fix.planned_on_sha256:
            results.append(
                Action.now(
                    "restore_bucket_policy",
                    bucket,
                    "skipped",
                    f"the policy changed since the plan (sha256 {live_sha}, planned on "
                    f"{fix.planned_on_sha256}): left as is, plan again",
                )
            )
        else:
            what = "deleted (the bucket had none)" if target is None else "put back"
            return (
                "restore_bucket_policy",
                target,
                f"policy {what} as of {fix.restore.as_of} ({fix.restore.source})",
            )
    elif fix.remove:
        new, gone = _without(live, fix.remove) if live else (None, [])
        if not gone:
            results.append(
                Action.now(
                    "remove_policy_statements",
                    bucket,
                    "already_done",
                    "none of " + ", ".join(s.sid for s in fix.remove) + " is in the live policy",
                )
            )
        else:
            kept = "the policy deleted: no other statement" if new is None else "every other statement kept"
            return ("remove_policy_statements", new, f"removed {', '.join(gone)}; {kept}")

    return None


def apply_bucket_fix(
    s3: Any,
    ddb: Any,
    table: str,
    evidence_bucket: str,
    incident_id: str,
    fix: BucketFix,
    *,
    execution_id: str,
    approved_by: str,
    dry_run: bool,
) -> list[Action]:
    """Snapshot the bucket's state to evidence, then fix its policy and Block Public Access.

    Actions: ``snapshot_bucket_policy``, then ``restore_bucket_policy`` or ``remove_policy_statements``,
    then ``block_public_access``; ``would_do`` in a dry run (nothing read is written), ``already_done``
    on a retry, ``skipped`` when the policy changed since the plan. Raises Throttled or
    ContainmentFailed (what was and was not done), EvidenceConflict never (snapshots are named by content).
    """
    require_approver(approved_by, dry_run=dry_run)
    bucket = fix.bucket
    state = bucket_state(s3, bucket)
    if state["errors"].get("policy") not in (None, "absent"):
        raise failure_of_read(bucket, "policy", state["errors"]["policy"])
    if fix.block_public_access and state["errors"].get("public_access_block") not in (None, "absent"):
        raise failure_of_read(bucket, "Block Public Access", state["errors"]["public_access_block"])
    live: str | None = state["policy"]
    live_sha = state["policy_sha256"]
    results: list[Action] = []

    policy_action = _decide_policy(fix, live, state["policy_sha256"], results)
    bpa_before = state["public_access_block"]
    do_bpa = fix.block_public_access and bpa_before != BLOCK_ALL
    if fix.block_public_access and not do_bpa:
        results.append(Action.now("block_public_access", bucket, "already_done", "already fully on"))
    if policy_action is None and not do_bpa:
        return results

    # Evidence first: nothing changes unless the state it changes is saved.
    key = _snapshot_key(incident_id, execution_id, bucket, state)
    uri = f"s3://{evidence_bucket}/{key}"
    if dry_run:
        ref = EvidenceRef(uri=uri, sha256=sha256_hex(canonical_json(state)), kind="bucket")
        results.insert(0, Action.now("snapshot_bucket_policy", bucket, "would_do", f"would save to {uri}"))
    else:
        ref = put_json_evidence(s3, evidence_bucket, key, state, kind="bucket")
        results.insert(
            0,
            Action.now(
                "snapshot_bucket_policy",
                bucket,
                "done",
                f"policy sha256 {live_sha}, ACL, Block Public Access, ownership, versioning saved to "
                f"{ref.uri} (sha256 {ref.sha256})",
            ),
        )
    saved = {"snapshot": ref.uri, "snapshot_sha256": ref.sha256}

    if policy_action is not None:
        name, new, detail = policy_action
        action = Action.now(name, bucket, "would_do" if dry_run else "done", detail)
        before = {"policy": live, "policy_sha256": live_sha, **saved}
        after = {"policy": new, "policy_sha256": sha256_hex(new.encode()) if new is not None else None}
        if not dry_run:
            recorded_change(
                ddb,
                table,
                incident_id,
                action,
                before,
                after,
                _policy_call(s3, bucket, new),
                approved_by=approved_by,
                not_done=f"the policy of {bucket} is unchanged ({name} not made)",
            )
        results.append(action)
    if do_bpa:
        action = Action.now(
            "block_public_access",
            bucket,
            "would_do" if dry_run else "done",
            f"all four settings on (was {bpa_before or 'not configured'})",
        )
        if not dry_run:
            recorded_change(
                ddb,
                table,
                incident_id,
                action,
                {"public_access_block": bpa_before, **saved},
                {"public_access_block": BLOCK_ALL},
                lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL),
                approved_by=approved_by,
                not_done=f"Block Public Access of {bucket} is unchanged"
                + (" (its policy fix was made)" if policy_action else ""),
            )
        results.append(action)
    return results


def failure_of_read(bucket: str, what: str, code: str) -> Exception:
    """ContainmentFailed (or Throttled) for a read that failed: nothing was changed."""
    exc = ClientError({"Error": {"Code": code, "Message": what}}, f"Get {what}")
    return failure(exc, f"could not read the {what} of {bucket}; nothing saved or changed")
