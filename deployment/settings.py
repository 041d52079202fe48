"""Deployment settings: ``cdk.json`` context (or ``cdk synth -c key=value``) into one validated object.

Every key lives under the ``responder:`` prefix and is described once, in :data:`KEYS` (its type,
default, meaning and the environment variables it feeds); ``python -m deployment.settings --markdown``
renders that table as docs/configuration.md, and a test keeps the two equal. A wrong value fails
synth with a message that names the key. Values given with ``-c`` arrive as strings: numbers are
parsed, and lists may be written as a JSON array or as comma-separated text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from responder.query import ENGINE_SPECS

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
_IDENTITY_POOL = re.compile(
    r"^[a-z]{2}(-[a-z]+)+-\d:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
# An OIDC subject prefix the account's own apps use (``repo:acme-corp/``): a prefix, never a pattern.
_OIDC_SUBJECT = re.compile(r"^[^\s,*?]{3,256}$")
_ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
# A StackSet's deployment target: an organizational unit, or the organization's root (every account).
_ORGANIZATIONAL_UNIT = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
# Who may assume the hub's human roles: exact IAM role or user ARNs, never a wildcard.
_OPERATOR = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")
_DAY = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_LOG_GROUP = re.compile(r"^[\w#./-]{1,512}$")
_LOG_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[\w#./-]{1,512}(:\*)?$")
#: ``responder:queryEngine``'s choices: the engines of responder.query but the local one (DuckDB).
ENGINE_CHOICES: tuple[str, ...] = tuple(n for n, spec in ENGINE_SPECS.items() if spec.log_files != "local")
# An allow-listed principal (detections): an exact IAM/STS ARN or a role name; EventBridge matches
# these exactly, so there is no wildcard to write.
_ALLOWED_PRINCIPAL = re.compile(r"^(arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+|[\w+=,.@-]{1,64})$")
_PRINCIPAL = re.compile(r"^(arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+|[\w+=,.@-]{1,64})$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
# IAM reads * and ? in a resource as wildcards and ${...} as a policy variable: an object key with
# them would grant more than the one object. Control characters and a trailing / name no object.
_SAFE_OBJECT_KEY = re.compile(r"^[^*?$\x00-\x1f\x7f]*[^*?$/\x00-\x1f\x7f]$")
# A secret's complete ARN ends with the six characters Secrets Manager appends to its name; IAM
# matches a policy resource against that complete ARN, so a partial one would grant nothing.
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}-[A-Za-z0-9]{6}$"
)


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

    query_engine: Literal["lake", "athena", "securitylake", "cloudwatch"] = "lake"
    lake_event_data_store: str = ""
    cloudtrail_bucket: str = ""
    security_lake_region: str = ""
    security_lake_database: str = ""  # empty: Security Lake's own name for the region
    security_lake_s3_data: bool = True
    security_lake_regions: tuple[str, ...] = ()  # empty: every region the tables hold
    security_lake_lake_formation_grants: bool = True
    cloudwatch_log_group: str = ""
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
    approval_timeout_seconds: int = 3600
    approval_on_timeout: Literal["leave", "contain"] = "leave"
    max_auto_contain: int = 25
    trusted_identity_pools: tuple[str, ...] = ()
    trusted_oidc_subjects: tuple[str, ...] = ()
    threat_list_uri: str = ""
    chat_webhook_secret_arn: str = ""
    chat_webhook_kms_key_arn: str = ""
    ticket_webhook_secret_arn: str = ""
    ticket_webhook_kms_key_arn: str = ""
    security_hub_write_back: bool = True
    detections: bool = True
    detection_allow_list: tuple[str, ...] = ()
    quarantine_trigger: bool = True
    health_trigger: bool = True
    refresh_ip_sources: bool = True
    deployment: Literal["account", "organization"] = "account"
    member_organizational_units: tuple[str, ...] = ()
    hub_region: str = ""
    regions: tuple[str, ...] = ()  # besides the hub's: each gets a forwarder stack
    hub_account_id: str = ""  # the member stack's HubAccountId default, for a member deployed alone
    stack_set_call_as: Literal["DELEGATED_ADMIN", "SELF", "NONE"] = "DELEGATED_ADMIN"
    operator_principals: tuple[str, ...] = ()  # empty: the hub account (its IAM policies decide)

    @property
    def organization(self) -> bool:
        """Whether this is the organization deployment: a hub, member roles, forwarders."""
        return self.deployment == "organization"

    @property
    def forwarded_regions(self) -> tuple[str, ...]:
        """The regions that forward their findings to the hub's: every region but the hub's own."""
        return tuple(r for r in self.regions if r != self.hub_region)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackSettings:
        """Read and validate every ``responder:*`` key; ``get`` is ``node.try_get_context``."""
        return cls.from_mapping({k.name: v for k in KEYS if (v := get(PREFIX + k.name)) is not None})

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any]) -> StackSettings:
        """Validate a mapping of context keys (without the ``responder:`` prefix)."""
        unknown = sorted(set(context) - set(KEY_BY_NAME))
        if unknown:
            raise SettingsError(f"unknown context key(s): {', '.join(PREFIX + k for k in unknown)}")
        defaults = cls()
        c = _Reader(context)
        engine_fields = _query_engine(c, defaults)

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
        threat_list, webhook_secret, webhook_key = _integrations(c)
        ticket_secret, ticket_key = _secret_with_key(c, "ticketWebhookSecretArn", "ticketWebhookKmsKeyArn")
        return cls(
            **engine_fields,
            **_organization(c, defaults, organization),
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
            # The functions read the list as comma-separated text: a name with a comma would split
            # into two names and leave the real one unprotected.
            protected_principals=c.strings(
                "protectedPrincipals",
                (),
                _PRINCIPAL,
                "an IAM user name, principal id or IAM/STS ARN (without commas)",
                forbid=",",
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
            approval_timeout_seconds=c.integer(
                "approvalTimeoutSeconds", defaults.approval_timeout_seconds, 60, 604800
            ),
            approval_on_timeout=c.choice(  # type: ignore[arg-type]
                "approvalOnTimeout", ("leave", "contain"), defaults.approval_on_timeout
            ),
            max_auto_contain=c.integer("maxAutoContain", defaults.max_auto_contain, 0, 1000),
            trusted_identity_pools=c.strings(
                "trustedIdentityPools", (), _IDENTITY_POOL, "a Cognito identity pool id (REGION:UUID)"
            ),
            trusted_oidc_subjects=c.strings(
                "trustedOidcSubjects",
                (),
                _OIDC_SUBJECT,
                "an OIDC subject prefix such as repo:acme-corp/ (no spaces, commas or wildcards)",
            ),
            threat_list_uri=threat_list,
            chat_webhook_secret_arn=webhook_secret,
            chat_webhook_kms_key_arn=webhook_key,
            ticket_webhook_secret_arn=ticket_secret,
            ticket_webhook_kms_key_arn=ticket_key,
            security_hub_write_back=c.flag("securityHubWriteBack", defaults.security_hub_write_back),
            detections=c.flag("detections", defaults.detections),
            detection_allow_list=c.strings(
                "detectionAllowList", (), _ALLOWED_PRINCIPAL, "an IAM/STS ARN or a role name (no wildcards)"
            ),
            quarantine_trigger=c.flag("quarantineTrigger", defaults.quarantine_trigger),
            health_trigger=c.flag("healthTrigger", defaults.health_trigger),
            refresh_ip_sources=c.flag("refreshIpSources", defaults.refresh_ip_sources),
        )

    @property
    def lake_event_data_store_id(self) -> str:
        """The event data store's id: the last segment of its ARN, or the value itself."""
        return self.lake_event_data_store.rsplit("/", 1)[-1]

    @property
    def threat_list_bucket(self) -> str:
        """The threat list's bucket, or "" when none is configured."""
        uri = _S3_URI.match(self.threat_list_uri)
        return uri["bucket"] if uri else ""

    @property
    def threat_list_key(self) -> str:
        """The threat list's object key, or "" when none is configured."""
        uri = _S3_URI.match(self.threat_list_uri)
        return uri["key"] if uri else ""

    def function_environment(self) -> dict[str, str]:
        """The environment variables these settings give every step function (``responder.settings``
        reads them); an unset optional value is "" and the stack leaves it out. Each variable is listed
        in :data:`KEYS` against the key that feeds it."""
        return {
            "QUERY_ENGINE": self.query_engine,
            "LAKE_EVENT_DATA_STORE": self.lake_event_data_store_id if self.query_engine == "lake" else "",
            "CLOUDWATCH_LOG_GROUP": self.cloudwatch_log_group if self.query_engine == "cloudwatch" else "",
            "LOOKBACK_DAYS": str(self.lookback_days),
            "MAX_LOOKBACK_DAYS": str(self.max_lookback_days),
            "CONTAIN_MIN_SEVERITY": f"{self.contain_min_severity:g}",
            "OWNER_TAG_KEYS": ",".join(self.owner_tag_keys),
            "PROTECTED_PRINCIPALS": ",".join(self.protected_principals),
            "PROTECTED_TAG": self.protected_tag,
            "POLL_SECONDS": str(self.poll_seconds),
            "APPROVAL_TIMEOUT_SECONDS": str(self.approval_timeout_seconds),
            "APPROVAL_ON_TIMEOUT": self.approval_on_timeout,
            "MAX_AUTO_CONTAIN": str(self.max_auto_contain),
            "ORGANIZATION_ID": self.organization_id,
            "TRUSTED_IDENTITY_POOLS": ",".join(self.trusted_identity_pools),
            "TRUSTED_OIDC_SUBJECTS": ",".join(self.trusted_oidc_subjects),
            "THREAT_LIST_BUCKET": self.threat_list_bucket,
            "THREAT_LIST_KEY": self.threat_list_key,
            "WEBHOOK_SECRET_ID": self.chat_webhook_secret_arn,
            "TICKET_SECRET_ID": self.ticket_webhook_secret_arn,
            "SECURITYHUB_WRITE_BACK": "true" if self.security_hub_write_back else "",
            "IP_INTEL_REFRESH": "true" if self.refresh_ip_sources else "",
        }


