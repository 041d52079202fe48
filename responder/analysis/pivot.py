"""Which queries to run next: the seven saved queries for the exposed key (the playbook's six and
key_provenance), then a pivot to every
credential it minted (and what those minted), bounded in depth and count.

Pure logic over the results so far, so the workflow (a Plan -> Map -> Plan loop whose results
live in evidence) and the offline ``responder investigate`` (a plain loop) follow one plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from responder.query.sql import ACCESS_KEY_RE, QUERY_NAMES

# What a derived credential gets: its activity, what it changed, what it read, what it minted.
PIVOT_QUERIES: tuple[str, ...] = ("key_activity", "write_events", "s3_data_events", "minted_credentials")
MAX_DEPTH = 3  # exposed key = 0; a session minted by it = 1; a key created by that session = 2 ...
MAX_CREDENTIALS = 12
SEED_VIA = "named by the same signal"  # a seed's ``via``: the attack sequence (or Health event) named it
MINTING_EVENTS = {
    "GetSessionToken": "derived",
    "GetFederationToken": "derived",
    "AssumeRole": "derived",
    "CreateAccessKey": "created",
}


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    relation: str  # exposed | derived | created
    parent: str | None
    via: str | None
    depth: int
    minted_at: str | None = None
    # Provenance, from the minting event: for whom (the user a key was created for, the role or
    # federated user a session is), and from which address.
    minted_for: str | None = None
    minted_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PivotQuery:
    access_key_id: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.access_key_id, self.name)

    def to_dict(self) -> dict[str, str]:
        return {"access_key_id": self.access_key_id, "name": self.name}


Results = Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]


def _minted_by(parent: Credential, results: Results, known: set[str]) -> list[Credential]:
    """The credentials ``parent``'s minted_credentials rows show, not seen before."""
    out = []
    for row in results.get((parent.access_key_id, "minted_credentials"), ()):
        key = str(row.get("minted_access_key_id") or "")
        event = str(row.get("event_name") or "")
        # A malformed id in a log is data, never a query parameter.
        if key in known or not ACCESS_KEY_RE.fullmatch(key) or event not in MINTING_EVENTS:
            continue
        known.add(key)
        out.append(
            Credential(
                key,
                MINTING_EVENTS[event],
                parent.access_key_id,
                event,
                parent.depth + 1,
                str(row.get("event_time") or "") or None,
                str(row.get("minted_for") or "") or None,
                str(row.get("source_ip") or "") or None,
            )
        )
    return out


def plan_credentials(
    exposed_key: str,
    results: Results,
    *,
    max_depth: int = MAX_DEPTH,
    limit: int = MAX_CREDENTIALS,
    seeds: Sequence[str] = (),
) -> tuple[list[Credential], list[Credential]]:
    """``(followed, not_followed)``: the exposed key and at most ``limit - 1`` credentials minted from
    it (and from those, to ``max_depth``), and the ones the results show beyond that limit.

    Which are followed first: those already investigated (so a later round never drops what an
    earlier one ran), then long-term keys (``CreateAccessKey``: a backdoor that never expires) before
    temporary sessions, shallower before deeper, older before newer. Nothing found is dropped: what
    is not followed is returned, for the report to name.

    ``seeds``: the other keys the signal names as exposed (an attack sequence's): each is followed
    as the exposed key is (all its queries, then what it minted), within the same limit."""
    roots = [Credential(exposed_key, "exposed", None, None, 0)]
    roots += [
        Credential(k, "exposed", None, SEED_VIA, 0)
        for k in dict.fromkeys(seeds)
        if k != exposed_key and ACCESS_KEY_RE.fullmatch(k)
    ][: limit - 1]
    followed, pool, known = list(roots), [], {c.access_key_id for c in roots}
    for root in roots:
        pool += _minted_by(root, results, known)
    while pool and len(followed) < limit:
        best = min(
            pool,
            key=lambda c: (
                (c.access_key_id, "key_activity") not in results,
                c.relation != "created",
                c.depth,
                c.minted_at or "",
                c.access_key_id,
            ),
        )
        pool.remove(best)
        followed.append(best)
        if best.depth < max_depth:
            pool += _minted_by(best, results, known)
    return followed, sorted(pool, key=lambda c: (c.relation != "created", c.depth, c.minted_at or ""))


def credentials(
    exposed_key: str, results: Results, *, max_depth: int = MAX_DEPTH, seeds: Sequence[str] = ()
) -> list[Credential]:
    """The exposed key (and the signal's other exposed keys) and the credentials minted from them
    that the investigation follows."""
    return plan_credentials(exposed_key, results, max_depth=max_depth, seeds=seeds)[0]


def next_batch(
    exposed_key: str, results: Results, *, max_depth: int = MAX_DEPTH, seeds: Sequence[str] = ()
) -> list[PivotQuery]:
    """The queries not yet run: all seven for each exposed key, the pivot set for each derived one."""
    batch: list[PivotQuery] = []
    for cred in credentials(exposed_key, results, max_depth=max_depth, seeds=seeds):
        names = QUERY_NAMES if cred.relation == "exposed" else PIVOT_QUERIES
        batch += [PivotQuery(cred.access_key_id, n) for n in names if (cred.access_key_id, n) not in results]
    return batch


def same_ip_credentials(exposed_key: str, results: Results, known: set[str]) -> list[dict[str, Any]]:
    """Other keys seen from the exposed key's source IPs (report ``credentials`` with ``same_ip``)."""
    out: dict[str, dict[str, Any]] = {}
    for row in results.get((exposed_key, "same_ip_credentials"), ()):
        key = str(row.get("access_key_id") or "")
        if not key or key in known:
            continue
        entry = out.setdefault(
            key,
            {
                "access_key_id": key,
                "relation": "same_ip",
                "parent": exposed_key,
                "via": row.get("source_ip"),
                "event_count": 0,
            },
        )
        entry["event_count"] += int(row.get("event_count") or 0)
    return list(out.values())


def report_credentials(
    exposed_key: str, results: Results, *, seeds: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The report's ``credentials``: exposed, derived/created (with parents), those found but not
    followed (``investigated`` false: the limit was reached), then same_ip."""
    followed, rest = plan_credentials(exposed_key, results, seeds=seeds)
    out = []
    for cred in followed:
        rows = results.get((cred.access_key_id, "key_activity"), ())
        out.append({**cred.to_dict(), "event_count": len(rows), "investigated": True})
    out += [{**cred.to_dict(), "event_count": 0, "investigated": False} for cred in rest]
    known = {c.access_key_id for c in (*followed, *rest)}
    return out + same_ip_credentials(exposed_key, results, known)
