"""Triage (playbook steps 1-3 on the automatic path): any GuardDuty form, or an analyst's manual
input, becomes one :class:`Incident`; when the decision is ``contain``, the key is contained in this
same step (:func:`contain_now`: Validate's owner check, then Disable's exactly-once claim).

Accepted inputs (detected by shape, not by a flag):

- a GuardDuty EventBridge event (``source: aws.guardduty``, the finding in ``detail``);
- a raw finding (camelCase, as in ``detail``);
- a GetFindings response or CLI output (``{"Findings": [...]}``, PascalCase), or a bare list of findings;
- a Security Hub EventBridge event (``detail.findings[]`` in ASFF) carrying a GuardDuty finding;
- a manual input typed in the Step Functions console: ``{"accessKeyId": "AKIA...", "lookbackDays": 7}``.

Incident ids (stable, see :func:`incident_id`):

- a finding: ``inc-`` + the first 16 hex digits of SHA-256 over ``guardduty|<account>|<finding id>``. The
  same finding yields the same id whichever form it arrives in (EventBridge, GetFindings, Security Hub),
  and GuardDuty's updates of a finding (count, lastSeen) keep the id, so a re-delivered or updated
  finding joins its incident instead of opening a new one.
- a manual input: ``inc-`` + 16 hex of SHA-256 over ``manual|<account>|<access key id>``: re-running the
  console input for the same key joins the same incident. It is deliberately NOT the id of the finding
  that may have prompted the analyst (triage cannot know it); exactly-once containment is keyed by the
  access key in the incident table, so the two incidents never contain the key twice.

Everything read from a finding is data: names and titles are kept for display only; the access key id,
account id and bucket names (the only values later steps act on) are validated here.
No logging in this module: findings may carry secrets, and the handler logs chosen keys only.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from responder import fields
from responder.errors import (
    THROTTLING_CODES,
    InvalidInput,
    Throttled,
    UnsupportedFinding,
    error_code,
)
from responder.models import (
    ACCESS_KEY_PATTERN,
    BUCKET_PATTERN,
    Action,
    Decision,
    DecisionAction,
    FindingRef,
    Incident,
    Owner,
    Principal,
    iso,
    utc_now,
)
from responder.securityhub import asff_identifiers, guardduty_identifiers
from responder.settings import Settings
from responder.sightings import Sighting, record_sighting
from responder.signals.health import SIGNAL as HEALTH_SIGNAL
from responder.signals.health import is_health_event, parse_exposure
from responder.signals.sequence import AttackSequence, SequenceKey, is_sequence, parse_sequence
from responder.steps.disable import CLAIM_STALE_SECONDS, disable_claimed
from responder.steps.validate import protection

MAX_INPUT_BYTES = 256 * 1024  # the Step Functions payload limit; larger is not a finding we were sent
MAX_DEPTH = 64  # GuardDuty findings nest ~8 deep; deeper is hostile or broken
# \Z, not $: "$" also matches before a trailing newline, and "AKIA...\n" must not pass.
ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}\Z")
SAMPLE_PREFIX = "GeneratedFinding"  # what CreateSampleFindings puts in every name and key field
ACCOUNT_RE = fields.ACCOUNT_RE
# Legacy bucket names (us-east-1, before 2018) allowed capitals and underscores, up to 255 characters.
# The incident model's own rules (responder/models.py), matched whole (fullmatch).
BUCKET_RE = re.compile(BUCKET_PATTERN)
KEY_OR_SAMPLE_RE = re.compile(ACCESS_KEY_PATTERN)
FINDING_TYPE_RE = re.compile(r"^(?P<purpose>[A-Za-z0-9]+):(?P<resource>[A-Za-z0-9]+)/(?P<family>\S+)\Z")
# ASFF spells "UnauthorizedAccess:IAMUser/ConsoleLogin" as ".../UnauthorizedAccess:IAMUser-ConsoleLogin".
ASFF_TYPE_RE = re.compile(r"^(?P<head>[A-Za-z0-9]+:[A-Za-z0-9]+)-(?P<family>\S+)\Z")
GUARDDUTY_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:guardduty:[a-z0-9-]*:[0-9]*:detector/[^/]+/finding/(?P<id>.+)$"
)

# The resource part of a GuardDuty type this responder acts on: credentials and S3.
HANDLED_RESOURCES = frozenset({"IAMUser", "IAM", "S3"})
# Handled resource, unhandled family: S3 Malware Protection ("Object:S3/MaliciousFile") is about an object.
IGNORED_PURPOSES = frozenset({"Object"})

MANUAL_KEYS: dict[str, str] = {
    "accessKeyId": "access_key_id",
    "access_key_id": "access_key_id",
    "lookbackDays": "lookback_days",
    "lookback_days": "lookback_days",
    "accountId": "account_id",
    "account_id": "account_id",
    "reason": "reason",
    "dryRun": "dry_run",
    "dry_run": "dry_run",
    "eradicate": "eradicate",
    "incidentId": "incident_id",
    "incident_id": "incident_id",
    "userName": "user_name",
    "user_name": "user_name",
}
INCIDENT_ID_RE = re.compile(r"^inc-[0-9a-f]{16}\Z")
ASFF_SEVERITY_LABELS = {"INFORMATIONAL": 0.0, "LOW": 2.0, "MEDIUM": 5.0, "HIGH": 8.0, "CRITICAL": 9.0}
MAX_TEXT = fields.MAX_TEXT


# --------------------------------------------------------------------------------------- public API


def triage(
    raw: Any,
    settings: Settings,
    *,
    now: datetime | None = None,
    default_account_id: str | None = None,
) -> Incident:
    """Normalize ``raw`` (any supported form, parsed JSON or JSON text) into an :class:`Incident`.

    ``default_account_id`` is the account a manual input is about when it names none (the handler
    passes its own account); ``settings.extra["account_id"]`` is the fallback.
    Raises :class:`InvalidInput` (malformed, oversized) or :class:`UnsupportedFinding` (well-formed,
    not a GuardDuty finding).
    """
    now = now or utc_now()
    data = _load(raw)
    if _is_manual(data):
        incident = _manual(data, settings, now=now, default_account_id=default_account_id)
    elif is_health_event(data):
        incident = _health(data, settings, now=now)
    elif isinstance(data, Mapping) and data.get("source") == "quarantine-policy":
        incident = _quarantine(data, settings, now=now)
    else:
        incident = _finding_incident(data, settings, now=now)
    return incident.model_copy(update={"received_at": iso(now)})


def _finding_incident(data: Any, settings: Settings, *, now: datetime) -> Incident:
    lookback = _lookback(None, settings)
    try:
        facts = _locate(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Untrusted structure with a wrong type somewhere: a named error, not a crash.
        raise InvalidInput(f"malformed finding: {type(exc).__name__}: {fields.short(str(exc), 120)}") from exc
    decision = decide(facts, settings)
    return Incident(
        incident_id=incident_id("guardduty", facts.account_id, facts.finding_id),
        source="guardduty",
        finding=FindingRef(
            id=facts.finding_id,
            type=facts.finding_type,
            severity=facts.severity,
            title=facts.title,
            region=facts.region,
            first_seen=facts.first_seen,
            last_seen=facts.last_seen,
            count=facts.count,
            created_at=facts.created_at,
            arn=facts.arn,
            product_arn=facts.product_arn,
        ),
        access_key_id=facts.access_key_id,
        principal=Principal(
            type=facts.principal_type, user_name=facts.user_name, principal_id=facts.principal_id
        ),
        account_id=facts.account_id,
        region=facts.region,
        remote_ips=facts.remote_ips,
        buckets=facts.buckets,
        api_calls=facts.api_calls,
        lookback_days=lookback,
        event_time=facts.event_time or iso(now),
        decision=decision,
        sample=facts.is_sample,
        **_sequence_extras(facts),
    )


def _sequence_extras(facts: Facts) -> dict[str, Any]:
    """An attack sequence's whole picture, and the keys of this account it names beyond the first:
    each is contained once (the Triage handler's contain_related), each is investigated."""
    seq = facts.sequence
    if seq is None:
        return {}
    ours = [k for k in seq.keys_of(facts.account_id) if k.access_key_id != facts.access_key_id]
    return {
        "signal": "attack-sequence",
        "sequence": seq.as_dict(),
        "related_keys": [_related(k, facts.account_id) for k in ours],
    }


def _related(key: SequenceKey, account_id: str) -> dict[str, Any]:
    return {
        "access_key_id": key.access_key_id,
        "account_id": key.account_id or account_id,
        "user_name": key.user_name if (key.user_type or "IAMUser") == "IAMUser" else None,
        "user_type": key.user_type,
    }


def _health(data: Mapping[str, Any], settings: Settings, *, now: datetime) -> Incident:
    """AWS Health found a key of the account in public: contain it (responder.signals.health).

    The event names the key, not its user: the Triage handler asks IAM whose it is (name_key_user)
    before the fast path contains it. A second key in the event is contained the same way.
    """
    exposure = parse_exposure(data)
    key, *others = exposure.access_keys
    region = data.get("region")
    reason = (
        f"AWS Health reports access key {key} exposed in public ({exposure.event_arn.rsplit('/', 1)[-1]})"
    )
    return Incident(
        incident_id=incident_id("health", exposure.account_id, f"{exposure.event_arn}|{key}"),
        source="detection-rule",
        finding=None,
        access_key_id=key,
        principal=Principal(),
        account_id=exposure.account_id,
        region=region if isinstance(region, str) and QUARANTINE_REGION_RE.match(region) else None,
        lookback_days=_lookback(None, settings),
        event_time=exposure.start_time or iso(now),
        decision=Decision(action="contain", reason=f"{fields.short(reason, 300)}: contain now"),
        signal=HEALTH_SIGNAL,
        exposure=exposure.as_dict(),
        related_keys=[
            {"access_key_id": k, "account_id": exposure.account_id, "user_name": None, "user_type": None}
            for k in others
        ],
    )


def accounts_in_scope(own_account: str) -> frozenset[str]:
    """The accounts this deployment acts in: its own. (The organization issue adds member accounts
    here, and every caller of :func:`scope_to_accounts` follows.)"""
    return frozenset({own_account})


def scope_to_accounts(incident: Incident, accounts: frozenset[str]) -> Incident:
    """Notify-only, with why, when the incident is about an account outside ``accounts``.

    A finding (or manual input) claiming another account must not be acted on here: the fast path
    would disable a same-named user's key of this account, and remediation would judge this account's
    own grants external. Nothing is changed and the SOC is told.
    """
    if incident.account_id in accounts:
        return incident
    ours = ", ".join(sorted(accounts)) or "none known"
    decision = Decision(
        action="notify_only",
        reason=f"the input is about account {incident.account_id}, not this account ({ours}): "
        "notify only, nothing is changed here",
    )
    extra = {k: v for k, v in (incident.model_extra or {}).items() if k != "mode"}
    data = incident.model_dump(exclude=set(incident.model_extra or {}))
    return Incident.model_validate({**data, **extra, "decision": decision.model_dump()})


def incident_id(kind: str, account_id: str, subject: str) -> str:
    """``inc-`` + 16 hex of SHA-256 over ``kind|account|subject`` (finding id, or key for manual input)."""
    digest = hashlib.sha256(f"{kind}|{account_id}|{subject}".encode()).hexdigest()
    return f"inc-{digest[:16]}"


# ------------------------------------------------------------------------------------ the decision


@dataclass(frozen=True)
class Facts:
    """What the decision table looks at, extracted and validated from one finding."""

    finding_id: str
    finding_type: str
    severity: float
    account_id: str
    title: str | None = None
    region: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    count: int | None = None
    event_time: str | None = None
    created_at: str | None = None
    access_key_id: str | None = None
    principal_type: str | None = None
    user_name: str | None = None
    principal_id: str | None = None
    remote_ips: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    api_calls: list[str] = field(default_factory=list)
    is_sample: bool = False
    sequence: AttackSequence | None = None  # an attack sequence finding's (Extended Threat Detection)
    arn: str | None = None  # Security Hub's Id and ProductArn of the finding (write-back)
    product_arn: str | None = None

    @property
    def purpose(self) -> str:
        m = FINDING_TYPE_RE.match(self.finding_type)
        return m.group("purpose") if m else ""

    @property
    def resource(self) -> str:
        m = FINDING_TYPE_RE.match(self.finding_type)
        return m.group("resource") if m else ""


@dataclass(frozen=True)
class Rule:
    """One row of the decision table: the first row whose ``when`` holds decides."""

    name: str
    when: Callable[[Facts, Settings], bool]
    action: DecisionAction
    reason: Callable[[Facts, Settings], str]


# Protection is not a row: the finding's userName/principalId are the finding's word, and the list and
# tag are judged on the key's real owner once IAM shows it (responder.steps.triage: contain_now on the
# fast path, validate_key otherwise), on every path.
RULES: tuple[Rule, ...] = (
    Rule(
        "unhandled_family",
        lambda f, s: f.resource not in HANDLED_RESOURCES or f.purpose in IGNORED_PURPOSES,
        "ignore",
        lambda f, s: (
            f"{f.finding_type} is not an IAM credential or S3 finding: not handled by this responder"
        ),
    ),
    Rule(
        "sample",
        lambda f, s: f.is_sample,
        "notify_only",
        lambda f, s: "sample finding (GuardDuty CreateSampleFindings): no real key or principal to contain",
    ),
    Rule(
        "root",
        lambda f, s: (f.principal_type or "") == "Root",
        "notify_only",
        lambda f, s: "root credentials: the API cannot disable root access keys; the account owner must act",
    ),
    Rule(
        "nothing_to_contain",
        lambda f, s: not f.access_key_id and not f.buckets,
        "notify_only",
        lambda f, s: "the finding names no access key and no bucket: nothing to contain automatically",
    ),
    Rule(
        # The contain branch of the workflow starts by validating a key; bucket fixes wait for a human.
        "bucket_only",
        lambda f, s: not f.access_key_id,
        "await_approval",
        lambda f, s: "no access key to disable; remediating the named bucket(s) needs approval",
    ),
    Rule(
        "role_session",
        lambda f, s: (f.access_key_id or "").startswith("ASIA"),
        "contain",
        lambda f, s: "temporary (ASIA) credentials of a role session: revoke the role's sessions",
    ),
    Rule(
        "high_severity",
        lambda f, s: f.severity >= s.contain_min_severity,
        "contain",
        lambda f, s: f"severity {f.severity:g} >= {s.contain_min_severity:g}: contain now",
    ),
    Rule(
        "low_severity",
        lambda f, s: True,
        "await_approval",
        lambda f, s: f"severity {f.severity:g} < {s.contain_min_severity:g}: containment needs approval",
    ),
)


def decide(facts: Facts, settings: Settings) -> Decision:
    """The first matching row of :data:`RULES` (the last row always matches)."""
    for rule in RULES:
        if rule.when(facts, settings):
            return Decision(action=rule.action, reason=rule.reason(facts, settings))
    raise AssertionError("the decision table has no catch-all row")  # pragma: no cover


# ------------------------------------------------------------------------------------ input forms


def _load(raw: Any) -> Any:
    """Parse JSON text if given; enforce the size and depth limits on everything."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_INPUT_BYTES:
            raise InvalidInput(f"input is larger than {MAX_INPUT_BYTES // 1024} KB")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"input is not UTF-8 text: {exc.reason}") from exc
    if isinstance(raw, str):
        if len(raw.encode()) > MAX_INPUT_BYTES:
            raise InvalidInput(f"input is larger than {MAX_INPUT_BYTES // 1024} KB")
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        except RecursionError as exc:
            raise InvalidInput("JSON nested too deeply") from exc
    _check_depth(raw)
    try:
        size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"input is not JSON-like: {fields.short(str(exc), 80)}") from exc
    if size > MAX_INPUT_BYTES:
        raise InvalidInput(f"input is larger than {MAX_INPUT_BYTES // 1024} KB")
    return raw


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"input nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def _is_manual(data: Any) -> bool:
    return isinstance(data, Mapping) and any(k in data for k in ("accessKeyId", "access_key_id"))


def _locate(data: Any) -> Facts:
    """Find the one finding in ``data`` and extract its facts."""
    if isinstance(data, list):
        return _choose(data, "list")
    if not isinstance(data, Mapping):
        raise InvalidInput(f"expected a JSON object or list, got {type(data).__name__}")
    if "detail-type" in data or ("source" in data and "detail" in data):
        return _from_eventbridge(data)
    if "Findings" in data:
        return _choose(data["Findings"], "Findings")
    if _is_asff(data):
        return _from_asff(data)
    if "id" in data and "type" in data:
        return _from_guardduty(data)
    if "Id" in data and "Type" in data:
        return _from_guardduty(_camel(data))
    raise InvalidInput(
        "not a GuardDuty finding, EventBridge event, GetFindings response, Security Hub finding "
        "or manual input (expected e.g. 'detail', 'Findings', 'id'+'type' or 'accessKeyId')"
    )


def _from_eventbridge(event: Mapping[str, Any]) -> Facts:
    source, detail_type = event.get("source"), event.get("detail-type")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidInput("EventBridge event has no 'detail' object")
    if source == "aws.guardduty":
        if detail_type != "GuardDuty Finding":
            raise UnsupportedFinding(
                f"aws.guardduty event of detail-type {fields.short(str(detail_type), 60)!r}"
            )
        return _from_guardduty(detail, envelope=event)
    if source == "aws.securityhub":
        return _choose(detail.get("findings"), "detail.findings")
    raise UnsupportedFinding(f"EventBridge events from {fields.short(str(source), 60)!r} are not handled")


def _choose(findings: Any, where: str) -> Facts:
    """The first finding that names a real access key, else the first that names any, else the first."""
    if not isinstance(findings, list) or not findings:
        raise InvalidInput(f"'{where}' holds no findings")
    if not all(isinstance(f, Mapping) for f in findings):
        raise InvalidInput(f"'{where}' holds something other than finding objects")
    parsed = [_from_asff(f) if _is_asff(f) else _from_guardduty(_camel(f)) for f in findings]
    for pick in (
        lambda p: bool(p.access_key_id) and not p.is_sample,
        lambda p: bool(p.access_key_id),
    ):
        for facts in parsed:
            if pick(facts):
                return facts
    return parsed[0]


def _from_guardduty(finding: Mapping[str, Any], envelope: Mapping[str, Any] | None = None) -> Facts:
    """Facts of a camelCase GuardDuty finding (the EventBridge ``detail``)."""
    envelope = envelope or {}
    finding_id = fields.required(finding.get("id"), "finding id")
    finding_type = fields.required(finding.get("type"), "finding type")
    account = fields.account(finding.get("accountId", envelope.get("account")), "finding accountId")
    resource = fields.obj(finding.get("resource"))
    service = fields.obj(finding.get("service"))
    key_details = fields.obj(resource.get("accessKeyDetails"))
    additional = _additional_info(service.get("additionalInfo"))
    key = _access_key(key_details.get("accessKeyId"))
    action = fields.obj(service.get("action"))
    api_call = fields.obj(action.get("awsApiCallAction"))
    apis = [api_call.get("api")] + [
        c.get("api") for c in fields.items(additional.get("recentApiCalls")) if isinstance(c, Mapping)
    ]
    buckets = [b.get("name") for b in fields.items(resource.get("s3BucketDetails")) if isinstance(b, Mapping)]
    sequence = parse_sequence(service) if is_sequence(str(finding_type)) else None
    principal_type = fields.text(key_details.get("userType"), "userType")
    user_name = fields.text(key_details.get("userName"), "userName")
    principal_id = fields.text(key_details.get("principalId"), "principalId")
    ips = fields.ips(_walk_values(action, ("ipAddressV4", "ipAddressV6")))
    if sequence is not None:
        # Every key, address, bucket and call of the sequence seeds the run; the finding's own key (if
        # it names one) stays first, else the sequence's first key of this account (a user's first).
        if key is None:
            ours = sorted(
                sequence.keys_of(str(account)), key=lambda k: not k.access_key_id.startswith("AKIA")
            )
            if ours:
                key, principal_type = ours[0].access_key_id, ours[0].user_type
                user_name, principal_id = ours[0].user_name, ours[0].principal_id
        buckets += sequence.buckets
        ips += [ip for ip in sequence.addresses if ip not in ips]
        apis += sequence.apis
    arn, product_arn = guardduty_identifiers(finding)
    return Facts(
        finding_id=finding_id,
        finding_type=_finding_type(finding_type),
        severity=_severity(finding.get("severity")),
        account_id=account,
        title=fields.text(finding.get("title"), "title"),
        region=fields.text(finding.get("region", envelope.get("region")), "region"),
        first_seen=fields.iso_time(service.get("eventFirstSeen")),
        last_seen=fields.iso_time(service.get("eventLastSeen")),
        count=fields.count(service.get("count")),
        event_time=fields.first_time(
            finding.get("updatedAt"),
            finding.get("createdAt"),
            envelope.get("time"),
            service.get("eventLastSeen"),
        ),
        created_at=fields.iso_time(finding.get("createdAt")),
        access_key_id=key,
        principal_type=principal_type,
        user_name=user_name,
        principal_id=principal_id,
        remote_ips=ips,
        buckets=_buckets(buckets),
        api_calls=_names(apis),
        is_sample=_sample(key, additional),
        sequence=sequence,
        arn=arn,
        product_arn=product_arn,
    )


def _is_asff(finding: Any) -> bool:
    return isinstance(finding, Mapping) and ("ProductArn" in finding or "AwsAccountId" in finding)


def _from_asff(finding: Mapping[str, Any]) -> Facts:
    """Facts of a Security Hub (ASFF) finding; only GuardDuty's are accepted."""
    product = fields.text(finding.get("ProductArn"), "ProductArn") or ""
    if "/guardduty" not in product:
        raise UnsupportedFinding(
            f"Security Hub finding from {fields.short(product, 80)!r}, not from GuardDuty"
        )
    raw_id = fields.required(finding.get("Id"), "finding Id")
    # Keep GuardDuty's own id so the same finding has the same incident id via Security Hub.
    m = GUARDDUTY_ARN_RE.match(raw_id)
    finding_id = m.group("id") if m else raw_id
    product_fields = {str(k): v for k, v in fields.obj(finding.get("ProductFields")).items()}
    additional = _additional_info(product_fields.get("additionalInfo"))
    resources = [r for r in fields.items(finding.get("Resources")) if isinstance(r, Mapping)]
    key_details: Mapping[str, Any] = {}
    key_from_id: str | None = None
    buckets: list[Any] = []
    for res in resources:
        if res.get("Type") == "AwsIamAccessKey":
            key_details = fields.obj(fields.obj(res.get("Details")).get("AwsIamAccessKey"))
            rid = str(res.get("Id") or "")
            tail = rid.rsplit(":", 1)[-1] if rid.startswith("AWS::IAM::AccessKey:") else ""
            key_from_id = tail if tail and tail != "null" else None
        elif res.get("Type") == "AwsS3Bucket":
            details = fields.obj(fields.obj(res.get("Details")).get("AwsS3Bucket"))
            rid = str(res.get("Id") or "")
            buckets.append(details.get("Name") or (rid.split(":::", 1)[1] if ":::" in rid else rid))
    key = _access_key(key_details.get("AccessKeyId") or key_from_id)
    asff_action = fields.obj(finding.get("Action"))
    api_call = fields.obj(asff_action.get("AwsApiCallAction"))
    ips: list[Any] = [v for k, v in product_fields.items() if k.endswith(("ipAddressV4", "ipAddressV6"))]
    ips += list(_walk_values(asff_action, ("IpAddressV4", "IpAddressV6")))
    ips.append(fields.obj(finding.get("Network")).get("SourceIpV4"))
    apis: list[Any] = [v for k, v in product_fields.items() if k.endswith("awsApiCallAction/api")]
    apis.append(api_call.get("Api"))
    apis += [c.get("api") for c in fields.items(additional.get("recentApiCalls")) if isinstance(c, Mapping)]
    resource_region = next((r.get("Region") for r in resources if r.get("Region")), None)
    arn, product_arn = asff_identifiers(finding)
    return Facts(
        finding_id=finding_id,
        finding_type=_asff_type(finding.get("Types")),
        severity=_asff_severity(finding.get("Severity")),
        account_id=fields.account(finding.get("AwsAccountId"), "AwsAccountId"),
        title=fields.text(finding.get("Title"), "Title"),
        region=fields.text(finding.get("Region") or resource_region, "Region"),
        first_seen=fields.iso_time(finding.get("FirstObservedAt")),
        last_seen=fields.iso_time(finding.get("LastObservedAt")),
        count=fields.count(product_fields.get("count")),
        event_time=fields.first_time(finding.get("UpdatedAt"), finding.get("CreatedAt")),
        created_at=fields.iso_time(finding.get("CreatedAt")),
        access_key_id=key,
        principal_type=fields.text(key_details.get("PrincipalType"), "PrincipalType"),
        user_name=fields.text(key_details.get("PrincipalName") or key_details.get("UserName"), "UserName"),
        principal_id=fields.text(key_details.get("PrincipalId"), "PrincipalId"),
        remote_ips=fields.ips(ips),
        buckets=_buckets(buckets),
        api_calls=_names(apis),
        is_sample=_sample(key, additional) or str(product_fields.get("sample", "")).lower() == "true",
        arn=arn,
        product_arn=product_arn,
    )


def _manual(
    data: Mapping[str, Any], settings: Settings, *, now: datetime, default_account_id: str | None
) -> Incident:
    unknown = sorted(str(k) for k in data if k not in MANUAL_KEYS)
    if unknown:
        names = ", ".join(repr(fields.short(k, 40)) for k in unknown[:10])
        raise InvalidInput(f"manual input has unknown keys: {names} (allowed: {', '.join(MANUAL_KEYS)})")
    values: dict[str, Any] = {}
    for key, value in data.items():
        canonical = MANUAL_KEYS[key]
        if canonical in values:
            raise InvalidInput(f"manual input names {canonical} twice")
        values[canonical] = value
    key_id = values["access_key_id"]
    if not isinstance(key_id, str) or not ACCESS_KEY_RE.match(key_id):
        raise InvalidInput("accessKeyId must look like AKIA... or ASIA... (20 capitals and digits)")
    account_value = values.get("account_id") or default_account_id or settings.extra.get("account_id")
    if account_value is None:
        raise InvalidInput("manual input needs accountId (no default account is known here)")
    account = fields.account(account_value, "accountId")
    dry_run = values.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput("dryRun must be true or false")
    reason = values.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason must be a string")
    note = fields.short(" ".join(reason.split()), 200) if reason else ""
    eradicate = values.get("eradicate", False)
    if not isinstance(eradicate, bool):
        raise InvalidInput("eradicate must be true or false")
    if eradicate:
        return _eradication(values, key_id, account, settings, now=now, note=note, dry_run=dry_run)
    if "incident_id" in values:
        raise InvalidInput("incidentId is only taken with eradicate: true")
    asked = f"analyst requested containment of {key_id}"
    if dry_run:
        asked = (
            f"dry run of the containment of {key_id}: every action is reported as would_do, nothing changes"
        )
    decision = Decision(action="contain", reason=f"{asked}: {note}" if note else asked)
    # The analyst's word for who holds the key saves IAM's lookup; ListAccessKeys must still confirm
    # it (contain_now), or the run finds the real holder (Validate).
    user = values.get("user_name")
    if user is not None and (not isinstance(user, str) or not USER_NAME_RE.match(user)):
        raise InvalidInput("userName must be an IAM user name (1 to 64 of letters, digits and +=,.@_-)")
    return Incident(
        incident_id=incident_id("manual", account, key_id),
        source="manual",
        finding=None,
        access_key_id=key_id,
        principal=Principal(type="IAMUser", user_name=user) if user else Principal(),
        account_id=account,
        lookback_days=_lookback(values.get("lookback_days"), settings),
        event_time=iso(now),
        decision=decision,
        dry_run=dry_run,
        requested_reason=note or None,
    )


QUARANTINE_KEYS = frozenset(
    {
        "source",
        "userName",
        "policyArn",
        "accountId",
        "region",
        "eventTime",
        "eventId",
        "userIdentity",
        "sourceIPAddress",
    }
)
QUARANTINE_POLICY_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/AWSCompromisedKeyQuarantine[A-Za-z0-9]*\Z"
)
USER_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}\Z")
QUARANTINE_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d\Z")
AWS_INTERNAL = "AWS Internal"  # CloudTrail's caller, source IP and user agent for AWS's own calls
AWS_SERVICE_RE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com\Z")


