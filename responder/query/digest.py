"""CloudTrail log-file integrity validation: the digest files of a window, checked as AWS specifies.

A trail with log-file validation delivers, every hour and per region, a gzipped JSON digest under
``AWSLogs/[<org-id>/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/`` naming each log file it
delivered in that hour with the SHA-256 of its uncompressed content, and the signature of the previous
digest. The digest's own signature (``SHA256withRSA``, hex) is in its S3 object metadata
(``signature``, ``signature-algorithm``), over the data-signing string::

    <digestEndTime>\\n<digestS3Bucket>/<digestS3Object>\\n<hex SHA-256 of the uncompressed digest>\\n<previousDigestSignature or "null">

and the public key is the one ``cloudtrail:ListPublicKeys`` lists for the region under the digest's
``digestPublicKeyFingerprint``. Copies made with ``aws s3 cp``/``sync`` lose the metadata: offline, a
digest's signature is read from a sidecar beside it, ``<digest>.json.gz.sig.json``, holding either
``{"signature": ..., "signature-algorithm": ...}`` or the output of ``aws s3api head-object`` for that
key (``{"Metadata": {...}}``). The public keys come from a file in the form ``aws cloudtrail
list-public-keys`` prints (``--digest-public-keys``): never from the log folder, which whoever tampered
with the logs could also write.

Every log file of the window's days is then one of: ``validated`` (its hash matches a digest whose
signature verified), ``invalid`` (its content differs from what the digest recorded), ``missing``
(a digest lists it, it is gone), ``unvalidated`` (present, in no digest, delivered while digests were
being written: planted, or its digest is gone), ``uncovered`` (delivered when no digest covers its
region: validation off then, or not in CloudTrail's layout), ``pending`` (delivered after the newest
digest, within the two hours CloudTrail takes to sign it), ``unverified`` (matches a digest whose
signature could not be checked: no signature or public key at hand) or ``unchecked`` (over the hashing
budget). Digests are ``verified``, ``unverified`` or ``invalid``; a digest whose predecessor is gone
or was replaced is a chain break. RSA verification is plain Python (the layer ships no compiled code):
PKCS#1 v1.5 with SHA-256, comparing the whole encoded block, as RFC 8017 section 8.2.2 prescribes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from responder.errors import DigestKeysUnreadable, InvalidInput, error_code
from responder.observability import logger
from responder.query import ENGINE_SPECS

SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"
SIDECAR_SUFFIX = ".sig.json"
MARGIN = timedelta(days=1)  # the engines read one day either side of the window (late delivery)
PENDING = timedelta(hours=2)  # CloudTrail signs an hour's files within the next hour
EXAMPLES = 20  # issues listed by name; the counts are always complete
MAX_DIGEST_BYTES = 64 << 20  # a digest names an hour of files: kilobytes, not megabytes
MAX_LOG_BYTES = 1 << 30  # decompressed: a CloudTrail log file is far smaller; a bomb stops here
WORKERS = 8  # S3 reads in flight (botocore's connection pool holds 10)
# SHA-256's DigestInfo (RFC 8017 section 9.2, note 1): the prefix of the hash in the signed block.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_RSA_ENCRYPTION_OID = bytes.fromhex("06092a864886f70d010101")
_MIN_MODULUS_BITS = 2048
_STAMP_RE = re.compile(r"_(\d{8}T\d{4,6}Z)(?:_[^/]*)?\.json(?:\.gz)?$")
_LOG_KEY_RE = re.compile(
    r"(?:^|/)AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/[^/]+$"
)
_DIGEST_KEY_RE = re.compile(
    r"(?:^|/)AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/CloudTrail-Digest/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/[^/]+$"
)
_TAIL_RE = re.compile(r"(?:^|/)(AWSLogs/.*)$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")


# ------------------------------------------------------------------------------------ RSA verify


@dataclass(frozen=True)
class PublicKey:
    """One CloudTrail public key: its fingerprint as CloudTrail lists it, and the RSA numbers."""

    fingerprint: str
    n: int
    e: int
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``; ValueError when malformed."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _der_integer(data: bytes, pos: int) -> tuple[int, int]:
    tag, start, end = _tlv(data, pos)
    if tag != 0x02 or start == end or data[start] & 0x80:
        raise ValueError("expected a positive INTEGER")
    return int.from_bytes(data[start:end], "big"), end


def parse_rsa_public_key(der: bytes) -> tuple[int, int]:
    """(modulus, exponent) of a DER RSA public key: PKCS#1 ``RSAPublicKey`` (what ListPublicKeys
    returns) or ``SubjectPublicKeyInfo``. ValueError for anything else."""
    tag, start, end = _tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    if start < end and der[start] == 0x30:  # SubjectPublicKeyInfo: AlgorithmIdentifier, BIT STRING
        _, alg_start, alg_end = _tlv(der, start)
        if not der[alg_start:alg_end].startswith(_RSA_ENCRYPTION_OID):
            raise ValueError("not an RSA key")
        bit_tag, bits_start, bits_end = _tlv(der, alg_end)
        if bit_tag != 0x03 or bits_end != end or der[bits_start] != 0:
            raise ValueError("bad subjectPublicKey")
        return parse_rsa_public_key(der[bits_start + 1 : bits_end])
    n, pos = _der_integer(der, start)
    e, pos = _der_integer(der, pos)
    if pos != end:
        raise ValueError("trailing data in RSAPublicKey")
    if n.bit_length() < _MIN_MODULUS_BITS or e < 3 or e % 2 == 0:
        raise ValueError(f"RSA key too weak to trust ({n.bit_length()} bits, e={e})")
    return n, e


def rsa_sha256_verify(n: int, e: int, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the RSASSA-PKCS1-v1_5 SHA-256 signature of ``message`` under (n, e)."""
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    block = pow(s, e, n).to_bytes(size, "big")
    info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info
    return hmac.compare_digest(block, expected)