@dataclass(frozen=True)
class ContextKey:
    """One ``responder:*`` context key, as docs/configuration.md describes it."""

    name: str  # without the prefix
    field: str  # the StackSettings field it sets
    kind: str  # its type, as written in cdk.json
    group: str
    description: str
    env: tuple[str, ...] = ()  # the step functions' environment variables it feeds
    default: str = ""  # shown instead of the field's own default, when that is too long to list

    @property
    def key(self) -> str:
        return PREFIX + self.name


LAKE_GROUP = "Query engine"
ATHENA_GROUP = "Athena (with `responder:queryEngine` = `athena`; ignored with `lake`)"
SECURITY_LAKE_GROUP = "Security Lake (with `responder:queryEngine` = `securitylake`)"
CLOUDWATCH_GROUP = "CloudWatch Logs (with `responder:queryEngine` = `cloudwatch`)"
DETECTION_GROUP = "Detection"
CONTAINMENT_GROUP = "Containment and approval"
INVESTIGATION_GROUP = "Investigation"
EVIDENCE_GROUP = "Evidence and logs"
NOTIFICATION_GROUP = "Notifications"
ORGANIZATION_GROUP = "Organization (with `responder:deployment` = `organization`; docs/organization.md)"

KEYS: tuple[ContextKey, ...] = (
    ContextKey(
        "queryEngine", "query_engine", "string", LAKE_GROUP,
        "`lake` (CloudTrail Lake, for teams that already have an event data store), `athena` (Athena "
        "over the trail's S3 bucket; the stack creates the Glue table, workgroup and results bucket), "
        "`securitylake` (Amazon Security Lake's CloudTrail tables, OCSF, through Athena) or `cloudwatch` "
        "(Logs Insights over the log group the trail delivers to). Which fits which setup: the table "
        "above.",
        ("QUERY_ENGINE",),
    ),
    ContextKey(
        "lakeEventDataStore", "lake_event_data_store", "string", LAKE_GROUP,
        "ARN or id of the CloudTrail Lake event data store to query; required with `lake`. cdk.json "
        "holds a placeholder id: replace it with yours (or choose `athena`).",
        ("LAKE_EVENT_DATA_STORE",),
    ),
    ContextKey(
        "cloudTrailBucket", "cloudtrail_bucket", "string", LAKE_GROUP,
        "Name of the S3 bucket the trail writes to; required with `athena`. The Glue table reads it and "
        "the query roles may read its objects.",
    ),
    ContextKey(
        "securityLakeRegion", "security_lake_region", "string", SECURITY_LAKE_GROUP,
        "Region of the Security Lake tables to query (the rollup region); required with `securitylake`. "
        "The responder deploys to this region (Athena reads the Glue catalog of its own region).",
    ),
    ContextKey(
        "securityLakeDatabase", "security_lake_database", "string", SECURITY_LAKE_GROUP,
        "Glue database holding the tables, when not Security Lake's own name "
        "(`amazon_security_lake_glue_db_<region>`), e.g. a resource link of a query subscriber.",
    ),
    ContextKey(
        "securityLakeS3DataEvents", "security_lake_s3_data", "boolean", SECURITY_LAKE_GROUP,
        "Query the S3 data events table (`..._s3_data_2_0`) beside the management events table; set "
        "`false` when Security Lake does not collect that source.",
        default="`true`",
    ),
    ContextKey(
        "securityLakeRegions", "security_lake_regions", "list of strings", SECURITY_LAKE_GROUP,
        "Restrict the tables' `region` partition to these regions (empty: every region they hold). The "
        "`accountid` partition is restricted to `responder:trailAccounts` (default: the deploying "
        "account) and `time_dt` to the window.",
    ),
    ContextKey(
        "securityLakeLakeFormationGrants", "security_lake_lake_formation_grants", "boolean",
        SECURITY_LAKE_GROUP,
        "Create the Lake Formation grants (DESCRIBE on the database, SELECT on the tables) for the query "
        "roles; the deploying role must be a Lake Formation data lake administrator. Set `false` when "
        "the Security Lake administrator grants them (the stack outputs nothing else to do).",
        default="`true`",
    ),
    ContextKey(
        "cloudWatchLogGroup", "cloudwatch_log_group", "string", CLOUDWATCH_GROUP,
        "Name or ARN of the CloudWatch Logs log group the trail delivers to; required with `cloudwatch`.",
        ("CLOUDWATCH_LOG_GROUP",),
    ),
    ContextKey(
        "organizationId", "organization_id", "string", ATHENA_GROUP,
        "Organization id (`o-...`) of an organization trail, whose logs sit under "
        "`AWSLogs/<org-id>/<account>/`. Remediation also counts a grant pinned to this organization "
        "(`aws:PrincipalOrgID`) as internal when the account cannot read its organization itself. "
        "Required with `responder:deployment` = `organization`: the member roles trust the hub's step "
        "roles under `aws:PrincipalOrgID` = this id, and the hub assumes only roles of this "
        "organization (`aws:ResourceOrgID`).",
        ("ORGANIZATION_ID",),
    ),
    ContextKey(
        "trailAccounts", "trail_accounts", "list of strings", ATHENA_GROUP,
        "12-digit ids of the accounts whose logs the trail bucket holds (the table's `account` "
        "partition values).",
        default="the deploying account",
    ),
    ContextKey(
        "trailRegions", "trail_regions", "list of strings", ATHENA_GROUP,
        "Regions the trail logs (the table's `region` partition values). A region missing here is "
        "silently absent from every query.",
        default="every commercial region (`COMMERCIAL_REGIONS`, listed below)",
    ),
    ContextKey(
        "cloudTrailKmsKeyArn", "cloudtrail_kms_key_arn", "string", ATHENA_GROUP,
        "ARN of the KMS key the trail encrypts its log files with (SSE-KMS; not an alias); the roles "
        "that read the trail bucket get `kms:Decrypt` on it. Leave empty for SSE-S3.",
    ),
    ContextKey(
        "athenaProjectionStart", "athena_projection_start", "string", ATHENA_GROUP,
        "First day of the table's `timestamp` partition projection, `yyyy/MM/dd`; the range runs to "
        "`NOW`.",
    ),
    ContextKey(
        "athenaBytesScannedCutoff", "athena_bytes_scanned_cutoff", "integer", ATHENA_GROUP,
        "Most bytes one query may scan before the workgroup cancels it (100 GiB; at least 10000000).",
    ),
    ContextKey(
        "athenaResultsRetentionDays", "athena_results_retention_days", "integer", ATHENA_GROUP,
        "Days before Athena's result files expire (1 to 3650).",
    ),
    ContextKey(
        "findingTypePrefixes", "finding_type_prefixes", "list of strings", DETECTION_GROUP,
        "GuardDuty finding `detail.type` prefixes that start the workflow (at least one).",
        default="the IAM-credential and S3 families and their attack sequences (listed below)",
    ),
    ContextKey(
        "minSeverity", "min_severity", "number", DETECTION_GROUP,
        "Lowest GuardDuty severity that starts the workflow (0 to 10).",
    ),
    ContextKey(
        "detections", "detections", "boolean", DETECTION_GROUP,
        "Alert the SOC topic on risky management events: access keys, users and console passwords "
        "created; bucket policies and ACLs changed; Block Public Access weakened or removed; CloudTrail "
        "stopped or deleted (stacks/constructs/detections.py). IAM events reach EventBridge in "
        "us-east-1 only.",
        default="`true`",
    ),
    ContextKey(
        "detectionAllowList", "detection_allow_list", "list of strings", DETECTION_GROUP,
        "Principals whose changes raise no detection alert (the deployment role...): exact IAM/STS "
        "ARNs (a role ARN covers its sessions, a user ARN its federation tokens) or role names. No "
        "wildcards or prefixes: EventBridge can exclude a list of exact values, but only one prefix.",
    ),
    ContextKey(
        "quarantineTrigger", "quarantine_trigger", "boolean", DETECTION_GROUP,
        "Start the responder when AWS attaches its `AWSCompromisedKeyQuarantine*` policy to a user (AWS "
        "found that user's key in public). Independent of `detections`.",
        default="`true`",
    ),
    ContextKey(
        "healthTrigger", "health_trigger", "boolean", DETECTION_GROUP,
        "Start the responder on AWS Health's `AWS_RISK_CREDENTIALS_EXPOSED` event (AWS found an access "
        "key of the account in public, often before GuardDuty sees it used): the key it names is "
        "contained and the report says where it was found. AWS Health delivers it in us-east-1.",
        default="`true`",
    ),
    ContextKey(
        "containMinSeverity", "contain_min_severity", "number", CONTAINMENT_GROUP,
        "Lowest severity at which the key is disabled without asking (0 to 10); below it the SOC is "
        "asked to approve containment.",
        ("CONTAIN_MIN_SEVERITY",),
    ),
    ContextKey(
        "protectedPrincipals", "protected_principals", "list of strings", CONTAINMENT_GROUP,
        "IAM user names, principal ids or IAM/STS ARNs never contained without a human's yes (no "
        "commas: the functions read the list as comma-separated text).",
        ("PROTECTED_PRINCIPALS",),
    ),
    ContextKey(
        "protectedTag", "protected_tag", "string", CONTAINMENT_GROUP,
        "IAM user tag key that, set to `true`, marks a user as never contained without a human's yes.",
        ("PROTECTED_TAG",),
    ),
    ContextKey(
        "ownerTagKeys", "owner_tag_keys", "list of strings", CONTAINMENT_GROUP,
        "IAM user tag keys that name the key's owner, first match wins (at least one).",
        ("OWNER_TAG_KEYS",),
    ),
    ContextKey(
        "approvalTimeoutSeconds", "approval_timeout_seconds", "integer", CONTAINMENT_GROUP,
        "How long the workflow waits for the SOC to approve or deny containment, in seconds (60 to "
        "604800, one week).",
        ("APPROVAL_TIMEOUT_SECONDS",),
    ),
    ContextKey(
        "approvalOnTimeout", "approval_on_timeout", "string", CONTAINMENT_GROUP,
        "What happens when nobody answers in time: `leave` (escalate and investigate, key left active) "
        "or `contain` (disable the key anyway; never for a protected principal).",
        ("APPROVAL_ON_TIMEOUT",),
    ),
    ContextKey(
        "maxAutoContain", "max_auto_contain", "integer", CONTAINMENT_GROUP,
        "How many attacker-made principals or grants one run contains by itself (0 to 1000); the rest "
        "are listed, by risk, in an approval request rather than changed.",
        ("MAX_AUTO_CONTAIN",),
    ),
    ContextKey(
        "trustedIdentityPools", "trusted_identity_pools", "list of strings", CONTAINMENT_GROUP,
        "This account's own Cognito identity pool ids: a role trust to `cognito-identity.amazonaws.com` "
        "is internal only when its `aud` condition names one of them.",
        ("TRUSTED_IDENTITY_POOLS",),
    ),
    ContextKey(
        "trustedOidcSubjects", "trusted_oidc_subjects", "list of strings", CONTAINMENT_GROUP,
        "Subject prefixes of this account's own OIDC workloads (e.g. `repo:acme-corp/` for GitHub "
        "Actions): a federated trust is internal only with an audience and a `sub` under one of them.",
        ("TRUSTED_OIDC_SUBJECTS",),
    ),
    ContextKey(
        "lookbackDays", "lookback_days", "integer", INVESTIGATION_GROUP,
        "CloudTrail window before the finding, in days (at least 1).",
        ("LOOKBACK_DAYS",),
    ),
    ContextKey(
        "refreshIpSources", "refresh_ip_sources", "boolean", INVESTIGATION_GROUP,
        "Refresh AWS's ip-ranges.json and the Tor bulk exit list once a day for the report's IP "
        "reputation (fetched by the Report step over the internet, checked, kept in the evidence bucket "
        "under `intel/ip-sources/<day>/` for the day's other runs; the report says each source's age). "
        "`false`: the snapshots shipped with the code.",
        ("IP_INTEL_REFRESH",),
        default="`true`",
    ),
    ContextKey(
        "maxLookbackDays", "max_lookback_days", "integer", INVESTIGATION_GROUP,
        "Largest window a manual run may ask for, in days (at least `lookbackDays`).",
        ("MAX_LOOKBACK_DAYS",),
    ),
    ContextKey(
        "pollSeconds", "poll_seconds", "integer", INVESTIGATION_GROUP,
        "Wait between CloudTrail query status polls, in seconds (1 to 300).",
        ("POLL_SECONDS",),
    ),
    ContextKey(
        "threatListUri", "threat_list_uri", "string", INVESTIGATION_GROUP,
        "Your own threat list, `s3://BUCKET/KEY`: a text object of addresses and CIDRs the report "
        "flags source IPs against. The report step may `s3:GetObject` that one object.",
        ("THREAT_LIST_BUCKET", "THREAT_LIST_KEY"),
    ),
    ContextKey(
        "evidenceRetentionDays", "evidence_retention_days", "integer", EVIDENCE_GROUP,
        "Object Lock default retention of evidence, in days (1 to 36500).",
    ),
    ContextKey(
        "evidenceRetentionMode", "evidence_retention_mode", "string", EVIDENCE_GROUP,
        "`GOVERNANCE` (removable with a special permission) or `COMPLIANCE` (nobody, root included, "
        "can shorten it).",
    ),
    ContextKey(
        "logRetentionDays", "log_retention_days", "integer", EVIDENCE_GROUP,
        "Retention of the functions' and workflow's logs, in days; one of CloudWatch Logs' allowed "
        "values.",
    ),
    ContextKey(
        "socEmails", "soc_emails", "list of strings", NOTIFICATION_GROUP,
        "Email addresses subscribed to the SOC topic (each confirms its subscription).",
    ),
    ContextKey(
        "chatWebhookSecretArn", "chat_webhook_secret_arn", "string", NOTIFICATION_GROUP,
        "Complete ARN of a Secrets Manager secret holding a Slack or Chime incoming-webhook URL (the "
        "URL itself, or JSON with a `url` field); the SOC messages are posted there too. The notify "
        "steps may `secretsmanager:GetSecretValue` that one secret.",
        ("WEBHOOK_SECRET_ID",),
    ),
    ContextKey(
        "chatWebhookKmsKeyArn", "chat_webhook_kms_key_arn", "string", NOTIFICATION_GROUP,
        "ARN of the customer managed KMS key the webhook secret is encrypted with (needs "
        "`chatWebhookSecretArn`); the notify steps get `kms:Decrypt` on it. Leave empty for the AWS "
        "managed key.",
    ),
    ContextKey(
        "ticketWebhookSecretArn", "ticket_webhook_secret_arn", "string", NOTIFICATION_GROUP,
        "Complete ARN of a Secrets Manager secret holding a ticket webhook (Jira, ServiceNow or any "
        "tracker that takes JSON): the URL itself, or JSON with `url` and an optional `authorization` "
        "(the Authorization header's value). Notify and NotifyFailure post the incident id, severity, "
        "account, access key, outcome and report link there (docs/runbook.md, Tickets); the notify "
        "steps may `secretsmanager:GetSecretValue` that one secret.",
        ("TICKET_SECRET_ID",),
    ),
    ContextKey(
        "ticketWebhookKmsKeyArn", "ticket_webhook_kms_key_arn", "string", NOTIFICATION_GROUP,
        "ARN of the customer managed KMS key the ticket webhook secret is encrypted with (needs "
        "`ticketWebhookSecretArn`); the notify steps get `kms:Decrypt` on it. Leave empty for the AWS "
        "managed key.",
    ),
    ContextKey(
        "securityHubWriteBack", "security_hub_write_back", "boolean", NOTIFICATION_GROUP,
        "Keep the GuardDuty finding's Security Hub workflow status in step with the run: `NOTIFIED` "
        "when it starts (Triage, after the containment), `RESOLVED` once containment and remediation "
        "are done, `NEW` when the run fails, each with a note linking the report (`BatchUpdateFindings` "
        "on this account's hub). Where Security Hub is not enabled the action is `skipped`.",
        ("SECURITYHUB_WRITE_BACK",),
        default="`true`",
    ),
    ContextKey(
        "deployment", "deployment", "string", ORGANIZATION_GROUP,
        "`account`: the responder protects the one account it is deployed in (one stack, "
        "`IncidentResponder`). `organization`: a hub stack (`IncidentResponder`, in the GuardDuty "
        "delegated-administrator account) responds for the organization's member accounts through "
        "the member stack's roles (`IncidentResponderMember`, rolled out by a StackSet), with a "
        "forwarder stack per other region (`IncidentResponderForwarder-<region>`).",
    ),
    ContextKey(
        "memberOrganizationalUnits", "member_organizational_units", "list of strings", ORGANIZATION_GROUP,
        "Organizational unit ids (`ou-...`), or the root id (`r-...`) for every account, whose accounts "
        "get the member roles; the StackSet deploys to their accounts, new ones included. Required "
        "with `organization`.",
    ),
    ContextKey(
        "hubRegion", "hub_region", "string", ORGANIZATION_GROUP,
        "The region the hub stack is deployed in, where its rules start the workflow; the forwarders "
        "send their region's findings to this region's default event bus. Required with "
        "`organization`.",
    ),
    ContextKey(
        "regions", "regions", "list of strings", ORGANIZATION_GROUP,
        "Every region GuardDuty is enabled in (the hub's may be listed): each region but the hub's "
        "gets a forwarder stack. Empty: the hub's region only.",
    ),
    ContextKey(
        "hubAccountId", "hub_account_id", "string", ORGANIZATION_GROUP,
        "The hub's account id, as the default of the member stack's `HubAccountId` parameter (for "
        "`cdk deploy IncidentResponderMember` in one account); the StackSet passes the hub's own.",
    ),
    ContextKey(
        "stackSetCallAs", "stack_set_call_as", "string", ORGANIZATION_GROUP,
        "How the hub creates the member StackSet: `DELEGATED_ADMIN` (the hub account is a delegated "
        "administrator for CloudFormation StackSets), `SELF` (the hub is the management account) or "
        "`NONE` (no StackSet: deploy the member stack yourself).",
        default="`DELEGATED_ADMIN`",
    ),
    ContextKey(
        "operatorPrincipals", "operator_principals", "list of strings", ORGANIZATION_GROUP,
        "Exact IAM role or user ARNs (e.g. the IAM Identity Center roles of the SOC) that may assume "
        "the hub's SecurityAnalyst, SecurityBreakGlass and SecurityDeploy roles. Empty: the hub "
        "account, whose IAM policies then decide who may.",
    ),
)  # fmt: skip
KEY_BY_NAME: dict[str, ContextKey] = {k.name: k for k in KEYS}