def _field(data: Mapping[str, Any], key: str) -> str | None:
    """A string field of the input (None when absent, empty or null)."""
    value = data.get(key)
    if value is None or value in ("", "null"):
        return None
    return value if isinstance(value, str) else str(value)


def quarantine_caller(data: Mapping[str, Any]) -> tuple[bool, str]:
    """Was the attach AWS's own? (True, who) or (False, why not).

    AWS attaches its quarantine policy as itself: no principal ARN, and either no identity type with
    ``invokedBy`` and ``sourceIPAddress`` ``AWS Internal``, or an ``AWSService`` identity. Any IAM user,
    role session or root call carries an ARN: someone with ``iam:AttachUserPolicy`` can attach the
    policy to anyone, and that must not disable their keys.
    """
    identity = data.get("userIdentity")
    if identity is None:
        identity = {}
    if not isinstance(identity, Mapping):
        raise InvalidInput("quarantine-policy input: userIdentity must be the CloudTrail userIdentity object")
    caller_type, caller_arn = _field(identity, "type"), _field(identity, "arn")
    invoked_by, source_ip = _field(identity, "invokedBy"), _field(data, "sourceIPAddress")
    if caller_arn:
        kind = f"{fields.short(caller_type, 40)} " if caller_type else ""
        return (
            False,
            f"attached by {kind}{fields.short(caller_arn, 200)}, a principal of an account, not by AWS",
        )
    if caller_type is None and invoked_by == AWS_INTERNAL and source_ip == AWS_INTERNAL:
        return True, "AWS"
    # Some AWS-internal calls are logged with an ``AWSAccount`` identity (an AWS-owned account, no
    # ARN); ``invokedBy`` is written by CloudTrail, never by the caller, so it still tells AWS apart.
    if caller_type == "AWSAccount" and invoked_by == AWS_INTERNAL:
        return True, "AWS"
    if caller_type == "AWSService" and invoked_by and AWS_SERVICE_RE.match(invoked_by):
        return True, invoked_by
    seen = ", ".join(
        f"{k}={fields.short(v, 60)!r}"
        for k, v in (("type", caller_type), ("invokedBy", invoked_by), ("sourceIPAddress", source_ip))
        if v
    )
    return False, f"the attach does not show AWS as its caller ({seen or 'no caller recorded'})"


