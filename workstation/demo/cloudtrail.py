"""CloudTrail log files for the demo incident, laid out and shaped as CloudTrail delivers them.

``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16>.json.gz``,
each a gzip of ``{"Records": [...]}``, one file per region per 5-15 minutes of activity. The content:
two weeks of ordinary work (people, CI, Lambda, AWS Config, CloudTrail itself) and, at the end, the
attack of the playbook with the exposed key. Output is a pure function of the scenario and seed.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workstation.demo.scenario import KEY_ALPHABET, Scenario

Record = dict[str, Any]

SUPPORTED_EVENT_VERSIONS = ("1.08", "1.09")
TLS13 = "TLS_AES_128_GCM_SHA256"
EXPIRATION_FORMAT = "%b %d, %Y, %I:%M:%S %p"  # e.g. "Mar 1, 2026, 09:15:03 PM" (sessions)
CREATE_DATE_FORMAT = "%b %d, %Y %I:%M:%S %p"  # e.g. "Jul 30, 2024 9:53:13 PM" (IAM create*)
BACKDOOR_SID = "BackupReplicationAccess"
LAMBDA_IP = "3.238.94.17"  # illustrative EC2 us-east-1 (AS14618) egress of the account's Lambda
CI_IP = "20.102.38.119"  # illustrative Azure (AS8075) GitHub-hosted runner
COLLEAGUE_UA = "aws-cli/2.15.30 Python/3.11.8 Windows/10 exe/AMD64 prompt/off command/{command}"
ATTACKER_EC2_UA = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 "
    "prompt/off command/s3.sync"
)
LAMBDA_UA = (
    "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.209-219.812.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.34"
)
CI_UA = "aws-sdk-nodejs/2.1536.0 linux/v20.11.0 aws-cdk/2.128.0 promise"
CI_STS_UA = "configure-aws-credentials-for-github-actions"
EXPORT_DAYS = 30  # the victim bucket holds this many days of nightly exports


@dataclass(frozen=True)
class AttackCall:
    """One attacker call, in time order: enough to build a finding or narrate the incident."""

    event_time: datetime
    event_source: str
    event_name: str
    source_ip: str
    user_agent: str
    access_key_id: str | None
    identity_type: str
    error_code: str | None
    category: str  # Management or Data
    bucket: str | None


@dataclass
class LogSet:
    """What :func:`generate_logs` wrote, and the facts the demo needs to build the emulated account."""

    root: Path
    files: list[Path]
    total_events: int
    attack_events: int
    first_event_time: datetime
    last_event_time: datetime
    attack_start: datetime
    attack_end: datetime
    exposed_key_id: str
    session_key_id: str  # ASIA..., minted by the attacker's GetSessionToken
    backdoor_user_name: str
    backdoor_key_id: str
    attack_ips: list[str]
    bucket_policy_before: dict[str, Any]
    bucket_policy_after: dict[str, Any]
    objects_read: list[str]  # victim bucket keys the attacker downloaded, in order
    object_sizes: dict[str, int]  # sizes the logs claim (bytesTransferredOut)
    bytes_exfiltrated: int
    session_tokens: list[str]  # every sessionToken in the logs: secrets that must never be reported
    attack_calls: list[AttackCall] = field(default_factory=list)
    # With ``digests=True``: the trail's digest files, and its public key as ListPublicKeys prints it.
    digest_files: list[Path] = field(default_factory=list)
    public_keys: dict[str, Any] = field(default_factory=dict)


def bucket_policy_before(scenario: Scenario) -> dict[str, Any]:
    """The owner's policy on the victim bucket: TLS only, and the export job may write."""
    arn = scenario.victim_bucket_arn
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AllowExportWriter",
                "Effect": "Allow",
                "Principal": {"AWS": scenario.export_role_arn},
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{arn}/customers/*",
            },
        ],
    }


def bucket_policy_after(scenario: Scenario) -> dict[str, Any]:
    """The owner's policy plus the attacker's grant to the external account."""
    arn = scenario.victim_bucket_arn
    policy = bucket_policy_before(scenario)
    policy["Statement"].append(
        {
            "Sid": BACKDOOR_SID,
            "Effect": "Allow",
            "Principal": {"AWS": scenario.attacker_root_arn},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [arn, f"{arn}/*"],
        }
    )
    return policy


def log_file_name(account_id: str, region: str, delivered: datetime, suffix: str) -> str:
    """CloudTrail's object key for a log file delivered at ``delivered``."""
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    return (
        f"AWSLogs/{account_id}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{account_id}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
    )


def generate_logs(
    scenario: Scenario,
    out_dir: Path,
    *,
    days: int = 14,
    background_per_day: int = 110,
    seed: int = 0,
    digests: bool = False,
) -> LogSet:
    """Write ``days`` days of CloudTrail logs ending at ``scenario.now`` under ``out_dir``; with
    ``digests``, also the digest files of log-file validation (:mod:`workstation.demo.digests`)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if background_per_day < 0:
        raise ValueError("background_per_day must not be negative")
    gen = _Generator(scenario, random.Random(seed))  # noqa: S311 - reproducible fake data
    start = scenario.now - timedelta(days=days)
    gen.background(start, scenario.now, background_per_day)
    gen.attack()
    events = [e for e in gen.events if start <= e.time <= scenario.now]
    files = _write(scenario.account_id, events, out_dir, gen.rng)
    attack = sorted((e for e in events if e.attack), key=lambda e: e.time)
    times = [e.time for e in events]
    digest_files: list[Path] = []
    public_keys: dict[str, Any] = {}
    if digests:
        from workstation.demo.digests import write_digests

        digest_files, public_keys = write_digests(
            out_dir, files, account_id=scenario.account_id, bucket=scenario.trail_bucket, seed=seed
        )
    return LogSet(
        root=out_dir,
        files=files,
        total_events=len(events),
        attack_events=len(attack),
        first_event_time=min(times),
        last_event_time=max(times),
        attack_start=attack[0].time,
        attack_end=attack[-1].time,
        exposed_key_id=scenario.exposed_key_id,
        session_key_id=scenario.session_key_id,
        backdoor_user_name=scenario.backdoor_user_name,
        backdoor_key_id=scenario.backdoor_key_id,
        attack_ips=list(scenario.attack_ip_addresses),
        bucket_policy_before=bucket_policy_before(scenario),
        bucket_policy_after=bucket_policy_after(scenario),
        objects_read=gen.objects_read,
        object_sizes={k: gen.object_sizes[k] for k in gen.objects_read},
        bytes_exfiltrated=gen.bytes_exfiltrated,
        session_tokens=[t for t, when in gen.session_tokens if start <= when <= scenario.now],
        attack_calls=[_attack_call(e.record, e.time) for e in attack],
        digest_files=digest_files,
        public_keys=public_keys,
    )


# ------------------------------------------------------------------------------------------ writing


@dataclass
class _Event:
    time: datetime
    record: Record
    attack: bool


def _write(account_id: str, events: list[_Event], out_dir: Path, rng: random.Random) -> list[Path]:
    by_region: dict[str, list[_Event]] = {}
    for event in events:
        by_region.setdefault(event.record["awsRegion"], []).append(event)
    written: list[Path] = []
    for region in sorted(by_region):
        pending = sorted(by_region[region], key=lambda e: (e.time, e.record["eventID"]))
        i = 0
        while i < len(pending):
            window_end = pending[i].time + timedelta(minutes=rng.randint(5, 15))
            j = i
            while j < len(pending) and pending[j].time < window_end:
                j += 1
            batch = [e.record for e in pending[i:j]]
            # CloudTrail groups records as its backend processes them: nearly, not strictly, in order.
            for k in range(len(batch) - 1):
                if rng.random() < 0.25:
                    batch[k], batch[k + 1] = batch[k + 1], batch[k]
            delivered = (window_end + timedelta(minutes=rng.randint(1, 4))).replace(second=0)
            suffix = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
            path = out_dir / log_file_name(account_id, region, delivered, suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps({"Records": batch}, separators=(",", ":")).encode()
            path.write_bytes(gzip.compress(body, mtime=0))
            written.append(path)
            i = j
    return sorted(written)


def _attack_call(record: Record, when: datetime) -> AttackCall:
    identity = record["userIdentity"]
    bucket = (record.get("requestParameters") or {}).get("bucketName")
    return AttackCall(
        event_time=when,
        event_source=record["eventSource"],
        event_name=record["eventName"],
        source_ip=record["sourceIPAddress"],
        user_agent=record["userAgent"],
        access_key_id=identity.get("accessKeyId"),
        identity_type=identity.get("type", ""),
        error_code=record.get("errorCode"),
        category=record["eventCategory"],
        bucket=bucket,
    )


# ------------------------------------------------------------------------------- record building


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aws_date(when: datetime, fmt: str) -> str:
    # CloudTrail prints these without zero padding: "Mar 1, 2026, 9:05:03 PM".
    text = when.astimezone(UTC).strftime(fmt)
    return text.replace(" 0", " ")


def _host(service: str, region: str) -> str:
    if service in ("iam", "signin"):
        return "iam.amazonaws.com" if service == "iam" else "signin.aws.amazon.com"
    return f"{service}.{region}.amazonaws.com"


def _s3_host(region: str, bucket: str | None = None) -> str:
    base = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    return f"{bucket}.{base}" if bucket else base


class _Generator:
    """Builds records; every random choice comes from one seeded generator, in a fixed order."""

    def __init__(self, scenario: Scenario, rng: random.Random) -> None:
        self.sc = scenario
        self.rng = rng
        self.events: list[_Event] = []
        self.session_tokens: list[tuple[str, datetime]] = []
        self.object_sizes: dict[str, int] = {}
        self.object_created: dict[str, datetime] = {}
        self._session_created = scenario.incident_start
        self.objects_read: list[str] = []
        self.bytes_exfiltrated = 0
        self.role_ids: dict[str, str] = {}

    # --- random ids ------------------------------------------------------------------------------

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def key_id(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choice(KEY_ALPHABET) for _ in range(16))

    def role_id(self, role: str) -> str:
        if role not in self.role_ids:
            self.role_ids[role] = "AROA" + "".join(self.rng.choice(KEY_ALPHABET) for _ in range(17))
        return self.role_ids[role]

    def s3_request_id(self) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))

    def amz_id_2(self) -> str:
        return base64.b64encode(self.rng.randbytes(57)).decode()

    def session_token(self, when: datetime) -> str:
        """A realistic STS session token: a secret, so the demo can prove it is redacted."""
        body = base64.b64encode(self.rng.randbytes(self.rng.randint(560, 700))).decode()
        token = "IQoJb3JpZ2luX2VjE" + body
        self.session_tokens.append((token, when))
        return token

    # --- identities ------------------------------------------------------------------------------

    def iam_user(self, name: str, user_id: str, key: str | None) -> dict[str, Any]:
        identity: dict[str, Any] = {
            "type": "IAMUser",
            "principalId": user_id,
            "arn": f"arn:aws:iam::{self.sc.account_id}:user/{name}",
            "accountId": self.sc.account_id,
        }
        if key:
            identity["accessKeyId"] = key
        identity["userName"] = name
        return identity

    def user_session(self, name: str, user_id: str, key: str, created: datetime, mfa: bool) -> dict[str, Any]:
        """Temporary credentials of an IAM user (GetSessionToken or a console sign-in)."""
        identity = self.iam_user(name, user_id, key)
        identity["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": _ts(created), "mfaAuthenticated": str(mfa).lower()},
        }
        return identity

    def assumed_role(
        self, role: str, session: str, key: str, created: datetime, invoked_by: str | None = None
    ) -> dict[str, Any]:
        account = self.sc.account_id
        role_path = "aws-service-role/config.amazonaws.com/" if role == "AWSServiceRoleForConfig" else ""
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"{self.role_id(role)}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": self.role_id(role),
                    "arn": f"arn:aws:iam::{account}:role/{role_path}{role}",
                    "accountId": account,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": _ts(created), "mfaAuthenticated": "false"},
            },
        }
        if invoked_by:
            identity["invokedBy"] = invoked_by
        return identity

    # --- records ---------------------------------------------------------------------------------

    def emit(
        self,
        when: datetime,
        identity: dict[str, Any],
        service: str,
        name: str,
        region: str,
        ip: str,
        agent: str,
        *,
        read_only: bool,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        resources: list[dict[str, Any]] | None = None,
        additional: dict[str, Any] | None = None,
        data_event: bool = False,
        event_type: str = "AwsApiCall",
        host: str | None = None,
        request_id: str | None = None,
        attack: bool = False,
        shared_event_id: bool = False,
        console: bool = False,
    ) -> Record:
        """Append one record, keys in the order CloudTrail writes them."""
        internal = ip.endswith(".amazonaws.com") or ip == "AWS Internal"
        record: Record = {
            "eventVersion": "1.09" if service in ("s3", "sts", "iam", "signin") else "1.08",
            "userIdentity": identity,
            "eventTime": _ts(when),
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
        }
        if error:
            record["errorCode"], record["errorMessage"] = error
        record["requestParameters"] = request
        record["responseElements"] = None if error else response
        if additional is not None:
            record["additionalEventData"] = additional
        if event_type in {"AwsApiCall", "AwsConsoleSignIn"}:
            record["requestID"] = request_id or self.uuid()
        record["eventID"] = self.uuid()
        record["readOnly"] = read_only
        if resources is not None:
            record["resources"] = resources
        record["eventType"] = event_type
        record["managementEvent"] = not data_event
        record["recipientAccountId"] = self.sc.account_id
        if shared_event_id:
            record["sharedEventID"] = self.uuid()
        record["eventCategory"] = "Data" if data_event else "Management"
        if not internal:
            record["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": TLS13,
                "clientProvidedHostHeader": host or _host(service, region),
            }
        if console:
            record["sessionCredentialFromConsole"] = "true"
        self.events.append(_Event(when, record, attack))
        return record

    def s3(
        self,
        when: datetime,
        identity: dict[str, Any],
        name: str,
        ip: str,
        agent: str,
        *,
        bucket: str | None,
        read_only: bool,
        key: str | None = None,
        extra: dict[str, Any] | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
        error: tuple[str, str] | None = None,
        region: str | None = None,
        attack: bool = False,
        shared_event_id: bool = False,
    ) -> Record:
        """An S3 call: Host in the request, byte counts in additionalEventData, bucket/object resources."""
        region = region or self.sc.region
        host = _s3_host(region, bucket)
        request: dict[str, Any] = {}
        if bucket:
            request["bucketName"] = bucket
        request["Host"] = host
        if key is not None:
            request["key"] = key
        request.update(extra or {})
        additional: dict[str, Any] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": TLS13,
            "bytesTransferredIn": bytes_in,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": self.amz_id_2(),
            "bytesTransferredOut": bytes_out,
        }
        resources: list[dict[str, Any]] | None = None
        if bucket:
            resources = []
            if key is not None:
                resources.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
            resources.append(
                {"accountId": self.sc.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
            )
        return self.emit(
            when,
            identity,
            "s3",
            name,
            region,
            ip,
            agent,
            read_only=read_only,
            request=request,
            error=error,
            resources=resources,
            additional=additional,
            data_event=name in _S3_DATA_EVENTS,
            host=host,
            request_id=self.s3_request_id(),
            attack=attack,
            shared_event_id=shared_event_id,
        )

    # --- background ------------------------------------------------------------------------------

    def background(self, start: datetime, end: datetime, per_day: int) -> None:
        """Ordinary work: about ``per_day`` events a weekday, fewer at weekends."""
        self._seed_old_exports(start)
        day = start.replace(hour=0, minute=0, second=0)
        # One customer-managed key rotates inside the window (yearly rotation, so once at most).
        rotation_day = day + timedelta(days=(end - day).days // 2)
        while day < end:
            weekday = day.weekday() < 5
            target = per_day if weekday else per_day // 3
            count = 0
            count += self._export_job(day + timedelta(hours=2, minutes=self.rng.randint(5, 20)))
            for hour in range(self.rng.randint(0, 3), 24, 6):
                when = day + timedelta(hours=hour, minutes=self.rng.randint(0, 59))
                count += self._config_sweep(when)
                count += self._trail_acl_check(when + timedelta(minutes=self.rng.randint(1, 50)))
            if weekday:
                for _ in range(self.rng.choice((0, 1, 1, 2))):
                    count += self._ci_deploy(self._work_time(day))
                if self.rng.random() < 0.4:
                    count += self._console_session(self._work_time(day))
            if day == rotation_day:
                count += self._kms_rotation(day + timedelta(hours=self.rng.randint(0, 23)))
            people: list[Callable[[datetime], int]] = [self._owner_session, self._colleague_session]
            while count < target:
                count += self.rng.choice(people)(self._work_time(day) if weekday else self._any_time(day))
            day += timedelta(days=1)

    def _work_time(self, day: datetime) -> datetime:
        # The office keeps US-Eastern hours: 13:00-23:00 UTC.
        return day + timedelta(hours=self.rng.randint(13, 22), minutes=self.rng.randint(0, 59))

    def _any_time(self, day: datetime) -> datetime:
        return day + timedelta(hours=self.rng.randint(10, 23), minutes=self.rng.randint(0, 59))

    def _export_key(self, day: datetime) -> str:
        return f"customers/{day:%Y}/export-{day:%Y-%m-%d}.csv"

    def _seed_old_exports(self, start: datetime) -> None:
        """Exports written before the logs begin: they exist, and the attacker reads them too.

        The bucket holds a month of exports whatever the window, so the attack does not depend on it.
        """
        first = (self.sc.now - timedelta(days=EXPORT_DAYS)).replace(hour=0, minute=0, second=0)
        for back in range((start - first).days, 0, -1):
            day = start - timedelta(days=back)
            key = self._export_key(day)
            self.object_sizes[key] = self.rng.randint(800_000, 6_000_000)
            self.object_created[key] = day + timedelta(hours=2, minutes=12)
        for name, size in (("customers-master.csv", 14_682_317), ("payment-methods.csv", 3_208_554)):
            key = f"customers/{start.year}/{name}"
            self.object_sizes[key] = size
            self.object_created[key] = start - timedelta(days=30)

    def _export_job(self, when: datetime) -> int:
        """The nightly Lambda: the service assumes its role, the job writes the day's export."""
        sc = self.sc
        role = sc.export_role_name
        key = self.key_id("ASIA")
        session = "customer-export-job"
        role_arn = sc.export_role_arn
        self.emit(
            when,
            {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
            "sts",
            "AssumeRole",
            sc.region,
            "lambda.amazonaws.com",
            "lambda.amazonaws.com",
            read_only=True,
            request={"roleArn": role_arn, "roleSessionName": session},
            response={
                "credentials": {
                    "accessKeyId": key,
                    "sessionToken": self.session_token(when),
                    "expiration": _aws_date(when + timedelta(hours=12), EXPIRATION_FORMAT),
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{self.role_id(role)}:{session}",
                    "arn": f"arn:aws:sts::{sc.account_id}:assumed-role/{role}/{session}",
                },
            },
            resources=[{"accountId": sc.account_id, "type": "AWS::IAM::Role", "ARN": role_arn}],
            shared_event_id=True,
        )
        object_key = self._export_key(when)
        size = self.rng.randint(800_000, 6_000_000)
        self.object_sizes[object_key] = size
        written = when + timedelta(seconds=self.rng.randint(20, 200))
        self.object_created[object_key] = written
        self.s3(
            written,
            self.assumed_role(role, session, key, when),
            "PutObject",
            LAMBDA_IP,
            LAMBDA_UA,
            bucket=sc.victim_bucket,
            key=object_key,
            read_only=False,
            bytes_in=size,
            extra={"x-amz-server-side-encryption": "AES256"},
        )
        return 2

    def _config_sweep(self, when: datetime) -> int:
        """AWS Config's periodic describe calls through its service-linked role."""
        sc = self.sc
        key = self.key_id("ASIA")
        session = "AWSConfig-Describe"
        ident = self.assumed_role("AWSServiceRoleForConfig", session, key, when, "config.amazonaws.com")
        svc = "config.amazonaws.com"
        t = when
        for bucket in (sc.victim_bucket, sc.trail_bucket):
            for name, extra in (("GetBucketPolicy", {"policy": ""}), ("GetBucketAcl", {"acl": ""})):
                t += timedelta(seconds=self.rng.randint(1, 20))
                self.s3(t, ident, name, svc, svc, bucket=bucket, read_only=True, extra=extra)
        for region in (sc.region, sc.other_region):
            t += timedelta(seconds=self.rng.randint(1, 30))
            self.emit(
                t,
                ident,
                "ec2",
                "DescribeInstances",
                region,
                svc,
                svc,
                read_only=True,
                request={"instancesSet": {}, "filterSet": {}},
            )
        return 6

    def _trail_acl_check(self, when: datetime) -> int:
        """CloudTrail checks it may still write to its bucket (an AWS service as the caller)."""
        svc = "cloudtrail.amazonaws.com"
        self.s3(
            when,
            {"type": "AWSService", "invokedBy": svc},
            "GetBucketAcl",
            svc,
            svc,
            bucket=self.sc.trail_bucket,
            read_only=True,
            extra={"acl": ""},
        )
        return 1

    def _kms_rotation(self, when: datetime) -> int:
        """Automatic key rotation: an AwsServiceEvent, with no caller identity of its own."""
        sc = self.sc
        key_arn = f"arn:aws:kms:{sc.region}:{sc.account_id}:key/{self.uuid()}"
        self.emit(
            when,
            {"accountId": sc.account_id, "invokedBy": "AWS Internal"},
            "kms",
            "RotateKey",
            sc.region,
            "AWS Internal",
            "AWS Internal",
            read_only=False,
            additional={"keyId": key_arn},
            resources=[{"accountId": sc.account_id, "type": "AWS::KMS::Key", "ARN": key_arn}],
            event_type="AwsServiceEvent",
        )
        return 1

    def _ci_deploy(self, when: datetime) -> int:
        """A GitHub Actions deploy: OIDC into the deploy role, then CloudFormation."""
        sc = self.sc
        role = sc.ci_role_name
        role_arn = f"arn:aws:iam::{sc.account_id}:role/{role}"
        provider = f"arn:aws:iam::{sc.account_id}:oidc-provider/token.actions.githubusercontent.com"
        subject = f"repo:{sc.github_repo}:ref:refs/heads/main"
        key = self.key_id("ASIA")
        session = "GitHubActions"
        self.emit(
            when,
            {
                "type": "WebIdentityUser",
                "principalId": f"{provider}:sts.amazonaws.com:{subject}",
                "userName": subject,
                "identityProvider": provider,
            },
            "sts",
            "AssumeRoleWithWebIdentity",
            sc.region,
            CI_IP,
            CI_STS_UA,
            read_only=True,
            request={"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600},
            response={
                "credentials": {
                    "accessKeyId": key,
                    "sessionToken": self.session_token(when),
                    "expiration": _aws_date(when + timedelta(hours=1), EXPIRATION_FORMAT),
                },
                "subjectFromWebIdentityToken": subject,
                "assumedRoleUser": {
                    "assumedRoleId": f"{self.role_id(role)}:{session}",
                    "arn": f"arn:aws:sts::{sc.account_id}:assumed-role/{role}/{session}",
                },
                "provider": provider,
                "audience": "sts.amazonaws.com",
            },
            resources=[{"accountId": sc.account_id, "type": "AWS::IAM::Role", "ARN": role_arn}],
        )
        ident = self.assumed_role(role, session, key, when)
        stack = "customer-portal-prod"
        t = when
        calls: list[tuple[str, str, bool, dict[str, Any] | None]] = [
            ("sts", "GetCallerIdentity", True, None),
            ("cloudformation", "DescribeStacks", True, {"stackName": stack}),
            ("cloudformation", "CreateChangeSet", False, {"stackName": stack, "changeSetType": "UPDATE"}),
            ("cloudformation", "DescribeChangeSet", True, {"stackName": stack}),
            ("cloudformation", "ExecuteChangeSet", False, {"stackName": stack}),
            ("cloudformation", "DescribeStackEvents", True, {"stackName": stack}),
        ]
        for service, name, read_only, request in calls:
            t += timedelta(seconds=self.rng.randint(2, 40))
            self.emit(t, ident, service, name, sc.region, CI_IP, CI_UA, read_only=read_only, request=request)
        t += timedelta(seconds=self.rng.randint(20, 90))
        cfn = "cloudformation.amazonaws.com"
        exec_ident = self.assumed_role("cdk-cfn-exec-role", "AWSCloudFormation", self.key_id("ASIA"), t, cfn)
        self.emit(
            t,
            exec_ident,
            "lambda",
            "UpdateFunctionCode20150331v2",
            sc.region,
            cfn,
            cfn,
            read_only=False,
            request={"functionName": "customer-portal-api", "publish": False},
        )
        return len(calls) + 2

    def _console_session(self, when: datetime) -> int:
        """The owner signs in to the console (with MFA) and looks around."""
        sc = self.sc
        self.emit(
            when,
            self.iam_user(sc.user_name, sc.user_id, None),
            "signin",
            "ConsoleLogin",
            "us-east-1",
            sc.office_ip,
            sc.owner_browser_user_agent,
            read_only=False,
            response={"ConsoleLogin": "Success"},
            additional={
                "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
                "MobileVersion": "No",
                "MFAIdentifier": f"arn:aws:iam::{sc.account_id}:mfa/{sc.user_name}",
                "MFAUsed": "Yes",
            },
            event_type="AwsConsoleSignIn",
        )
        ident = self.user_session(sc.user_name, sc.user_id, self.key_id("ASIA"), when, mfa=True)
        t = when
        n = self.rng.randint(4, 10)
        for _ in range(n):
            t += timedelta(seconds=self.rng.randint(5, 120))
            choices: list[tuple[str, str, str, dict[str, Any] | None]] = [
                ("ec2", "DescribeInstances", sc.region, {"instancesSet": {}, "filterSet": {}}),
                ("ec2", "DescribeInstances", sc.other_region, {"instancesSet": {}, "filterSet": {}}),
                ("cloudwatch", "GetMetricData", sc.region, None),
                ("iam", "ListUsers", "us-east-1", None),
                ("lambda", "ListFunctions20150331", sc.region, None),
                ("ce", "GetCostAndUsage", "us-east-1", None),
            ]
            service, name, region, request = self.rng.choice(choices)
            self.emit(
                t,
                ident,
                service,
                name,
                region,
                sc.office_ip,
                sc.owner_browser_user_agent,
                read_only=True,
                request=request,
                console=True,
            )
        return n + 1

    def _owner_session(self, when: datetime) -> int:
        """The owner at the CLI: mostly the second key, sometimes the older (later exposed) one."""
        sc = self.sc
        # The exposed key was an old one kept on a build laptop; it stops being used legitimately
        # a day before the attacker finds it.
        use_exposed = when < sc.incident_start - timedelta(days=1) and self.rng.random() < 0.35
        key = sc.exposed_key_id if use_exposed else sc.innocent_key_id
        ident = self.iam_user(sc.user_name, sc.user_id, key)
        return self._cli_work(when, ident, sc.owner_cli_user_agent, owner=True)

    def _colleague_session(self, when: datetime) -> int:
        sc = self.sc
        ident = self.iam_user(sc.colleague_user_name, sc.colleague_user_id, sc.colleague_key_id)
        return self._cli_work(when, ident, COLLEAGUE_UA, owner=False)

    def _cli_work(self, when: datetime, ident: dict[str, Any], agent: str, *, owner: bool) -> int:
        sc = self.sc
        ip = sc.office_ip
        t = when
        n = self.rng.randint(3, 9)
        for _ in range(n):
            t += timedelta(seconds=self.rng.randint(2, 180))
            pick = self.rng.random()
            existing = sorted(k for k, made in self.object_created.items() if made < t)
            if owner and pick < 0.15 and existing:
                key = self.rng.choice(existing)
                self.s3(
                    t,
                    ident,
                    "GetObject",
                    ip,
                    agent.format(command="s3.cp"),
                    bucket=sc.victim_bucket,
                    key=key,
                    read_only=True,
                    bytes_out=self.object_sizes[key],
                )
            elif pick < 0.3:
                self.s3(
                    t, ident, "ListBuckets", ip, agent.format(command="s3.ls"), bucket=None, read_only=True
                )
            elif pick < 0.38:
                bucket = sc.victim_bucket if owner else sc.trail_bucket
                self.s3(
                    t,
                    ident,
                    "GetBucketPolicy",
                    ip,
                    agent.format(command="s3api.get-bucket-policy"),
                    bucket=bucket,
                    read_only=True,
                    extra={"policy": ""},
                )
            else:
                service, name, command, region, read_only, request = self.rng.choice(self._cli_ops(ident))
                self.emit(
                    t,
                    ident,
                    service,
                    name,
                    region,
                    ip,
                    agent.format(command=command),
                    read_only=read_only,
                    request=request,
                )
        return n

    def _cli_ops(self, ident: dict[str, Any]) -> list[tuple[str, str, str, str, bool, dict[str, Any] | None]]:
        sc = self.sc
        r1, r2 = sc.region, sc.other_region
        describe: dict[str, Any] = {"instancesSet": {}, "filterSet": {}}
        return [
            ("sts", "GetCallerIdentity", "sts.get-caller-identity", r1, True, None),
            ("ec2", "DescribeInstances", "ec2.describe-instances", r1, True, describe),
            ("ec2", "DescribeInstances", "ec2.describe-instances", r2, True, describe),
            ("ec2", "DescribeSecurityGroups", "ec2.describe-security-groups", r2, True, {}),
            ("lambda", "ListFunctions20150331", "lambda.list-functions", r1, True, None),
            ("logs", "DescribeLogGroups", "logs.describe-log-groups", r1, True, None),
            ("logs", "FilterLogEvents", "logs.filter-log-events", r2, True, {"logGroupName": "/app/api"}),
            ("cloudformation", "DescribeStacks", "cloudformation.describe-stacks", r1, True, None),
            ("iam", "ListAccessKeys", "iam.list-access-keys", "us-east-1", True, None),
            ("dynamodb", "DescribeTable", "dynamodb.describe-table", r1, True, {"tableName": "customers"}),
            (
                "ec2",
                "CreateTags",
                "ec2.create-tags",
                r2,
                False,
                {
                    "resourcesSet": {"items": [{"resourceId": f"i-0{self.rng.getrandbits(64):016x}"}]},
                    "tagSet": {"items": [{"key": "owner", "value": ident["userName"]}]},
                },
            ),
            (
                "logs",
                "PutRetentionPolicy",
                "logs.put-retention-policy",
                r1,
                False,
                {"logGroupName": "/app/api", "retentionInDays": 90},
            ),
        ]

    # --- the attack ------------------------------------------------------------------------------

    def attack(self) -> None:
        """The playbook's incident, in order, from the attacker's addresses."""
        t = self._recon(self.sc.incident_start)
        t = self._mint_session(t + timedelta(minutes=3))
        t = self._persist(t + timedelta(minutes=6))
        t = self._backdoor_bucket(t + timedelta(minutes=4))
        t = self._exfiltrate(t + timedelta(minutes=5))
        self._external_reads(t + timedelta(minutes=9))

    def _denied(self, action: str, resource: str = "*", why: str = "no identity-based policy allows") -> str:
        return (
            f"User: {self.sc.user_arn} is not authorized to perform: {action} on resource: {resource} "
            f"because {why} the {action} action"
        )

    def _recon(self, start: datetime) -> datetime:
        sc = self.sc
        ip = sc.attacker_ips[0].address
        ident = self.iam_user(sc.user_name, sc.user_id, sc.exposed_key_id)
        cli = sc.attacker_cli_user_agent
        denied_iam = ("AccessDenied", self._denied("iam:GetAccountAuthorizationDetails"))
        secrets_msg = (
            f"User: {sc.user_arn} is not authorized to perform: secretsmanager:ListSecrets because no "
            "identity-based policy allows the secretsmanager:ListSecrets action"
        )
        steps: list[tuple[str, str, str, str, bool, dict[str, Any] | None, tuple[str, str] | None]] = [
            ("sts", "GetCallerIdentity", "sts.get-caller-identity", sc.region, True, None, None),
            ("iam", "GetUser", "iam.get-user", "us-east-1", True, None, None),
            ("iam", "ListAttachedUserPolicies", "iam.list-attached-user-policies", "us-east-1", True,
             {"userName": sc.user_name}, None),
            ("iam", "ListUserPolicies", "iam.list-user-policies", "us-east-1", True,
             {"userName": sc.user_name}, None),
            ("iam", "ListGroupsForUser", "iam.list-groups-for-user", "us-east-1", True,
             {"userName": sc.user_name}, None),
            ("iam", "GetAccountAuthorizationDetails", "iam.get-account-authorization-details",
             "us-east-1", True, None, denied_iam),
            ("iam", "ListUsers", "iam.list-users", "us-east-1", True, None, None),
            ("iam", "ListRoles", "iam.list-roles", "us-east-1", True, None, None),
        ]  # fmt: skip
        t = start
        for service, name, command, region, read_only, request, error in steps:
            self.emit(
                t,
                ident,
                service,
                name,
                region,
                ip,
                cli.format(command=command),
                read_only=read_only,
                request=request,
                error=error,
                attack=True,
            )
            t += timedelta(seconds=self.rng.randint(8, 45))
        self.s3(
            t, ident, "ListBuckets", ip, cli.format(command="s3.ls"), bucket=None, read_only=True, attack=True
        )
        for bucket, error in (
            (sc.victim_bucket, None),
            (sc.security_bucket, ("AccessDenied", "Access Denied")),
            (sc.trail_bucket, ("AccessDenied", "Access Denied")),
        ):
            t += timedelta(seconds=self.rng.randint(5, 30))
            self.s3(
                t,
                ident,
                "GetBucketPolicy",
                ip,
                cli.format(command="s3api.get-bucket-policy"),
                bucket=bucket,
                read_only=True,
                extra={"policy": ""},
                error=error,
                attack=True,
            )
        t += timedelta(seconds=self.rng.randint(10, 40))
        self.emit(
            t,
            ident,
            "secretsmanager",
            "ListSecrets",
            sc.region,
            ip,
            cli.format(command="secretsmanager.list-secrets"),
            read_only=True,
            error=("AccessDenied", secrets_msg),
            attack=True,
        )
        for region in (sc.region, sc.other_region):
            t += timedelta(seconds=self.rng.randint(5, 25))
            self.emit(
                t,
                ident,
                "ec2",
                "DescribeInstances",
                region,
                ip,
                cli.format(command="ec2.describe-instances"),
                read_only=True,
                request={"instancesSet": {}, "filterSet": {}},
                attack=True,
            )
        return t

    def _mint_session(self, t: datetime) -> datetime:
        """GetSessionToken: temporary credentials that outlive disabling the key, unless revoked."""
        sc = self.sc
        ip = sc.attacker_ips[0].address
        ident = self.iam_user(sc.user_name, sc.user_id, sc.exposed_key_id)
        self.emit(
            t,
            ident,
            "sts",
            "GetSessionToken",
            sc.region,
            ip,
            sc.attacker_cli_user_agent.format(command="sts.get-session-token"),
            read_only=True,
            request={"durationSeconds": 129600},
            response={
                "credentials": {
                    "accessKeyId": sc.session_key_id,
                    "sessionToken": self.session_token(t),
                    "expiration": _aws_date(t + timedelta(seconds=129600), EXPIRATION_FORMAT),
                }
            },
            host=f"sts.{sc.region}.amazonaws.com",
            attack=True,
        )
        self._session_created = t
        session = self.user_session(sc.user_name, sc.user_id, sc.session_key_id, t, mfa=False)
        sdk = sc.attacker_sdk_user_agent
        t += timedelta(seconds=self.rng.randint(40, 90))
        self.emit(t, session, "sts", "GetCallerIdentity", sc.region, ip, sdk, read_only=True, attack=True)
        t += timedelta(seconds=self.rng.randint(5, 20))
        self.s3(t, session, "ListBuckets", ip, sdk, bucket=None, read_only=True, attack=True)
        for name, extra in (
            ("GetBucketLocation", {"location": ""}),
            ("GetBucketVersioning", {"versioning": ""}),
            ("GetBucketPublicAccessBlock", {"publicAccessBlock": ""}),
            ("ListObjects", {"list-type": "2", "prefix": "", "delimiter": "/", "encoding-type": "url"}),
        ):
            t += timedelta(seconds=self.rng.randint(3, 15))
            self.s3(
                t, session, name, ip, sdk, bucket=sc.victim_bucket, read_only=True, extra=extra, attack=True
            )
        return t

    def _persist(self, t: datetime) -> datetime:
        """A backdoor user with its own key. IAM refuses GetSessionToken credentials without MFA,
        so the attacker goes back to the exposed long-term key for these calls."""
        sc = self.sc
        ip = sc.attacker_ips[0].address
        ident = self.iam_user(sc.user_name, sc.user_id, sc.exposed_key_id)
        cli = sc.attacker_cli_user_agent
        name = sc.backdoor_user_name
        self.emit(
            t,
            ident,
            "iam",
            "CreateUser",
            "us-east-1",
            ip,
            cli.format(command="iam.create-user"),
            read_only=False,
            request={"userName": name},
            response={
                "user": {
                    "path": "/",
                    "userName": name,
                    "userId": sc.backdoor_user_id,
                    "arn": f"arn:aws:iam::{sc.account_id}:user/{name}",
                    "createDate": _aws_date(t, CREATE_DATE_FORMAT),
                }
            },
            attack=True,
        )
        t += timedelta(seconds=self.rng.randint(10, 30))
        # CloudTrail never records the secret access key of a new key: only its id.
        self.emit(
            t,
            ident,
            "iam",
            "CreateAccessKey",
            "us-east-1",
            ip,
            cli.format(command="iam.create-access-key"),
            read_only=False,
            request={"userName": name},
            response={
                "accessKey": {
                    "accessKeyId": sc.backdoor_key_id,
                    "createDate": _aws_date(t, CREATE_DATE_FORMAT),
                    "status": "Active",
                    "userName": name,
                }
            },
            attack=True,
        )
        t += timedelta(seconds=self.rng.randint(10, 30))
        policy = "arn:aws:iam::aws:policy/AdministratorAccess"
        boundary_msg = self._denied(
            "iam:AttachUserPolicy",
            f"user {name}",
            "no permissions boundary allows",
        )
        self.emit(
            t,
            ident,
            "iam",
            "AttachUserPolicy",
            "us-east-1",
            ip,
            cli.format(command="iam.attach-user-policy"),
            read_only=False,
            request={"userName": name, "policyArn": policy},
            error=("AccessDenied", boundary_msg),
            attack=True,
        )
        t += timedelta(seconds=self.rng.randint(30, 90))
        backdoor = self.iam_user(name, sc.backdoor_user_id, sc.backdoor_key_id)
        self.emit(
            t,
            backdoor,
            "sts",
            "GetCallerIdentity",
            sc.region,
            ip,
            cli.format(command="sts.get-caller-identity"),
            read_only=True,
            attack=True,
        )
        return t

    def _backdoor_bucket(self, t: datetime) -> datetime:
        """PutBucketPolicy: the owner's statements kept, a grant to the attacker's account added."""
        sc = self.sc
        ip = sc.attacker_ips[0].address
        session = self.user_session(
            sc.user_name, sc.user_id, sc.session_key_id, self._session_created, mfa=False
        )
        sdk = sc.attacker_sdk_user_agent
        self.s3(
            t,
            session,
            "GetBucketPolicy",
            ip,
            sdk,
            bucket=sc.victim_bucket,
            read_only=True,
            extra={"policy": ""},
            attack=True,
        )
        t += timedelta(seconds=self.rng.randint(30, 120))
        policy = bucket_policy_after(sc)
        self.s3(
            t,
            session,
            "PutBucketPolicy",
            ip,
            sdk,
            bucket=sc.victim_bucket,
            read_only=False,
            extra={"bucketPolicy": policy, "policy": [""]},
            bytes_in=len(json.dumps(policy)),
            attack=True,
        )
        return t

    def _exfiltrate(self, t: datetime) -> datetime:
        """`aws s3 sync` with the exposed key, then a few stragglers fetched with the session key."""
        sc = self.sc
        ip = sc.attacker_ips[0].address
        ident = self.iam_user(sc.user_name, sc.user_id, sc.exposed_key_id)
        session = self.user_session(
            sc.user_name, sc.user_id, sc.session_key_id, self._session_created, mfa=False
        )
        sync = sc.attacker_cli_user_agent.format(command="s3.sync")
        keys = sorted(k for k in self.object_sizes if k.startswith("customers/") and self._exists(k, t))
        self.s3(
            t,
            ident,
            "ListObjects",
            ip,
            sync,
            bucket=sc.victim_bucket,
            read_only=True,
            extra={"list-type": "2", "prefix": "customers/", "encoding-type": "url"},
            attack=True,
        )
        bulk, stragglers = keys[:-3], keys[-3:]
        for key in bulk:
            t += timedelta(seconds=self.rng.randint(1, 6))
            self._read(t, ident, key, ip, sync)
        t += timedelta(minutes=self.rng.randint(6, 12))
        for key in stragglers:
            t += timedelta(seconds=self.rng.randint(20, 60))
            self._read(t, session, key, ip, sc.attacker_sdk_user_agent)
        # The same key, once, from a second address (a Tor exit): the attacker checks it still works.
        t += timedelta(minutes=self.rng.randint(8, 15))
        tor = sc.attacker_ips[1].address
        ident = self.iam_user(sc.user_name, sc.user_id, sc.exposed_key_id)
        cli = sc.attacker_cli_user_agent.format(command="sts.get-caller-identity")
        self.emit(t, ident, "sts", "GetCallerIdentity", sc.region, tor, cli, read_only=True, attack=True)
        return t

    def _exists(self, key: str, when: datetime) -> bool:
        return self.object_created[key] < when

    def _read(self, t: datetime, ident: dict[str, Any], key: str, ip: str, agent: str, **kw: Any) -> None:
        size = self.object_sizes[key]
        self.s3(
            t,
            ident,
            "GetObject",
            ip,
            agent,
            bucket=self.sc.victim_bucket,
            key=key,
            read_only=True,
            bytes_out=size,
            attack=True,
            **kw,
        )
        if key not in self.objects_read:
            self.objects_read.append(key)
        self.bytes_exfiltrated += size

    def _external_reads(self, t: datetime) -> None:
        """The attacker's own account reads through the backdoor policy: no key of ours involved."""
        sc = self.sc
        ip = sc.attacker_ips[2].address
        ident = {
            "type": "AWSAccount",
            "principalId": sc.attacker_principal_id,
            "accountId": sc.attacker_account_id,
        }
        self.s3(
            t,
            ident,
            "ListObjects",
            ip,
            ATTACKER_EC2_UA,
            bucket=sc.victim_bucket,
            read_only=True,
            extra={"list-type": "2", "prefix": "customers/", "encoding-type": "url"},
            attack=True,
            shared_event_id=True,
        )
        newest = [k for k in self.objects_read if "export-" in k][-4:]
        for key in newest:
            t += timedelta(seconds=self.rng.randint(1, 5))
            self._read(t, ident, key, ip, ATTACKER_EC2_UA, shared_event_id=True)


_S3_DATA_EVENTS = frozenset(
    {"GetObject", "PutObject", "ListObjects", "HeadObject", "DeleteObject", "CopyObject"}
)