# The keys only the organization deployment reads: given with `account`, they would be silently unused.
ORGANIZATION_ONLY: tuple[str, ...] = (
    "memberOrganizationalUnits",
    "hubRegion",
    "regions",
    "hubAccountId",
    "stackSetCallAs",
    "operatorPrincipals",
)


def _organization(c: _Reader, defaults: StackSettings, organization_id: str) -> dict[str, Any]:
    """The deployment mode's keys: with ``organization``, the organization, its member OUs and the
    hub's region are required; with ``account`` (the default), none of the organization's keys."""
    deployment = c.choice("deployment", ("account", "organization"), defaults.deployment)
    if deployment == "account":
        given = [k for k in ORGANIZATION_ONLY if c.given(k)]
        if given:
            raise SettingsError(
                f"{', '.join(PREFIX + k for k in given)}: only read when {PREFIX}deployment is "
                f"'organization' (it is 'account')"
            )
        return {"deployment": deployment}
    needs = f"required when {PREFIX}deployment is 'organization'"
    if not organization_id:
        raise SettingsError(
            f"{PREFIX}organizationId is {needs}: the organization id (o-...) whose member accounts "
            "the hub responds for"
        )
    if not c.given("memberOrganizationalUnits"):
        raise SettingsError(
            f"{PREFIX}memberOrganizationalUnits is {needs}: the organizational units (ou-...) or the "
            "root (r-...) whose accounts get the member roles"
        )
    hub_region = c.text("hubRegion", "")
    if not hub_region:
        raise SettingsError(
            f"{PREFIX}hubRegion is {needs}: the region the hub is deployed in (where GuardDuty's "
            "delegated administrator aggregates, e.g. us-east-1)"
        )
    if not _REGION.match(hub_region):
        raise SettingsError(f"{PREFIX}hubRegion must be an AWS region name, not {hub_region!r}")
    hub_account = c.text("hubAccountId", "")
    if hub_account and not _ACCOUNT.match(hub_account):
        raise SettingsError(f"{PREFIX}hubAccountId must be a 12-digit account id, not {hub_account!r}")
    return {
        "deployment": deployment,
        "member_organizational_units": c.strings(
            "memberOrganizationalUnits",
            (),
            _ORGANIZATIONAL_UNIT,
            "an organizational unit id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)",
            min_items=1,
        ),
        "hub_region": hub_region,
        "regions": c.strings("regions", (), _REGION, "an AWS region name"),
        "hub_account_id": hub_account,
        "stack_set_call_as": c.choice(
            "stackSetCallAs", ("DELEGATED_ADMIN", "SELF", "NONE"), defaults.stack_set_call_as
        ),
        "operator_principals": c.strings(
            "operatorPrincipals", (), _OPERATOR, "an IAM role or user ARN (no wildcards)"
        ),
    }