def _quarantine(data: Mapping[str, Any], settings: Settings, *, now: datetime) -> Incident:
    """AWS attached its compromised-key quarantine policy to a user: AWS found one of its keys in public.

    The event names the user, not the key: the Triage step resolves the user's active key (one active
    key: contain it; several: a human picks, from the AWS Health notice that names it). Only AWS's own
    attach is a signal: any other caller is notify-only, with who it was.
    """
    unknown = sorted(str(k) for k in data if k not in QUARANTINE_KEYS)
    if unknown:
        raise InvalidInput(
            f"quarantine-policy input has unknown keys: {', '.join(fields.short(k, 40) for k in unknown)}"
        )
    user, policy, event_id = data.get("userName"), data.get("policyArn"), data.get("eventId")
    if not isinstance(user, str) or not USER_NAME_RE.match(user):
        raise InvalidInput("quarantine-policy input needs userName, an IAM user name")
    if not isinstance(policy, str) or not QUARANTINE_POLICY_RE.match(policy):
        raise InvalidInput("quarantine-policy input needs policyArn of an AWSCompromisedKeyQuarantine policy")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
        raise InvalidInput("quarantine-policy input needs the CloudTrail eventId")
    account = fields.account(data.get("accountId"), "accountId")
    region = data.get("region")
    event_time = data.get("eventTime")
    name = policy.rsplit("/", 1)[-1]
    by_aws, who = quarantine_caller(data)
    if by_aws:
        decision = Decision(
            action="contain", reason=f"AWS attached {name} to {user}: one of its keys was found in public"
        )
    else:
        decision = Decision(
            action="notify_only",
            reason=f"{name} on {user} was {who}: not AWS's quarantine signal, so no key is disabled; "
            "find out who attached it and why",
        )
    return Incident(
        incident_id=incident_id("quarantine", account, event_id),
        source="quarantine-policy",
        finding=None,
        access_key_id=None,
        principal=Principal(type="IAMUser", user_name=user),
        account_id=account,
        region=region if isinstance(region, str) and QUARANTINE_REGION_RE.match(region) else None,
        lookback_days=_lookback(None, settings),
        event_time=fields.iso_time(event_time) or iso(now),
        decision=decision,
        quarantine_policy=policy,
    )


