"""CloudTrail digest files for the demo's logs, as a trail with log-file validation delivers them.

One digest per region per hour that delivered log files, under
``AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHMMSSZ>.json.gz``,
each naming its hour's files with the SHA-256 of their uncompressed content and chained to the one
before by its signature. A copy of a bucket loses the S3 metadata that holds the signatures, so each
digest's ``signature`` and ``signature-algorithm`` are written beside it (``<digest>.sig.json``, the
form :mod:`responder.query.digest` reads offline). CloudTrail signs with a private key per region
that only AWS holds; the demo stands in one RSA key derived from the seed (so the output stays a pure
function of scenario and seed) and returns its public half in the shape ``aws cloudtrail
list-public-keys`` prints, which the demo hands the responder as ``DIGEST_PUBLIC_KEYS``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from responder.query.digest import SIDECAR_SUFFIX, SIGNATURE_ALGORITHM, data_signing_string, delivered_at

TRAIL_NAME = "management-events"
_SMALL_PRIMES = tuple(p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))


def _probable_prime(rng: random.Random, bits: int) -> int:
    """A random ``bits``-bit prime from ``rng`` (Miller-Rabin, 40 rounds): reproducible, not secret."""
    while True:
        candidate = rng.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        if any(candidate % p == 0 for p in _SMALL_PRIMES):
            continue
        d, r = candidate - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):
            x = pow(rng.randrange(2, candidate - 1), d, candidate)
            if x in (1, candidate - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, candidate)
                if x == candidate - 1:
                    break
            else:
                break
        else:
            return candidate


@dataclass(frozen=True)
class DemoSigningKey:
    """The stand-in for CloudTrail's regional signing key."""

    private: rsa.RSAPrivateKey
    fingerprint: str
    der: bytes  # PKCS#1 RSAPublicKey, what ListPublicKeys returns as Value

    def sign(self, message: bytes) -> str:
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()

    def listing(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The public key as ``aws cloudtrail list-public-keys`` prints it (Value in base64)."""
        return {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(self.der).decode(),
                    "ValidityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ValidityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Fingerprint": self.fingerprint,
                }
            ]
        }


@lru_cache(maxsize=8)
def signing_key(seed: int) -> DemoSigningKey:
    """A 2048-bit RSA key derived from ``seed``."""
    rng = random.Random(f"cloudtrail-digest-key:{seed}")  # noqa: S311 - a demo key, reproducible on purpose
    e = 65537
    while True:
        p, q = _probable_prime(rng, 1024), _probable_prime(rng, 1024)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e and (p * q).bit_length() == 2048:
            break
    n, d = p * q, pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n)
    )
    private = numbers.private_key()
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    # CloudTrail's fingerprints are 32 hex digits; the demo's is the MD5 of the DER key.
    return DemoSigningKey(private, hashlib.md5(der, usedforsecurity=False).hexdigest(), der)


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_key(account_id: str, region: str, end: datetime) -> str:
    return (
        f"AWSLogs/{account_id}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
        f"{account_id}_CloudTrail-Digest_{region}_{TRAIL_NAME}_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz"
    )


def _event_times(path: Path) -> tuple[str | None, str | None]:
    records = json.loads(gzip.decompress(path.read_bytes())).get("Records") or []
    times = sorted(str(r.get("eventTime")) for r in records if r.get("eventTime"))
    return (times[0], times[-1]) if times else (None, None)


def write_digests(
    root: Path,
    files: Sequence[Path],
    *,
    account_id: str,
    bucket: str,
    seed: int = 0,
) -> tuple[list[Path], dict[str, Any]]:
    """Digest every log file in ``files`` (under ``root``, CloudTrail's layout); the digest files
    written and the public key listing (``aws cloudtrail list-public-keys`` output)."""
    key = signing_key(seed)
    by_region: dict[str, list[tuple[datetime, Path]]] = {}
    for path in files:
        parts = path.relative_to(root).parts
        delivered = delivered_at(path.name)
        if len(parts) < 6 or parts[0] != "AWSLogs" or parts[2] != "CloudTrail" or delivered is None:
            continue  # not a file CloudTrail delivered: no digest names it
        by_region.setdefault(parts[3], []).append((delivered, path))
    # Digest periods end a fixed number of seconds past the hour, as a trail's do.
    offset = timedelta(minutes=1, seconds=random.Random(seed).randrange(60))  # noqa: S311
    written: list[Path] = []
    first_end: datetime | None = None
    last_end: datetime | None = None
    for region in sorted(by_region):
        hours: dict[datetime, list[Path]] = {}
        for delivered, path in sorted(by_region[region]):
            start = (delivered - offset).replace(minute=0, second=0) + offset
            hours.setdefault(start, []).append(path)
        previous: tuple[str, str] | None = None  # (key, signature)
        for start in sorted(hours):
            end = start + timedelta(hours=1)
            object_key = digest_key(account_id, region, end)
            entries = []
            for path in hours[start]:
                oldest, newest = _event_times(path)
                entries.append(
                    {
                        "s3Bucket": bucket,
                        "s3Object": path.relative_to(root).as_posix(),
                        "hashValue": hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest(),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": newest,
                        "oldestEventTime": oldest,
                    }
                )
            times = [e["oldestEventTime"] for e in entries if e["oldestEventTime"]]
            times += [e["newestEventTime"] for e in entries if e["newestEventTime"]]
            doc: dict[str, Any] = {
                "awsAccountId": account_id,
                "digestStartTime": _ts(start),
                "digestEndTime": _ts(end),
                "digestS3Bucket": bucket,
                "digestS3Object": object_key,
                "digestPublicKeyFingerprint": key.fingerprint,
                "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
                "newestEventTime": max(times) if times else None,
                "oldestEventTime": min(times) if times else None,
                "previousDigestS3Bucket": bucket if previous else None,
                "previousDigestS3Object": previous[0] if previous else None,
                "previousDigestHashValue": None,
                "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                "previousDigestSignature": previous[1] if previous else None,
                "logFiles": entries,
            }
            if previous:
                doc["previousDigestHashValue"] = hashlib.sha256(
                    gzip.decompress((root / previous[0]).read_bytes())
                ).hexdigest()
            inflated = json.dumps(doc, separators=(",", ":")).encode()
            signature = key.sign(data_signing_string(doc, inflated))
            path = root / object_key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(inflated, mtime=0))
            sidecar = {"signature": signature, "signature-algorithm": SIGNATURE_ALGORITHM}
            Path(f"{path}{SIDECAR_SUFFIX}").write_text(json.dumps(sidecar) + "\n")
            written.append(path)
            previous = (object_key, signature)
            first_end = min(first_end or end, end)
            last_end = max(last_end or end, end)
    listing = key.listing(
        (first_end or datetime(2020, 1, 1, tzinfo=UTC)) - timedelta(days=30),
        (last_end or datetime(2020, 1, 1, tzinfo=UTC)) + timedelta(days=30),
    )
    return sorted(written), listing
