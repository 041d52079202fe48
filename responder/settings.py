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

QueryEngine = Literal["lake", "athena", "duckdb"]
ENGINES: tuple[str, ...] = ("lake", "athena", "duckdb")


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
    local_log_paths: tuple[str, ...] = ()
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
    console_region: str = "us-east-1"
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
        except ValueError as exc:
            raise InvalidInput(f"bad numeric setting: {exc}") from exc
        on_timeout = env.get("APPROVAL_ON_TIMEOUT", "leave")
        if on_timeout not in ("leave", "contain"):
            raise InvalidInput(f"APPROVAL_ON_TIMEOUT must be 'leave' or 'contain', not {on_timeout!r}")
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
            local_log_paths=_csv(env.get("LOCAL_LOG_PATHS")),
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
            console_region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; the local runner clears the cache between runs)."""
    return Settings.from_env()
