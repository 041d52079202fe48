"""Synthetic CloudTrail logs at volume, laid out and shaped as CloudTrail delivers them.

A pool of realistic records comes from the demo's generator (``workstation.demo.cloudtrail``: CLI work,
CI deploys, Lambda roles, AWS Config, S3 data events) and is re-stamped many times over: a fresh
event id and time, one of a few hundred IAM users (own key, own address or the shared office egress)
in place of the demo's two people. The demo's attack, with the exposed key, its GetSessionToken
session and the backdoor user's CreateAccessKey, lands on the last day unchanged, so the whole plan
(six queries, then the pivots) has something to find. The output is a pure function of the arguments.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workstation.demo.cloudtrail import _Generator, log_file_name
from workstation.demo.scenario import KEY_ALPHABET, Scenario, default_scenario

END = datetime(2024, 6, 1, tzinfo=UTC)  # the logs end here (and the attack just before)
REGIONS = ("us-east-1", "eu-west-1")
USERS = 400
EXPOSED_SHARE = 0.004  # the exposed key's own, ordinary work: a few thousand calls over 90 days
OFFICE_SHARE = 0.5  # users calling from the office egress (the exposed key's owner among them)

Record = dict[str, Any]


@dataclass(frozen=True)
class Dataset:
    root: Path
    files: list[Path]
    events: int
    days: int
    end: datetime
    exposed_key_id: str
    session_key_id: str
    backdoor_key_id: str

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def compressed_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def _scenario() -> Scenario:
    return default_scenario(END)


def _pool(seed: int) -> tuple[list[Record], list[Record]]:
    """Background templates (people's records separated out for re-stamping) and the attack's records."""
    sc = _scenario()
    gen = _Generator(sc, random.Random(seed))
    gen.background(END - timedelta(days=10), END - timedelta(days=3), 1500)
    background = [e.record for e in gen.events]
    gen.events.clear()
    gen.attack()
    attack = [e.record for e in gen.events if e.attack and e.time <= END]
    return background, attack


def _users(rng: random.Random, sc: Scenario) -> list[tuple[dict[str, Any], str]]:
    """(userIdentity, source address) of the account's IAM users; the first is the exposed key's owner."""
    out = []
    office = sc.office_ip
    for i in range(USERS):
        if i == 0:
            name, user_id, key, ip = sc.user_name, sc.user_id, sc.exposed_key_id, office
        else:
            name = f"user{i:03d}"
            user_id = "AIDA" + "".join(rng.choice(KEY_ALPHABET) for _ in range(17))
            key = "AKIA" + "".join(rng.choice(KEY_ALPHABET) for _ in range(16))
            ip = office if rng.random() < OFFICE_SHARE else f"198.51.{i // 200}.{i % 200 + 10}"
        identity = {
            "type": "IAMUser",
            "principalId": user_id,
            "arn": f"arn:aws:iam::{sc.account_id}:user/{name}",
            "accountId": sc.account_id,
            "accessKeyId": key,
            "userName": name,
        }
        out.append((identity, ip))
    return out


def _layout(files: int, days: int) -> list[tuple[int, str]]:
    """(day index, region) of each file: a file a day in the home region, the rest spread over days."""
    out = [(d, REGIONS[0]) for d in range(days)]
    extra = max(0, files - days)
    for i in range(extra):
        out.append(((i * days) // max(extra, 1), REGIONS[1]))
    return sorted(out)


# State shared with the worker processes (set before the pool forks).
_STATE: dict[str, Any] = {}


def _records(index: int, count: int, seed: int) -> Iterator[Record]:
    background: list[Record] = _STATE["background"]
    users: list[tuple[dict[str, Any], str]] = _STATE["users"]
    day_start: datetime = _STATE["day_starts"][index]
    region: str = _STATE["layout"][index][1]
    rng = random.Random(seed * 1_000_003 + index)
    weights = _STATE["weights"]
    base = int(day_start.timestamp())
    picks = rng.choices(range(len(users)), weights=weights, k=count)
    for n in range(count):
        template = background[rng.randrange(len(background))]
        record = dict(template)
        if template["userIdentity"].get("type") == "IAMUser":
            identity, ip = users[picks[n]]
            record["userIdentity"] = identity
            record["sourceIPAddress"] = ip
        record["awsRegion"] = region
        record["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if "requestID" in record:
            record["requestID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        second = rng.randrange(86_400)
        record["eventTime"] = datetime.fromtimestamp(base + second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield record


def _write_file(job: tuple[int, int, int, str]) -> str:
    index, count, seed, root = job
    records = list(_records(index, count, seed))
    records.extend(_STATE["attack_by_file"].get(index, []))
    records.sort(key=lambda r: r["eventTime"])
    sc = _scenario()
    day_start: datetime = _STATE["day_starts"][index]
    region = _STATE["layout"][index][1]
    delivered = day_start + timedelta(days=1, minutes=7 + index % 50)
    suffix = f"{index:04d}{seed:04d}BENCHSYNTH"[:16]
    path = Path(root) / log_file_name(sc.account_id, region, delivered - timedelta(days=1), suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"Records": records}, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
    return str(path)


def generate(root: Path, *, events: int, files: int = 100, days: int = 90, seed: int = 0) -> Dataset:
    """Write ``events`` events in about ``files`` gzip files over ``days`` days ending at END."""
    sc = _scenario()
    background, attack = _pool(seed)
    rng = random.Random(seed)
    users = _users(rng, sc)
    weights = [EXPOSED_SHARE * 100] + [rng.paretovariate(1.2) for _ in range(USERS - 1)]
    # The exposed key's owner does EXPOSED_SHARE of the people's work; the rest share the remainder.
    rest = sum(weights[1:])
    weights[0] = rest * EXPOSED_SHARE / (1 - EXPOSED_SHARE)
    layout = _layout(files, days)
    first_day = (END - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    day_starts = [first_day + timedelta(days=d) for d, _ in layout]
    # Weekdays are busier than weekends; the home region busier than the other.
    shares = [
        (1.0 if day.weekday() < 5 else 0.35) * (1.0 if region == REGIONS[0] else 0.6)
        for day, (_, region) in zip(day_starts, layout, strict=True)
    ]
    total = sum(shares)
    counts = [int(events * s / total) for s in shares]
    counts[-1] += events - len(attack) - sum(counts)
    attack_by_file: dict[int, list[Record]] = {}
    home = [i for i, (_, region) in enumerate(layout) if region == REGIONS[0]]
    for record in attack:
        day = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).replace(
            hour=0, minute=0, second=0
        )
        index = next((i for i in home if day_starts[i] == day), home[-1])
        attack_by_file.setdefault(index, []).append(record)
    _STATE.update(
        background=background,
        users=users,
        weights=weights,
        layout=layout,
        day_starts=day_starts,
        attack_by_file=attack_by_file,
    )
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(i, c, seed, str(root)) for i, c in enumerate(counts)]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    # fork: the workers inherit the pool of templates instead of pickling it per file.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        written = sorted(Path(p) for p in pool.map(_write_file, jobs, chunksize=1))
    return Dataset(
        root=root,
        files=written,
        events=sum(counts) + len(attack),
        days=days,
        end=END,
        exposed_key_id=sc.exposed_key_id,
        session_key_id=sc.session_key_id,
        backdoor_key_id=sc.backdoor_key_id,
    )