# ------------------------------------------------------------------------------------ the keys


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def public_key_from_listing(item: Mapping[str, Any]) -> PublicKey:
    """A ``PublicKeyList`` entry of ListPublicKeys: ``Value`` as boto3 gives it (DER bytes) or as the
    AWS CLI prints it (base64 text). ValueError when it is not a usable RSA key."""
    fingerprint = item.get("Fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ValueError("no Fingerprint")
    value = item.get("Value")
    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("Value is not base64") from None
    if not isinstance(value, bytes | bytearray):
        raise ValueError("no Value")
    try:
        n, e = parse_rsa_public_key(bytes(value))
    except ValueError:
        # Some tools hand the base64 text over as bytes.
        n, e = parse_rsa_public_key(base64.b64decode(bytes(value), validate=True))
    return PublicKey(
        fingerprint.lower(), n, e, _time(item.get("ValidityStartTime")), _time(item.get("ValidityEndTime"))
    )


@dataclass
class KeyRing:
    """The public keys at hand. ``authoritative``: regions whose keys came from ListPublicKeys for
    the window, where a digest signed under any other fingerprint is forged, not merely unverifiable."""

    keys: dict[str, PublicKey] = field(default_factory=dict)
    authoritative: set[str] = field(default_factory=set)
    source: str = ""

    def add(self, key: PublicKey) -> None:
        self.keys[key.fingerprint] = key


def load_public_keys(path: str | Path) -> KeyRing:
    """The keys in ``path``: what ``aws cloudtrail list-public-keys`` prints (``{"PublicKeyList":
    [...]}``), or a list of such outputs (one per region). DigestKeysUnreadable otherwise."""
    file = Path(path)
    try:
        doc = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        raise DigestKeysUnreadable(f"--digest-public-keys {file}: not a readable JSON file ({exc})") from None
    outputs = doc if isinstance(doc, list) else [doc]
    ring = KeyRing(source=str(file))
    for output in outputs:
        items = output.get("PublicKeyList") if isinstance(output, dict) else None
        if not isinstance(items, list):
            raise DigestKeysUnreadable(
                f"--digest-public-keys {file}: expected the output of `aws cloudtrail list-public-keys` "
                '({"PublicKeyList": [...]})'
            )
        for n, item in enumerate(items):
            try:
                ring.add(public_key_from_listing(item if isinstance(item, dict) else {}))
            except ValueError as exc:
                raise DigestKeysUnreadable(f"--digest-public-keys {file}: key {n}: {exc}") from None
    if not ring.keys:
        raise DigestKeysUnreadable(f"--digest-public-keys {file}: holds no public key")
    return ring


def cloudtrail_public_keys(
    client_for_region: Callable[[str], Any], regions: Iterable[str], start: datetime, end: datetime
) -> KeyRing:
    """The keys ListPublicKeys lists for each region over [start, end] (every page)."""
    ring = KeyRing(source="cloudtrail:ListPublicKeys")
    for region in sorted(set(regions)):
        client = client_for_region(region)
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end}
            if token:
                kwargs["NextToken"] = token
            page = client.list_public_keys(**kwargs)
            for item in page.get("PublicKeyList") or []:
                try:
                    ring.add(public_key_from_listing(item))
                except ValueError as exc:
                    logger.warning(
                        "unusable CloudTrail public key", extra={"region": region, "error": str(exc)}
                    )
            token = page.get("NextToken")
            if not token:
                break
        ring.authoritative.add(region)
    return ring


def data_signing_string(digest: Mapping[str, Any], inflated: bytes) -> bytes:
    """The string CloudTrail signs for a digest (previous signature ``null`` at a chain's start)."""
    previous = digest.get("previousDigestSignature") or "null"
    return (
        f"{digest['digestEndTime']}\n{digest['digestS3Bucket']}/{digest['digestS3Object']}\n"
        f"{hashlib.sha256(inflated).hexdigest()}\n{previous}"
    ).encode()


# ---------------------------------------------------------------------------------- the stores


@dataclass(frozen=True)
class StoredObject:
    """A log or digest file: ``key`` from ``AWSLogs/`` on (the part a digest names), where it is."""

    key: str | None  # None: not in CloudTrail's layout, so no digest can name it
    location: str
    delivered: datetime | None = None
    account: str | None = None
    region: str | None = None


