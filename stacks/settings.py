"""Deployment settings: ``cdk.json`` context (or ``cdk synth -c key=value``) into one validated object.

Every key lives under the ``responder:`` prefix. A wrong value fails synth with a message that names
the key. Values given with ``-c`` arrive as strings: numbers are parsed, and lists may be written as
a JSON array or as comma-separated text.

``responder:queryEngine``            ``lake`` (CloudTrail Lake, default) or ``athena`` (the S3 trail).
``responder:lakeEventDataStore``     event data store ARN or id; required with ``lake``.
``responder:cloudTrailBucket``       name of the S3 bucket the trail writes to; required with ``athena``.
``responder:findingTypePrefixes``    GuardDuty ``detail.type`` prefixes that start the workflow;
                                     default: the IAM-credential and S3 families and their attack
                                     sequences (:data:`DEFAULT_FINDING_TYPE_PREFIXES`).
``responder:minSeverity``            lowest GuardDuty severity that starts the workflow (0-10; 4).
``responder:containMinSeverity``     lowest severity at which the key is disabled (0-10; 7); below it
                                     the responder investigates without containing.
``responder:socEmails``              email addresses subscribed to the SOC topic (default none).
``responder:evidenceRetentionDays``  Object Lock default retention of evidence, in days (365).
``responder:evidenceRetentionMode``  ``GOVERNANCE`` (default: removable with a special permission)
                                     or ``COMPLIANCE`` (nobody, root included, can shorten it).
``responder:lookbackDays``           CloudTrail window before the finding, in days (7).
``responder:maxLookbackDays``        largest window a manual run may ask for, in days (3650).
``responder:protectedPrincipals``    IAM user names or ARNs never contained automatically.
``responder:protectedTag``           IAM user tag that marks a user as never contained
                                     (``responder:protected``).
``responder:ownerTagKeys``           IAM user tag keys that name the key's owner
                                     (``owner``, ``custodian``, ``Owner``, ``Custodian``).
``responder:pollSeconds``            wait between CloudTrail query status polls (5; 1-300).
``responder:logRetentionDays``       retention of the functions' and workflow's logs (365); one of
                                     CloudWatch Logs' allowed values.

With ``athena`` only (ignored with ``lake``), the Glue table over the trail and the workgroup:

``responder:athenaProjectionStart``  first day of the ``timestamp`` partition projection,
                                     ``yyyy/MM/dd`` (``2020/01/01``); the range runs to ``NOW``.
``responder:trailRegions``           regions the trail logs (the ``region`` partition's values);
                                     default every commercial region (:data:`COMMERCIAL_REGIONS`).
``responder:trailAccounts``          account ids whose logs the trail bucket holds (the ``account``
                                     partition's values); default the deploying account.
``responder:organizationId``         the organization id (``o-...``) of an organization trail, whose
                                     logs sit under ``AWSLogs/<org-id>/<account>/``; default none.
``responder:cloudTrailKmsKeyArn``    the KMS key ARN the trail encrypts its logs with (SSE-KMS); the
                                     query roles get ``kms:Decrypt`` on it. Default none (SSE-S3).
``responder:athenaBytesScannedCutoff``  most bytes one query may scan before Athena cancels it
                                     (107374182400, 100 GiB; at least 10000000).
``responder:athenaResultsRetentionDays``  days before Athena's result files expire (30).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

PREFIX = "responder:"

# GuardDuty finding types are ThreatPurpose:ResourceTypeAffected/ThreatFamilyName. The responder acts
# on findings about IAM credentials and about S3 (what a stolen key is used for), and on the attack
# sequences built from them.
DEFAULT_FINDING_TYPE_PREFIXES: tuple[str, ...] = (
    "CredentialAccess:IAMUser/",
    "DefenseEvasion:IAMUser/",
    "Discovery:IAMUser/",
    "Exfiltration:IAMUser/",
    "Impact:IAMUser/",
    "InitialAccess:IAMUser/",
    "Persistence:IAMUser/",
    "PenTest:IAMUser/",
    "Policy:IAMUser/",
    "PrivilegeEscalation:IAMUser/",
    "Recon:IAMUser/",
    "Stealth:IAMUser/",
    "UnauthorizedAccess:IAMUser/",
    "Discovery:S3/",
    "Exfiltration:S3/",
    "Impact:S3/",
    "PenTest:S3/",
    "Policy:S3/",
    "Stealth:S3/",
    "UnauthorizedAccess:S3/",
    "AttackSequence:IAM/",
    "AttackSequence:S3/",
)

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_BUCKET = re.compile(r"^(?!xn--)(?!sthree-)(?!.*-s3alias$)(?!.*--ol-s3$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EDS_ARN = re.compile(r"^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/[A-Za-z0-9-]{1,128}$")
_EDS_ID = re.compile(r"^[A-Za-z0-9-]{1,128}$")
_FINDING_PREFIX = re.compile(r"^[A-Za-z0-9]+(:[A-Za-z0-9]*(/[A-Za-z0-9!._:-]*)?)?$")
_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")
_DAY = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_PRINCIPAL = re.compile(r"^(arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+|[\w+=,.@-]{1,64})$")


# Every commercial (``aws`` partition) region as of botocore 1.44: the trail's ``region`` partition values.
# A region missing here is silently absent from every Athena query, so keep it current (or set the key).
COMMERCIAL_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    "af-south-1",
    "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    "ca-central-1", "ca-west-1",
    "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1", "me-south-1",
    "mx-central-1",
    "sa-east-1",
)  # fmt: skip
ATHENA_MIN_BYTES_SCANNED_CUTOFF = 10_000_000  # Athena's own lower bound (10 MB)


class SettingsError(ValueError):
    """A context value is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class StackSettings:
    """Everything the stack reads from context, validated."""

    query_engine: Literal["lake", "athena"] = "lake"
    lake_event_data_store: str = ""
    cloudtrail_bucket: str = ""
    finding_type_prefixes: tuple[str, ...] = DEFAULT_FINDING_TYPE_PREFIXES
    min_severity: float = 4.0
    contain_min_severity: float = 7.0
    soc_emails: tuple[str, ...] = ()
    evidence_retention_days: int = 365
    evidence_retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    lookback_days: int = 7
    max_lookback_days: int = 3650
    protected_principals: tuple[str, ...] = ()
    protected_tag: str = "responder:protected"
    owner_tag_keys: tuple[str, ...] = ("owner", "custodian", "Owner", "Custodian")
    poll_seconds: int = 5
    log_retention_days: int = 365
    athena_projection_start: str = "2020/01/01"
    trail_regions: tuple[str, ...] = COMMERCIAL_REGIONS
    trail_accounts: tuple[str, ...] = ()  # empty: the deploying account
    organization_id: str = ""
    cloudtrail_kms_key_arn: str = ""
    athena_bytes_scanned_cutoff: int = 100 * 1024**3
    athena_results_retention_days: int = 30

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackSettings:
        """Read and validate every ``responder:*`` key; ``get`` is ``node.try_get_context``."""
        return cls.from_mapping({key: value for key in _KEYS if (value := get(PREFIX + key)) is not None})

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> StackSettings:
        """Validate a mapping of context keys (without the ``responder:`` prefix)."""
        unknown = sorted(set(context) - set(_KEYS))
        if unknown:
            raise SettingsError(f"unknown context key(s): {', '.join(PREFIX + k for k in unknown)}")
        defaults = cls()
        c = _Reader(context)
        engine = c.choice("queryEngine", ("lake", "athena"), defaults.query_engine)
        store = c.text("lakeEventDataStore", "")
        bucket = c.text("cloudTrailBucket", "")
        if engine == "lake":
            if not store:
                raise SettingsError(
                    f"{PREFIX}lakeEventDataStore is required when {PREFIX}queryEngine is 'lake': "
                    "the ARN or id of the CloudTrail Lake event data store to query"
                )
            if not (_EDS_ARN.match(store) or _EDS_ID.match(store)):
                raise SettingsError(
                    f"{PREFIX}lakeEventDataStore must be an event data store ARN "
                    f"(arn:aws:cloudtrail:REGION:ACCOUNT:eventdatastore/ID) or id, not {store!r}"
                )
        if engine == "athena" and not bucket:
            raise SettingsError(
                f"{PREFIX}cloudTrailBucket is required when {PREFIX}queryEngine is 'athena': "
                "the name of the S3 bucket the trail writes to"
            )
        if bucket and not _BUCKET.match(bucket):
            raise SettingsError(f"{PREFIX}cloudTrailBucket must be an S3 bucket name, not {bucket!r}")

        min_severity = c.number("minSeverity", defaults.min_severity, low=0, high=10)
        lookback = c.integer("lookbackDays", defaults.lookback_days, low=1)
        max_lookback = c.integer("maxLookbackDays", defaults.max_lookback_days, low=1)
        if max_lookback < lookback:
            raise SettingsError(
                f"{PREFIX}maxLookbackDays ({max_lookback}) must be at least {PREFIX}lookbackDays ({lookback})"
            )
        retention_logs = c.integer("logRetentionDays", defaults.log_retention_days, low=1)
        if retention_logs not in LOG_RETENTION_DAYS:
            raise SettingsError(
                f"{PREFIX}logRetentionDays must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}, "
                f"not {retention_logs}"
            )
        projection_start = c.matching(
            "athenaProjectionStart", defaults.athena_projection_start, _DAY, "a day as yyyy/MM/dd"
        )
        try:
            datetime.strptime(projection_start, "%Y/%m/%d")
        except ValueError:
            raise SettingsError(
                f"{PREFIX}athenaProjectionStart must be a real day as yyyy/MM/dd, not {projection_start!r}"
            ) from None
        organization = c.text("organizationId", "")
        if organization and not _ORGANIZATION.match(organization):
            raise SettingsError(
                f"{PREFIX}organizationId must be an organization id (o-...), not {organization!r}"
            )
        trail_key = c.text("cloudTrailKmsKeyArn", "")
        if trail_key and not _KMS_KEY_ARN.match(trail_key):
            raise SettingsError(
                f"{PREFIX}cloudTrailKmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; "
                f"not an alias), not {trail_key!r}"
            )
        return cls(
            query_engine=engine,  # type: ignore[arg-type]
            lake_event_data_store=store,
            cloudtrail_bucket=bucket,
            finding_type_prefixes=c.strings(
                "findingTypePrefixes",
                defaults.finding_type_prefixes,
                _FINDING_PREFIX,
                "a GuardDuty finding type prefix",
                min_items=1,
            ),
            min_severity=min_severity,
            contain_min_severity=c.number(
                "containMinSeverity", defaults.contain_min_severity, low=0, high=10
            ),
            soc_emails=c.strings("socEmails", (), _EMAIL, "an email address"),
            # Object Lock retention in days must be between 1 and 36500 (100 years).
            evidence_retention_days=c.integer(
                "evidenceRetentionDays", defaults.evidence_retention_days, 1, 36500
            ),
            evidence_retention_mode=c.choice(  # type: ignore[arg-type]
                "evidenceRetentionMode", ("GOVERNANCE", "COMPLIANCE"), defaults.evidence_retention_mode
            ),
            lookback_days=lookback,
            max_lookback_days=max_lookback,
            protected_principals=c.strings(
                "protectedPrincipals", (), _PRINCIPAL, "an IAM user name or IAM/STS ARN"
            ),
            protected_tag=c.matching("protectedTag", defaults.protected_tag, _TAG_KEY, "a tag key"),
            owner_tag_keys=c.strings(
                "ownerTagKeys", defaults.owner_tag_keys, _TAG_KEY, "a tag key", min_items=1
            ),
            poll_seconds=c.integer("pollSeconds", defaults.poll_seconds, low=1, high=300),
            log_retention_days=retention_logs,
            athena_projection_start=projection_start,
            trail_regions=c.strings(
                "trailRegions", defaults.trail_regions, _REGION, "an AWS region name", min_items=1
            ),
            trail_accounts=c.strings("trailAccounts", (), _ACCOUNT, "a 12-digit account id"),
            organization_id=organization,
            cloudtrail_kms_key_arn=trail_key,
            athena_bytes_scanned_cutoff=c.integer(
                "athenaBytesScannedCutoff",
                defaults.athena_bytes_scanned_cutoff,
                ATHENA_MIN_BYTES_SCANNED_CUTOFF,
            ),
            athena_results_retention_days=c.integer(
                "athenaResultsRetentionDays", defaults.athena_results_retention_days, 1, 3650
            ),
        )

    @property
    def lake_event_data_store_id(self) -> str:
        """The event data store's id: the last segment of its ARN, or the value itself."""
        return self.lake_event_data_store.rsplit("/", 1)[-1]