def _query_engine(c: _Reader, defaults: StackSettings) -> dict[str, Any]:
    """The query engine's keys, validated: each engine's required keys, every value's form."""
    engine = c.choice("queryEngine", ENGINE_CHOICES, defaults.query_engine)
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
    lake_region = c.text("securityLakeRegion", "")
    if engine == "securitylake" and not lake_region:
        raise SettingsError(
            f"{PREFIX}securityLakeRegion is required when {PREFIX}queryEngine is 'securitylake': "
            "the region of the Security Lake tables to query (its rollup region), e.g. us-east-1"
        )
    if lake_region and not _REGION.match(lake_region):
        raise SettingsError(f"{PREFIX}securityLakeRegion must be an AWS region name, not {lake_region!r}")
    lake_database = c.text("securityLakeDatabase", "")
    if lake_database and not _GLUE_NAME.match(lake_database):
        raise SettingsError(
            f"{PREFIX}securityLakeDatabase must be a Glue database name (a-z, 0-9, _), not {lake_database!r}"
        )
    log_group = c.text("cloudWatchLogGroup", "")
    if engine == "cloudwatch" and not log_group:
        raise SettingsError(
            f"{PREFIX}cloudWatchLogGroup is required when {PREFIX}queryEngine is 'cloudwatch': "
            "the name or ARN of the log group the trail delivers to"
        )
    if log_group and not (_LOG_GROUP.match(log_group) or _LOG_GROUP_ARN.match(log_group)):
        raise SettingsError(f"{PREFIX}cloudWatchLogGroup must be a log group name or ARN, not {log_group!r}")
    return {
        "query_engine": engine,
        "lake_event_data_store": store,
        "cloudtrail_bucket": bucket,
        "security_lake_region": lake_region,
        "security_lake_database": lake_database,
        "security_lake_s3_data": c.flag("securityLakeS3DataEvents", defaults.security_lake_s3_data),
        "security_lake_regions": c.strings("securityLakeRegions", (), _REGION, "an AWS region name"),
        "security_lake_lake_formation_grants": c.flag(
            "securityLakeLakeFormationGrants", defaults.security_lake_lake_formation_grants
        ),
        "cloudwatch_log_group": log_group,
    }