def _eradication(
    values: Mapping[str, Any],
    key_id: str,
    account: str,
    settings: Settings,
    *,
    now: datetime,
    note: str,
    dry_run: bool,
) -> Incident:
    """An eradication run: delete what an earlier run contained, only with a human's approval of the plan."""
    incident = values.get("incident_id")
    if not isinstance(incident, str) or not INCIDENT_ID_RE.match(incident):
        raise InvalidInput(
            "eradicate needs incidentId of the incident whose rogue resources are deleted (inc-...)"
        )
    reason = f"eradication of the rogue resources of {incident} requested: deleting needs a human's approval"
    return Incident(
        incident_id=incident,
        source="manual",
        finding=None,
        access_key_id=key_id,
        principal=Principal(),
        account_id=account,
        lookback_days=_lookback(values.get("lookback_days"), settings),
        event_time=iso(now),
        decision=Decision(action="await_approval", reason=f"{reason}: {note}" if note else reason),
        dry_run=dry_run,
        mode="eradicate",
        requested_reason=note or None,
    )


# ----------------------------------------------------------------------------- field validation


def _lookback(value: Any, settings: Settings) -> int:
    if value is None:
        value = settings.lookback_days
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("lookbackDays must be a whole number of days")
    if not 1 <= value <= settings.max_lookback_days:
        raise InvalidInput(f"lookbackDays must be between 1 and {settings.max_lookback_days}, not {value}")
    return value


