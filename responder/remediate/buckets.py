"""Contain a backdoored bucket (playbook step 8 and "Remediating compromised S3 buckets").

:func:`plan_bucket_fixes` is pure: from the investigation's report and each bucket's live state
(``responder.live.bucket_state``) it decides, with reasons, whether to put back the policy that
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

from responder.actions import claim_once, recorded_change, settle_once
from responder.analysis.buckets import (
    Insiders,
    analyse_policy,
    review_statement,
    statement_external,
    statements_of,
)
from responder.errors import failure
from responder.evidence import canonical_json, incident_prefix, put_json_evidence, sha256_hex
from responder.live import bucket_state
from responder.models import Action, EvidenceRef
from responder.permissions import Permission
from responder.policy_doc import canonical
from responder.remediate.record import require_approver

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
    # PutItem: the change record and its exactly-once claim; UpdateItem: the claim settled.
    Permission(("dynamodb:PutItem", "dynamodb:UpdateItem"), ("@incident_table",)),
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
    """What to do to one bucket, and why. Exactly one of ``restore`` / ``remove`` carries the policy fix.

    ``approve``: external statements an attacker's PutBucketPolicy carried whose before-state is
    unknown (they may be the owner's): never removed by this run, listed for a person to approve.
    ``approve_block_public_access``: the finding calls for Block Public Access but the attacker did
    not make the bucket public: asked, not done.
    """

    bucket: str
    restore: RestoreCandidate | None = None
    remove: list[FlaggedStatement] = Field(default_factory=list)
    approve: list[FlaggedStatement] = Field(default_factory=list)
    block_public_access: bool = False
    approve_block_public_access: bool = False
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


def externalstatements_of(policy: str | None, account_id: Insiders | str | None) -> list[FlaggedStatement]:
    """The live policy's statements that let someone outside ``account_id`` (by value) in."""
    out: list[FlaggedStatement] = []
    for index, statement in enumerate(statements_of(_document(policy))):
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
    account_id: Insiders | str | None = None,
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


class PolicyDelta(BaseModel):
    """What the attacker's successful PutBucketPolicy calls added to one bucket's policy.

    ``added``: canonical statements shown added (the call's document minus the policy before it).
    ``unknown``: statements a call carried whose before-state is unknown (added, or the owner's).
    """

    added: set[str] = Field(default_factory=set)
    unknown: set[str] = Field(default_factory=set)
    calls: int = 0
    notes: list[str] = Field(default_factory=list)


def attacker_delta(
    bucket: str,
    changes: Sequence[Mapping[str, Any]],
    *,
    attacker_keys: Collection[str],
    policies: Mapping[str, str | None] | None = None,
    history: Sequence[PolicySnapshot] = (),
    live_policy: str | None = None,
) -> PolicyDelta:
    """Each attacker PutBucketPolicy against the policy just before it, in time order.

    The policy before a call is the previous change in the window (anyone's, the key's own earlier
    calls included) or a snapshot taken between them; a call with no known predecessor marks what it
    carried ``unknown``. Failed calls changed nothing; a call whose document equals the one before
    it adds nothing. Only keys in ``attacker_keys`` (the exposed key and what it minted) count.
    """
    policies = policies or {}
    mine = sorted(
        (c for c in changes if c.get("bucket") == bucket and c.get("succeeded", True)),
        key=lambda c: str(c.get("event_time", "")),
    )
    snaps = sorted((h for h in history if h.bucket == bucket), key=lambda h: h.taken_at)
    delta = PolicyDelta()
    known: set[str] | None = None
    last_time = ""
    for change in mine:
        at = str(change.get("event_time", ""))
        earlier = [h for h in snaps if last_time <= h.taken_at < at]
        if earlier:
            known = _statement_set(earlier[-1].policy)
        after: set[str] | None
        if change.get("event_name") == "DeleteBucketPolicy":
            after = set()
        elif isinstance(change.get("policy"), str):
            after = _statement_set(str(change["policy"]))
        elif change.get("event_id") in policies:
            after = _statement_set(policies[str(change["event_id"])])
        elif _matches_sha(live_policy, change.get("policy_sha256")):
            after = _statement_set(live_policy)  # the report kept its digest, and it is the live text
        else:
            after = None
        if change.get("access_key_id") in attacker_keys and change.get("event_name") == "PutBucketPolicy":
            delta.calls += 1
            if after is None:
                delta.notes.append(f"the document of {change.get('event_id')} is not known")
            elif known is None:
                delta.unknown |= after
                delta.notes.append(f"the policy before {change.get('event_id')} at {at} is not known")
            else:
                delta.added |= after - known
        known, last_time = after, at
    delta.unknown -= delta.added
    return delta


def _statement_set(text: str | None) -> set[str]:
    try:
        return {canonical(s) for s in statements_of(_document(text)) if isinstance(s, Mapping)}
    except ValueError:
        return set()


def _flagged(report: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for change in report.get("bucket_policy_changes") or []:
        if change.get("succeeded", True) and change.get("event_name") == "PutBucketPolicy":
            out.setdefault(str(change["bucket"]), []).append(
                f"{change.get('event_name')} at {change.get('event_time')}"
                + (
                    " let in " + ", ".join(change.get("external_principals") or ["outsiders"])
                    if change.get("grants_external")
                    else ""
                )
            )
    for current in report.get("current_bucket_policies") or []:
        if current.get("grants_external"):
            out.setdefault(str(current["bucket"]), []).append(
                "the live policy lets in " + ", ".join(current.get("external_principals") or ["outsiders"])
            )
    return out


def _flag_texts(texts: Iterable[str], insiders: Insiders) -> list[FlaggedStatement]:
    """Canonical statement texts that are external, as flagged statements (not in the live policy)."""
    out: list[FlaggedStatement] = []
    for text in texts:
        statement = json.loads(text)
        ext, who, reasons = statement_external(statement, insiders)
        if ext:
            out.append(
                FlaggedStatement(
                    index=-1,
                    sid=str(statement.get("Sid") or "(no Sid)"),
                    statement=text,
                    reasons=reasons,
                    external_principals=sorted(set(who)),
                )
            )
    return out


def _opens_to_public(statement: str, insiders: Insiders) -> bool:
    review = review_statement(json.loads(statement), insiders)
    return review.aws_public or bool(review.wildcard)


def _plan_block_public_access(
    fix: BucketFix,
    state: Mapping[str, Any],
    finding_type: str | None,
    delta: PolicyDelta,
    insiders: Insiders,
    public_access_changed: Collection[str],
) -> None:
    """Block Public Access only when the attacker made the bucket public; otherwise ask a person."""
    made_public = fix.bucket in public_access_changed or any(
        _opens_to_public(s, insiders) for s in delta.added
    )
    if state.get("public_access_block") == BLOCK_ALL:
        fix.reasons.append("Block Public Access is already fully on")
    elif made_public:
        fix.block_public_access = True
        fix.reasons.append(f"{finding_type}: the attacker made it public; turn Block Public Access fully on")
    else:
        fix.approve_block_public_access = True
        fix.reasons.append(
            f"{finding_type}: the attacker did not make it public; Block Public Access is asked, not turned on"
        )


def plan_bucket_fixes(
    report: Mapping[str, Any],
    live_state: Mapping[str, Mapping[str, Any]],
    *,
    finding_type: str | None,
    finding_buckets: Iterable[str] = (),
    account_id: Insiders | str | None = None,
    attacker_keys: Collection[str] = (),
    policies: Mapping[str, str | None] | None = None,
    history: Sequence[PolicySnapshot] = (),
    changes: Sequence[Mapping[str, Any]] | None = None,
    public_access_changed: Collection[str] = (),
) -> list[BucketFix]:
    """One fix per bucket the investigation flags (or the finding names). Pure.

    Only the attacker's delta is fixed (issue 12): a live external statement is removed only when an
    attacker PutBucketPolicy is shown to have added it (:func:`attacker_delta`); one it carried over
    an unknown before-state goes to ``approve``; any other external statement is reported and kept.
    A bucket the finding names but the key never changed is left as it is. Block Public Access is
    turned on for public finding types only when the attacker made the bucket public (a public
    statement in its delta, or a bucket in ``public_access_changed``: the key changed its Block
    Public Access); otherwise it is asked.

    ``report``: ``bucket_policy_changes`` and ``current_bucket_policies`` (and ``account_id``).
    ``live_state``: ``responder.live.bucket_state`` per bucket. ``account_id``: this account's
    :class:`Insiders` (or its id alone). ``changes``: the bucket policy changes to consider (default:
    the report's; add the owner's from a bucket-wide query). The rest as for :func:`restore_candidate`.
    """
    account = account_id or report.get("account_id")
    insiders = account if isinstance(account, Insiders) else Insiders(account_id=account)
    flagged = _flagged(report)
    wants_bpa = (finding_type or "") in PUBLIC_FINDING_TYPES
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
        reasons = fix.reasons  # the model holds a copy: append to its own
        offending = externalstatements_of(live, insiders)
        delta = attacker_delta(
            bucket,
            all_changes,
            attacker_keys=attacker_keys,
            policies=policies,
            history=history,
            live_policy=live,
        )
        candidate, why = (
            restore_candidate(
                bucket,
                all_changes,
                live_policy=live,
                attacker_keys=attacker_keys,
                policies=policies,
                history=history,
                account_id=insiders,
            )
            if attacker_keys
            else (None, "no attacker key is known")
        )
        if candidate is not None and policy_canonical(candidate.policy) != policy_canonical(live):
            fix.restore = candidate
            reasons.append(f"restore {why}")
        elif not delta.calls:
            reasons.append(
                "no successful PutBucketPolicy by the exposed key (or a credential it minted): "
                "the policy is left as it is"
                + (
                    "; its external statements " + ", ".join(s.sid for s in offending) + " are reported"
                    if offending
                    else ""
                )
            )
        else:
            reasons.append(f"no restore: {why}" if candidate is None else "no restore: already that policy")
            reasons += delta.notes
            for statement in offending:
                if statement.statement in delta.added:
                    fix.remove.append(statement)
                elif statement.statement in delta.unknown:
                    fix.approve.append(statement)
                else:
                    reasons.append(f"kept {statement.sid}: not added by the attacker's calls")
            # What the attacker added and is no longer live (an earlier run removed it): planned
            # still, so that apply reports it already_done rather than saying nothing.
            live_set = {s.statement for s in offending} | _statement_set(live)
            fix.remove += [s for s in _flag_texts(sorted(delta.added - live_set), insiders)]
            if fix.remove:
                reasons.append(
                    "remove " + ", ".join(s.sid for s in fix.remove) + " (added by the attacker); "
                    "every other statement kept"
                )
            if fix.approve:
                reasons.append(
                    "ask before removing "
                    + ", ".join(s.sid for s in fix.approve)
                    + ": the policy before the attacker's change is unknown, they may be the owner's"
                )
            if not offending:
                reasons.append("the live policy lets nobody outside the account in: no policy change")
        if wants_bpa:
            _plan_block_public_access(fix, state, finding_type, delta, insiders, public_access_changed)
        fixes.append(fix)
    return fixes


# ---------------------------------------------------------------------------------- applying


CLAIM_STALE_SECONDS = 120
"""The Remediate step's timeout (lambdas/steps.py): a claim older than that has no live holder."""

MAX_LISTED = 10  # statements spelled out in one approval request; the rest are counted


def _without(policy: str, remove: Sequence[FlaggedStatement]) -> tuple[str | None, list[FlaggedStatement]]:
    """The live policy minus the planned statements still in it (None: nothing left), and those."""
    document = _document(policy) or {}
    targets = {s.statement: s for s in remove}
    kept, gone = [], []
    for statement in statements_of(document):
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


def statement_scope(bucket: str, statement: str) -> str:
    """The exactly-once scope of removing one statement from one bucket (``claim_once``)."""
    return f"bucket/{bucket}/{sha256_hex(statement.encode())}"


class PolicyChange(BaseModel):
    """The policy change still to make against the live policy."""

    action: str
    policy: str | None
    detail: str
    scopes: list[str] = Field(default_factory=list)
    statements: list[FlaggedStatement] = Field(default_factory=list)


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
            return PolicyChange(
                action="restore_bucket_policy",
                policy=target,
                detail=f"policy {what} as of {fix.restore.as_of} ({fix.restore.source})",
                scopes=[f"bucket/{bucket}/restore/{sha256_hex((policy_canonical(target) or '').encode())}"],
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
            return PolicyChange(
                action="remove_policy_statements",
                policy=new,
                detail=f"removed {', '.join(s.sid for s in gone)}; {kept}",
                scopes=[statement_scope(bucket, s.statement) for s in gone],
                statements=gone,
            )
    return None


def _approval_requests(fix: BucketFix, live: str | None, state: Mapping[str, Any]) -> list[Action]:
    """``awaiting_approval`` actions naming exactly what a person's yes would change."""
    out: list[Action] = []
    _, still = _without(live, fix.approve) if live and fix.approve else (None, [])
    if still:
        listed = "; ".join(f"{s.sid}: {s.statement}" for s in still[:MAX_LISTED])
        more = f"; and {len(still) - MAX_LISTED} more" if len(still) > MAX_LISTED else ""
        out.append(
            Action.now(
                "remove_policy_statements",
                fix.bucket,
                "awaiting_approval",
                "the policy before the attacker's PutBucketPolicy is unknown, so these external "
                f"statements may be the owner's; nothing removed until a person approves removing: {listed}{more}",
            )
        )
    if fix.approve_block_public_access and state.get("public_access_block") != BLOCK_ALL:
        out.append(
            Action.now(
                "block_public_access",
                fix.bucket,
                "awaiting_approval",
                "the finding calls for Block Public Access but the attacker did not make the bucket public: "
                f"left {state.get('public_access_block') or 'not configured'} until a person approves",
            )
        )
    return out


def _save_request(
    s3: Any,
    evidence_bucket: str,
    incident_id: str,
    execution_id: str,
    fix: BucketFix,
    state: Mapping[str, Any],
    asks: list[Action],
) -> list[Action]:
    """The full approval request to write-once evidence (named by content); each ask points to it."""
    request = {
        "bucket": fix.bucket,
        "policy_sha256": state.get("policy_sha256"),
        "remove_statements": [s.model_dump() for s in fix.approve],
        "block_public_access": fix.approve_block_public_access,
        "reasons": fix.reasons,
    }
    digest = sha256_hex(canonical_json(request))[:16]
    key = f"{incident_prefix(incident_id, execution_id)}/buckets/{fix.bucket}/approval-request-{digest}.json"
    ref = put_json_evidence(s3, evidence_bucket, key, request, kind="bucket-approval-request")
    return [a.model_copy(update={"detail": f"{a.detail} (request saved to {ref.uri})"}) for a in asks]


def _claim_all(
    ddb: Any, table: str, scopes: Sequence[str], *, incident_id: str, execution_id: str
) -> tuple[list[str], list[str]]:
    won: list[str] = []
    lost: list[str] = []
    for scope in scopes:
        mine = claim_once(
            ddb,
            table,
            scope=scope,
            incident_id=incident_id,
            execution_id=execution_id,
            stale_after_seconds=CLAIM_STALE_SECONDS,
        )
        (won if mine else lost).append(scope)
    return won, lost


def _claim_change(
    ddb: Any,
    table: str,
    bucket: str,
    change: PolicyChange,
    live: str | None,
    results: list[Action],
    *,
    incident_id: str,
    execution_id: str,
) -> PolicyChange | None:
    """The part of ``change`` this execution won the claims of (None: another execution holds it)."""
    won, lost = _claim_all(ddb, table, change.scopes, incident_id=incident_id, execution_id=execution_id)
    if not lost:
        return change
    taken = [s for s in change.statements if statement_scope(bucket, s.statement) in lost]
    results.append(
        Action.now(
            change.action,
            bucket,
            "already_done",
            "another execution made (or is making) this change"
            + (": " + ", ".join(s.sid for s in taken) if taken else ""),
        )
    )
    keep = [s for s in change.statements if statement_scope(bucket, s.statement) in won]
    if change.action != "remove_policy_statements" or not keep or not live:
        _settle_all(ddb, table, won, execution_id, "failed")  # give back a partial claim
        return None
    new, gone = _without(live, keep)
    kept = "the policy deleted: no other statement" if new is None else "every other statement kept"
    return change.model_copy(
        update={
            "policy": new,
            "scopes": won,
            "statements": gone,
            "detail": f"removed {', '.join(s.sid for s in gone)}; {kept}",
        }
    )


def _recorded_once(
    ddb: Any,
    table: str,
    incident_id: str,
    action: Action,
    before: Any,
    after: Any,
    make: Any,
    *,
    scopes: Sequence[str],
    execution_id: str,
    approved_by: str,
    not_done: str,
) -> None:
    """:func:`recorded_change`, then the claims settled: ``done``, or ``failed`` for the next run to take."""
    try:
        recorded_change(
            ddb, table, incident_id, action, before, after, make, approved_by=approved_by, not_done=not_done
        )
    except Exception:
        _settle_all(ddb, table, scopes, execution_id, "failed")
        raise
    _settle_all(ddb, table, scopes, execution_id, "done")


def _settle_all(ddb: Any, table: str, scopes: Sequence[str], execution_id: str, status: str) -> None:
    for scope in scopes:
        settle_once(ddb, table, scope=scope, execution_id=execution_id, status=status)


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
    """Snapshot the bucket's state to evidence, then fix its policy and Block Public Access, once.

    Actions: ``snapshot_bucket_policy``, then ``restore_bucket_policy`` or ``remove_policy_statements``,
    then ``block_public_access``; ``would_do`` in a dry run (nothing read is written), ``already_done``
    on a retry or when another execution holds the change (``claim_once``: each statement is removed
    by one execution only), ``skipped`` when the policy changed since the plan, ``awaiting_approval``
    for what the plan may not change without a person. Raises Throttled or ContainmentFailed (what
    was and was not done), EvidenceConflict never (snapshots are named by content).
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

    change = _decide_policy(fix, live, state["policy_sha256"], results)
    bpa_before = state["public_access_block"]
    do_bpa = fix.block_public_access and bpa_before != BLOCK_ALL
    if fix.block_public_access and not do_bpa:
        results.append(Action.now("block_public_access", bucket, "already_done", "already fully on"))
    asks = _approval_requests(fix, live, state)
    bpa_scope = f"bucket/{bucket}/block-public-access"
    if not dry_run and change is not None:
        change = _claim_change(
            ddb, table, bucket, change, live, results, incident_id=incident_id, execution_id=execution_id
        )
    if not dry_run and do_bpa:
        won, _ = _claim_all(ddb, table, [bpa_scope], incident_id=incident_id, execution_id=execution_id)
        if not won:
            results.append(
                Action.now("block_public_access", bucket, "already_done", "another execution turned it on")
            )
            do_bpa = False
    if asks and not dry_run:
        asks = _save_request(s3, evidence_bucket, incident_id, execution_id, fix, state, asks)
    if change is None and not do_bpa:
        return results + asks

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

    if change is not None:
        new = change.policy
        action = Action.now(change.action, bucket, "would_do" if dry_run else "done", change.detail)
        before = {"policy": live, "policy_sha256": live_sha, **saved}
        after = {"policy": new, "policy_sha256": sha256_hex(new.encode()) if new is not None else None}
        if not dry_run:
            _recorded_once(
                ddb,
                table,
                incident_id,
                action,
                before,
                after,
                _policy_call(s3, bucket, new),
                scopes=change.scopes,
                execution_id=execution_id,
                approved_by=approved_by,
                not_done=f"the policy of {bucket} is unchanged ({change.action} not made)",
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
            _recorded_once(
                ddb,
                table,
                incident_id,
                action,
                {"public_access_block": bpa_before, **saved},
                {"public_access_block": BLOCK_ALL},
                lambda: s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL),
                scopes=[bpa_scope],
                execution_id=execution_id,
                approved_by=approved_by,
                not_done=f"Block Public Access of {bucket} is unchanged"
                + (" (its policy fix was made)" if change else ""),
            )
        results.append(action)
    return results + asks


def failure_of_read(bucket: str, what: str, code: str) -> Exception:
    """ContainmentFailed (or Throttled) for a read that failed: nothing was changed."""
    exc = ClientError({"Error": {"Code": code, "Message": what}}, f"Get {what}")
    return failure(exc, f"could not read the {what} of {bucket}; nothing saved or changed")
