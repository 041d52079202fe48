"""Source IP addresses of the activity: classification, AWS ranges, GuardDuty enrichment.

``sourceIPAddress`` is not always an IP: AWS services appear by name (``s3.amazonaws.com``,
``AWS Internal``) and anonymized logs hold strings like ``075.050.255.67`` that are no address at
all. Each value gets one classification, from the most to the least certain:
``invalid``, ``private``, ``reserved``, ``aws-service``, ``tor``, ``vpn``, ``aws``, ``hosting``, ``public``.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from responder.analysis.rows import Row, iso_time, text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 1918, CGNAT and IPv6 ULA: somebody's internal network (a VPC endpoint, a NAT, a VPN).
_PRIVATE_NETS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)

# Lower-cased substrings of GuardDuty's organization fields.
_VPN_ORGS = (
    "nordvpn",
    "expressvpn",
    "mullvad",
    "proton",
    "private internet access",
    "surfshark",
    "cyberghost",
    "ipvanish",
    "hide.me",
    "windscribe",
    "torguard",
    "packethub",
    "datacamp",
    "m247",
)
_HOSTING_ORGS = (
    "digitalocean",
    "ovh",
    "hetzner",
    "linode",
    "akamai",
    "vultr",
    "choopa",
    "the constant company",
    "contabo",
    "leaseweb",
    "scaleway",
    "online s.a.s",
    "google",
    "microsoft",
    "azure",
    "oracle",
    "alibaba",
    "tencent",
    "huawei cloud",
    "hostinger",
    "ionos",
    "hosting",
    "data center",
    "datacenter",
    "servers",
    "cloud",
)


@dataclass(frozen=True)
class AwsPrefix:
    prefix: str
    region: str | None
    service: str | None


@dataclass
class AwsIpRanges:
    """AWS's published ranges (ip-ranges.json format), looked up by prefix length."""

    source: str
    create_date: datetime | None
    sample: bool
    _by_len: dict[int, dict[IPNetwork, list[AwsPrefix]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source: str, sample: bool = False) -> AwsIpRanges:
        created = None
        raw_date = document.get("createDate")
        if raw_date:
            try:
                created = datetime.strptime(str(raw_date), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
            except ValueError:
                created = None
        ranges = cls(source=source, create_date=created, sample=sample)
        entries = list(document.get("prefixes") or []) + list(document.get("ipv6_prefixes") or [])
        for entry in entries:
            raw = entry.get("ip_prefix") or entry.get("ipv6_prefix")
            try:
                net = ipaddress.ip_network(str(raw), strict=False)
            except ValueError:
                continue
            item = AwsPrefix(prefix=str(net), region=entry.get("region"), service=entry.get("service"))
            ranges._by_len.setdefault(net.prefixlen + (1000 if net.version == 6 else 0), {}).setdefault(
                net, []
            ).append(item)
        return ranges

    @property
    def prefix_count(self) -> int:
        return sum(len(nets) for nets in self._by_len.values())

    def match(self, address: IPAddress) -> list[AwsPrefix]:
        """Every published entry containing the address, most specific prefix first."""
        found: list[AwsPrefix] = []
        offset = 1000 if address.version == 6 else 0
        for key in sorted(self._by_len, reverse=True):
            if (key >= 1000) != (offset == 1000):
                continue
            net = ipaddress.ip_network(f"{address}/{key - offset}", strict=False)
            found.extend(self._by_len[key].get(net, []))
        return found

    def age_days(self, now: datetime | None = None) -> int | None:
        if self.create_date is None:
            return None
        return ((now or datetime.now(UTC)) - self.create_date).days

    def describe(self, now: datetime | None = None) -> dict[str, Any]:
        """For the report: which ranges file answered 'is this AWS?', and how old it is."""
        return {
            "source": self.source,
            "create_date": self.create_date.strftime("%Y-%m-%dT%H:%M:%SZ") if self.create_date else None,
            "age_days": self.age_days(now),
            "prefixes": self.prefix_count,
            "sample": self.sample,
        }


SAMPLE_RANGES = "aws-ip-ranges.sample.json"


def load_ip_ranges(path: str | Path | None = None) -> AwsIpRanges:
    """The full ip-ranges.json at ``path``; without a path, the small sample shipped in responder/data."""
    if path is None:
        text_ = resources.files("responder").joinpath("data", SAMPLE_RANGES).read_text()
        return AwsIpRanges.from_document(
            json.loads(text_), source=f"responder/data/{SAMPLE_RANGES}", sample=True
        )
    path = Path(path)
    return AwsIpRanges.from_document(json.loads(path.read_text()), source=str(path), sample=False)


def is_service_name(value: str) -> bool:
    low = value.strip().lower()
    return low == "aws internal" or low.endswith((".amazonaws.com", ".aws.internal", ".amazon.com"))


def parse_ip(value: str | None) -> IPAddress | None:
    """An address, or None for anything that is not one (names, anonymized '075.050.255.67')."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _org_text(details: Mapping[str, Any] | None) -> str:
    org = (details or {}).get("organization") or {}
    return " ".join(str(org.get(k) or "") for k in ("asnOrg", "isp", "org")).lower()


def classify_ip(
    value: str | None,
    ranges: AwsIpRanges | None = None,
    details: Mapping[str, Any] | None = None,
) -> str:
    """One classification for a sourceIPAddress value (see the module docstring for the order)."""
    if value and is_service_name(value):
        return "aws-service"
    address = parse_ip(value)
    if address is None:
        return "invalid"
    if any(address in net for net in _PRIVATE_NETS if net.version == address.version):
        return "private"
    if not address.is_global:
        return "reserved"
    org = _org_text(details)
    if details and (details.get("tor") or details.get("is_tor") or " tor " in f" {org} "):
        return "tor"
    if details and details.get("threat_list"):
        return "threat-list"
    if any(name in org for name in _VPN_ORGS):
        return "vpn"
    if (ranges is not None and ranges.match(address)) or "amazon" in org:
        return "aws"
    if any(name in org for name in _HOSTING_ORGS):
        return "hosting"
    return "public"


def index_remote_ip_details(
    details: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> dict[str, Any]:
    """GuardDuty remoteIpDetails (a list of them, or already keyed by IP) -> {ip: details}."""
    if not details:
        return {}
    if isinstance(details, Mapping):
        return {str(k): v for k, v in details.items() if isinstance(v, Mapping)}
    out: dict[str, Any] = {}
    for item in details:
        ip = item.get("ipAddressV4") or item.get("ipAddressV6") or item.get("ip")
        if ip:
            out[str(ip)] = item
    return out


def _enrichment(details: Mapping[str, Any] | None) -> dict[str, Any]:
    if not details:
        return {}
    org = details.get("organization") or {}
    asn = org.get("asn")
    return {
        "asn": None if asn in (None, "", "-1") else str(asn),
        "org": org.get("asnOrg") or org.get("org") or org.get("isp"),
        "isp": org.get("isp"),
        "country": (details.get("country") or {}).get("countryName"),
        "city": (details.get("city") or {}).get("cityName"),
    }


def source_ips(
    rows: Sequence[Row],
    ranges: AwsIpRanges | None = None,
    remote_ip_details: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Report ``source_ips``: one entry per sourceIPAddress, busiest first."""
    enrich = index_remote_ip_details(remote_ip_details)
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(text(row, "source_ip") or "(none)", []).append(row)
    out: list[dict[str, Any]] = []
    for ip, group in groups.items():
        timed = sorted(group, key=iso_time)
        details = enrich.get(ip)
        address = parse_ip(ip)
        aws = ranges.match(address) if ranges is not None and address is not None else []
        specific = next((p for p in aws if p.service and p.service != "AMAZON"), aws[0] if aws else None)
        names = Counter(text(r, "event_name") or "?" for r in group)
        entry: dict[str, Any] = {
            "ip": ip,
            "event_count": len(group),
            "first_seen": iso_time(timed[0]),
            "last_seen": iso_time(timed[-1]),
            "user_agents": sorted({text(r, "user_agent") or "(none)" for r in group}),
            "classification": classify_ip(ip if ip != "(none)" else None, ranges, details),
            "errors": sum(1 for r in group if text(r, "error_code")),
            "credentials": sorted({text(r, "access_key_id") or "(none)" for r in group}),
            "regions": sorted({text(r, "aws_region") or "(none)" for r in group}),
            "top_events": [f"{name} x{count}" for name, count in names.most_common(5)],
            "aws_service": specific.service if specific else None,
            "aws_region": specific.region if specific else None,
        }
        entry.update(_enrichment(details))
        out.append(entry)
    out.sort(key=lambda e: (-e["event_count"], e["ip"]))
    return out
