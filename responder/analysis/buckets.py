"""Resource policies that let someone outside the account in: bucket policies, role trust policies.

A statement is *external* when it Allows a principal outside the account: another account, ``*``
(unless a condition pins it to this account or organization), ``NotPrincipal``, a principal we
cannot place (a unique id, a canonical user), or ``*`` narrowed only by a public source IP (the
classic backdoor: anyone, from the attacker's address). Parsing and condition reading come from
policyuniverse; the account comparison is ours.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policyuniverse.policy import Policy
from policyuniverse.statement import Statement

from responder.analysis.rows import Row, event_name, iso_time, mapping, succeeded, text
from responder.redact import redacted

BUCKET_POLICY_EVENTS = frozenset({"PutBucketPolicy", "DeleteBucketPolicy"})
TRUST_POLICY_EVENTS = frozenset({"CreateRole", "UpdateAssumeRolePolicy"})

_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:(\d{12}|\*|):")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass
class PolicyAnalysis:
    grants_external: bool = False
    public: bool = False
    external_principals: list[str] = field(default_factory=list)
    offending_statements: list[dict[str, Any]] = field(default_factory=list)
    parse_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "grants_external": self.grants_external,
            "public": self.public,
            "external_principals": self.external_principals,
            "offending_statements": self.offending_statements,
            "parse_error": self.parse_error,
        }


def parse_policy(value: Any) -> dict[str, Any] | None:
    """A policy from CloudTrail: a JSON object, JSON text, or URL-encoded JSON text (IAM responses)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.strip():
        return None
    candidates = [value]
    if value.lstrip().startswith("%7B"):
        from urllib.parse import unquote

        candidates.append(unquote(value))
    for candidate in candidates:
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


def _principal_values(statement: Mapping[str, Any], parsed: Statement) -> set[str]:
    values = {str(p) for p in parsed.principals}
    principal = statement.get("Principal")
    if isinstance(principal, Mapping) and "CanonicalUser" in principal:
        users = principal["CanonicalUser"]
        values.update(f"CanonicalUser:{u}" for u in (users if isinstance(users, list) else [users]))
    return values


def _account_of(principal: str) -> str | None:
    """The account id a principal names ('*' for any); None when it names no account."""
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    if match:
        return match.group(1) or None
    return None


def _is_service(principal: str) -> bool:
    return principal.endswith((".amazonaws.com", ".amazonaws.com.cn", ".aws.internal"))


_INTERNAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _public_cidr(cidr: str) -> bool:
    """Anything but an internal (RFC 1918, CGNAT, ULA) range: conservative on purpose."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True
    return not any(net.version == n.version and net.subnet_of(n) for n in _INTERNAL_NETS)  # type: ignore[arg-type]


def _wildcard_external(parsed: Statement, account_id: str | None) -> tuple[bool, list[str], str]:
    """Is a '*' principal narrowed to this account by its conditions? (external, who, reason)

    Condition keys are ANDed, so one key pinning the caller to this account, its organization, a
    user id or a VPC endpoint narrows the statement; naming another account opens it whatever else
    is there. A public source IP narrows the network, not the principal: anyone from that address.
    """
    entries = list(parsed.condition_entries)
    if not entries:
        return True, ["*"], "allows any principal ('*') with no narrowing condition"
    outsiders: list[str] = []
    addresses: list[str] = []
    restricted = False
    for entry in entries:
        category, value = entry.category, str(entry.value)
        if category == "account":
            if value == account_id:
                restricted = True
            else:
                outsiders.append(value)
        elif category == "arn":
            acct = _account_of(value)
            if acct and acct == account_id:
                restricted = True
            elif acct or "*" in value:
                outsiders.append(value)
        elif category == "cidr":
            if _public_cidr(value):
                addresses.append(f"* (aws:SourceIp {value})")
            else:
                restricted = True
        elif value in {"*", "o-*"} or "*" in value.rstrip("*"):
            outsiders.append(f"{category}:{value}")
        elif category in {"organization", "userid", "vpce"} or (category == "vpc" and "*" not in value):
            restricted = True
    if outsiders:
        return True, outsiders, "allows '*' with conditions naming " + ", ".join(outsiders)
    if restricted:
        return False, [], ""
    if addresses:
        return True, addresses, "allows anyone ('*') from " + ", ".join(a.split(" ", 1)[1] for a in addresses)
    return True, ["*"], "allows any principal ('*'); its conditions do not narrow it to this account"


def statement_external(
    statement: Mapping[str, Any], account_id: str | None
) -> tuple[bool, list[str], list[str]]:
    """(external, external principals, reasons) for one statement."""
    if str(statement.get("Effect", "")).lower() != "allow":
        return False, [], []
    parsed = Statement(dict(statement))
    if parsed.uses_not_principal():
        return True, ["NotPrincipal"], ["uses NotPrincipal with Allow: everyone but the listed principals"]
    external: list[str] = []
    reasons: list[str] = []
    for principal in sorted(_principal_values(statement, parsed)):
        if _is_service(principal):
            continue
        account = _account_of(principal)
        if account == "*":
            ext, who, reason = _wildcard_external(parsed, account_id)
            if ext:
                external.extend(who)
                reasons.append(reason)
        elif account is not None:
            if account_id is None or account != account_id:
                external.append(principal)
                reasons.append(f"allows {principal}, outside account {account_id or '(unknown)'}")
        else:
            external.append(principal)
            reasons.append(f"allows {principal}, a principal that cannot be placed in this account")
    return bool(external), external, reasons


def analyse_policy(policy: Any, account_id: str | None) -> PolicyAnalysis:
    """Flags for one policy document (object or JSON text) as seen from ``account_id``."""
    document = parse_policy(policy)
    if document is None:
        return PolicyAnalysis(parse_error=None if policy in (None, "") else "policy is not a JSON object")
    result = PolicyAnalysis()
    try:
        internet = bool(Policy(document).is_internet_accessible())
    except (AttributeError, TypeError, ValueError):
        internet = False
    statements = document.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    principals: set[str] = set()
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping):
            continue
        ext, who, reasons = statement_external(statement, account_id)
        if not ext:
            continue
        principals.update(who)
        result.offending_statements.append(
            {
                "sid": statement.get("Sid") or f"#{index}",
                "statement": json.dumps(redacted(dict(statement)), sort_keys=True),
                "reasons": reasons,
                "external_principals": sorted(set(who)),
            }
        )
    result.grants_external = bool(result.offending_statements)
    # policyuniverse's reading (any weak condition counts) bounded by ours (ANDed conditions).
    result.public = internet and result.grants_external
    result.external_principals = sorted(principals)
    return result


def analyse_current_policy(policy_text: str | None, account_id: str | None) -> dict[str, Any]:
    """The live bucket policy (GetBucketPolicy's text, None when the bucket has none) -> the same flags."""
    result = analyse_policy(policy_text, account_id).as_dict()
    result["has_policy"] = bool(policy_text)
    result["policy_sha256"] = hashlib.sha256(policy_text.encode()).hexdigest() if policy_text else None
    return result


def _account_for(row: Row, account_id: str | None) -> str | None:
    return account_id or text(row, "account_id")


def bucket_policy_changes(rows: Iterable[Row], account_id: str | None = None) -> list[dict[str, Any]]:
    """Report ``bucket_policy_changes``: every PutBucketPolicy / DeleteBucketPolicy, failed ones too."""
    out: list[dict[str, Any]] = []
    for row in rows:
        name = event_name(row)
        if name not in BUCKET_POLICY_EVENTS:
            continue
        params = mapping(row, "request_parameters")
        raw = params.get("bucketPolicy") if name == "PutBucketPolicy" else None
        analysis = analyse_policy(raw, _account_for(row, account_id))
        policy_text = raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True) if raw else None
        out.append(
            {
                "bucket": str(params.get("bucketName") or "(unknown)"),
                "event_name": name,
                "event_time": iso_time(row),
                "event_id": text(row, "event_id"),
                "succeeded": succeeded(row),
                "error_code": text(row, "error_code"),
                "access_key_id": text(row, "access_key_id"),
                "source_ip": text(row, "source_ip"),
                "grants_external": analysis.grants_external,
                "public": analysis.public,
                "external_principals": analysis.external_principals,
                "offending_statements": analysis.offending_statements,
                "policy_sha256": hashlib.sha256(policy_text.encode()).hexdigest() if policy_text else None,
                "parse_error": analysis.parse_error,
            }
        )
    return out


def trust_policy_changes(rows: Iterable[Row], account_id: str | None = None) -> list[dict[str, Any]]:
    """CreateRole / UpdateAssumeRolePolicy whose trust policy lets another account assume the role."""
    out: list[dict[str, Any]] = []
    for row in rows:
        name = event_name(row)
        if name not in TRUST_POLICY_EVENTS:
            continue
        params = mapping(row, "request_parameters")
        raw = params.get("assumeRolePolicyDocument") or params.get("policyDocument")
        analysis = analyse_policy(raw, _account_for(row, account_id))
        out.append(
            {
                "role": str(params.get("roleName") or "(unknown)"),
                "event_name": name,
                "event_time": iso_time(row),
                "event_id": text(row, "event_id"),
                "succeeded": succeeded(row),
                "grants_external": analysis.grants_external,
                "external_principals": analysis.external_principals,
                "offending_statements": analysis.offending_statements,
            }
        )
    return out