def _integrations(c: _Reader) -> tuple[str, str, str]:
    """The optional threat list and chat webhook: ``(threat list URI, secret ARN, secret's key ARN)``."""
    threat_list = c.text("threatListUri", "")
    if threat_list:
        uri = _S3_URI.match(threat_list)
        if not uri or not _BUCKET.match(uri["bucket"]):
            raise SettingsError(
                f"{PREFIX}threatListUri must be an S3 object URI, s3://BUCKET/KEY, not {threat_list!r}"
            )
        if not _SAFE_OBJECT_KEY.match(uri["key"]) or len(uri["key"].encode()) > 1024:
            raise SettingsError(
                f"{PREFIX}threatListUri: the object key {uri['key']!r} must name one object: "
                "at most 1024 bytes, not ending in /, without *, ?, $ or control characters"
            )
    webhook_secret = c.text("chatWebhookSecretArn", "")
    if webhook_secret and not _SECRET_ARN.match(webhook_secret):
        raise SettingsError(
            f"{PREFIX}chatWebhookSecretArn must be the complete ARN of a Secrets Manager secret "
            f"(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf), not {webhook_secret!r}"
        )
    webhook_key = c.text("chatWebhookKmsKeyArn", "")
    if webhook_key and not _KMS_KEY_ARN.match(webhook_key):
        raise SettingsError(
            f"{PREFIX}chatWebhookKmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; "
            f"not an alias), not {webhook_key!r}"
        )
    if webhook_key and not webhook_secret:
        raise SettingsError(
            f"{PREFIX}chatWebhookKmsKeyArn is the key of the webhook secret: set "
            f"{PREFIX}chatWebhookSecretArn too, or leave it out"
        )
    return threat_list, webhook_secret, webhook_key


