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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from responder.analysis.rows import Row, event_name, iso_time, mapping, succeeded, text
from responder.redact import redacted
from responder.safejson import load_json

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
            # Bounded (responder.safejson): a policy string in CloudTrail is the caller's text.
            parsed = load_json(candidate)
        except ValueError:  # JsonLimit too: an unreadable policy is no policy
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


@dataclass(frozen=True)
class Insiders:
    """What pins a grant to this account, by value (issue 12: external means external).

    Anything not listed here is outside: another organization id, VPC endpoint, VPC or user id, an
    identity pool or an OIDC subject this account does not own. Empty means unknown, which is outside
    too (a condition naming an unknown organization is *unverified*, reported as external).
    ``user_ids``: unique ids (``AIDA...``, ``AROA...``) of this account's users and roles.
    ``oidc_subjects``: ``sub`` prefixes of this account's own apps (``repo:acme/``).
    """

    account_id: str | None
    organization_id: str | None = None
    org_accounts: frozenset[str] = frozenset()
    trusted_accounts: frozenset[str] = frozenset()
    vpc_endpoints: frozenset[str] = frozenset()
    vpcs: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()
    identity_pools: frozenset[str] = frozenset()
    oidc_subjects: frozenset[str] = frozenset()

    def inside(self, account: str) -> bool:
        return bool(account) and (
            account == self.account_id or account in self.org_accounts or account in self.trusted_accounts
        )


def insiders_of(context: Insiders | str | None) -> Insiders:
    """An :class:`Insiders` from itself or from an account id alone (then nothing else is inside)."""
    return context if isinstance(context, Insiders) else Insiders(account_id=context)


@dataclass
class StatementReview:
    """Who one Allow statement lets in that should not be. The one reading for audit, report and fix."""

    external: list[str] = field(default_factory=list)  # outsiders, as named
    unverified: list[str] = field(default_factory=list)  # cannot be placed inside: outside until shown
    wildcard: str | None = None  # why '*' is open, when it is
    aws_public: bool = False  # public as AWS (and Block Public Access) defines it
    open_to: list[str] = field(default_factory=list)  # who the open wildcard lets in, as named
    reasons: list[str] = field(default_factory=list)

    @property
    def is_external(self) -> bool:
        return bool(self.external or self.unverified or self.wildcard)


# Only positive operators narrow. IfExists passes when the key is absent (an outsider outside any
# organization has no aws:PrincipalOrgID) and ForAllValues passes on an empty set: neither narrows.
_NARROWING_OPERATOR = re.compile(
    r"^(ForAnyValue:)?(StringEquals|StringEqualsIgnoreCase|StringLike|ArnEquals|ArnLike|IpAddress)$",
    re.IGNORECASE,
)
_CONDITION_CATEGORY = {
    "aws:sourcearn": "arn",
    "aws:principalarn": "arn",
    "aws:sourceowner": "account",
    "aws:sourceaccount": "account",
    "aws:principalaccount": "account",
    "kms:calleraccount": "account",
    "aws:principalorgid": "organization",
    "aws:principalorgpaths": "organization",
    "aws:userid": "userid",
    "aws:sourceip": "cidr",
    "aws:sourcevpc": "vpc",
    "aws:sourcevpce": "vpce",
}
# aws:ResourceOrgID is deliberately absent: in a bucket policy it names the bucket's own organization,
# true for every caller, so it narrows nothing however it is set.


# Condition keys that say *who* may call (by ARN, account, organization, user id or address): what a
# narrowed statement replaces with one organization or account condition (audit-buckets' suggestion).
PRINCIPAL_CONDITION_KEYS = frozenset(
    k for k, c in _CONDITION_CATEGORY.items() if c in {"arn", "account", "organization", "userid", "cidr"}
) - {"kms:calleraccount"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(document: Mapping[str, Any] | None) -> list[Any]:
    """A policy document's statements as a list (IAM allows one statement object in place of a list)."""
    if not document:
        return []
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _narrowing_entries(statement: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Any]]]:
    """(operator, key, values) under the positive operators only: the others narrow nothing."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return
    for operator, entries in condition.items():
        if not _NARROWING_OPERATOR.match(str(operator)) or not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            yield str(operator), str(key), as_list(values)


def condition_values(statement: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(operator:key, category, value) of each narrowing condition value; other operators narrow nothing."""
    out: list[tuple[str, str, str]] = []
    for operator, key, values in _narrowing_entries(statement):
        category = _CONDITION_CATEGORY.get(key.lower())
        if category:
            out += [(f"{operator}:{key}".lower(), category, str(v)) for v in values]
    return out


