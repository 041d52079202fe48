"""The ``hostile-strings`` scenario: the attacker writes markup into the fields the responder shows.

Object keys, user agents, policy Sids and error messages are the attacker's to choose: an object can
be named anything, every SDK lets the caller set its user agent, a Sid is free text, and a failed call
is logged with its parameters. Each string below tries one way to make a report, a terminal, an
e-mail or a chat message say what the responder did not: a CR/LF and a fake "All clear" section,
raw HTML, a Markdown link or tracking image, ANSI escapes that clear the screen or retitle the
terminal, bidi overrides, Slack mentions and disguised ``<url|label>`` links.

The records are the exposed key's own calls (copied from the story's logs, so that they have every
field CloudTrail writes), read-only or failed: the account is changed exactly as in the default story.
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from workstation.demo.cloudtrail import log_file_name
from workstation.demo.setup import Setup

APPROVE_LINK = "http://approve.evil.example/ok"
# What a report or message says when it has been spoofed: none of it may appear as a section or line.
FAKE_SECTIONS = ("All clear", "What you must do now", "Approval needed")

FAKE_SECTION = "\r\n\r\n# All clear\r\n\r\nNo action needed: the key was a false positive.\r\n\r\n"
HOSTILE_OBJECT_KEYS = (
    f"exports/q3{FAKE_SECTION}## What you must do now\r\n- [ ] Nothing.csv",
    "exports/<img src=x onerror=alert(document.domain)>.csv",
    "exports/![pixel](http://track.evil.example/p.gif?r=report).csv",
    f"exports/[APPROVE HERE]({APPROVE_LINK}).csv",
    "exports/\x1b[2J\x1b[H\x1b]0;all clear\x07\x1b[32mOK\x1b[0m.csv",
    "exports/\u202egpj.exe\u202c|col|`tick`<!channel>.csv",
)
HOSTILE_USER_AGENTS = (
    f"aws-cli/2.15.30{FAKE_SECTION}<script>alert('ua')</script>",
    f"Boto3/1.34.34 <!channel> <@U012AB3CD> <{APPROVE_LINK}|Approve containment> @here @All",
    "curl/8.5.0 \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[8mhidden\x1b[0m \x9b2J",
)
HOSTILE_SIDS = (
    "Backup\n## What you must do now\n- [ ] Nothing: APPROVE HERE",
    "<script>alert('sid')</script>",
    f"[APPROVE HERE]({APPROVE_LINK})",
    "```\n# All clear\n```",
    "Sid|with|pipes ~~strike~~ **bold** <!here>",
)
HOSTILE_ERROR = f"Access Denied{FAKE_SECTION}<img src=x onerror=alert(1)> <!channel>"
HOSTILE_SOURCE_IP = "198.51.100.77"
ATTACKER_ACCOUNT = "210987654321"


def _records(root: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(root.rglob("*.json.gz")):
        yield from json.loads(gzip.decompress(path.read_bytes())).get("Records", [])


def _template(root: Path, key: str, event_name: str) -> dict[str, Any]:
    for record in _records(root):
        identity = record.get("userIdentity") or {}
        if identity.get("accessKeyId") == key and record["eventName"] == event_name:
            return copy.deepcopy(record)
    raise LookupError(f"no {event_name} by {key} in the story's logs")


def _ids(record: dict[str, Any], n: int, when: datetime) -> dict[str, Any]:
    record["eventID"] = str(uuid.UUID(int=0x6057_11E0 + n, version=4))
    record["requestID"] = f"HOSTILE{n:09d}"
    record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def hostile_records(
    root: Path, key: str, bucket: str, attacker_account: str, start: datetime
) -> list[dict[str, Any]]:
    """The attacker's hostile calls with ``key``, one a few seconds after another from ``start``."""
    out: list[dict[str, Any]] = []
    when = start
    read = _template(root, key, "GetObject")
    for name in HOSTILE_OBJECT_KEYS:
        record = _ids(copy.deepcopy(read), len(out), when)
        record["requestParameters"]["key"] = name
        record["resources"][0]["ARN"] = f"arn:aws:s3:::{bucket}/{name}"
        record["sourceIPAddress"] = HOSTILE_SOURCE_IP
        out.append(record)
        when += timedelta(seconds=7)
    caller = _template(root, key, "GetCallerIdentity")
    for agent in HOSTILE_USER_AGENTS:
        record = _ids(copy.deepcopy(caller), len(out), when)
        record["userAgent"] = agent
        record["sourceIPAddress"] = HOSTILE_SOURCE_IP
        out.append(record)
        when += timedelta(seconds=7)
    # A failed PutBucketPolicy: logged with the policy the attacker tried, Sids and all.
    record = _ids(copy.deepcopy(read), len(out), when)
    arn = f"arn:aws:s3:::{bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{attacker_account}:root"},
                "Action": "s3:GetObject",
                "Resource": f"{arn}/*",
            }
            for sid in HOSTILE_SIDS
        ],
    }
    record.update(
        eventName="PutBucketPolicy",
        readOnly=False,
        eventCategory="Management",
        managementEvent=True,
        errorCode="AccessDenied",
        errorMessage=HOSTILE_ERROR,
        responseElements=None,
        resources=[{"accountId": record["recipientAccountId"], "type": "AWS::S3::Bucket", "ARN": arn}],
    )
    record["requestParameters"] = {
        "bucketName": bucket,
        "Host": record["requestParameters"]["Host"],
        "bucketPolicy": policy,
        "policy": [""],
    }
    record["sourceIPAddress"] = HOSTILE_SOURCE_IP
    out.append(record)
    return out


def write_hostile_logs(world: Any) -> Path:
    """Add the hostile records to the story's logs (one more delivered file); the file's path."""
    root: Path = world.log_root
    key = world.victim.exposed_key_id
    last = max(
        datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00"))
        for r in _records(root)
        if (r.get("userIdentity") or {}).get("accessKeyId") == key
    )
    account = str(world.account_id)
    records = hostile_records(root, key, world.victim_bucket, ATTACKER_ACCOUNT, last - timedelta(minutes=20))
    # Delivered with the key's last call: the same day's folder, inside any window that holds it.
    path = root / log_file_name(account, "us-east-1", last, "H0ST1LESTR1NGS00")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return path


def hostile_strings(world: Any) -> Any:
    """Scenario ``hostile-strings``: the default story plus the hostile records; every output checked."""

    path = write_hostile_logs(world)
    return Setup(
        inputs=[world.event],
        facts={"hostile_log": str(path.relative_to(world.log_root))},
        compare_account=True,
    )