def _secret_with_key(c: _Reader, secret_name: str, key_name: str) -> tuple[str, str]:
    """An optional secret's complete ARN and the ARN of the KMS key it is encrypted with."""
    secret = c.text(secret_name, "")
    if secret and not _SECRET_ARN.match(secret):
        raise SettingsError(
            f"{PREFIX}{secret_name} must be the complete ARN of a Secrets Manager secret "
            f"(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf), not {secret!r}"
        )
    key = c.text(key_name, "")
    if key and not _KMS_KEY_ARN.match(key):
        raise SettingsError(
            f"{PREFIX}{key_name} must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; "
            f"not an alias), not {key!r}"
        )
    if key and not secret:
        raise SettingsError(
            f"{PREFIX}{key_name} is the key of that secret: set {PREFIX}{secret_name} too, or leave it out"
        )
    return secret, key


class _Reader:
    """Typed access to context values; every failure names the full key."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self._context = context

    def given(self, key: str) -> bool:
        """Whether ``key`` has a value other than empty text or an empty list (cdk.json's blanks)."""
        value = self._context.get(key)
        return value is not None and value not in ("", [], ())

    def _fail(self, key: str, expected: str, value: Any) -> SettingsError:
        return SettingsError(f"{PREFIX}{key} must be {expected}, not {value!r}")

    def text(self, key: str, default: str) -> str:
        value = self._context.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value.strip()

    def flag(self, key: str, default: bool) -> bool:
        value = self._context.get(key, default)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"  # -c key=false arrives as text
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

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
        forbid: str = "",
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
            if not pattern.match(item) or any(ch in item for ch in forbid):
                raise SettingsError(f"{PREFIX}{key}: {item!r} is not {what}")
        if len(items) < min_items:
            raise self._fail(key, f"a list of at least {min_items} item(s), each {what}", value)
        if len(set(items)) != len(items):
            raise self._fail(key, "a list without duplicates", value)
        return items


def _default_text(key: ContextKey) -> str:
    """The key's default as docs/configuration.md shows it."""
    if key.default:
        return key.default
    value = getattr(StackSettings(), key.field)
    if value in ("", ()):
        return "—"
    if isinstance(value, tuple):
        return "`" + json.dumps(list(value)) + "`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def markdown() -> str:
    """docs/configuration.md: every key of :data:`KEYS`, grouped, with its type, default and env vars."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from KEYS in deployment/settings.py by `python -m deployment.settings --markdown`: edit",
        "     there and regenerate; tests/stack/test_settings.py fails when this file is out of date. -->",
        "",
        f"Every setting is a CDK context key under `{PREFIX}`, set in `cdk.json`'s `context` or with `-c`",
        "on the command line:",
        "",
        "```sh",
        f"npx cdk deploy -c {PREFIX}queryEngine=athena -c {PREFIX}cloudTrailBucket=my-org-cloudtrail-bucket \\",
        f"  -c '{PREFIX}socEmails=[\"soc@example.com\"]'",
        "```",
        "",
        "Values given with `-c` arrive as text: numbers are parsed, and lists may be written as a JSON",
        "array or as comma-separated text. An unknown key or a wrong value fails synth (`python app.py`,",
        "`cdk synth`, `cdk deploy`) with a message that names the key. The step functions receive what",
        "they read at run time as environment variables (read by `responder/settings.py`); a key with no",
        "variable (—) shapes the template only. An optional key left empty adds no variable and no",
        "permission.",
        "",
        "## Which query engine fits which setup",
        "",
        "| where the team keeps CloudTrail | `responder:queryEngine` | what to set | what the stack adds |",
        "|---|---|---|---|",
        "| an S3 trail (organization or account), no other copy | `athena` | `cloudTrailBucket` "
        "(+ `organizationId`, `trailAccounts`, `trailRegions`, `cloudTrailKmsKeyArn`) | Glue table with "
        "partition projection, workgroup, results bucket, saved queries; digests are validated |",
        "| Amazon Security Lake (CloudTrail source version 2, OCSF) | `securitylake` | `securityLakeRegion` "
        "(+ `securityLakeDatabase`, `securityLakeS3DataEvents`, `securityLakeRegions`, `trailAccounts`) | "
        "workgroup, results bucket, saved queries, Lake Formation grants for the query roles; deploy in "
        "the Security Lake (rollup) region |",
        "| a CloudWatch Logs log group the trail delivers to | `cloudwatch` | `cloudWatchLogGroup` | "
        "nothing: the query roles may start Logs Insights queries on that group only |",
        "| an existing CloudTrail Lake event data store (closed to new customers since 31 May 2026) | "
        "`lake` | `lakeEventDataStore` | nothing: the query roles reach that event data store only |",
        "| exported files on a laptop (CloudTrail JSON, or Security Lake's Parquet) | — | — | "
        "`responder investigate --logs DIR` reads both (docs/local-runner.md) |",
        "",
        "The same saved queries run on every engine and return the same rows (the row contract in",
        "docs/architecture.md); Athena and Security Lake also get them as named queries in the",
        'responder\'s workgroup (docs/runbook.md, "Run a saved query yourself").',
    ]
    groups = list(dict.fromkeys(k.group for k in KEYS))
    for group in groups:
        lines += [
            "",
            f"## {group}",
            "",
            "| key | type | default | env var | meaning |",
            "|---|---|---|---|---|",
        ]
        for k in KEYS:
            if k.group == group:
                env = ", ".join(f"`{e}`" for e in k.env) or "—"
                cells = (f"`{k.key}`", k.kind, _default_text(k), env, k.description)
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Long defaults", ""]
    for name, values in (
        ("findingTypePrefixes", DEFAULT_FINDING_TYPE_PREFIXES),
        ("trailRegions", COMMERCIAL_REGIONS),
    ):
        lines += [f"`{PREFIX}{name}`:", "", *(f"- `{v}`" for v in values), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m deployment.settings --markdown``: write docs/configuration.md's text to stdout."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m deployment.settings", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print docs/configuration.md")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