def _keyed_values(statement: Mapping[str, Any]) -> dict[str, list[str]]:
    """Condition key (lower case) -> values, over the positive operators (for federated trusts)."""
    out: dict[str, list[str]] = {}
    for _operator, key, values in _narrowing_entries(statement):
        out.setdefault(key.lower(), []).extend(str(v) for v in values)
    return out


def principals_of(statement: Mapping[str, Any]) -> dict[str, list[str]]:
    """``Principal`` by kind (AWS, Service, Federated, CanonicalUser); ``"*"`` is ``{"AWS": ["*"]}``."""
    principal = statement.get("Principal")
    if principal is None:
        return {}
    if not isinstance(principal, Mapping):
        return {"AWS": [str(p) for p in as_list(principal)]}
    return {str(kind): [str(v) for v in as_list(values)] for kind, values in principal.items()}


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


def _wild(value: str) -> bool:
    return "*" in value or "?" in value


def _value_inside(category: str, value: str, ins: Insiders) -> bool | None:
    """Does one condition value pin the caller inside? True, False (outside), None (cannot tell)."""
    if category == "account":
        return ins.inside(value)
    if category == "arn":
        account = _account_of(value)
        return bool(account and account != "*" and not _wild(account) and ins.inside(account))
    if category == "organization":
        named = value.split("/", 1)[0]
        if _wild(named):
            return False
        if not ins.organization_id:
            return None
        return named == ins.organization_id
    if category == "userid":
        # aws:userid is "<unique id>" or "<unique id>:<session>"; the account root's is the account id.
        unique = value.split(":", 1)[0]
        if _wild(unique):
            return False
        if unique == ins.account_id:
            return True
        return True if unique in ins.user_ids else None if not ins.user_ids else False
    if category in ("vpce", "vpc"):
        known = ins.vpc_endpoints if category == "vpce" else ins.vpcs
        if _wild(value):
            return False
        return True if value in known else None if not known else False
    return None


_CATEGORY_NAMES = {
    "account": "account",
    "arn": "ARN",
    "organization": "organization",
    "userid": "user id",
    "vpce": "VPC endpoint",
    "vpc": "VPC",
}


def _review_wildcard(statement: Mapping[str, Any], ins: Insiders, review: StatementReview) -> None:
    """Is '*' pinned inside by its conditions, by value? Keys are ANDed: one inside-only key narrows.

    A condition naming anything but this account's own (another organization, the attacker's VPC
    endpoint or user id) opens the statement to them; a public source IP narrows the network, not the
    principal: anyone from that address.
    """
    addresses: list[str] = []
    private: list[str] = []
    outsiders: list[str] = []
    unknown: list[str] = []
    # Values of one key are ORed (any of them lets its holder in); keys are ANDed (one key whose every
    # value is this account's pins the statement inside, whatever the other keys say).
    verdicts: dict[str, list[bool | None]] = {}
    for key, category, value in condition_values(statement):
        if category == "cidr":
            # An address narrows the network, never the principal: private ranges exist in every
            # account's VPCs, public ones are anyone's from that address.
            (addresses if _public_cidr(value) else private).append(value)
            continue
        inside = _value_inside(category, value, ins)
        verdicts.setdefault(key, []).append(inside)
        label = value if category in ("account", "arn") else f"{_CATEGORY_NAMES[category]} {value}"
        if inside is False:
            outsiders.append(label)
        elif inside is None:
            unknown.append(label)
    if any(values and all(v is True for v in values) for values in verdicts.values()):
        return
    review.external += outsiders
    review.unverified += unknown
    if outsiders:
        review.reasons.append("allows '*' with conditions naming " + ", ".join(outsiders))
    if unknown:
        review.reasons.append(
            "allows '*' with conditions naming " + ", ".join(unknown) + ", not known to be this account's"
        )
    if outsiders or unknown:
        return
    if addresses or private:
        review.wildcard = "allows anyone ('*') from " + ", ".join(addresses + private)
        review.open_to += [f"* (aws:SourceIp {a})" for a in addresses + private]
    else:
        review.open_to.append("*")
        review.wildcard = (
            "allows any principal ('*') with no condition narrowing it to the account or organization"
        )
        review.aws_public = True
    review.reasons.append(review.wildcard)