def _access_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and KEY_OR_SAMPLE_RE.fullmatch(value):
        return value
    raise InvalidInput("the finding's accessKeyId is not an AKIA/ASIA access key id")


def _finding_type(value: str) -> str:
    if not FINDING_TYPE_RE.match(value):
        raise InvalidInput(f"finding type {fields.short(value, 60)!r} is not ThreatPurpose:Resource/Family")
    return value


def _asff_type(types: Any) -> str:
    for entry in fields.items(types):
        if isinstance(entry, str):
            m = ASFF_TYPE_RE.match(entry.rsplit("/", 1)[-1])
            if m:
                return f"{m.group('head')}/{m.group('family')}"
    raise InvalidInput("Security Hub finding has no GuardDuty type in 'Types'")


def _severity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("finding severity must be a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidInput("finding severity must be a number") from exc
    if not math.isfinite(number) or not 0 <= number <= 10:
        raise InvalidInput("finding severity must be between 0 and 10")
    return number


def _asff_severity(severity: Any) -> float:
    sev = fields.obj(severity)
    if sev.get("Product") is not None:
        return _severity(sev["Product"])
    if sev.get("Normalized") is not None:
        return _severity(_severity_number(sev["Normalized"]) / 10)
    label = str(sev.get("Label", "")).upper()
    if label in ASFF_SEVERITY_LABELS:
        return ASFF_SEVERITY_LABELS[label]
    raise InvalidInput("Security Hub finding has no usable Severity")


def _severity_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("Severity.Normalized must be a number")
    return float(value)


def _buckets(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str) or not BUCKET_RE.fullmatch(value):
            raise InvalidInput(f"bucket name {fields.short(str(value), 70)!r} is not a valid S3 bucket name")
        if value not in out:
            out.append(value)
    return out


def _names(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str) and value and value not in out:
            out.append(fields.short(value, 128))
    return out


def _sample(key: str | None, additional: Mapping[str, Any]) -> bool:
    flag = additional.get("sample")
    return bool(key and key.startswith(SAMPLE_PREFIX)) or flag is True or str(flag).lower() == "true"


def _additional_info(value: Any) -> Mapping[str, Any]:
    """``service.additionalInfo``: an object, or (GetFindings, Security Hub) ``{"Value": "<json>"}``/JSON."""
    info: dict[str, Any] = dict(value) if isinstance(value, Mapping) else {}
    embedded = info.get("value") if isinstance(value, Mapping) else value
    if isinstance(embedded, str):
        try:
            decoded = json.loads(embedded)
        except (json.JSONDecodeError, RecursionError):
            decoded = None
        if isinstance(decoded, Mapping):
            info = {**info, **decoded}
    return info


def _walk_values(root: Any, keys: tuple[str, ...]) -> Iterator[Any]:
    """Values under one of ``keys`` anywhere below ``root``, in document order.

    ``local...`` subtrees (``localIpDetails``: the instance's own address) are not remote and skipped.
    """
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            children = []
            for k, v in item.items():
                if k in keys:
                    yield v
                elif not (isinstance(k, str) and k.lower().startswith("local")):
                    children.append(v)
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _camel(value: Any) -> Any:
    """PascalCase keys (GetFindings API/CLI form) to the camelCase of EventBridge findings."""
    if isinstance(value, Mapping):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


# --------------------------------------------------------------------------- the fast path


class FastContainment(BaseModel):
    """What the first Lambda did before anything else: the key Inactive, or why not yet.

    ``status``: ``done`` / ``already_done`` (contained, exactly once), ``needs_approval`` (the
    user is protected by tag), ``deferred`` (the finding does not name a user that holds the
    key here: the Validate state finds out whether it is foreign, deleted or a role's), or
    ``not_attempted`` (the decision is not to contain now; with ``owner`` when a human will be asked
    and IAM confirmed who holds the key: :func:`contain_now` with ``ask_first``).
    """

    status: str
    reason: str
    owner: Owner | None = None
    actions: list[Action] = Field(default_factory=list)


def confirm_owner(
    iam: Any,
    incident: Incident,
    *,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...] = (),
) -> tuple[Owner, str] | FastContainment:
    """The user IAM shows holding the exposed key, with its owner, protection and the key's status.

    ListUserTags (owner, protection), ListAccessKeys (the key is this user's, here, and its status
    before: that is what makes the finding's user name the real owner) and, with
    ``protected_principals`` configured, GetUser (the user's id and ARN, so that every kind of entry
    is compared with the real user). A ``deferred`` FastContainment when the finding names no user
    that holds the key here: the Validate state finds out whether it is foreign, deleted or a role's.
    """
    key, user = incident.access_key_id, incident.principal.user_name
    if (
        not key
        or not key.startswith("AKIA")
        or not user
        or (incident.principal.type or "IAMUser") != "IAMUser"
    ):
        return FastContainment(
            status="deferred", reason="not an IAM user's long-term key named in the finding"
        )
    try:
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user).get("Tags", [])}
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}; nothing changed yet") from exc
        if error_code(exc) == "NoSuchEntity":
            return FastContainment(status="deferred", reason=f"no user {user} here")
        raise
    before = next((k["Status"] for k in keys if k["AccessKeyId"] == key), None)
    if before is None:
        # The finding's user does not hold the key: Validate finds the real owner (and its protection).
        return FastContainment(status="deferred", reason=f"{key} is not a key of {user} here")
    owner_tag = next((k for k in owner_tag_keys if tags.get(k)), None)
    user_id = user_arn = None
    if protected_principals:
        try:
            live = iam.get_user(UserName=user)["User"]
        except ClientError as exc:
            if error_code(exc) in THROTTLING_CODES:
                raise Throttled(f"IAM throttled GetUser {user}; nothing changed yet") from exc
            raise
        user_id, user_arn = live.get("UserId"), live.get("Arn")
    why = protection(
        tags,
        protected_tag,
        protected_principals,
        kind="user",
        name=user,
        principal_id=user_id,
        arn=user_arn,
    )
    owner = Owner(
        access_key_id=key,
        account_id=incident.account_id,
        user_name=user,
        owner=tags.get(owner_tag) if owner_tag else None,
        owner_tag=owner_tag,
        tags=tags,
        principal_id=user_id,
        principal_arn=user_arn,
        protected=why is not None,
        protected_by=why,
    )
    return owner, str(before)


