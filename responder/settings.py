"""Runtime settings, read once from the environment into a frozen object.

Library code never reads ``os.environ`` at import time: handlers call :func:`get_settings`
(cached), tests build :class:`Settings` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from responder.errors import InvalidInput

QueryEngine = Literal["lake", "athena", "securitylake", "cloudwatch", "duckdb"]
ENGINES: tuple[str, ...] = ("lake", "athena", "securitylake", "cloudwatch", "duckdb")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    evidence_bucket: str = ""
    incident_table: str = ""
    soc_topic_arn: str = ""
    query_engine: QueryEngine = "lake"
    lake_event_data_store: str = ""
    athena_workgroup: str = ""
    athena_database: str = ""
    athena_table: str = ""
    # Security Lake (queried through Athena in ATHENA_WORKGROUP): its Glue database, the CloudTrail
    # management table and the S3 data events table ("" when that source is not collected), and the
    # regions its `region` partition is restricted to (empty: all); accounts are TRAIL_ACCOUNTS.
    security_lake_database: str = ""
    security_lake_management_table: str = ""
    security_lake_s3_data_table: str = ""
    security_lake_regions: tuple[str, ...] = ()
    # CloudWatch Logs: the log group (name or ARN) the trail delivers to.
    cloudwatch_log_group: str = ""
    # Log-file validation (responder/query/digest.py): the trail bucket and key prefix up to the
    # account level (Athena), the accounts whose digests to check (empty: every account folder), the
    # public keys file (offline and the local runner; deployed runs ask cloudtrail:ListPublicKeys), and
    # how many log files one run reads and hashes (newest first).
    cloudtrail_bucket: str = ""
    cloudtrail_prefix: str = "AWSLogs/"
    trail_accounts: tuple[str, ...] = ()
    digest_public_keys: str = ""
    log_validation_max_files: int = 2000
    local_log_paths: tuple[str, ...] = ()
    # The DuckDB engine reads no log file larger than this, decompressed (a gzip bomb is skipped, counted).
    local_log_max_file_bytes: int = 256 << 20
    # Deployed runs refresh AWS's ip-ranges and the Tor exit list daily (shared in the evidence
    # bucket); offline runs and tests use the shipped snapshots.
    ip_intel_refresh: bool = False
    lookback_days: int = 7
    max_lookback_days: int = 3650
    contain_min_severity: float = 7.0
    owner_tag_keys: tuple[str, ...] = ("owner", "custodian", "Owner", "Custodian")
    protected_principals: tuple[str, ...] = ()
    protected_tag: str = "responder:protected"
    poll_seconds: int = 5
    approval_timeout_seconds: int = 3600
    approval_on_timeout: str = "leave"  # or "contain" (never for protected principals)
    threat_list_bucket: str = ""  # our own threat list, s3://threat_list_bucket/threat_list_key
    threat_list_key: str = ""
    webhook_secret_id: str = ""  # Secrets Manager secret holding the Slack/Chime webhook URL
    ticket_secret_id: str = ""  # Secrets Manager secret holding the ticket webhook URL (and auth header)
    # The GuardDuty finding's Security Hub workflow status follows the run (responder/securityhub.py).
    securityhub_write_back: bool = False
    # Secrets Manager secret holding the HMAC key of redaction digests (created by the stack).
    redaction_key_secret_arn: str = ""
    console_region: str = "us-east-1"
    # Remediation: the stack's managed deny-all policy (attached, never written) and how many rogue
    # principals one run contains before the rest wait for a person (issue 12: bounded work).
    deny_all_policy_arn: str = ""
    max_auto_contain: int = 25
    # Who is inside, for "external means external" (responder/insiders.py): the organization id when
    # DescribeOrganization cannot say, this account's Cognito identity pools, and the OIDC ``sub``
    # prefixes of its own apps (``repo:acme/``). Anything else a grant names is outside.
    organization_id: str = ""
    trusted_identity_pools: tuple[str, ...] = ()
    trusted_oidc_subjects: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables; a wrong value is a named error."""
        env = os.environ if env is None else env
        engine = env.get("QUERY_ENGINE", "lake")
        if engine not in ENGINES:
            raise InvalidInput(f"QUERY_ENGINE must be one of {', '.join(ENGINES)}, not {engine!r}")
        try:
            lookback = int(env.get("LOOKBACK_DAYS", "7"))
            max_lookback = int(env.get("MAX_LOOKBACK_DAYS", "3650"))
            severity = float(env.get("CONTAIN_MIN_SEVERITY", "7.0"))
            poll = int(env.get("POLL_SECONDS", "5"))
            approval_timeout = int(env.get("APPROVAL_TIMEOUT_SECONDS", "3600"))
            max_auto_contain = int(env.get("MAX_AUTO_CONTAIN", "25"))
        except ValueError as exc:
            raise InvalidInput(f"bad numeric setting: {exc}") from exc
        on_timeout = env.get("APPROVAL_ON_TIMEOUT", "leave")
        if on_timeout not in ("leave", "contain"):
            raise InvalidInput(f"APPROVAL_ON_TIMEOUT must be 'leave' or 'contain', not {on_timeout!r}")
        if max_auto_contain < 0:
            raise InvalidInput("MAX_AUTO_CONTAIN must not be negative")
        if approval_timeout < 1:
            raise InvalidInput("APPROVAL_TIMEOUT_SECONDS must be at least 1")
        return cls(
            evidence_bucket=env.get("EVIDENCE_BUCKET", ""),
            incident_table=env.get("INCIDENT_TABLE", ""),
            soc_topic_arn=env.get("SOC_TOPIC_ARN", ""),
            query_engine=engine,  # type: ignore[arg-type]
            lake_event_data_store=env.get("LAKE_EVENT_DATA_STORE", ""),
            athena_workgroup=env.get("ATHENA_WORKGROUP", ""),
            athena_database=env.get("ATHENA_DATABASE", ""),
            athena_table=env.get("ATHENA_TABLE", ""),
            security_lake_database=env.get("SECURITY_LAKE_DATABASE", ""),
            security_lake_management_table=env.get("SECURITY_LAKE_MANAGEMENT_TABLE", ""),
            security_lake_s3_data_table=env.get("SECURITY_LAKE_S3_DATA_TABLE", ""),
            security_lake_regions=_csv(env.get("SECURITY_LAKE_REGIONS")),
            cloudwatch_log_group=env.get("CLOUDWATCH_LOG_GROUP", ""),
            cloudtrail_bucket=env.get("CLOUDTRAIL_BUCKET", ""),
            cloudtrail_prefix=env.get("CLOUDTRAIL_PREFIX", "AWSLogs/"),
            trail_accounts=_csv(env.get("TRAIL_ACCOUNTS")),
            digest_public_keys=env.get("DIGEST_PUBLIC_KEYS", ""),
            log_validation_max_files=_positive_int(env, "LOG_VALIDATION_MAX_FILES", 2000),
            local_log_paths=_csv(env.get("LOCAL_LOG_PATHS")),
            local_log_max_file_bytes=_positive_int(env, "LOCAL_LOG_MAX_FILE_BYTES", 256 << 20),
            ip_intel_refresh=env.get("IP_INTEL_REFRESH", "").lower() in ("1", "true", "yes"),
            lookback_days=lookback,
            max_lookback_days=max_lookback,
            contain_min_severity=severity,
            owner_tag_keys=_csv(env.get("OWNER_TAG_KEYS")) or cls.owner_tag_keys,
            protected_principals=_csv(env.get("PROTECTED_PRINCIPALS")),
            protected_tag=env.get("PROTECTED_TAG", "responder:protected"),
            poll_seconds=poll,
            approval_timeout_seconds=approval_timeout,
            approval_on_timeout=on_timeout,
            threat_list_bucket=env.get("THREAT_LIST_BUCKET", ""),
            threat_list_key=env.get("THREAT_LIST_KEY", ""),
            webhook_secret_id=env.get("WEBHOOK_SECRET_ID", ""),
            ticket_secret_id=env.get("TICKET_SECRET_ID", ""),
            securityhub_write_back=env.get("SECURITYHUB_WRITE_BACK", "").lower() in ("1", "true", "yes"),
            redaction_key_secret_arn=env.get("REDACTION_KEY_SECRET_ARN", ""),
            console_region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
            organization_id=env.get("ORGANIZATION_ID", ""),
            trusted_identity_pools=_csv(env.get("TRUSTED_IDENTITY_POOLS")),
            trusted_oidc_subjects=_csv(env.get("TRUSTED_OIDC_SUBJECTS")),
            deny_all_policy_arn=env.get("DENY_ALL_POLICY_ARN", ""),
            max_auto_contain=max_auto_contain,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; the local runner clears the cache between runs)."""
    return Settings.from_env()


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number above zero from the environment (InvalidInput naming the variable otherwise)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise InvalidInput(f"{name} must be at least 1, not {value}")
    return value
