"""Bucket review (playbook Recommendations: least-privilege S3 bucket policies across the account).

:func:`audit_account` reads every bucket's policy, ACL and Block Public Access, and the account's
Block Public Access, and returns findings, each with a concrete least-privilege suggestion (a
statement rewritten, a statement to add, a configuration to put). ``responder audit-buckets`` writes
it as JSON and Markdown; a scheduled Lambda can call the same function with its own clients.

What counts (checks, in :data:`CHECKS`):

- a principal outside the account, its organization and the ``--trusted-account`` list, named in
  ``Principal`` or in a condition that is meant to narrow ``*`` (``aws:PrincipalAccount``,
  ``aws:PrincipalOrgID``, ``aws:SourceArn``...);
- ``*`` (or ``NotPrincipal``) not narrowed to the account or organization. AWS calls a policy
  *public* only when ``*`` has no fixed-value condition at all: Block Public Access
  (``RestrictPublicBuckets``) then blocks it. ``*`` narrowed only by a public ``aws:SourceIp`` is
  *not* public to AWS, so Block Public Access does nothing against the classic backdoor (anyone, from
  the attacker's address): it stays high;
- no ``Deny`` on ``aws:SecureTransport = false`` covering the bucket's objects;
- ACL grants to ``AllUsers`` / ``AuthenticatedUsers`` (``IgnorePublicAcls`` neutralises them);
- Block Public Access not fully on, for the account and for each bucket (the effective setting is
  the account's OR the bucket's).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from responder.analysis.buckets import (
    PRINCIPAL_CONDITION_KEYS,
    Insiders,
    StatementReview,
    as_list,
    principals_of,
    statements_of,
)
from responder.analysis.buckets import review_statement as analysis_review
from responder.errors import error_code
from responder.insiders import PERMISSIONS_INSIDERS, read_insiders
from responder.models import iso, utc_now
from responder.permissions import Permission

PERMISSIONS: tuple[Permission, ...] = (
    Permission(("s3:ListAllMyBuckets",), ("*",), reason="ListBuckets supports no resource-level permissions"),
    Permission(
        ("s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketPublicAccessBlock"),
        ("arn:{partition}:s3:::*",),
    ),
    Permission(
        ("s3:GetAccountPublicAccessBlock",),
        ("*",),
        reason="the account's Block Public Access has no resource ARN",
    ),
    Permission(
        ("organizations:DescribeOrganization", "organizations:ListAccounts"),
        ("*",),
        reason="both support no resource-level permissions; AccessDenied is tolerated",
    ),
    *(p for p in PERMISSIONS_INSIDERS if not p.actions[0].startswith("organizations:")),
)
"""What the auditor needs (read-only). sts:GetCallerIdentity needs no permission."""

SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
CHECKS: dict[str, str] = {
    "external_principal": "grants a principal outside the account, organization and trusted accounts",
    "wildcard_principal": "grants '*' (or uses NotPrincipal) without narrowing it to the account or organization",
    "unverified_principal": "grants a principal the audit cannot place (canonical user, unique id, unknown org)",
    "tls_not_enforced": "no Deny on aws:SecureTransport=false for the bucket's objects",
    "public_acl": "ACL grants to AllUsers or AuthenticatedUsers",
    "block_public_access_off": "Block Public Access is not fully on",
    "not_reviewed": "the audit could not read this bucket's configuration",
}
BPA_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}
_ORG_MISSING = {"AccessDenied", "AccessDeniedException", "AWSOrganizationsNotInUseException"}


@dataclass(frozen=True)
class AuditContext:
    """Who is inside: the account, its organization (id and, when listable, members), trusted accounts."""

    account_id: str
    partition: str = "aws"
    org_id: str | None = None
    org_accounts: frozenset[str] = frozenset()
    trusted_accounts: frozenset[str] = frozenset()
    account_bpa: Mapping[str, bool] | None = None  # None: could not be read
    # This account's own VPC endpoints, VPCs and principal ids: conditions naming others are outside.
    vpc_endpoints: frozenset[str] = frozenset()
    vpcs: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()

    def inside(self, account: str) -> bool:
        return account == self.account_id or account in self.trusted_accounts or account in self.org_accounts

    def insiders(self) -> Insiders:
        return Insiders(
            account_id=self.account_id,
            organization_id=self.org_id,
            org_accounts=self.org_accounts,
            trusted_accounts=self.trusted_accounts,
            vpc_endpoints=self.vpc_endpoints,
            vpcs=self.vpcs,
            user_ids=self.user_ids,
        )


# ------------------------------------------------------------------------------ the account


def audit_account(
    s3: Any,
    s3control: Any,
    sts: Any,
    org: Any,
    *,
    org_id: str | None = None,
    trusted_accounts: Iterable[str] = (),
    ec2: Any | None = None,
    iam: Any | None = None,
) -> dict[str, Any]:
    """Review every bucket in the account; the report as a JSON-able dict (see module docstring).

    ``ec2`` and ``iam`` (optional) read this account's VPC endpoints, VPCs and principal ids, so that
    conditions naming them count as inside; without them such conditions are unverified.
    """
    identity = sts.get_caller_identity()
    account_id = str(identity["Account"])
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    notes: list[str] = []
    organization = _organization(org, org_id, notes)
    ctx = AuditContext(
        account_id=account_id,
        partition=partition,
        org_id=organization["id"],
        org_accounts=frozenset(organization["accounts"]),
        trusted_accounts=frozenset(trusted_accounts),
        account_bpa=_account_bpa(s3control, account_id, notes),
        **_live_ids(account_id, ec2, iam, notes),
    )
    findings: list[dict[str, Any]] = []
    if ctx.account_bpa is not None and not all(ctx.account_bpa.values()):
        findings.append(_account_bpa_finding(ctx))
    buckets: list[dict[str, Any]] = []
    for name in _bucket_names(s3):
        policy, acl, bucket_bpa, errors = _read_bucket(s3, name)
        summary, bucket_findings = review_bucket(
            name, policy, acl, bucket_bpa, ctx, policy_readable="GetBucketPolicy" not in errors
        )
        for operation, error in errors.items():
            bucket_findings.append(
                _finding(
                    name,
                    "not_reviewed",
                    "medium",
                    f"{operation} failed ({error}): this part of the bucket was not reviewed",
                    {
                        "kind": "grant_permission",
                        "summary": "let the auditor read it (workstation.audit.PERMISSIONS), then re-run",
                        "json": None,
                    },
                    key=operation,
                )
            )
        summary["errors"] = errors
        buckets.append(summary)
        findings.extend(bucket_findings)
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITIES}
    return {
        "generated_at": iso(utc_now()),
        "account_id": account_id,
        "partition": partition,
        "organization": organization,
        "trusted_accounts": sorted(ctx.trusted_accounts),
        "account_public_access_block": dict(ctx.account_bpa) if ctx.account_bpa is not None else None,
        "buckets": buckets,
        "findings": findings,
        "counts": counts,
        "notes": notes,
    }


def _code(exc: ClientError) -> str:
    return error_code(exc) or "ClientError"


def _organization(org: Any, given: str | None, notes: list[str]) -> dict[str, Any]:
    """The organization id (given, else DescribeOrganization) and, when listable, its accounts."""
    described: str | None = None
    try:
        described = str(org.describe_organization()["Organization"]["Id"])
    except ClientError as exc:
        if _code(exc) not in _ORG_MISSING:
            raise
        if not given:
            notes.append(
                f"organizations:DescribeOrganization: {_code(exc)}; pass --org-id to accept "
                "aws:PrincipalOrgID conditions and to narrow suggestions to the organization"
            )
    org_id = given or described
    source = "argument" if given else "DescribeOrganization" if described else None
    accounts: list[str] = []
    if org_id and described == org_id:
        try:
            pages = org.get_paginator("list_accounts").paginate()
            accounts = [str(a["Id"]) for page in pages for a in page["Accounts"]]
        except ClientError as exc:
            if _code(exc) not in _ORG_MISSING:
                raise
            notes.append(
                f"organizations:ListAccounts: {_code(exc)}; accounts of the organization named in a "
                "Principal are reported as external (add them with --trusted-account)"
            )
    elif given and described and described != given:
        notes.append(f"--org-id {given} is not this account's organization ({described}): members not listed")
    return {"id": org_id, "source": source, "accounts": accounts, "member_accounts_known": bool(accounts)}


def _live_ids(account_id: str, ec2: Any | None, iam: Any | None, notes: list[str]) -> dict[str, Any]:
    if ec2 is None and iam is None:
        return {}
    found = read_insiders(account_id, ec2=ec2, iam=iam, notes=notes)
    return {"vpc_endpoints": found.vpc_endpoints, "vpcs": found.vpcs, "user_ids": found.user_ids}


def _account_bpa(s3control: Any, account_id: str, notes: list[str]) -> dict[str, bool] | None:
    try:
        config = s3control.get_public_access_block(AccountId=account_id)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return dict.fromkeys(BPA_SETTINGS, False)
        notes.append(f"s3:GetAccountPublicAccessBlock: {_code(exc)}; the account's setting is unknown")
        return None
    return {k: bool(config.get(k, False)) for k in BPA_SETTINGS}


def _bucket_names(s3: Any) -> list[str]:
    pages = s3.get_paginator("list_buckets").paginate()
    return sorted(str(b["Name"]) for page in pages for b in page.get("Buckets", []))


def _read_bucket(
    s3: Any, name: str
) -> tuple[str | None, dict[str, Any] | None, dict[str, bool] | None, dict[str, str]]:
    """(policy text, ACL, bucket Block Public Access, {operation: error code}) for one bucket."""
    errors: dict[str, str] = {}
    policy: str | None = None
    acl: dict[str, Any] | None = None
    bpa: dict[str, bool] | None = None
    try:
        policy = str(s3.get_bucket_policy(Bucket=name)["Policy"])
    except ClientError as exc:
        if _code(exc) != "NoSuchBucketPolicy":
            errors["GetBucketPolicy"] = _code(exc)
    try:
        acl = dict(s3.get_bucket_acl(Bucket=name))
    except ClientError as exc:
        errors["GetBucketAcl"] = _code(exc)
    try:
        config = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        bpa = {k: bool(config.get(k, False)) for k in BPA_SETTINGS}
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            bpa = dict.fromkeys(BPA_SETTINGS, False)
        else:
            errors["GetPublicAccessBlock"] = _code(exc)
    return policy, acl, bpa, errors


# ------------------------------------------------------------------------------- one bucket


def review_bucket(
    name: str,
    policy_text: str | None,
    acl: Mapping[str, Any] | None,
    bucket_bpa: Mapping[str, bool] | None,
    ctx: AuditContext,
    *,
    policy_readable: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(bucket summary, findings) from what was read; pure, so it is tested without AWS."""
    effective = {
        k: bool((ctx.account_bpa or {}).get(k)) or bool((bucket_bpa or {}).get(k)) for k in BPA_SETTINGS
    }
    document: dict[str, Any] | None = None
    if policy_text:
        try:
            parsed = json.loads(policy_text)
            document = parsed if isinstance(parsed, dict) else None
        except ValueError:
            document = None
    statements = _statements(document)
    findings, replacements, policy_public = _statement_findings(name, statements, effective, ctx)
    tls = tls_enforced(statements, name)
    tls_statement = tls_deny_statement(name, ctx.partition)
    if policy_readable and not tls:
        findings.append(
            _finding(
                name,
                "tls_not_enforced",
                "medium",
                "no Deny on aws:SecureTransport=false for the whole bucket and its objects: plain HTTP is allowed"
                if document
                else "the bucket has no policy, so nothing denies plain HTTP",
                {
                    "kind": "add_statement",
                    "summary": "add this Deny statement to the bucket policy",
                    "json": tls_statement,
                },
                key="policy",
            )
        )
    acl_public = public_acl_grants(acl)
    acl_effective = bool(acl_public) and not effective["IgnorePublicAcls"]
    if acl_public:
        kept = [g for g in (acl or {}).get("Grants", []) if not _public_grant(g)]
        findings.append(
            _finding(
                name,
                "public_acl",
                "high" if acl_effective else "low",
                "ACL grants "
                + ", ".join(f"{g['permission']} to {g['group']}" for g in acl_public)
                + (
                    ""
                    if acl_effective
                    else "; IgnorePublicAcls neutralises it today, not if it is turned off"
                ),
                {
                    "kind": "put_bucket_acl",
                    "summary": "put the ACL back without the public grants (better: disable ACLs with "
                    "Object Ownership 'BucketOwnerEnforced')",
                    "json": {"Owner": (acl or {}).get("Owner", {}), "Grants": kept},
                    "command": f"aws s3api put-bucket-acl --bucket {name} --access-control-policy file://acl.json",
                },
                key="acl",
            )
        )
    off = [k for k in BPA_SETTINGS if not effective[k]]
    if off and bucket_bpa is not None:
        findings.append(
            _finding(
                name,
                "block_public_access_off",
                "low",
                "Block Public Access is off here (account and bucket) for: " + ", ".join(off),
                {
                    "kind": "put_public_access_block",
                    "summary": "turn all four settings on for the bucket (or the account)",
                    "json": dict.fromkeys(BPA_SETTINGS, True),
                    "command": f"aws s3api put-public-access-block --bucket {name} "
                    "--public-access-block-configuration "
                    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
                },
                key="bucket",
            )
        )
    suggested = None
    if replacements or (policy_readable and not tls):
        kept_statements = [replacements.get(i, s) for i, s in enumerate(statements)]
        if not tls:
            kept_statements.append(tls_statement)
        suggested = {"Version": "2012-10-17", "Statement": kept_statements}
        if document and document.get("Id"):
            suggested = {"Version": "2012-10-17", "Id": document["Id"], "Statement": kept_statements}
    summary = {
        "bucket": name,
        "has_policy": bool(policy_text),
        "policy_parse_error": bool(policy_text) and document is None,
        "tls_enforced": tls,
        "public_access_block": {
            "bucket": dict(bucket_bpa) if bucket_bpa is not None else None,
            "effective": effective,
        },
        "acl_public_grants": acl_public,
        "public": policy_public or acl_effective,
        "findings": [f["id"] for f in findings],
        "suggested_policy": suggested,
    }
    return summary, findings