def contain_now(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    *,
    execution_id: str,
    owner_tag_keys: tuple[str, ...],
    protected_tag: str,
    protected_principals: tuple[str, ...] = (),
    stale_after_seconds: int = CLAIM_STALE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    ask_first: bool = False,
) -> FastContainment:
    """Disable the exposed IAM user key in at most four API calls, before any investigation.

    :func:`confirm_owner` (ListUserTags, ListAccessKeys), a conditional PutItem (exactly once per
    key), UpdateAccessKey. The record of the change and the read-back are made after the key is
    Inactive, off the critical path.

    ``ask_first`` (a human decides): the owner is confirmed and nothing changes (``not_attempted``
    with the owner), so that a yes goes straight to Disable (one Lambda, three calls) instead of
    through Validate.
    """
    found = confirm_owner(
        iam,
        incident,
        owner_tag_keys=owner_tag_keys,
        protected_tag=protected_tag,
        protected_principals=protected_principals,
    )
    if isinstance(found, FastContainment):
        return found
    owner, before = found
    if ask_first:
        return FastContainment(
            status="not_attempted",
            reason=f"a human decides; IAM shows {owner.access_key_id} is {owner.user_name}'s ({before})",
            owner=owner,
        )
    if owner.protected:
        return FastContainment(
            status="needs_approval",
            reason=f"{owner.user_name} is protected ({owner.protected_by}): a human decides",
            owner=owner,
        )
    actions = disable_claimed(
        iam,
        ddb,
        table,
        incident,
        owner,
        before,
        execution_id=execution_id,
        stale_after_seconds=stale_after_seconds,
        sleep=sleep,
    )
    return FastContainment(
        status=actions[0].status, reason=actions[0].detail or "", owner=owner, actions=actions
    )