class LogStore(Protocol):
    """Where the logs and digests are: a trail bucket, or a local copy of one."""

    source: str
    signatures_expected: bool  # S3 keeps them in metadata; copies lose them

    def log_objects(self, first: date, last: date) -> list[StoredObject]: ...

    def digest_objects(self, first: date, last: date) -> list[StoredObject]: ...

    def read_digest(self, obj: StoredObject) -> tuple[bytes, dict[str, str] | None] | None: ...

    def digest_by_key(self, bucket: str, key: str) -> StoredObject | None: ...

    def log_by_key(self, bucket: str, key: str) -> str | None:
        """The ``key`` of the stored log a digest entry names, when it is in this store's scope."""
        ...

    def hash_log(self, obj: StoredObject) -> str | None:
        """Hex SHA-256 of the decompressed content; None when the object is gone."""
        ...


def tail(key: str) -> str | None:
    """``key`` from its ``AWSLogs/`` folder on (an optional trail prefix dropped)."""
    match = _TAIL_RE.search(key)
    return match.group(1) if match else None


def delivered_at(name: str) -> datetime | None:
    """The delivery time in a CloudTrail file name (``..._20260301T1215Z_<16>.json.gz``)."""
    match = _STAMP_RE.search(name)
    if not match:
        return None
    stamp = match.group(1)
    try:
        fmt = "%Y%m%dT%H%M%SZ" if len(stamp) == 16 else "%Y%m%dT%H%MZ"
        return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def _layout(key: str | None, pattern: re.Pattern[str]) -> tuple[str | None, str | None, date | None]:
    match = pattern.search(key or "")
    if not match:
        return None, None, None
    try:
        day = date(int(match.group(3)), int(match.group(4)), int(match.group(5)))
    except ValueError:
        day = None
    return match.group(1), match.group(2), day


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _hash_gzip_stream(chunks: Iterable[bytes], name: str) -> str:
    """SHA-256 of the decompressed stream, never holding it whole; ValueError past MAX_LOG_BYTES."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, as the header says
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        data = inflater.decompress(chunk, 1 << 20)
        while True:
            size += len(data)
            if size > MAX_LOG_BYTES:
                raise ValueError(f"decompresses past {MAX_LOG_BYTES >> 20} MiB")
            digest.update(data)
            if not inflater.unconsumed_tail:
                break
            data = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
    rest = inflater.flush()
    size += len(rest)
    if size > MAX_LOG_BYTES:
        raise ValueError(f"decompresses past {MAX_LOG_BYTES >> 20} MiB")
    digest.update(rest)
    if not inflater.eof and name.endswith(".gz"):
        raise ValueError("truncated gzip")
    return digest.hexdigest()


def _inflate_digest(raw: bytes) -> bytes:
    if len(raw) > MAX_DIGEST_BYTES:
        raise ValueError("too large for a digest file")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    data = inflater.decompress(raw, MAX_DIGEST_BYTES)
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("not a complete gzip, or too large for a digest file")
    return data


class LocalLogStore:
    """A local copy of a trail bucket: the paths ``responder investigate --logs`` names.

    Only what lies under those paths is in scope: a digest's entry for a region or day folder that
    was not given is not reported missing.
    """

    signatures_expected = False

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [Path(p).resolve() for p in paths]
        self.source = (
            "local: " + ", ".join(str(p) for p in self.paths[:3]) + (", ..." if len(paths) > 3 else "")
        )
        self._aws_dirs = sorted({d for p in self.paths for d in self._find_aws_logs(p)})

    @staticmethod
    def _find_aws_logs(path: Path) -> list[Path]:
        parts = path.parts
        if "AWSLogs" in parts:
            return [Path(*parts[: parts.index("AWSLogs") + 1])]
        if not path.is_dir():
            return []
        found: list[Path] = []
        for dirpath, dirnames, _ in os.walk(path):
            if "AWSLogs" in dirnames:
                found.append(Path(dirpath) / "AWSLogs")
            # CloudTrail's own folders are deep; where the copy keeps AWSLogs is near the top.
            dirnames[:] = (
                []
                if len(Path(dirpath).relative_to(path).parts) >= 3
                else sorted(d for d in dirnames if d != "AWSLogs")
            )
        return found

    def _in_scope(self, path: Path) -> bool:
        return any(path == p or p in path.parents for p in self.paths)

    def _overlaps(self, folder: Path) -> bool:
        return any(folder == p or p in folder.parents or folder in p.parents for p in self.paths)

    def _account_dirs(self) -> Iterator[tuple[Path, Path, str]]:
        """(AWSLogs folder, account folder, account id), organization trails' level included."""
        for aws in self._aws_dirs:
            for child in sorted(aws.iterdir()) if aws.is_dir() else []:
                if _ACCOUNT_RE.match(child.name):
                    yield aws, child, child.name
                elif _ORG_RE.match(child.name) and child.is_dir():
                    for grandchild in sorted(child.iterdir()):
                        if _ACCOUNT_RE.match(grandchild.name):
                            yield aws, grandchild, grandchild.name

    def _key(self, path: Path) -> str | None:
        for aws in self._aws_dirs:
            if aws in path.parents:
                return path.relative_to(aws.parent).as_posix()
        return None

    def _object(self, path: Path, pattern: re.Pattern[str]) -> StoredObject:
        key = self._key(path)
        account, region, _ = _layout(key, pattern)
        return StoredObject(key if account else None, str(path), delivered_at(path.name), account, region)

    def log_objects(self, first: date, last: date) -> list[StoredObject]:
        from responder.query.logs import is_ocsf_file, select_files  # the files the DuckDB engine reads

        # Security Lake's OCSF files are not CloudTrail's: no digest signs them.
        return [
            self._object(f.resolve(), _LOG_KEY_RE)
            for f in select_files(self.paths, first, last)
            if not is_ocsf_file(f)
        ]

    def digest_objects(self, first: date, last: date) -> list[StoredObject]:
        out: list[StoredObject] = []
        for _aws, account_dir, _ in self._account_dirs():
            digest_root = account_dir / "CloudTrail-Digest"
            if not digest_root.is_dir():
                continue
            for region_dir in sorted(d for d in digest_root.iterdir() if d.is_dir()):
                if not self._overlaps(account_dir / "CloudTrail" / region_dir.name):
                    continue
                for day in _days(first, last):
                    folder = region_dir / f"{day:%Y/%m/%d}"
                    if folder.is_dir():
                        out += [
                            self._object(f, _DIGEST_KEY_RE)
                            for f in sorted(folder.iterdir())
                            if f.is_file() and f.name.endswith(".json.gz")
                        ]
        return out

    def _path_of(self, key: str) -> Path | None:
        """Where a key a digest names lies in the copy; None for one that would climb out of it
        (a forged digest must not make us open files elsewhere)."""
        rel = tail(key)
        if rel is None or any(part in ("", ".", "..") for part in rel.split("/")) or "\x00" in rel:
            return None
        for aws in self._aws_dirs:
            candidate = aws.parent / rel
            if aws in candidate.parents:
                return candidate
        return None

    def read_digest(self, obj: StoredObject) -> tuple[bytes, dict[str, str] | None] | None:
        path = Path(obj.location)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return raw, _sidecar(Path(obj.location + SIDECAR_SUFFIX))

    def digest_by_key(self, bucket: str, key: str) -> StoredObject | None:
        path = self._path_of(key)
        if path is None or not path.is_file():
            return None
        return self._object(path, _DIGEST_KEY_RE)

    def log_by_key(self, bucket: str, key: str) -> str | None:
        path = self._path_of(key)
        if path is None or not self._in_scope(path):
            return None
        return self._key(path)

    def hash_log(self, obj: StoredObject) -> str | None:
        path = Path(obj.location)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    yield block

        try:
            return _hash_gzip_stream(chunks(), path.name)
        except FileNotFoundError:
            return None