def _statement_findings(
    name: str, statements: list[dict[str, Any]], effective: Mapping[str, bool], ctx: AuditContext
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], bool]:
    """(findings, {statement index: rewritten statement}, effectively public) for a policy's statements."""
    findings: list[dict[str, Any]] = []
    replacements: dict[int, dict[str, Any]] = {}
    policy_public = False
    for index, statement in enumerate(statements):
        review = review_statement(statement, ctx)
        if not (review.external or review.unverified or review.wildcard):
            continue
        rewritten = narrowed_statement(statement, ctx, drop=set(review.external) | set(review.unverified))
        replacements[index] = rewritten
        sid = str(statement.get("Sid") or f"#{index}")
        suggestion = _replace_suggestion(statement, rewritten, index, ctx)
        if review.wildcard:
            mitigated = review.aws_public and effective["RestrictPublicBuckets"]
            policy_public = policy_public or (review.aws_public and not mitigated)
            detail = f"statement {sid} {review.wildcard}"
            if mitigated:
                detail += (
                    "; Block Public Access (RestrictPublicBuckets) blocks it today, not if it is turned off"
                )
            elif not review.aws_public:
                detail += "; AWS does not call this public, so Block Public Access does not block it"
            findings.append(
                _finding(
                    name, "wildcard_principal", "low" if mitigated else "high", detail, suggestion, key=sid
                )
                | {"statement": statement, "principals": ["*"]}
            )
        if review.external:
            who = ", ".join(review.external)
            findings.append(
                _finding(
                    name,
                    "external_principal",
                    "high",
                    f"statement {sid} grants {who}: outside account {ctx.account_id}"
                    + (f", organization {ctx.org_id}" if ctx.org_id else "")
                    + (" and the trusted accounts" if ctx.trusted_accounts else ""),
                    suggestion,
                    key=sid,
                )
                | {"statement": statement, "principals": review.external}
            )
        if review.unverified:
            findings.append(
                _finding(
                    name,
                    "unverified_principal",
                    "medium",
                    f"statement {sid} grants {', '.join(review.unverified)}, which the audit cannot place "
                    "in this account or organization",
                    suggestion,
                    key=sid,
                )
                | {"statement": statement, "principals": review.unverified}
            )
    return findings, replacements, policy_public