def _review_federated(
    statement: Mapping[str, Any], provider: str, ins: Insiders, review: StatementReview
) -> None:
    """A web identity trust is this account's only when its audience and subject name its own apps."""
    conditions = _keyed_values(statement)
    if provider == "cognito-identity.amazonaws.com":
        pools = conditions.get("cognito-identity.amazonaws.com:aud", [])
        if not pools or not ins.identity_pools or not set(pools) <= ins.identity_pools:
            review.external.append(f"Federated {provider}")
            review.reasons.append(
                f"trusts {provider} without an audience condition naming this account's identity pools"
                + (f" (names {', '.join(pools)})" if pools else "")
            )
        return
    if provider.startswith("arn:") and ":saml-provider/" in provider:
        if _account_of(provider) == ins.account_id:
            return
    elif (
        provider.startswith("arn:")
        and ":oidc-provider/" in provider
        and _account_of(provider) == ins.account_id
    ):
        host = provider.split(":oidc-provider/", 1)[1].lower()
        auds = conditions.get(f"{host}:aud", [])
        subs = conditions.get(f"{host}:sub", [])
        owned = bool(subs) and all(
            any(s.startswith(prefix) and not _wild(s[: len(prefix)]) for prefix in ins.oidc_subjects)
            for s in subs
        )
        if auds and owned:
            return
        review.external.append(f"Federated {provider}")
        review.reasons.append(
            f"trusts {host} without "
            + ("an audience condition" if not auds else "a subject condition naming this account's own apps")
            + (f" (sub {', '.join(subs)})" if subs else "")
        )
        return
    review.external.append(f"Federated {provider}")
    review.reasons.append(
        f"trusts {provider}, an identity provider outside account {ins.account_id or '(unknown)'}"
    )


def review_statement(statement: Mapping[str, Any], context: Insiders | str | None) -> StatementReview:
    """Who an Allow statement lets in from outside, as seen from ``context`` (by value)."""
    ins = insiders_of(context)
    review = StatementReview()
    if str(statement.get("Effect", "")).lower() != "allow":
        return review
    if "NotPrincipal" in statement:
        review.wildcard = "uses NotPrincipal with Allow: everyone but the listed principals"
        review.aws_public = True
        review.open_to.append("NotPrincipal")
        review.reasons.append(review.wildcard)
        return review
    for kind, values in sorted(principals_of(statement).items()):
        for principal in values:
            if kind == "Service":
                continue
            if kind == "Federated":
                _review_federated(statement, principal, ins, review)
                continue
            if kind == "CanonicalUser":
                review.unverified.append(f"CanonicalUser:{principal}")
                review.reasons.append(
                    f"allows CanonicalUser:{principal}, which cannot be placed in this account"
                )
                continue
            if _is_service(principal):
                continue
            account = _account_of(principal)
            if account == "*":
                _review_wildcard(statement, ins, review)
            elif account is None:
                review.unverified.append(principal)
                review.reasons.append(
                    f"allows {principal}, a principal that cannot be placed in this account"
                )
            elif not ins.inside(account):
                review.external.append(principal)
                review.reasons.append(f"allows {principal}, outside account {ins.account_id or '(unknown)'}")
    return review


def statement_external(
    statement: Mapping[str, Any], account_id: Insiders | str | None
) -> tuple[bool, list[str], list[str]]:
    """(external, external principals, reasons) for one statement: unverified counts as external."""
    review = review_statement(statement, account_id)
    who = [*review.external, *review.unverified, *review.open_to]
    return review.is_external, who, list(review.reasons)


def analyse_policy(policy: Any, account_id: Insiders | str | None) -> PolicyAnalysis:
    """Flags for one policy document (object or JSON text) as seen from ``account_id``."""
    document = parse_policy(policy)
    if document is None:
        return PolicyAnalysis(parse_error=None if policy in (None, "") else "policy is not a JSON object")
    result = PolicyAnalysis()
    # Imported here: policyuniverse loads its whole action list at import (80-150 ms), which every
    # handler that only imports this module (the notifications, Request approval) would pay on its
    # cold start for a policy it never reads (bench/IMPORTS.md).
    from policyuniverse.policy import Policy

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


def analyse_current_policy(policy_text: str | None, account_id: Insiders | str | None) -> dict[str, Any]:
    """The live bucket policy (GetBucketPolicy's text, None when the bucket has none) -> the same flags."""
    result = analyse_policy(policy_text, account_id).as_dict()
    result["has_policy"] = bool(policy_text)
    result["policy_sha256"] = hashlib.sha256(policy_text.encode()).hexdigest() if policy_text else None
    return result


def _account_for(row: Row, account_id: Insiders | str | None) -> Insiders | str | None:
    return account_id or text(row, "account_id")


def bucket_policy_changes(
    rows: Iterable[Row], account_id: Insiders | str | None = None
) -> list[dict[str, Any]]:
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


def trust_policy_changes(
    rows: Iterable[Row], account_id: Insiders | str | None = None
) -> list[dict[str, Any]]:
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
