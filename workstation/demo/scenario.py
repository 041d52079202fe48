"""The demo's story: who owns what, which key leaked, where the attacker came from, and when."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Access key ids use the base32 alphabet (upper-case letters and 2-7), as AWS's do.
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

DEFAULT_ACCOUNT_ID = "111122223333"


@dataclass(frozen=True)
class RemoteIp:
    """An address the attacker used, with what GuardDuty and an IP classifier would say about it."""

    address: str
    kind: str  # "hosting", "tor" or "aws": what an IP classification should conclude
    asn: str
    asn_org: str
    isp: str
    org: str
    country: str
    city: str
    lat: float
    lon: float


# Illustrative attacker addresses, chosen from infrastructure ranges rather than anyone's home line:
# a DigitalOcean (AS14061) droplet range in Frankfurt, a range that Tor exit relays announce
# (185.220.101.0/24), and an EC2 eu-central-1 range (AS16509) for the attacker's own AWS account.
# None of them is known to have done anything; they only make IP classification non-trivial.
ATTACKER_IPS: tuple[RemoteIp, ...] = (
    RemoteIp(
        address="207.154.221.87",
        kind="hosting",
        asn="14061",
        asn_org="DIGITALOCEAN-ASN",
        isp="DigitalOcean, LLC",
        org="DigitalOcean, LLC",
        country="Germany",
        city="Frankfurt am Main",
        lat=50.1155,
        lon=8.6842,
    ),
    RemoteIp(
        address="185.220.101.47",
        kind="tor",
        asn="60729",
        asn_org="Stiftung Erneuerbare Freiheit",
        isp="Stiftung Erneuerbare Freiheit",
        org="Tor exit relay",
        country="Germany",
        city="",
        lat=51.2993,
        lon=9.491,
    ),
    RemoteIp(
        address="18.195.62.140",
        kind="aws",
        asn="16509",
        asn_org="AMAZON-02",
        isp="Amazon.com, Inc.",
        org="Amazon Data Services Germany",
        country="Germany",
        city="Frankfurt am Main",
        lat=50.1109,
        lon=8.6821,
    ),
)

# The office egress is in RFC 5737 documentation space on purpose: it is the legitimate side, and
# no real party's address should appear as "the victim's office".
OFFICE_IP = "203.0.113.24"
OWNER_CLI_UA = "aws-cli/2.15.17 Python/3.11.6 Darwin/23.3.0 exe/x86_64 prompt/off command/{command}"
OWNER_BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
ATTACKER_CLI_UA = (
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/{command}"
)
ATTACKER_SDK_UA = (
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 "
    "lang/python#3.11.5 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51"
)


@dataclass(frozen=True)
class Scenario:
    """One incident: an IAM user's key leaks, the attacker backdoors a bucket policy and reads data."""

    now: datetime  # the logs end here; the finding arrives shortly before
    account_id: str
    region: str
    other_region: str
    user_name: str
    user_id: str  # the user's principalId (AIDA...)
    exposed_key_id: str
    innocent_key_id: str  # the user's second key: legitimate, must stay active
    victim_bucket: str
    security_bucket: str  # a bucket the attacker probes and is denied
    trail_bucket: str
    export_role_name: str  # the role the victim bucket policy legitimately grants
    attacker_account_id: str  # external account the backdoor policy grants
    attacker_principal_id: str  # the attacker account's user seen in cross-account data events
    attacker_ips: tuple[RemoteIp, ...]
    office_ip: str
    owner_cli_user_agent: str  # with a {command} placeholder, as aws-cli v2 reports it
    owner_browser_user_agent: str
    attacker_cli_user_agent: str
    attacker_sdk_user_agent: str
    incident_start: datetime  # the attacker's first call
    backdoor_user_name: str
    backdoor_user_id: str
    backdoor_key_id: str
    session_key_id: str  # minted by the attacker's GetSessionToken
    colleague_user_name: str
    colleague_user_id: str
    colleague_key_id: str
    ci_role_name: str
    github_repo: str

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.user_name}"

    @property
    def victim_bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.victim_bucket}"

    @property
    def export_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.export_role_name}"

    @property
    def attacker_root_arn(self) -> str:
        return f"arn:aws:iam::{self.attacker_account_id}:root"

    @property
    def attack_ip_addresses(self) -> tuple[str, ...]:
        return tuple(ip.address for ip in self.attacker_ips)

    def remote_ip(self, address: str) -> RemoteIp:
        """The attacker address record for `address`."""
        for ip in self.attacker_ips:
            if ip.address == address:
                return ip
        raise KeyError(address)


def _ident(rng: random.Random, prefix: str, length: int = 16) -> str:
    return prefix + "".join(rng.choice(KEY_ALPHABET) for _ in range(length))


def default_scenario(
    now: datetime,
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    exposed_key_id: str | None = None,
    innocent_key_id: str | None = None,
    user_name: str = "dana.reyes",
    user_id: str | None = None,
    region: str = "us-east-1",
    backdoor_key_id: str | None = None,
    backdoor_user_id: str | None = None,
) -> Scenario:
    """The demo's incident, ending at `now`; the emulated account passes the ids it really created.

    Ids that are not given are derived from the account id, so a scenario is reproducible.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC).replace(microsecond=0)
    digest = hashlib.sha256(f"demo:{account_id}:{user_name}".encode()).hexdigest()
    rng = random.Random(digest)  # noqa: S311 - illustrative ids, not secrets
    return Scenario(
        now=now,
        account_id=account_id,
        region=region,
        other_region="eu-west-1" if region != "eu-west-1" else "us-west-2",
        user_name=user_name,
        user_id=user_id or _ident(rng, "AIDA", 17),
        exposed_key_id=exposed_key_id or _ident(rng, "AKIA"),
        innocent_key_id=innocent_key_id or _ident(rng, "AKIA"),
        victim_bucket=f"acme-customer-exports-{account_id}",
        security_bucket=f"acme-security-audit-{account_id}",
        trail_bucket=f"acme-cloudtrail-{account_id}",
        export_role_name="customer-export-writer",
        attacker_account_id="480726351940",
        attacker_principal_id=_ident(rng, "AIDA", 17),
        attacker_ips=ATTACKER_IPS,
        office_ip=OFFICE_IP,
        owner_cli_user_agent=OWNER_CLI_UA,
        owner_browser_user_agent=OWNER_BROWSER_UA,
        attacker_cli_user_agent=ATTACKER_CLI_UA,
        attacker_sdk_user_agent=ATTACKER_SDK_UA,
        incident_start=now - timedelta(hours=2, minutes=40),
        backdoor_user_name="svc-backup-sync",
        backdoor_user_id=backdoor_user_id or _ident(rng, "AIDA", 17),
        backdoor_key_id=backdoor_key_id or _ident(rng, "AKIA"),
        session_key_id=_ident(rng, "ASIA"),
        colleague_user_name="k.osei",
        colleague_user_id=_ident(rng, "AIDA", 17),
        colleague_key_id=_ident(rng, "AKIA"),
        ci_role_name="github-actions-deploy",
        github_repo="acme-corp/customer-portal",
    )