def name_key_user(iam: Any, incident: Incident) -> Incident:
    """For an analyst's run (its input names the key only): the user IAM says holds the key, so the
    first Lambda contains it like a finding's (:func:`contain_now`) instead of three Lambdas later.

    One call, GetAccessKeyLastUsed, whose UserName is the live account's word (never the input's).
    contain_now's ListAccessKeys then confirms the key is that user's here before anything changes.
    Any answer but a user name (a foreign or deleted key, a denied call) leaves the incident as it
    was: the Validate state finds out which, with its named errors.
    """
    key = incident.access_key_id
    if (
        # An analyst's input, or AWS Health's exposed-key event: both name the key only.
        incident.source not in ("manual", "detection-rule")
        or incident.dry_run  # the long way: Validate and Disable say what they would do, and why
        or incident.decision.action != "contain"
        or not key
        or not key.startswith("AKIA")
        or incident.principal.user_name
    ):
        return incident
    return _named_by_iam(iam, incident)


def resolve_quarantined_key(iam: Any, incident: Incident) -> Incident:
    """For AWS's quarantine signal (it names the user): the key to contain, when there is one.

    One Active key: that is the exposed one, contain it. Several: the AWS Health notice names the key
    and a human starts the run for it. None: nothing left to disable.
    """
    user = incident.principal.user_name
    if incident.source != "quarantine-policy" or incident.access_key_id or not user:
        return incident
    if incident.decision.action != "contain":
        # Triage found the attach was not AWS's own: anyone with iam:AttachUserPolicy could have made it.
        return incident
    try:
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {user}'s keys") from exc
        if error_code(exc) == "NoSuchEntity":
            return incident.model_copy(
                update={"decision": Decision(action="notify_only", reason=f"{user} no longer exists")}
            )
        raise
    active = sorted(k["AccessKeyId"] for k in keys if k["Status"] == "Active")
    base = incident.decision.reason
    if len(active) == 1:
        decision = Decision(
            action="contain", reason=f"{base}; its only active key is {active[0]}: contain now"
        )
        return incident.model_copy(update={"access_key_id": active[0], "decision": decision})
    if not active:
        reason = f"{base}; it has no active key left: nothing to disable"
    else:
        reason = (
            f"{base}; it has {len(active)} active keys ({', '.join(active)}): the AWS Health notice names the "
            "exposed one; start the responder for it (`responder start --access-key KEY`)"
        )
    return incident.model_copy(update={"decision": Decision(action="notify_only", reason=reason)})