def _sidecar(path: Path) -> dict[str, str] | None:
    """The digest's S3 metadata kept beside a local copy (see the module docstring)."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("Metadata"), dict):
        doc = doc["Metadata"]
    if not isinstance(doc, dict):
        return None
    return {str(k).lower().removeprefix("x-amz-meta-"): str(v) for k, v in doc.items() if isinstance(v, str)}


class S3LogStore:
    """The trail bucket: ``s3://bucket/<prefix><account>/CloudTrail[-Digest]/<region>/YYYY/MM/DD/``."""

    signatures_expected = True

    def __init__(self, s3: Any, bucket: str, prefix: str = "AWSLogs/", accounts: Sequence[str] = ()):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        self.accounts = [a for a in accounts if _ACCOUNT_RE.match(a)]
        self.source = f"s3://{bucket}/{self.prefix}"

    def _list(self, prefix: str, *, folders: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if folders:
            kwargs["Delimiter"] = "/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(**kwargs):
            out += page.get("CommonPrefixes", []) if folders else page.get("Contents", [])
        return out

    def _folders(self, prefix: str) -> list[str]:
        return [p["Prefix"][len(prefix) :].rstrip("/") for p in self._list(prefix, folders=True)]

    def _accounts(self) -> list[str]:
        if not self.accounts:
            self.accounts = [a for a in self._folders(self.prefix) if _ACCOUNT_RE.match(a)]
        return self.accounts

    def _objects(self, kind: str, pattern: re.Pattern[str], first: date, last: date) -> list[StoredObject]:
        prefixes = [
            f"{self.prefix}{account}/{kind}/{region}/{day:%Y/%m/%d}/"
            for account in self._accounts()
            for region in self._folders(f"{self.prefix}{account}/{kind}/")
            for day in _days(first, last)
        ]
        with ThreadPoolExecutor(WORKERS) as pool:
            listings = list(pool.map(self._list, prefixes))
        out = []
        for listing in listings:
            for item in listing:
                key = item["Key"]
                rel = tail(key)
                account, region, _ = _layout(rel, pattern)
                delivered = delivered_at(key) or _time(item.get("LastModified"))
                out.append(StoredObject(key, f"s3://{self.bucket}/{key}", delivered, account, region))
        return out

    def log_objects(self, first: date, last: date) -> list[StoredObject]:
        return self._objects("CloudTrail", _LOG_KEY_RE, first, last)

    def digest_objects(self, first: date, last: date) -> list[StoredObject]:
        return [
            o
            for o in self._objects("CloudTrail-Digest", _DIGEST_KEY_RE, first, last)
            if o.key and o.key.endswith(".json.gz")
        ]

    def _get(self, key: str) -> Any | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None

    def read_digest(self, obj: StoredObject) -> tuple[bytes, dict[str, str] | None] | None:
        response = self._get(str(obj.key))
        if response is None:
            return None
        raw = response["Body"].read(MAX_DIGEST_BYTES + 1)
        metadata = {str(k).lower(): str(v) for k, v in (response.get("Metadata") or {}).items()}
        return raw, metadata

    def digest_by_key(self, bucket: str, key: str) -> StoredObject | None:
        if bucket != self.bucket:
            return None  # a trail that moved buckets: outside what this run may read
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        account, region, _ = _layout(tail(key), _DIGEST_KEY_RE)
        return StoredObject(key, f"s3://{self.bucket}/{key}", delivered_at(key), account, region)

    def log_by_key(self, bucket: str, key: str) -> str | None:
        account, _, _ = _layout(tail(key), _LOG_KEY_RE)
        if bucket != self.bucket or not key.startswith(self.prefix) or account not in self._accounts():
            return None
        return key

    def hash_log(self, obj: StoredObject) -> str | None:
        response = self._get(str(obj.key))
        if response is None:
            return None
        return _hash_gzip_stream(response["Body"].iter_chunks(1 << 20), str(obj.key))


# ---------------------------------------------------------------------------------- validation


@dataclass
class _Digest:
    obj: StoredObject
    state: str = "invalid"  # verified | unverified | invalid
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    signature: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def backfill(self) -> bool:
        return self.obj.location.endswith("_backfill.json.gz")


def _check_digest(store: LogStore, obj: StoredObject, keys: KeyRing | None) -> _Digest:
    """Read, parse, locate and verify one digest (the custom-validation steps of the User Guide)."""
    out = _Digest(obj)
    got = store.read_digest(obj)
    if got is None:
        out.reason = "gone while being read"
        return out
    raw, metadata = got
    try:
        inflated = _inflate_digest(raw)
        data = json.loads(inflated)
    except (ValueError, RecursionError, zlib.error, EOFError, gzip.BadGzipFile):
        out.reason = "not a gzipped JSON digest"
        return out
    required = (
        "digestStartTime",
        "digestEndTime",
        "digestS3Bucket",
        "digestS3Object",
        "awsAccountId",
        "logFiles",
    )
    if (
        not isinstance(data, dict)
        or any(k not in data for k in required)
        or not isinstance(data["logFiles"], list)
    ):
        out.reason = "not a CloudTrail digest (fields missing)"
        return out
    out.data = data
    out.start, out.end = _time(data["digestStartTime"]), _time(data["digestEndTime"])
    if out.start is None or out.end is None:
        out.reason = "digest times are not times"
        return out
    named = str(data["digestS3Object"])
    here = str(obj.key)
    same_place = named == here if store.signatures_expected else tail(named) == here
    if not same_place or (isinstance(store, S3LogStore) and data["digestS3Bucket"] != store.bucket):
        out.reason = "moved from its original location (the digest names another object)"
        return out
    if data["awsAccountId"] != obj.account:
        out.reason = f"names account {str(data['awsAccountId'])[:12]!r}, not the folder's {obj.account}"
        return out
    metadata = metadata or {}
    out.signature = metadata.get("signature")
    algorithm = metadata.get("signature-algorithm")
    if not out.signature or not algorithm:
        if store.signatures_expected:
            out.reason = "no signature in its metadata"
            return out
        out.state, out.reason = (
            "unverified",
            f"no signature beside it ({Path(obj.location).name}{SIDECAR_SUFFIX})",
        )
        return out
    if algorithm != SIGNATURE_ALGORITHM:
        out.reason = f"signature algorithm {algorithm[:40]!r}, not {SIGNATURE_ALGORITHM}"
        return out
    try:
        signature = bytes.fromhex(out.signature)
    except ValueError:
        out.reason = "signature is not hex"
        return out
    fingerprint = str(data.get("digestPublicKeyFingerprint") or "").lower()
    key = keys.keys.get(fingerprint) if keys else None
    if key is None:
        if keys is not None and obj.region in keys.authoritative:
            out.reason = f"signed under fingerprint {fingerprint[:64]!r}, which CloudTrail does not list for {obj.region}"
        else:
            out.state, out.reason = "unverified", "no public key at hand for its fingerprint"
        return out
    if not rsa_sha256_verify(key.n, key.e, data_signing_string(data, inflated), signature):
        out.reason = "signature does not verify: the digest was changed"
        return out
    out.state, out.reason = "verified", ""
    return out


class _Issues:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.total = 0

    def add(self, kind: str, where: str, reason: str) -> None:
        self.total += 1
        if sum(1 for i in self.items if i["kind"] == kind) < EXAMPLES:
            self.items.append({"kind": kind, "file": where, "reason": reason})


_FILE_STATES = (
    "validated",
    "invalid",
    "missing",
    "unvalidated",
    "uncovered",
    "pending",
    "unverified",
    "unchecked",
)
_BAD_FILES = ("invalid", "missing", "unvalidated")
_BAD_DIGESTS = ("invalid", "missing", "chain_breaks")


def validate_logs(
    store: LogStore,
    window_start: datetime,
    window_end: datetime,
    keys: KeyRing | None = None,
    *,
    key_provider: Callable[[set[str], datetime, datetime], KeyRing] | None = None,
    max_files: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``coverage.log_file_validation`` for the window: every log file of its days and every digest.

    ``keys`` or ``key_provider(regions, start, end)`` (called once the digests are listed) give the
    public keys; ``max_files`` bounds how many log files are read and hashed (newest first); ``now``
    (deployed runs) lets a digest overdue by more than two hours count as gone.
    """
    first, last = (window_start - MARGIN).date(), (window_end + MARGIN).date()
    issues = _Issues()
    logs = store.log_objects(first, last)
    digest_objs = store.digest_objects(first, last + timedelta(days=1))
    if key_provider is not None and digest_objs:
        ends = [o.delivered for o in digest_objs if o.delivered]
        lo, hi = (min(ends), max(ends)) if ends else (window_start, window_end)
        keys = key_provider({o.region for o in digest_objs if o.region}, lo - PENDING, hi + PENDING)
    with ThreadPoolExecutor(WORKERS) as pool:
        digests = list(pool.map(lambda o: _check_digest(store, o, keys), digest_objs))
    counts = {"total": len(digests), "verified": 0, "unverified": 0, "invalid": 0, "missing": 0}
    counts |= {"chain_breaks": 0, "chain_starts": 0}
    for d in digests:
        counts[d.state] += 1
        if d.state == "invalid":
            issues.add("invalid_digest", d.obj.location, d.reason)
    _check_chain(store, digests, first, last + timedelta(days=1), counts, issues)

    listed = _listed(store, digests, first, last)
    files = dict.fromkeys(_FILE_STATES, 0)
    present = {o.key: o for o in logs if o.key}
    for obj in logs:
        if obj.key is None:
            files["uncovered"] += 1
            issues.add("uncovered", obj.location, "not in CloudTrail's folder layout: no digest can name it")
    for key in sorted(set(listed) - set(present)):
        files["missing"] += 1
        issues.add("missing", key, f"listed in digest {Path(listed[key][2].obj.location).name}, absent")

    _hash_listed(store, [present[k] for k in listed if k in present], listed, max_files, files, issues)
    _classify_unlisted(
        [present[k] for k in sorted(set(present) - set(listed))], digests, files, issues, now, logs
    )
    result: dict[str, Any] = {
        # Offline there is no "now": a file newer than every digest may be pending, or planted.
        "status": _status(files, counts, pending_ok=now is not None),
        "source": store.source,
        "days": {"first": first.isoformat(), "last": last.isoformat()},
        "log_files": {"total": len(logs), **files},
        "digests": counts,
        "public_keys": (keys.source if keys else "none"),
        "issues": issues.items,
        "issues_total": issues.total,
    }
    return result


def _listed(
    store: LogStore, digests: Sequence[_Digest], first: date, last: date
) -> dict[str, tuple[str, str, _Digest]]:
    """What the trustworthy digests say each log file of the days must hash to."""
    listed: dict[str, tuple[str, str, _Digest]] = {}
    for d in digests:
        if d.state == "invalid":
            continue
        for entry in d.data["logFiles"]:
            if not isinstance(entry, dict):
                continue
            key = store.log_by_key(str(entry.get("s3Bucket")), str(entry.get("s3Object")))
            _, _, day = _layout(key, _LOG_KEY_RE)
            if key is None or day is None or not first <= day <= last:
                continue
            known = listed.get(key)
            if known is None or (known[2].state != "verified" and d.state == "verified"):
                listed[key] = (
                    str(entry.get("hashValue", "")).lower(),
                    str(entry.get("hashAlgorithm", "")),
                    d,
                )

    return listed


def _hash_listed(
    store: LogStore,
    objs: Sequence[StoredObject],
    listed: Mapping[str, tuple[str, str, _Digest]],
    max_files: int | None,
    files: dict[str, int],
    issues: _Issues,
) -> None:
    """Hash the present files digests name (newest first, up to ``max_files``) and compare."""
    to_hash = sorted(
        objs,
        key=lambda o: (o.delivered or datetime.min.replace(tzinfo=UTC), str(o.key)),
        reverse=True,
    )
    budget = to_hash if max_files is None else to_hash[: max(max_files, 0)]
    files["unchecked"] = len(to_hash) - len(budget)

    def check(obj: StoredObject) -> tuple[StoredObject, str | None, str, str]:
        try:
            return obj, store.hash_log(obj), "", ""
        except (ValueError, zlib.error, EOFError) as exc:
            # What CloudTrail digested was a whole gzip of bounded size: this content is not that.
            return obj, None, "invalid", f"not the file its digest names: {str(exc)[:80]}"
        except (OSError, ClientError, BotoCoreError) as exc:
            return obj, None, "unreadable", f"cannot be read: {type(exc).__name__}"

    with ThreadPoolExecutor(WORKERS) as pool:
        hashed = list(pool.map(check, budget))
    for obj, actual, failure, why in hashed:
        expected, algorithm, d = listed[str(obj.key)]
        if failure == "unreadable":
            files["unchecked"] += 1
            issues.add("unreadable", obj.location, why)
        elif failure:
            files["invalid"] += 1
            issues.add("invalid", obj.location, why)
        elif actual is None:
            files["missing"] += 1
            issues.add("missing", obj.location, "gone while being read")
        elif algorithm != HASH_ALGORITHM or actual != expected:
            files["invalid"] += 1
            reason = (
                f"hash algorithm {algorithm[:20]!r}"
                if algorithm != HASH_ALGORITHM
                else "content differs from its digest"
            )
            issues.add("invalid", obj.location, reason)
        else:
            files["validated" if d.state == "verified" else "unverified"] += 1


def _check_chain(
    store: LogStore,
    digests: Sequence[_Digest],
    first: date,
    last: date,
    counts: dict[str, int],
    issues: _Issues,
) -> None:
    """Each digest's predecessor must exist and carry the very signature it signed."""
    by_key = {d.obj.key: d for d in digests if d.obj.key}
    for d in digests:
        if d.state == "invalid" or d.backfill:
            continue
        previous = d.data.get("previousDigestS3Object")
        if not previous:
            counts["chain_starts"] += 1
            continue
        bucket = str(d.data.get("previousDigestS3Bucket") or d.data["digestS3Bucket"])
        key = str(previous) if store.signatures_expected else tail(str(previous))
        before = by_key.get(key) if key else None
        if before is None:
            _, _, day = _layout(tail(str(previous)), _DIGEST_KEY_RE)
            found = (
                None
                if day is not None and first <= day <= last
                else store.digest_by_key(bucket, str(previous))
            )
            if found is None:
                counts["missing"] += 1
                counts["chain_breaks"] += 1
                issues.add(
                    "missing_digest",
                    str(previous),
                    f"the previous digest of {Path(d.obj.location).name} is gone",
                )
                continue
            before = _Digest(found)
            got = store.read_digest(found)
            before.signature = (got[1] or {}).get("signature") if got else None
        if before.signature is None and not store.signatures_expected:
            continue  # an offline copy without its signatures: nothing to compare
        if before.signature != d.data.get("previousDigestSignature"):
            counts["chain_breaks"] += 1
            issues.add(
                "chain_break",
                before.obj.location,
                f"not the digest {Path(d.obj.location).name} follows (another signature): replaced",
            )


def _classify_unlisted(
    unlisted: Sequence[StoredObject],
    digests: Sequence[_Digest],
    files: dict[str, int],
    issues: _Issues,
    now: datetime | None,
    logs: Sequence[StoredObject],
) -> None:
    """Present log files no digest names: planted, pending or simply never covered."""
    # A chain covers its whole span: CloudTrail writes a digest every hour, with or without files,
    # so an hour without one inside a chain is a digest removed. A digest with no predecessor starts
    # a new chain (validation or logging was off in between): the gap before it is not covered.
    spans: dict[tuple[str | None, str | None], list[tuple[datetime, datetime]]] = {}
    timed = sorted((d for d in digests if d.start and d.end), key=lambda d: (d.start, d.end))
    for d in timed:
        assert d.start is not None and d.end is not None
        chain = spans.setdefault((d.obj.account, d.obj.region), [])
        starts = d.state == "invalid" or not d.data.get("previousDigestS3Object")
        if chain and not starts and not d.backfill:
            chain[-1] = (chain[-1][0], max(chain[-1][1], d.end))
        else:
            chain.append((d.start, d.end))
    newest_delivery = max((o.delivered for o in logs if o.delivered), default=None)
    horizon = (now or newest_delivery or datetime.now(UTC)) - PENDING
    for obj in unlisted:
        covered = spans.get((obj.account, obj.region), [])
        when = obj.delivered
        if not covered:
            files["uncovered"] += 1
            continue  # no digest for the region at all: the status says validation is not on there
        newest_end = max(end for _, end in covered)
        if when is None:
            files["unvalidated"] += 1
            issues.add("unvalidated", obj.location, "in no digest, and its delivery time is unknown")
        elif any(start <= when < end for start, end in covered):
            files["unvalidated"] += 1
            issues.add(
                "unvalidated", obj.location, "in no digest, though digests cover its delivery time: planted?"
            )
        elif now is not None and when > now + timedelta(minutes=5):
            files["unvalidated"] += 1
            issues.add("unvalidated", obj.location, "its name says it was delivered in the future: planted?")
        elif when >= newest_end and when > horizon:
            files["pending"] += 1
        elif when >= newest_end:
            files["unvalidated"] += 1
            issues.add(
                "unvalidated", obj.location, "delivered over two hours after the newest digest: digests gone?"
            )
        else:
            files["uncovered"] += 1


def _status(files: Mapping[str, int], digests: Mapping[str, int], *, pending_ok: bool) -> str:
    if any(files[k] for k in _BAD_FILES) or any(digests[k] for k in _BAD_DIGESTS):
        return "failed"
    if not digests["total"]:
        return "not_enabled"
    if digests["verified"] and not (
        digests["unverified"]
        or files["uncovered"]
        or files["unverified"]
        or files["unchecked"]
        or (files["pending"] and not pending_ok)
    ):
        return "validated"
    return "partial"


def validation_error(exc: Exception) -> dict[str, Any]:
    """What the coverage says when validation itself could not run (the investigation goes on)."""
    name = type(exc).__name__
    code = error_code(exc) or None
    return {"status": "error", "error": name if not code or code == name else f"{name} {code}"}


# ------------------------------------------------------------------------- what reports say


def describe(validation: Mapping[str, Any] | None) -> str:
    """One line for the CLI and report.md: counts only (file names are attacker-writable)."""
    if not validation:
        return "log-file validation: not run"
    status = validation.get("status")
    if status == "error":
        return f"log-file validation: could not run ({validation.get('error')})"
    if status == "not_enabled":
        total = (validation.get("log_files") or {}).get("total", 0)
        return f"log-file validation: no digest files for the window ({total} log files unvalidated)"
    return f"log-file validation: {status} ({_counts(validation)})"


def _counts(validation: Mapping[str, Any]) -> str:
    files, digests = validation.get("log_files") or {}, validation.get("digests") or {}
    if validation.get("status") == "error":
        return f"could not run: {validation.get('error')}"
    parts = [f"{files.get(k, 0)} {k}" for k in _FILE_STATES if files.get(k)]
    chain = [
        f"{digests.get(k, 0)} {k.replace('_', ' ')}"
        for k in ("invalid", "missing", "chain_breaks")
        if digests.get(k)
    ]
    text = f"{', '.join(parts) or 'no log files'} of {files.get('total', 0)} files"
    text += f"; {digests.get('verified', 0)} of {digests.get('total', 0)} digests verified"
    return text + (f"; digests: {', '.join(chain)}" if chain else "")


def tampering_finding(validation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A report finding when the logs failed validation: they were changed, removed or planted."""
    if not validation or validation.get("status") != "failed":
        return None
    files, digests = validation.get("log_files") or {}, validation.get("digests") or {}
    what = [f"{files.get(k, 0)} {k}" for k in _BAD_FILES if files.get(k)]
    what += [
        f"{digests.get(k, 0)} {k.replace('_', ' ')} digest(s)"
        for k in ("invalid", "missing")
        if digests.get(k)
    ]
    what += [f"{digests['chain_breaks']} digest chain break(s)"] if digests.get("chain_breaks") else []
    return {
        "tactic": "Defense Evasion",
        "technique": "T1070",
        "title": f"CloudTrail log files failed integrity validation ({', '.join(what)})",
        "severity": "high",
        "event_ids": [],
        "event_names": [],
        "count": 0,
        "succeeded": 0,
        "failed": 0,
        "attempted_only": False,
        "first_seen": None,
        "last_seen": None,
        "credentials": [],
    }


def next_steps(coverage: Mapping[str, Any] | None) -> list[str]:
    """What a human must do about the logs' integrity (report summary)."""
    validation = (coverage or {}).get("log_file_validation")
    if not validation:
        return []
    status = validation.get("status")
    if status == "failed":
        return [
            f"Treat the CloudTrail logs as tampered with ({_counts(validation)}): "
            "compare with an independent copy (CloudTrail Lake, the organization trail, a replica) and run "
            "`aws cloudtrail validate-logs` before trusting what is or is not in them."
        ]
    if status == "not_enabled":
        return [
            "Turn on log-file validation for the trail: without digests, changed or planted log files go unnoticed."
        ]
    if status in ("partial", "error"):
        return [
            f"Log files could not all be validated ({_counts(validation)}): validate them with "
            "`aws cloudtrail validate-logs`."
        ]
    return []


# --------------------------------------------------------------------------- where runs call it


def validate_for_run(
    settings: Any,
    window_start: datetime,
    window_end: datetime,
    *,
    s3: Any = None,
    cloudtrail_for_region: Callable[[str], Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The workflow's validation for the engine ``settings`` choose; None for CloudTrail Lake (its
    events are not files: Lake keeps no digests to check). Never raises for what it reads: a failure
    is the ``error`` status, and the investigation goes on."""
    log_files = ENGINE_SPECS[settings.query_engine].log_files
    if log_files == "none":
        return None
    try:
        keys = load_public_keys(settings.digest_public_keys) if settings.digest_public_keys else None
        provider = None
        store: LogStore
        if log_files == "s3_trail":
            if not settings.cloudtrail_bucket or s3 is None:
                return {
                    "status": "error",
                    "error": "CLOUDTRAIL_BUCKET is not set: the trail bucket is unknown",
                }
            store = S3LogStore(
                s3, settings.cloudtrail_bucket, settings.cloudtrail_prefix, settings.trail_accounts
            )
            if keys is None and cloudtrail_for_region is not None:
                reader = cloudtrail_for_region

                def provider(regions: set[str], lo: datetime, hi: datetime) -> KeyRing:
                    return cloudtrail_public_keys(reader, regions, lo, hi)

        else:
            store = LocalLogStore(settings.local_log_paths)
        return validate_logs(
            store,
            window_start,
            window_end,
            keys,
            key_provider=provider,
            max_files=settings.log_validation_max_files,
            now=now,
        )
    except (ClientError, BotoCoreError, OSError, InvalidInput) as exc:
        logger.warning("log-file validation could not run", extra={"error": type(exc).__name__})
        return validation_error(exc)


def validate_offline(
    paths: Sequence[str | Path], window_start: datetime, window_end: datetime, keys: KeyRing | None
) -> dict[str, Any]:
    """``responder investigate``'s validation of the local copy (every listed file hashed)."""
    try:
        return validate_logs(LocalLogStore(paths), window_start, window_end, keys)
    except OSError as exc:
        return validation_error(exc)


def for_state(coverage: Mapping[str, Any]) -> dict[str, Any]:
    """The coverage as the workflow state carries it: validation counts without the file names
    (they are in the saved meta and the report; the state stays small whatever the attacker planted)."""
    validation = coverage.get("log_file_validation")
    if not isinstance(validation, Mapping):
        return dict(coverage)
    return {**coverage, "log_file_validation": {k: v for k, v in validation.items() if k != "issues"}}