def _statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(s) for s in statements_of(document) if isinstance(s, Mapping)]


def _finding(
    bucket: str, check: str, severity: str, detail: str, suggestion: dict[str, Any], *, key: str
) -> dict[str, Any]:
    return {
        "id": f"{bucket}:{check}:{key}",
        "bucket": bucket,
        "check": check,
        "severity": severity,
        "title": CHECKS[check],
        "detail": detail,
        "suggestion": suggestion,
    }


def _account_bpa_finding(ctx: AuditContext) -> dict[str, Any]:
    off = [k for k, v in (ctx.account_bpa or {}).items() if not v]
    return _finding(
        "*",
        "block_public_access_off",
        "medium",
        f"account {ctx.account_id}: Block Public Access is off for " + ", ".join(off),
        {
            "kind": "put_public_access_block",
            "summary": "turn all four settings on for the account (buckets that must be public "
            "belong behind CloudFront, not a public policy)",
            "json": dict.fromkeys(BPA_SETTINGS, True),
            "command": f"aws s3control put-public-access-block --account-id {ctx.account_id} "
            "--public-access-block-configuration "
            "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
        },
        key="account",
    )


# ------------------------------------------------------------------------------ statements


def _principals(statement: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(AWS-side principals as written, canonical users as ``CanonicalUser:<id>``; service principals)."""
    kinds = principals_of(statement)
    aws = [p for kind, values in kinds.items() if kind in ("AWS", "Federated") for p in values]
    aws += [f"CanonicalUser:{v}" for v in kinds.get("CanonicalUser", [])]
    return aws, list(kinds.get("Service", []))


def review_statement(statement: Mapping[str, Any], ctx: AuditContext) -> StatementReview:
    """Who an Allow statement lets in that should not be: the one analysis the responder has."""
    return analysis_review(statement, ctx.insiders())


def narrowed_statement(statement: Mapping[str, Any], ctx: AuditContext, *, drop: set[str]) -> dict[str, Any]:
    """The statement with outsiders removed and '*' narrowed to the organization (or the account).

    Condition keys that say who may call are replaced by one ``aws:PrincipalOrgID`` (or, with no
    known organization, ``aws:PrincipalAccount``) condition; other conditions stay.
    """
    new = copy.deepcopy(dict(statement))
    new.pop("NotPrincipal", None)
    aws, services = _principals(statement)
    kept = [p for p in aws if p != "*" and p not in drop]
    open_ = "NotPrincipal" in statement or "*" in aws or (not kept and not services)
    if not open_:
        principal: dict[str, Any] = {}
        if kept:
            principal["AWS"] = kept if len(kept) > 1 else kept[0]
        if services:
            principal["Service"] = services if len(services) > 1 else services[0]
        new["Principal"] = principal
        return new
    new["Principal"] = {"AWS": "*"}
    conditions: dict[str, Any] = {}
    for operator, entries in dict(statement.get("Condition") or {}).items():
        rest = {k: v for k, v in dict(entries).items() if k.lower() not in PRINCIPAL_CONDITION_KEYS}
        if rest:
            conditions[operator] = rest
    key, value = (
        ("aws:PrincipalOrgID", ctx.org_id) if ctx.org_id else ("aws:PrincipalAccount", ctx.account_id)
    )
    conditions.setdefault("StringEquals", {})[key] = value
    new["Condition"] = conditions
    return new


def _replace_suggestion(
    statement: Mapping[str, Any], rewritten: dict[str, Any], index: int, ctx: AuditContext
) -> dict[str, Any]:
    scope = f"organization {ctx.org_id}" if ctx.org_id else f"account {ctx.account_id}"
    narrowed_to = rewritten.get("Condition", {}).get("StringEquals", {})
    if narrowed_to and ("aws:PrincipalOrgID" in narrowed_to or "aws:PrincipalAccount" in narrowed_to):
        summary = (
            f"replace statement {statement.get('Sid') or f'#{index}'} with this one, narrowed to {scope}; "
            "if nobody there needs it, delete the statement; better still, name the roles that need it"
        )
    else:
        summary = (
            f"replace statement {statement.get('Sid') or f'#{index}'} with this one, without the outsiders"
        )
    return {"kind": "replace_statement", "statement_index": index, "summary": summary, "json": rewritten}


# ------------------------------------------------------------------------- TLS and the ACL


def tls_enforced(statements: Sequence[Mapping[str, Any]], bucket: str) -> bool:
    """Is there a Deny, for everyone, of S3 actions on the bucket's objects, when aws:SecureTransport is false?"""
    for statement in statements:
        if str(statement.get("Effect", "")).lower() != "deny":
            continue
        if statement.get("Principal") not in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
            continue
        actions = {str(a).lower() for a in as_list(statement.get("Action", []))}
        if not actions & {"*", "s3:*"}:
            continue
        resources = [str(r) for r in as_list(statement.get("Resource", []))]
        if not any(r == "*" or r.endswith(f":::{bucket}/*") for r in resources):
            continue
        for operator, entries in dict(statement.get("Condition") or {}).items():
            if operator.lower() not in {"bool", "boolifexists"}:
                continue
            for key, value in dict(entries).items():
                if key.lower() == "aws:securetransport" and any(
                    str(v).lower() == "false" for v in as_list(value)
                ):
                    return True
    return False


def tls_deny_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """The statement that makes S3 refuse plain HTTP for this bucket and its objects."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _public_grant(grant: Mapping[str, Any]) -> str | None:
    grantee = grant.get("Grantee") or {}
    return PUBLIC_GROUPS.get(str(grantee.get("URI", ""))) if grantee.get("Type") == "Group" else None


def public_acl_grants(acl: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The ACL's grants to AllUsers / AuthenticatedUsers, as ``{"group", "permission"}``."""
    out: list[dict[str, str]] = []
    for grant in (acl or {}).get("Grants", []):
        group = _public_grant(grant)
        if group:
            out.append({"group": group, "permission": str(grant.get("Permission", ""))})
    return out


# -------------------------------------------------------------------------------- the report


def at_or_above(report: Mapping[str, Any], severity: str) -> int:
    """How many findings are of ``severity`` or worse."""
    floor = SEVERITIES.index(severity)
    return sum(SEVERITIES.index(f["severity"]) >= floor for f in report.get("findings", []))


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report for people: a table of buckets, then each finding with its suggestion as JSON."""
    counts = report["counts"]
    org = report["organization"]
    lines = [
        f"# S3 bucket review: account {report['account_id']}",
        "",
        f"Generated {report['generated_at']}. Organization: {org['id'] or 'unknown'}"
        + (f" ({org['source']})" if org["source"] else "")
        + ". Trusted accounts: "
        + (", ".join(report["trusted_accounts"]) or "none")
        + ".",
        "",
        f"**{counts['high']} high, {counts['medium']} medium, {counts['low']} low** "
        f"across {len(report['buckets'])} buckets.",
        "",
    ]
    bpa = report["account_public_access_block"]
    lines.append(
        "Account Block Public Access: "
        + (
            "unknown (could not be read)"
            if bpa is None
            else "all on"
            if all(bpa.values())
            else "off for " + ", ".join(k for k, v in bpa.items() if not v)
        )
    )
    lines += [f"\n> {note}" for note in report["notes"]]
    lines += ["", "| bucket | policy | TLS enforced | public | findings |", "|---|---|---|---|---|"]
    for b in report["buckets"]:
        lines.append(
            f"| `{b['bucket']}` | {'yes' if b['has_policy'] else 'no'} | {'yes' if b['tls_enforced'] else 'no'} "
            f"| {'**yes**' if b['public'] else 'no'} | {len(b['findings'])} |"
        )
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    lines += ["", "## Findings", ""]
    if not report["findings"]:
        lines.append("None.")
    for f in sorted(report["findings"], key=lambda f: (order[f["severity"]], f["bucket"], f["check"])):
        s = f["suggestion"]
        lines += [
            f"### {f['severity'].upper()} `{f['bucket']}`: {f['check']}",
            "",
            f"{f['detail']}.",
            "",
            f"Suggestion: {s['summary']}.",
            "",
        ]
        if s.get("json") is not None:
            lines += ["```json", json.dumps(s["json"], indent=2), "```", ""]
        if s.get("command"):
            lines += ["```sh", s["command"], "```", ""]
    suggested = [b for b in report["buckets"] if b.get("suggested_policy")]
    if suggested:
        lines += ["## Suggested policies", ""]
        lines.append(
            "Each is the bucket's policy with every suggestion above applied; files in "
            "`suggested-policies/`. Review, then: "
            "`aws s3api put-bucket-policy --bucket BUCKET --policy file://suggested-policies/BUCKET.json`."
        )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
