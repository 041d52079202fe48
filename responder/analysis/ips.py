"""Source IP addresses of the activity: classification, reputation sources, GuardDuty enrichment.

``sourceIPAddress`` is not always an IP: AWS services appear by name (``s3.amazonaws.com``,
``AWS Internal``) and anonymized logs hold strings like ``075.050.255.67`` that are no address at
all. Each value gets one classification, the first that applies in this order:
``invalid`` (no address, and not an AWS service name), ``private``, ``reserved``, ``aws-service``
(a service principal's name), ``threat-list`` (our own list in S3), ``tor``, ``vpn`` (a VPN
provider named by GuardDuty), ``aws`` (AWS's published ranges), ``hosting`` (GuardDuty's ASN
organization is a hosting company), ``public``.

Reputation sources (:class:`IpIntel`): AWS ip-ranges.json, the Tor bulk exit list and a custom
threat list, each with the date it describes; reports carry ``ip_sources`` with each one's age.
Offline runs use the snapshots shipped in ``responder/data`` or a cache directory filled by
:func:`refresh` where network exists.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from responder.analysis.agents import ua_groups
from responder.analysis.rows import Row, iso_time, text

logger = logging.getLogger(__name__)

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
    "m247",
    "frantech",
    "buyvm",
    "psychz",
    "colocrossing",
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

    def source_entry(self, now: datetime | None = None) -> dict[str, Any]:
        """This file as one of the report's ``ip_sources``."""
        return _source_entry(
            "aws-ip-ranges",
            self.source,
            self.create_date,
            now,
            entries=self.prefix_count,
            note="sample excerpt, not the full list" if self.sample else None,
        )


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _source_entry(
    name: str,
    source: str,
    as_of: datetime | None,
    now: datetime | None,
    *,
    entries: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    age = None if as_of is None else max(0, ((now or datetime.now(UTC)) - as_of).days)
    entry: dict[str, Any] = {"name": name, "source": source, "as_of": _iso(as_of), "age_days": age}
    if entries is not None:
        entry["entries"] = entries
    if note:
        entry["note"] = note
    return entry


def _parse_date(value: str) -> datetime | None:
    value = value.strip()
    for parse in (
        lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
        lambda v: datetime.strptime(v, "%Y-%m-%d-%H-%M-%S"),
    ):
        try:
            parsed = parse(value)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


@dataclass
class AddressList:
    """A list of addresses and CIDRs (Tor exits, a threat list), each with an optional label.

    Text format: one address or CIDR per line, ``#`` starts a comment; a comment after an entry
    is its label (``203.0.113.9  # C2 of campaign X``); header lines ``# source: ...`` and
    ``# as_of: <ISO date>`` say where the list came from and which day it describes.
    """

    name: str
    source: str
    as_of: datetime | None
    skipped: int = 0
    _by_len: dict[int, dict[IPNetwork, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_text(
        cls, body: str, *, name: str, source: str | None = None, as_of: datetime | None = None
    ) -> AddressList:
        found = cls(name=name, source=source or name, as_of=as_of)
        for line in body.splitlines():
            entry, _, comment = line.partition("#")
            entry, comment = entry.strip(), comment.strip()
            if not entry:
                key, _, value = comment.partition(":")
                if key.strip().lower() == "as_of" and found.as_of is None:
                    found.as_of = _parse_date(value)
                elif key.strip().lower() == "source" and source is None and value.strip():
                    found.source = value.strip()
                continue
            try:
                net = ipaddress.ip_network(entry.split()[0], strict=False)
            except ValueError:
                found.skipped += 1
                continue
            bucket = found._by_len.setdefault(net.prefixlen + (1000 if net.version == 6 else 0), {})
            bucket[net] = comment
        return found

    def __len__(self) -> int:
        return sum(len(nets) for nets in self._by_len.values())

    def match(self, address: IPAddress) -> str | None:
        """The label of the most specific entry holding the address ('' when unlabelled), or None."""
        offset = 1000 if address.version == 6 else 0
        for key in sorted(self._by_len, reverse=True):
            if (key >= 1000) != (offset == 1000):
                continue
            net = ipaddress.ip_network(f"{address}/{key - offset}", strict=False)
            if net in self._by_len[key]:
                return self._by_len[key][net]
        return None

    def to_text(self) -> str:
        """The list back in its text format, with the source and as_of header (for a cache)."""
        lines = [f"# source: {self.source}", f"# as_of: {_iso(self.as_of) or 'unknown'}"]
        for key in sorted(self._by_len):
            for net, label in sorted(self._by_len[key].items(), key=lambda item: str(item[0])):
                lines.append(f"{net}  # {label}" if label else str(net))
        return "\n".join(lines) + "\n"

    def source_entry(self, now: datetime | None = None) -> dict[str, Any]:
        note = f"{self.skipped} unparseable line(s) skipped" if self.skipped else None
        return _source_entry(self.name, self.source, self.as_of, now, entries=len(self), note=note)


SAMPLE_RANGES = "aws-ip-ranges.sample.json"
TOR_SNAPSHOT = "tor-exits.snapshot.txt"
AWS_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
TOR_EXITS_URL = "https://check.torproject.org/torbulkexitlist"
# Names of the files in a cache directory filled by refresh().
CACHED_RANGES = "ip-ranges.json"
CACHED_TOR = "tor-exits.txt"
CACHED_THREAT = "threat-list.txt"


def load_ip_ranges(path: str | Path | None = None) -> AwsIpRanges:
    """The full ip-ranges.json at ``path``; without a path, the small sample shipped in responder/data."""
    if path is None:
        text_ = resources.files("responder").joinpath("data", SAMPLE_RANGES).read_text()
        return AwsIpRanges.from_document(
            json.loads(text_), source=f"responder/data/{SAMPLE_RANGES}", sample=True
        )
    path = Path(path)
    return AwsIpRanges.from_document(json.loads(path.read_text()), source=str(path), sample=False)


def load_tor_exits(path: str | Path | None = None) -> AddressList:
    """Tor exits from ``path`` (a refreshed cache), else the seed snapshot shipped in responder/data."""
    if path is None:
        body = resources.files("responder").joinpath("data", TOR_SNAPSHOT).read_text()
        tor = AddressList.from_text(body, name="tor-exits")
        tor.source = f"responder/data/{TOR_SNAPSHOT} ({tor.source})"
        return tor
    tor = AddressList.from_text(Path(path).read_text(), name="tor-exits")
    if tor.source == tor.name:  # no '# source:' header: name the file
        tor.source = str(path)
    return tor


def load_threat_list(s3: Any, bucket: str, key: str, *, cache_dir: str | Path | None = None) -> AddressList:
    """Our own threat list: a text object in S3 (addresses, CIDRs, ``#`` comments).

    Its date is the ``# as_of:`` header when present, else the object's LastModified. With
    ``cache_dir`` a copy is kept there, and used (saying so) when S3 cannot be read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    uri = f"s3://{bucket}/{key}"
    cache = Path(cache_dir) / CACHED_THREAT if cache_dir is not None else None
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        if cache is None or not cache.is_file():
            raise
        found = AddressList.from_text(cache.read_text(), name="threat-list")
        found.source = f"{found.source} (cached copy: {type(exc).__name__} reading {uri})"
        return found
    body = obj["Body"].read().decode("utf-8", errors="replace")
    found = AddressList.from_text(body, name="threat-list", source=uri)
    if found.as_of is None:
        modified = obj.get("LastModified")
        found.as_of = modified.astimezone(UTC) if isinstance(modified, datetime) else None
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(found.to_text())
    return found


@dataclass
class IpIntel:
    """Every reputation source one classification consults, for the report's ``ip_sources``."""

    ranges: AwsIpRanges
    tor: AddressList | None = None
    threat: AddressList | None = None

    def sources(self, now: datetime | None = None, *, guardduty: bool = False) -> list[dict[str, Any]]:
        out = [self.ranges.source_entry(now)]
        out += [s.source_entry(now) for s in (self.tor, self.threat) if s is not None]
        if guardduty:
            out.append(
                _source_entry(
                    "guardduty",
                    "remoteIpDetails of the finding",
                    None,
                    now,
                    note="ASN, organization and country as GuardDuty saw them when it raised the finding",
                )
            )
        return out


def load_ip_intel(cache_dir: str | Path | None = None, *, threat: AddressList | None = None) -> IpIntel:
    """The sources for classification: refreshed copies in ``cache_dir`` where present, else shipped ones."""
    folder = Path(cache_dir) if cache_dir is not None else None
    ranges_file = folder / CACHED_RANGES if folder else None
    tor_file = folder / CACHED_TOR if folder else None
    if threat is None and folder is not None and (folder / CACHED_THREAT).is_file():
        threat = AddressList.from_text((folder / CACHED_THREAT).read_text(), name="threat-list")
    return IpIntel(
        ranges=load_ip_ranges(ranges_file if ranges_file and ranges_file.is_file() else None),
        tor=load_tor_exits(tor_file if tor_file and tor_file.is_file() else None),
        threat=threat,
    )


def _http_get(url: str) -> bytes:
    import urllib.request

    if not url.startswith("https://"):
        raise ValueError(f"refusing a non-https source: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "exposed-key-responder"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (https only, checked above)
        body: bytes = response.read()
    return body


def _checked_ranges(http: Callable[[str], bytes]) -> bytes:
    """AWS's ip-ranges.json, as fetched, once it parses and holds prefixes."""
    raw = http(AWS_RANGES_URL)
    if len(raw) > MAX_SOURCE_BYTES:
        raise ValueError(f"{len(raw)} bytes: more than a ranges file holds")
    ranges = AwsIpRanges.from_document(json.loads(raw), source=AWS_RANGES_URL)
    if not ranges.prefix_count:
        raise ValueError("no prefixes in the document")
    return raw


def _checked_tor(http: Callable[[str], bytes], stamp: datetime) -> bytes:
    """The Tor bulk exit list, dated, once it holds addresses."""
    raw = http(TOR_EXITS_URL)
    if len(raw) > MAX_SOURCE_BYTES:
        raise ValueError(f"{len(raw)} bytes: more than an exit list holds")
    tor = AddressList.from_text(
        raw.decode("utf-8", errors="replace"), name="tor-exits", source=TOR_EXITS_URL, as_of=stamp
    )
    if not len(tor):
        raise ValueError("no addresses in the list")
    return tor.to_text().encode()


def refresh(
    cache_dir: str | Path,
    *,
    http: Callable[[str], bytes] = _http_get,
    now: datetime | None = None,
) -> dict[str, str]:
    """Fetch AWS ip-ranges.json and the Tor bulk exit list into ``cache_dir``.

    Each source is checked (it must parse and hold entries) before it replaces the cached copy; a
    source that fails keeps its previous copy. Returns ``{name: "refreshed" | "failed: <reason>"}``.
    Needs network: the workflow calls it through :func:`refresh_shared`, the tests with a fake ``http``.
    """
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now or datetime.now(UTC)
    result: dict[str, str] = {}
    for name, file, fetch in _SOURCES:
        try:
            _replace(folder / file, fetch(http, stamp))
            result[name] = "refreshed"
        except Exception as exc:  # one failed source must not stop the other; the caller sees why
            logger.warning("ip source refresh failed: %s: %r", name, exc)
            result[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return result


MAX_SOURCE_BYTES = 32 << 20  # ip-ranges.json is about 2 MB; the exit list well under 1 MB
SHARED_PREFIX = "intel/ip-sources"
SHARED_MAX_AGE = timedelta(hours=24)
_SOURCES: tuple[tuple[str, str, Callable[[Callable[[str], bytes], datetime], bytes]], ...] = (
    ("aws-ip-ranges", CACHED_RANGES, lambda http, _stamp: _checked_ranges(http)),
    ("tor-exits", CACHED_TOR, _checked_tor),
)


def refresh_shared(
    s3: Any,
    bucket: str,
    cache_dir: str | Path,
    *,
    http: Callable[[str], bytes] = _http_get,
    now: datetime | None = None,
    max_age: timedelta = SHARED_MAX_AGE,
) -> dict[str, str]:
    """Current AWS ranges and Tor exits for a deployed run, into ``cache_dir`` (which
    :func:`load_ip_intel` then reads): the container's copy while younger than ``max_age``, else the
    day's copy in the evidence bucket (``intel/ip-sources/<day>/``, written once), else fetched,
    checked, and kept there for the day's other runs. Never raises: a source that cannot be had
    leaves the older copy, or the shipped snapshot, and the report's ``ip_sources`` says how old it is.
    Returns ``{name: "cached" | "shared <day>" | "refreshed" | "failed: <reason>"}``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from responder.errors import EvidenceConflict, error_code
    from responder.evidence import put_evidence, read_evidence

    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now or datetime.now(UTC)
    day = stamp.strftime("%Y-%m-%d")
    result: dict[str, str] = {}
    for name, file, fetch in _SOURCES:
        local = folder / file
        if local.is_file() and stamp.timestamp() - local.stat().st_mtime < max_age.total_seconds():
            result[name] = "cached"
            continue
        key = f"{SHARED_PREFIX}/{day}/{file}"
        uri = f"s3://{bucket}/{key}"
        try:
            try:
                body = read_evidence(s3, uri)
                result[name] = f"shared {day}"
            except ClientError as exc:
                if error_code(exc) not in ("NoSuchKey", "404"):
                    raise
                body = fetch(http, stamp)
                try:
                    put_evidence(s3, bucket, key, body, content_type="text/plain")
                except EvidenceConflict:  # another run of the day kept its copy first: use that one
                    body = read_evidence(s3, uri)
                result[name] = "refreshed"
            _replace(local, body)
        except (ClientError, BotoCoreError, OSError, ValueError) as exc:
            logger.warning("ip source refresh failed: %s: %r", name, exc)
            result[name] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return result


def _replace(path: Path, body: bytes) -> None:
    """Write then rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(path)


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
    *,
    tor: AddressList | None = None,
    threat: AddressList | None = None,
) -> str:
    """One classification for a sourceIPAddress value (see the module docstring for the order)."""
    if value and is_service_name(value):
        # A service's name is no address, but it is not malformed either.
        return "aws-service"
    address = parse_ip(value)
    if address is None:
        return "invalid"
    if any(address in net for net in _PRIVATE_NETS if net.version == address.version):
        return "private"
    if not address.is_global:
        return "reserved"
    if (threat is not None and threat.match(address) is not None) or (details or {}).get("threat_list"):
        return "threat-list"
    org = _org_text(details)
    if (tor is not None and tor.match(address) is not None) or (
        details and (details.get("tor") or details.get("is_tor") or " tor " in f" {org} ")
    ):
        return "tor"
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
    *,
    intel: IpIntel | None = None,
) -> list[dict[str, Any]]:
    """Report ``source_ips``: one entry per sourceIPAddress, busiest first.

    ``intel`` adds the Tor and threat-list sources (and its AWS ranges stand in for ``ranges``).
    """
    if intel is not None and ranges is None:
        ranges = intel.ranges
    tor = intel.tor if intel else None
    threat = intel.threat if intel else None
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
            "user_agent_groups": ua_groups(text(r, "user_agent") for r in group),
            "classification": classify_ip(
                ip if ip != "(none)" else None, ranges, details, tor=tor, threat=threat
            ),
            "errors": sum(1 for r in group if text(r, "error_code")),
            "credentials": sorted({text(r, "access_key_id") or "(none)" for r in group}),
            "regions": sorted({text(r, "aws_region") or "(none)" for r in group}),
            "top_events": [f"{name} x{count}" for name, count in names.most_common(5)],
            "aws_service": specific.service if specific else None,
            "aws_region": specific.region if specific else None,
        }
        label = threat.match(address) if threat is not None and address is not None else None
        if label is not None:
            entry["threat_list"] = label or "listed"
        entry.update(_enrichment(details))
        out.append(entry)
    out.sort(key=lambda e: (-e["event_count"], e["ip"]))
    return out