class ContainRules(TypedDict, total=False):
    """What :func:`contain_now` judges every key by: whose it is (owner tags), who is protected, how
    old a claim may be. The same for each key a run contains."""

    owner_tag_keys: tuple[str, ...]
    protected_tag: str
    protected_principals: tuple[str, ...]
    stale_after_seconds: int


def contain_related(
    iam: Any, ddb: Any, table: str, incident: Incident, *, execution_id: str, rules: ContainRules
) -> list[dict[str, Any]]:
    """The other keys of this account the signal names (an attack sequence's, a Health event's
    second key), each contained as the first one was: its user confirmed by IAM, exactly once per key.

    Only when the decision is to contain now, and never in a dry run. A key IAM does not show as a
    user's here (a role session's, another account's, deleted) is left as it is, with why; the
    report lists it. Returns one record per key: ``access_key_id``, ``user_name`` (IAM's),
    ``status`` and ``actions``.
    """
    related = (incident.model_extra or {}).get("related_keys") or []
    if incident.decision.action != "contain" or incident.dry_run or not related:
        return []
    out: list[dict[str, Any]] = []
    for entry in related:
        key = str(entry.get("access_key_id") or "")
        if not ACCESS_KEY_RE.match(key) or entry.get("account_id") not in (None, incident.account_id):
            continue
        one = incident.model_copy(
            update={
                "access_key_id": key,
                "principal": Principal(type="IAMUser", user_name=entry.get("user_name"))
                if entry.get("user_name")
                else Principal(),
            }
        )
        if not one.principal.user_name and key.startswith("AKIA"):
            one = _named_by_iam(iam, one)
        fast = contain_now(iam, ddb, table, one, execution_id=execution_id, **rules)
        actions = fast.actions or [
            Action.now("disable_access_key", key, "skipped", f"{fast.status}: {fast.reason}")
        ]
        out.append(
            {
                "access_key_id": key,
                "user_name": fast.owner.user_name if fast.owner else None,
                "status": fast.status,
                "actions": [a.model_dump(mode="json") for a in actions],
            }
        )
    return out


def _named_by_iam(iam: Any, incident: Incident) -> Incident:
    """The incident with the user IAM says holds its key (GetAccessKeyLastUsed), else as it was."""
    try:
        user = iam.get_access_key_last_used(AccessKeyId=incident.access_key_id).get("UserName")
    except ClientError as exc:
        if error_code(exc) in THROTTLING_CODES:
            raise Throttled(f"IAM throttled the lookup of {incident.access_key_id}'s user") from exc
        return incident
    if not isinstance(user, str) or not USER_NAME_RE.match(user):
        return incident
    return incident.model_copy(update={"principal": Principal(type="IAMUser", user_name=user)})


def follow_up(
    iam: Any,
    ddb: Any,
    table: str,
    incident: Incident,
    fast: FastContainment,
    *,
    execution_id: str,
    rules: ContainRules,
) -> tuple[list[dict[str, Any]], Sighting | None]:
    """What Triage does once the first key is handled, off containment's critical path: the signal's
    other keys contained (:func:`contain_related`), then this delivery recorded on the incident
    (:func:`responder.sightings.record_sighting`). Their actions join ``fast.actions``."""
    related = contain_related(iam, ddb, table, incident, execution_id=execution_id, rules=rules)
    fast.actions += [Action.model_validate(a) for r in related for a in r["actions"]]
    contained_now = any(a.action == "disable_access_key" and a.status == "done" for a in fast.actions)
    sighting = record_sighting(ddb, table, incident, execution_id=execution_id, contained_now=contained_now)
    if sighting is not None and sighting.status != "first":
        target = incident.finding.id if incident.finding else incident.incident_id
        fast.actions.append(Action.now("record_finding_update", target, "done", sighting.reason))
    return related, sighting