_KEYS = (
    "queryEngine",
    "lakeEventDataStore",
    "cloudTrailBucket",
    "findingTypePrefixes",
    "minSeverity",
    "containMinSeverity",
    "socEmails",
    "evidenceRetentionDays",
    "evidenceRetentionMode",
    "lookbackDays",
    "maxLookbackDays",
    "protectedPrincipals",
    "protectedTag",
    "ownerTagKeys",
    "pollSeconds",
    "logRetentionDays",
    "athenaProjectionStart",
    "trailRegions",
    "trailAccounts",
    "organizationId",
    "cloudTrailKmsKeyArn",
    "athenaBytesScannedCutoff",
    "athenaResultsRetentionDays",
)


class _Reader:
    """Typed access to context values; every failure names the full key."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context

    def _fail(self, key: str, expected: str, value: Any) -> SettingsError:
        return SettingsError(f"{PREFIX}{key} must be {expected}, not {value!r}")

    def text(self, key: str, default: str) -> str:
        value = self._context.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value.strip()

    def matching(self, key: str, default: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.text(key, default)
        if not pattern.match(value):
            raise self._fail(key, what, value)
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self._context.get(key, default)
        if value not in allowed:
            raise self._fail(key, " or ".join(repr(a) for a in allowed), value)
        return str(value)

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._context.get(key, default)
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise self._fail(key, f"a number from {low:g} to {high:g}", value) from None
        if not low <= number <= high:
            raise self._fail(key, f"a number from {low:g} to {high:g}", value)
        return number

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self._context.get(key, default)
        expected = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            number = int(value)
        except (TypeError, ValueError):
            raise self._fail(key, expected, value) from None
        if number < low or (high is not None and number > high):
            raise self._fail(key, expected, value)
        return number

    def strings(
        self,
        key: str,
        default: tuple[str, ...],
        pattern: re.Pattern[str],
        what: str,
        min_items: int = 0,
    ) -> tuple[str, ...]:
        value = self._context.get(key, default)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise self._fail(key, "a JSON list of strings", value) from None
            else:
                value = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, f"a list of strings, each {what}", value)
        items = tuple(v.strip() for v in value)
        for item in items:
            if not pattern.match(item):
                raise SettingsError(f"{PREFIX}{key}: {item!r} is not {what}")
        if len(items) < min_items:
            raise self._fail(key, f"a list of at least {min_items} item(s), each {what}", value)
        if len(set(items)) != len(items):
            raise self._fail(key, "a list without duplicates", value)
        return items
