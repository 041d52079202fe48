"""The secrets no output may carry, and a scanner for them.

Collected from ../shared/fixtures (cloudtrail/** and guardduty/**): every value under a key that
names a session token, secret access key, password or private key, and every string anywhere that
has the shape of an STS session token; plus, per demo run, ``DemoResult.planted_secrets``.
Values shorter than 12 characters ("1111") and the placeholders CloudTrail itself writes
("HIDDEN_DUE_TO_SECURITY_REASONS") are not secrets.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import SHARED_FIXTURES

SECRET_KEYS = frozenset(
    {
        "sessiontoken",
        "securitytoken",
        "secretaccesskey",
        "secretkey",
        "password",
        "newpassword",
        "oldpassword",
        "masteruserpassword",
        "secretstring",
        "privatekey",
    }
)
TOKEN_SHAPE = re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]{20,}")
PLACEHOLDERS = frozenset(
    {"HIDDEN_DUE_TO_SECURITY_REASONS", "REDACTED", "Value hidden due to security reasons."}
)
MIN_LENGTH = 12
CHUNK = 32  # a long secret is also looked for by a piece of it: a cut copy is still a leak


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _real(value: str) -> bool:
    return len(value) >= MIN_LENGTH and value not in PLACEHOLDERS and "*" not in value


def secrets_in(value: Any, found: set[str] | None = None) -> set[str]:
    """Secret values inside a parsed JSON value (also inside JSON text held in strings)."""
    found = set() if found is None else found
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, str) and _norm(str(key)) in SECRET_KEYS and _real(child):
                    found.add(child)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.update(TOKEN_SHAPE.findall(item))
            if item[:1] in ("{", "["):
                with contextlib.suppress(ValueError, RecursionError):
                    stack.append(json.loads(item))
    return found


def _documents(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
        return
    try:
        yield json.loads(text)
    except ValueError:
        yield text  # YAML, RST, a file with stray text: still searched for token shapes


@cache
def fixture_secrets() -> frozenset[str]:
    found: set[str] = set()
    for folder in ("cloudtrail", "guardduty"):
        for path in sorted((SHARED_FIXTURES / folder).rglob("*")):
            if path.is_file():
                for doc in _documents(path):
                    secrets_in(doc, found)
    return frozenset(found)


def needles(secrets: Iterable[str]) -> dict[str, str]:
    """What to search for -> the secret it comes from: each secret, and a middle piece of long ones."""
    out: dict[str, str] = {}
    for secret in secrets:
        out[secret] = secret
        if len(secret) >= 2 * CHUNK:
            out[secret[CHUNK : 2 * CHUNK]] = secret
    return out


@dataclass(frozen=True)
class Hit:
    where: str
    secret_head: str  # the first 8 characters: enough to find it, not enough to use it


def scan_text(where: str, text: str, lookup: dict[str, str]) -> list[Hit]:
    hits = []
    for needle, secret in lookup.items():
        if needle in text:
            hits.append(Hit(where, secret[:8]))
    return hits


def scan_tree(root: Path, lookup: dict[str, str], *, skip: Iterable[Path] = ()) -> tuple[int, list[Hit]]:
    """(files scanned, hits) over every file under ``root`` but those under ``skip``."""
    skipped = [p.resolve() for p in skip]
    files, hits = 0, []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.resolve().is_relative_to(s) for s in skipped):
            continue
        files += 1
        hits += scan_text(str(path.relative_to(root)), path.read_bytes().decode("utf-8", "replace"), lookup)
    return files, hits


# ------------------------------------------------------------------- fixture logs for investigate


def fixture_records() -> list[dict[str, Any]]:
    """Every CloudTrail record of the Stratus detonations and the Panther rule tests."""
    records: list[dict[str, Any]] = []
    for path in sorted((SHARED_FIXTURES / "cloudtrail" / "stratus-red-team").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        records += data.get("Records", []) if isinstance(data, dict) else data
    panther = SHARED_FIXTURES / "cloudtrail" / "panther-analysis" / "panther_cloudtrail_rule_tests.jsonl"
    for line in panther.read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json.loads(line).get("event")
            if isinstance(event, dict):
                records.append(event)
    return [r for r in records if isinstance(r, dict)]


def write_cloudtrail_layout(records: list[dict[str, Any]], root: Path) -> Path:
    """Records as CloudTrail delivers them: AWSLogs/<account>/CloudTrail/<region>/<y>/<m>/<d>/*.json."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in records:
        account = str(record.get("recipientAccountId") or "000000000000")
        account = account if re.fullmatch(r"\d{12}", account) else "000000000000"
        region = str(record.get("awsRegion") or "us-east-1")
        region = region if re.fullmatch(r"[a-z0-9-]{1,32}", region) else "us-east-1"
        day = str(record.get("eventTime") or "1970-01-01")[:10]
        day = day if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else "1970-01-01"
        groups.setdefault((account, region, day), []).append(record)
    for n, ((account, region, day), items) in enumerate(sorted(groups.items())):
        folder = root / "AWSLogs" / account / "CloudTrail" / region / day.replace("-", "/")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{day.replace('-', '')}T0000Z_{n:04d}.json"
        (folder / name).write_text(json.dumps({"Records": items}))
    return root


def keys_near_secrets(records: list[dict[str, Any]], limit: int = 6) -> list[tuple[str, str, str]]:
    """(access key id, window start, window end) for the callers of records that carry a secret."""
    spans: dict[str, list[str]] = {}
    for record in records:
        if not secrets_in(record):
            continue
        key = str((record.get("userIdentity") or {}).get("accessKeyId") or "")
        when = str(record.get("eventTime") or "")
        if re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{16}", key) and re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", when):
            spans.setdefault(key, []).append(when)
    out = []
    for key in sorted(spans)[:limit]:
        times = sorted(spans[key])
        out.append((key, times[0][:10] + "T00:00:00Z", times[-1][:10] + "T23:59:59Z"))
    return out
