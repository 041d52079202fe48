"""CloudTrail events -> MITRE ATT&CK (tactic, technique, severity), grouped into report ``findings``.

One table, :data:`TABLE`, read top to bottom like a cheat sheet: ``(service, eventName)`` ->
what an analyst should call it. A few events mean different things by their parameters (a bucket
policy granting another account, SSM parameters read with decryption); :data:`REFINERS` look at the
row for those. Read calls not in the table fall back to per-service Discovery.

A failed call still counts: the attacker *attempted* it. Each finding says how many of its events
failed, and its title says so when all of them did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from responder.analysis.buckets import analyse_policy
from responder.analysis.rows import Row, event_name, is_read, iso_time, mapping, service, succeeded, text

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")

INITIAL_ACCESS = "Initial Access"
EXECUTION = "Execution"
PERSISTENCE = "Persistence"
PRIVILEGE_ESCALATION = "Privilege Escalation"
DEFENSE_EVASION = "Defense Evasion"
CREDENTIAL_ACCESS = "Credential Access"
DISCOVERY = "Discovery"
LATERAL_MOVEMENT = "Lateral Movement"
COLLECTION = "Collection"
EXFILTRATION = "Exfiltration"
IMPACT = "Impact"
TACTIC_ORDER: tuple[str, ...] = (
    INITIAL_ACCESS,
    EXECUTION,
    PERSISTENCE,
    PRIVILEGE_ESCALATION,
    DEFENSE_EVASION,
    CREDENTIAL_ACCESS,
    DISCOVERY,
    LATERAL_MOVEMENT,
    COLLECTION,
    EXFILTRATION,
    IMPACT,
)

BULK_GET_OBJECTS = 50
"""GetObject calls from the key at or above which downloads are reported as bulk (exfiltration)."""


@dataclass(frozen=True)
class Technique:
    tactic: str
    technique: str | None
    title: str
    severity: Severity


T = Technique

# (service, eventName): what it means. Service is the eventSource's first label ("iam", "s3").
TABLE: dict[tuple[str, str], Technique] = {
    # --- Initial Access ---------------------------------------------------------------------
    ("signin", "ConsoleLogin"): T(INITIAL_ACCESS, "T1078.004", "Console sign-in", "medium"),
    ("signin", "GetSigninToken"): T(INITIAL_ACCESS, "T1078.004", "Console sign-in token from keys", "high"),
    # --- Execution --------------------------------------------------------------------------
    ("ssm", "SendCommand"): T(EXECUTION, "T1651", "Ran commands on instances (SSM SendCommand)", "high"),
    ("ssm", "StartSession"): T(EXECUTION, "T1651", "Opened SSM sessions on instances", "high"),
    ("lambda", "CreateFunction"): T(EXECUTION, "T1648", "Created a Lambda function", "medium"),
    ("lambda", "Invoke"): T(EXECUTION, "T1648", "Invoked a Lambda function", "low"),
    # --- Persistence ------------------------------------------------------------------------
    ("iam", "CreateUser"): T(PERSISTENCE, "T1136.003", "Created IAM users", "high"),
    ("iam", "CreateAccessKey"): T(PERSISTENCE, "T1098.001", "Created access keys", "high"),
    ("iam", "CreateLoginProfile"): T(PERSISTENCE, "T1098.001", "Gave users console passwords", "high"),
    ("iam", "AttachUserPolicy"): T(PERSISTENCE, "T1098.003", "Attached policies to users", "high"),
    ("iam", "PutUserPolicy"): T(PERSISTENCE, "T1098.003", "Wrote inline policies on users", "high"),
    ("iam", "AttachRolePolicy"): T(PERSISTENCE, "T1098.003", "Attached policies to roles", "high"),
    ("iam", "PutRolePolicy"): T(PERSISTENCE, "T1098.003", "Wrote inline policies on roles", "high"),
    ("iam", "CreateRole"): T(PERSISTENCE, "T1098.003", "Created IAM roles", "high"),
    ("iam", "UpdateAssumeRolePolicy"): T(PERSISTENCE, "T1098.003", "Changed who can assume roles", "high"),
    ("iam", "UploadSSHPublicKey"): T(PERSISTENCE, "T1098.004", "Uploaded SSH keys to IAM users", "high"),
    ("iam", "CreateOpenIDConnectProvider"): T(
        PERSISTENCE, "T1098", "Added an OIDC identity provider", "high"
    ),
    ("iam", "CreateSAMLProvider"): T(PERSISTENCE, "T1098", "Added a SAML identity provider", "high"),
    ("s3", "PutBucketPolicy"): T(PERSISTENCE, "T1098", "Changed bucket policies", "medium"),
    ("s3", "PutBucketAcl"): T(PERSISTENCE, "T1098", "Changed bucket ACLs", "medium"),
    ("lambda", "UpdateFunctionCode"): T(PERSISTENCE, "T1648", "Replaced Lambda function code", "high"),
    ("lambda", "UpdateFunctionConfiguration"): T(
        PERSISTENCE, "T1648", "Changed Lambda configuration", "medium"
    ),
    ("lambda", "AddPermission"): T(PERSISTENCE, "T1648", "Granted invoke on Lambda functions", "medium"),
    ("lambda", "PublishLayerVersion"): T(PERSISTENCE, "T1648", "Published Lambda layers", "medium"),
    ("rolesanywhere", "CreateTrustAnchor"): T(
        PERSISTENCE, "T1098", "Created Roles Anywhere trust anchors", "high"
    ),
    ("rolesanywhere", "CreateProfile"): T(PERSISTENCE, "T1098", "Created Roles Anywhere profiles", "high"),
    ("ec2", "ImportKeyPair"): T(PERSISTENCE, "T1098.004", "Imported EC2 key pairs", "medium"),
    ("ec2", "CreateKeyPair"): T(PERSISTENCE, "T1098.004", "Created EC2 key pairs", "medium"),
    # --- Privilege Escalation ---------------------------------------------------------------
    ("iam", "UpdateLoginProfile"): T(PRIVILEGE_ESCALATION, "T1098", "Reset users' console passwords", "high"),
    ("iam", "AddUserToGroup"): T(PRIVILEGE_ESCALATION, "T1098.003", "Added users to groups", "high"),
    ("iam", "AttachGroupPolicy"): T(PRIVILEGE_ESCALATION, "T1098.003", "Attached policies to groups", "high"),
    ("iam", "PutGroupPolicy"): T(
        PRIVILEGE_ESCALATION, "T1098.003", "Wrote inline policies on groups", "high"
    ),
    ("iam", "CreatePolicyVersion"): T(PRIVILEGE_ESCALATION, "T1098.003", "Rewrote managed policies", "high"),
    ("iam", "SetDefaultPolicyVersion"): T(
        PRIVILEGE_ESCALATION, "T1098.003", "Switched managed policy versions", "high"
    ),
    ("iam", "PassRole"): T(PRIVILEGE_ESCALATION, "T1098.003", "Passed roles to services", "medium"),
    ("sts", "AssumeRole"): T(PRIVILEGE_ESCALATION, "T1078.004", "Assumed roles with the key", "medium"),
    # --- Defense Evasion --------------------------------------------------------------------
    ("cloudtrail", "StopLogging"): T(DEFENSE_EVASION, "T1562.008", "Stopped CloudTrail logging", "critical"),
    ("cloudtrail", "DeleteTrail"): T(DEFENSE_EVASION, "T1562.008", "Deleted CloudTrail trails", "critical"),
    ("cloudtrail", "UpdateTrail"): T(DEFENSE_EVASION, "T1562.008", "Changed CloudTrail trails", "high"),
    ("cloudtrail", "PutEventSelectors"): T(
        DEFENSE_EVASION, "T1562.008", "Changed what CloudTrail records (event selectors)", "high"
    ),
    ("cloudtrail", "DeleteEventDataStore"): T(
        DEFENSE_EVASION, "T1562.008", "Deleted CloudTrail Lake event data stores", "critical"
    ),
    ("ec2", "DeleteFlowLogs"): T(DEFENSE_EVASION, "T1562.008", "Deleted VPC flow logs", "high"),
    ("route53resolver", "DeleteResolverQueryLogConfig"): T(
        DEFENSE_EVASION, "T1562.008", "Deleted DNS query logging", "high"
    ),
    ("guardduty", "DeleteDetector"): T(
        DEFENSE_EVASION, "T1562.001", "Deleted GuardDuty detectors", "critical"
    ),
    ("guardduty", "UpdateDetector"): T(DEFENSE_EVASION, "T1562.001", "Changed GuardDuty detectors", "high"),
    ("guardduty", "CreateIPSet"): T(DEFENSE_EVASION, "T1562.001", "Added GuardDuty trusted IP lists", "high"),
    ("guardduty", "UpdateIPSet"): T(
        DEFENSE_EVASION, "T1562.001", "Changed GuardDuty trusted IP lists", "high"
    ),
    ("securityhub", "DisableSecurityHub"): T(
        DEFENSE_EVASION, "T1562.001", "Disabled Security Hub", "critical"
    ),
    ("config", "StopConfigurationRecorder"): T(DEFENSE_EVASION, "T1562.001", "Stopped AWS Config", "high"),
    ("config", "DeleteConfigurationRecorder"): T(DEFENSE_EVASION, "T1562.001", "Deleted AWS Config", "high"),
    ("config", "DeleteDeliveryChannel"): T(
        DEFENSE_EVASION, "T1562.001", "Deleted AWS Config delivery", "high"
    ),
    ("organizations", "LeaveOrganization"): T(
        DEFENSE_EVASION, "T1666", "Tried to leave the AWS Organization", "critical"
    ),
    ("s3", "DeleteBucketPublicAccessBlock"): T(
        DEFENSE_EVASION, "T1562.007", "Removed S3 Block Public Access", "high"
    ),
    ("s3", "PutBucketLogging"): T(DEFENSE_EVASION, "T1562.008", "Changed S3 access logging", "medium"),
    ("s3", "DeleteBucketEncryption"): T(
        DEFENSE_EVASION, "T1562", "Removed bucket default encryption", "medium"
    ),
    ("ec2", "AuthorizeSecurityGroupIngress"): T(
        DEFENSE_EVASION, "T1562.007", "Opened security group ingress", "medium"
    ),
    ("ec2", "CreateNetworkAclEntry"): T(DEFENSE_EVASION, "T1562.007", "Changed network ACLs", "medium"),
    ("iam", "DeleteLoginProfile"): T(DEFENSE_EVASION, "T1098", "Removed console passwords", "medium"),
    # --- Credential Access ------------------------------------------------------------------
    ("sts", "GetSessionToken"): T(CREDENTIAL_ACCESS, "T1528", "Minted session credentials", "high"),
    ("sts", "GetFederationToken"): T(CREDENTIAL_ACCESS, "T1528", "Minted federation credentials", "high"),
    ("secretsmanager", "GetSecretValue"): T(
        CREDENTIAL_ACCESS, "T1555.006", "Read Secrets Manager secrets", "high"
    ),
    ("secretsmanager", "BatchGetSecretValue"): T(
        CREDENTIAL_ACCESS, "T1555.006", "Bulk-read Secrets Manager secrets", "high"
    ),
    ("ec2", "GetPasswordData"): T(CREDENTIAL_ACCESS, "T1552", "Read EC2 Windows passwords", "high"),
    ("ssm", "GetParameter"): T(DISCOVERY, "T1526", "Read SSM parameters (no decryption)", "low"),
    ("ssm", "GetParameters"): T(DISCOVERY, "T1526", "Read SSM parameters (no decryption)", "low"),
    ("ssm", "GetParametersByPath"): T(DISCOVERY, "T1526", "Read SSM parameters (no decryption)", "low"),
    ("ecr", "GetAuthorizationToken"): T(CREDENTIAL_ACCESS, "T1528", "Got ECR registry credentials", "medium"),
    ("sso", "GetRoleCredentials"): T(
        CREDENTIAL_ACCESS, "T1528", "Got IAM Identity Center role credentials", "high"
    ),
    # --- Discovery (named ones; other reads fall back by service) ----------------------------
    ("sts", "GetCallerIdentity"): T(
        DISCOVERY, "T1087.004", "Checked whose key it is (GetCallerIdentity)", "low"
    ),
    ("iam", "GetAccountAuthorizationDetails"): T(
        DISCOVERY, "T1087.004", "Dumped all IAM users, roles and policies", "medium"
    ),
    ("iam", "ListUsers"): T(DISCOVERY, "T1087.004", "Listed IAM users, roles and policies", "low"),
    ("s3", "ListBuckets"): T(DISCOVERY, "T1619", "Listed S3 buckets", "low"),
    ("ec2", "DescribeInstanceAttribute"): T(DISCOVERY, "T1580", "Read EC2 instance attributes", "low"),
    ("ses", "GetSendQuota"): T(DISCOVERY, "T1526", "Checked SES sending limits", "medium"),
    ("ses", "ListIdentities"): T(DISCOVERY, "T1526", "Listed SES identities", "medium"),
    ("organizations", "DescribeOrganization"): T(
        DISCOVERY, "T1087.004", "Looked at the AWS Organization", "low"
    ),
    ("bedrock", "GetFoundationModelAvailability"): T(
        DISCOVERY, "T1526", "Probed Bedrock model access", "medium"
    ),
    ("bedrock", "ListFoundationModels"): T(DISCOVERY, "T1526", "Probed Bedrock model access", "medium"),
    ("bedrock", "ListFoundationModelAgreementOffers"): T(
        DISCOVERY, "T1526", "Probed Bedrock model access", "medium"
    ),
    # --- Lateral Movement -------------------------------------------------------------------
    ("ec2-instance-connect", "SendSSHPublicKey"): T(
        LATERAL_MOVEMENT, "T1021.008", "Pushed SSH keys to instances (Instance Connect)", "high"
    ),
    ("ec2-instance-connect", "SendSerialConsoleSSHPublicKey"): T(
        LATERAL_MOVEMENT, "T1021.008", "Pushed SSH keys to instance serial consoles", "high"
    ),
    ("ec2", "EnableSerialConsoleAccess"): T(
        LATERAL_MOVEMENT, "T1021.008", "Enabled EC2 serial console", "medium"
    ),
    # --- Collection -------------------------------------------------------------------------
    ("s3", "GetObject"): T(COLLECTION, "T1530", "Downloaded S3 objects", "medium"),
    ("s3", "SelectObjectContent"): T(COLLECTION, "T1530", "Queried S3 objects (S3 Select)", "medium"),
    ("rds", "DownloadDBLogFilePortion"): T(COLLECTION, "T1530", "Downloaded RDS log files", "medium"),
    # --- Exfiltration -----------------------------------------------------------------------
    ("ec2", "ModifySnapshotAttribute"): T(EXFILTRATION, "T1537", "Changed EBS snapshot sharing", "medium"),
    ("ec2", "ModifyImageAttribute"): T(EXFILTRATION, "T1537", "Changed AMI sharing", "medium"),
    ("rds", "ModifyDBSnapshotAttribute"): T(EXFILTRATION, "T1537", "Changed RDS snapshot sharing", "medium"),
    ("rds", "ModifyDBClusterSnapshotAttribute"): T(
        EXFILTRATION, "T1537", "Changed RDS snapshot sharing", "medium"
    ),
    ("rds", "StartExportTask"): T(EXFILTRATION, "T1537", "Exported RDS snapshots to S3", "high"),
    ("s3", "PutBucketReplication"): T(EXFILTRATION, "T1537", "Configured bucket replication", "high"),
    # --- Impact -----------------------------------------------------------------------------
    ("s3", "DeleteObject"): T(IMPACT, "T1485", "Deleted S3 objects", "high"),
    ("s3", "DeleteObjects"): T(IMPACT, "T1485", "Deleted S3 objects", "high"),
    ("s3", "DeleteBucket"): T(IMPACT, "T1485", "Deleted S3 buckets", "critical"),
    ("s3", "PutBucketLifecycle"): T(IMPACT, "T1485", "Changed bucket lifecycle rules", "low"),
    ("s3", "PutBucketVersioning"): T(IMPACT, "T1490", "Changed bucket versioning", "low"),
    ("ec2", "RunInstances"): T(IMPACT, "T1496", "Launched EC2 instances (possible cryptomining)", "high"),
    ("ec2", "TerminateInstances"): T(IMPACT, "T1485", "Terminated EC2 instances", "high"),
    ("ec2", "DeleteSnapshot"): T(IMPACT, "T1490", "Deleted EBS snapshots", "high"),
    ("rds", "DeleteDBInstance"): T(IMPACT, "T1485", "Deleted RDS databases", "critical"),
    ("rds", "DeleteDBSnapshot"): T(IMPACT, "T1490", "Deleted RDS snapshots", "high"),
    ("kms", "ScheduleKeyDeletion"): T(IMPACT, "T1485", "Scheduled KMS key deletion", "critical"),
    ("kms", "DisableKey"): T(IMPACT, "T1485", "Disabled KMS keys", "high"),
    ("bedrock", "InvokeModel"): T(IMPACT, "T1496", "Invoked Bedrock models (LLMjacking)", "high"),
    ("bedrock", "InvokeModelWithResponseStream"): T(
        IMPACT, "T1496", "Invoked Bedrock models (LLMjacking)", "high"
    ),
    ("bedrock", "Converse"): T(IMPACT, "T1496", "Invoked Bedrock models (LLMjacking)", "high"),
    ("bedrock", "PutFoundationModelEntitlement"): T(IMPACT, "T1496", "Enabled Bedrock model access", "high"),
    ("bedrock", "PutUseCaseForModelAccess"): T(IMPACT, "T1496", "Enabled Bedrock model access", "high"),
    ("bedrock", "CreateFoundationModelAgreement"): T(IMPACT, "T1496", "Enabled Bedrock model access", "high"),
    ("bedrock", "DeleteModelInvocationLoggingConfiguration"): T(
        DEFENSE_EVASION, "T1562.008", "Turned off Bedrock invocation logging", "high"
    ),
    ("ses", "SendEmail"): T(IMPACT, "T1496", "Sent email through SES (spam / phishing)", "high"),
    ("ses", "SendRawEmail"): T(IMPACT, "T1496", "Sent email through SES (spam / phishing)", "high"),
    ("ses", "UpdateAccountSendingEnabled"): T(IMPACT, "T1496", "Changed SES sending", "medium"),
}

# Read calls not in TABLE: Discovery, technique by service.
_DISCOVERY_BY_SERVICE: dict[str, str] = {
    "iam": "T1087.004",
    "organizations": "T1087.004",
    "sso": "T1087.004",
    "identitystore": "T1087.004",
    "s3": "T1619",
    "ec2": "T1580",
    "rds": "T1580",
    "lambda": "T1580",
    "ecs": "T1580",
    "eks": "T1580",
}


def _escalate(tech: Technique, severity: Severity, title: str | None = None, **kw: Any) -> Technique:
    return replace(tech, severity=severity, title=title or tech.title, **kw)


def _admin_policy(row: Row, tech: Technique) -> list[Technique]:
    arn = str(mapping(row, "request_parameters").get("policyArn") or "")
    if arn.endswith((":policy/AdministratorAccess", ":policy/IAMFullAccess", ":policy/PowerUserAccess")):
        return [_escalate(tech, "critical", f"{tech.title}: {arn.rsplit('/', 1)[-1]}")]
    return [tech]


def _trust_policy(row: Row, tech: Technique) -> list[Technique]:
    params = mapping(row, "request_parameters")
    raw = params.get("assumeRolePolicyDocument") or params.get("policyDocument")
    if analyse_policy(raw, text(row, "account_id")).grants_external:
        return [_escalate(tech, "critical", "Role trust policy lets another account in (backdoor role)")]
    return [tech]


def _bucket_policy(row: Row, tech: Technique) -> list[Technique]:
    raw = mapping(row, "request_parameters").get("bucketPolicy")
    if analyse_policy(raw, text(row, "account_id")).grants_external:
        return [
            _escalate(tech, "high", "Bucket policy grants access outside the account (backdoor)"),
            T(EXFILTRATION, "T1537", "Bucket opened to an outside principal for data transfer", "critical"),
        ]
    return [tech]


def _ssm_params(row: Row, tech: Technique) -> list[Technique]:
    if str(mapping(row, "request_parameters").get("withDecryption")).lower() == "true":
        return [T(CREDENTIAL_ACCESS, "T1552", "Read SecureString SSM parameters with decryption", "high")]
    return [tech]


def _shared_out(row: Row, tech: Technique) -> list[Technique]:
    params = mapping(row, "request_parameters")
    if "'add'" in str(params) or params.get("valuesToAdd"):
        what = tech.title.removeprefix("Changed ").removesuffix(" sharing")
        return [_escalate(tech, "critical", f"Shared {what}s with another account or the public")]
    return [tech]


def _user_data(row: Row, tech: Technique) -> list[Technique]:
    if str(mapping(row, "request_parameters").get("attribute")) == "userData":
        return [T(CREDENTIAL_ACCESS, "T1552", "Read EC2 user data (often holds secrets)", "medium")]
    return [tech]


def _lifecycle(row: Row, tech: Technique) -> list[Technique]:
    blob = str(mapping(row, "request_parameters"))
    if "Expiration" in blob and "'Enabled'" in blob:
        return [_escalate(tech, "high", "Set bucket lifecycle rules that expire objects")]
    return [tech]


def _versioning(row: Row, tech: Technique) -> list[Technique]:
    if "Suspended" in str(mapping(row, "request_parameters")):
        return [_escalate(tech, "high", "Suspended bucket versioning")]
    return [tech]


def _public_access_block(row: Row, tech: Technique) -> list[Technique]:
    blob = str(mapping(row, "request_parameters"))
    if "False" in blob or "false" in blob:
        return [T(DEFENSE_EVASION, "T1562.007", "Weakened S3 Block Public Access", "high")]
    return []


def _ingress(row: Row, tech: Technique) -> list[Technique]:
    blob = str(mapping(row, "request_parameters"))
    if "/0'" in blob or "::/0" in blob:
        return [_escalate(tech, "high", "Opened security group ingress to the internet")]
    return [tech]


def _modify_instance(row: Row, tech: Technique) -> list[Technique]:
    if "userData" in mapping(row, "request_parameters"):
        return [T(EXECUTION, "T1059.009", "Changed EC2 user data (runs at next boot)", "high")]
    return []


def _lambda_permission(row: Row, tech: Technique) -> list[Technique]:
    if str(mapping(row, "request_parameters").get("principal")) == "*":
        return [_escalate(tech, "high", "Made Lambda functions invokable by anyone")]
    return [tech]


Refiner = Callable[[Row, Technique], list[Technique]]
REFINERS: dict[str, Refiner] = {
    "AttachUserPolicy": _admin_policy,
    "AttachRolePolicy": _admin_policy,
    "AttachGroupPolicy": _admin_policy,
    "CreateRole": _trust_policy,
    "UpdateAssumeRolePolicy": _trust_policy,
    "PutBucketPolicy": _bucket_policy,
    "AddPermission": _lambda_permission,
    "GetParameter": _ssm_params,
    "GetParameters": _ssm_params,
    "GetParametersByPath": _ssm_params,
    "ModifySnapshotAttribute": _shared_out,
    "ModifyImageAttribute": _shared_out,
    "ModifyDBSnapshotAttribute": _shared_out,
    "ModifyDBClusterSnapshotAttribute": _shared_out,
    "DescribeInstanceAttribute": _user_data,
    "PutBucketLifecycle": _lifecycle,
    "PutBucketVersioning": _versioning,
    "PutBucketPublicAccessBlock": _public_access_block,
    "PutPublicAccessBlock": _public_access_block,
    "AuthorizeSecurityGroupIngress": _ingress,
    "ModifyInstanceAttribute": _modify_instance,
}

_IAM_LISTS = ("ListUsers", "ListRoles", "ListPolicies", "ListGroups", "ListAccessKeys", "ListAttached")


def classify(row: Row) -> list[Technique]:
    """What one event means (usually one technique; none for an unremarkable write)."""
    svc, name = service(row), event_name(row)
    if name == "PutBucketLifecycleConfiguration":
        name = "PutBucketLifecycle"
    tech = TABLE.get((svc, name))
    if tech is None and svc == "iam" and name.startswith(_IAM_LISTS):
        tech = TABLE[("iam", "ListUsers")]
    if tech is None and name in REFINERS:
        # Events whose meaning is all in their parameters (they may mean nothing).
        tech = T(DISCOVERY, None, name, "low") if is_read(row) else T(DEFENSE_EVASION, None, name, "low")
    refine = REFINERS.get(name)
    if tech is not None:
        return refine(row, tech) if refine else [tech]
    if is_read(row) or name.startswith(("List", "Describe", "Get")):
        technique = _DISCOVERY_BY_SERVICE.get(svc, "T1526")
        return [T(DISCOVERY, technique, f"Recon of {svc or 'unknown service'} (List/Describe/Get)", "low")]
    return []


def _max_severity(values: Iterable[Severity]) -> Severity:
    return max(values, key=SEVERITIES.index, default="low")


def findings(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Report ``findings``: events grouped by (tactic, technique, title), in kill-chain order."""
    groups: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for row in rows:
        for tech in classify(row):
            key = (tech.tactic, tech.technique, tech.title)
            group = groups.setdefault(key, {"severities": [], "rows": []})
            group["severities"].append(tech.severity)
            group["rows"].append(row)
    gets = groups.get((COLLECTION, "T1530", TABLE[("s3", "GetObject")].title))
    if gets and len(gets["rows"]) >= BULK_GET_OBJECTS:
        groups[(EXFILTRATION, "T1567", f"Bulk S3 download ({len(gets['rows'])} GetObject calls)")] = {
            "severities": ["high"],
            "rows": list(gets["rows"]),
        }
    out = [_finding(key, g["rows"], _max_severity(g["severities"])) for key, g in groups.items()]
    out.sort(
        key=lambda f: (
            TACTIC_ORDER.index(f["tactic"]) if f["tactic"] in TACTIC_ORDER else len(TACTIC_ORDER),
            -SEVERITIES.index(f["severity"]),
            f["title"],
        )
    )
    return out


def _finding(key: tuple[str, str | None, str], rows: list[Row], severity: Severity) -> dict[str, Any]:
    tactic, technique, title = key
    failed = sum(1 for r in rows if not succeeded(r))
    times = sorted(iso_time(r) for r in rows)
    if failed and failed == len(rows):
        title = f"{title} (attempted: all {failed} failed)"
    elif failed:
        title = f"{title} ({failed} of {len(rows)} failed)"
    return {
        "tactic": tactic,
        "technique": technique,
        "title": title,
        "severity": severity,
        "event_ids": [text(r, "event_id") or "(no id)" for r in rows],
        "event_names": sorted({text(r, "event_name") or "?" for r in rows}),
        "count": len(rows),
        "succeeded": len(rows) - failed,
        "failed": failed,
        "attempted_only": failed == len(rows),
        "first_seen": times[0] if times else None,
        "last_seen": times[-1] if times else None,
        "credentials": sorted({text(r, "access_key_id") or "(none)" for r in rows}),
    }
