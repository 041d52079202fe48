"""GuardDuty Extended Threat Detection: an attack sequence finding (``AttackSequence:IAM/
CompromisedCredentials``, ``AttackSequence:S3/CompromisedData``) describes a whole attack, not one call.

The sequence (``service.detection.sequence`` of the finding, GuardDuty's ``Sequence`` shape: uid,
description, actors, resources, endpoints, signals, sequenceIndicators) names every access key,
principal, address and bucket the attack used. All of them seed the run: each access key of the
finding's account is contained (once: the claim is per key), the buckets are snapshotted and
remediated, the addresses and keys are investigated. GuardDuty's own indicators (Tor, malicious IP,
unusual ASN, high-risk APIs, tactics) are kept to be shown beside the responder's analysis.

The finding may be forged (anyone who can start the workflow): ids are validated to their exact
form, lists are bounded by the API's own maxima, every string is display data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from responder import fields
from responder.errors import InvalidInput
from responder.models import BUCKET_PATTERN

ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}\Z")
BUCKET_RE = re.compile(BUCKET_PATTERN)
S3_ARN_RE = re.compile(r"^arn:aws[a-z-]*:s3:::(?P<name>[^/]+)\Z")
# GuardDuty's API maxima (Sequence: 400 actors, resources, endpoints; 100 signals, indicators).
MAX_ITEMS = 400
MAX_SIGNALS = 100
MAX_VALUES = 20  # an indicator's values shown (the rest counted)
SHORT = 200


@dataclass(frozen=True)
class SequenceKey:
    """An access key the sequence names, with what it says of its holder."""

    access_key_id: str
    account_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None
    principal_id: str | None = None


@dataclass(frozen=True)
class AttackSequence:
    uid: str
    description: str
    keys: list[SequenceKey] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    apis: list[str] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    additional_types: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def keys_of(self, account_id: str) -> list[SequenceKey]:
        """The keys of ``account_id`` (a key the sequence gives no account is taken as the finding's)."""
        return [k for k in self.keys if k.account_id in (None, account_id)]


def is_sequence(finding_type: str) -> bool:
    return finding_type.startswith("AttackSequence:")


def parse_sequence(service: Mapping[str, Any]) -> AttackSequence | None:
    """The attack sequence of a camelCase GuardDuty finding's ``service``; None when it has none."""
    detection = fields.obj(service.get("detection"))
    raw = detection.get("sequence")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidInput("service.detection.sequence must be an object")
    uid = fields.required(raw.get("uid"), "attack sequence uid")
    description = fields.text(raw.get("description"), "attack sequence description") or ""
    actors = _bounded(raw.get("actors"), MAX_ITEMS, "actors")
    resources = _bounded(raw.get("resources"), MAX_ITEMS, "resources")
    endpoints = _bounded(raw.get("endpoints"), MAX_ITEMS, "endpoints")
    signals = _bounded(raw.get("signals"), MAX_SIGNALS, "signals")
    indicators = _bounded(raw.get("sequenceIndicators"), MAX_SIGNALS, "sequenceIndicators")
    keys = _keys(resources, actors)
    return AttackSequence(
        uid=uid,
        description=description,
        keys=keys,
        principals=_principals(actors),
        addresses=fields.ips(e.get("ip") for e in endpoints),
        buckets=_buckets(resources),
        apis=_apis(signals, indicators),
        indicators=[_indicator(i) for i in indicators],
        signals=[_signal(s) for s in signals],
        endpoints=[_endpoint(e) for e in endpoints if fields.ips([e.get("ip")])],
        additional_types=[
            fields.short(t, 100)
            for t in fields.items(raw.get("additionalSequenceTypes"))
            if isinstance(t, str)
        ][:10],
    )


def _bounded(value: Any, limit: int, what: str) -> list[Mapping[str, Any]]:
    items = [v for v in fields.items(value) if isinstance(v, Mapping)]
    if len(items) > limit:
        raise InvalidInput(f"attack sequence lists {len(items)} {what}; GuardDuty sends at most {limit}")
    return items


def _key_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not ACCESS_KEY_RE.match(value):
        raise InvalidInput("attack sequence names an access key that is not an AKIA/ASIA access key id")
    return value


def _account_or_none(value: Any) -> str | None:
    return fields.account(value, "attack sequence account") if value not in (None, "") else None


def _keys(resources: list[Mapping[str, Any]], actors: list[Mapping[str, Any]]) -> list[SequenceKey]:
    """Access keys from the resources (``ACCESS_KEY``: uid is the key) and the actors' credentials."""
    found: dict[str, SequenceKey] = {}
    for res in resources:
        if res.get("resourceType") != "ACCESS_KEY":
            continue
        key = _key_id(res.get("uid"))
        if key is None:
            continue
        data = fields.obj(fields.obj(res.get("data")).get("accessKey"))
        found.setdefault(
            key,
            SequenceKey(
                key,
                _account_or_none(res.get("accountId")),
                fields.text(data.get("userName"), "accessKey userName"),
                fields.text(data.get("userType"), "accessKey userType"),
                fields.text(data.get("principalId"), "accessKey principalId"),
            ),
        )
    for actor in actors:
        user = fields.obj(actor.get("user"))
        key = _key_id(user.get("credentialUid"))
        if key is None:
            continue
        known = found.get(key)
        account = _account_or_none(fields.obj(user.get("account")).get("uid"))
        found[key] = SequenceKey(
            key,
            (known.account_id if known else None) or account,
            (known.user_name if known else None) or fields.text(user.get("name"), "actor name"),
            (known.user_type if known else None) or fields.text(user.get("type"), "actor type"),
            (known.principal_id if known else None) or fields.text(user.get("uid"), "actor uid"),
        )
    return list(found.values())


def _principals(actors: list[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for actor in actors:
        user = fields.obj(actor.get("user"))
        name = fields.text(user.get("name"), "actor name")
        kind = fields.text(user.get("type"), "actor type")
        label = f"{kind} {name}" if kind and name else (name or "")
        if label and label not in out:
            out.append(fields.short(label, SHORT))
    return out


def _buckets(resources: list[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for res in resources:
        if res.get("resourceType") != "S3_BUCKET":
            continue
        name = res.get("name") or res.get("uid")
        if isinstance(name, str) and (m := S3_ARN_RE.match(name)):
            name = m.group("name")
        if not isinstance(name, str) or not BUCKET_RE.fullmatch(name):
            raise InvalidInput(
                f"attack sequence bucket {fields.short(str(name), 70)!r} is not an S3 bucket name"
            )
        if name not in out:
            out.append(name)
    return out


def _apis(signals: list[Mapping[str, Any]], indicators: list[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for signal in signals:
        for activity in fields.items(signal.get("activities")):
            api = fields.obj(fields.obj(activity).get("api"))
            if isinstance(api.get("operation"), str):
                names.append(api["operation"])
    for ind in indicators:
        if ind.get("key") == "HIGH_RISK_API":
            names += [v for v in fields.items(ind.get("values")) if isinstance(v, str)]
    out: list[str] = []
    for name in names:
        # "s3:PutBucketPolicy" and "PutBucketPolicy" are one call.
        short = fields.short(name.split(":", 1)[-1], 128)
        if short and short not in out:
            out.append(short)
    return out


def _indicator(ind: Mapping[str, Any]) -> dict[str, Any]:
    values = [fields.short(str(v), SHORT) for v in fields.items(ind.get("values")) if v not in (None, "")]
    return {
        "key": fields.short(str(ind.get("key") or ""), 64),
        "title": fields.text(ind.get("title"), "indicator title"),
        "values": values[:MAX_VALUES],
        "more_values": max(0, len(values) - MAX_VALUES),
    }


def _signal(sig: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": fields.text(sig.get("name"), "signal name"),
        "type": fields.text(sig.get("type"), "signal type"),
        "description": fields.text(sig.get("description"), "signal description"),
        "first_seen": fields.iso_time(sig.get("firstSeenAt")),
        "last_seen": fields.iso_time(sig.get("lastSeenAt")),
        "count": fields.count(sig.get("count")),
        "severity": sig.get("severity") if isinstance(sig.get("severity"), int | float) else None,
    }


def _endpoint(end: Mapping[str, Any]) -> dict[str, Any]:
    asn = fields.obj(end.get("autonomousSystem"))
    where = fields.obj(end.get("location"))
    return {
        "ip": fields.ips([end.get("ip")])[0],
        "asn": fields.count(asn.get("number")),
        "as_name": fields.text(asn.get("name"), "autonomous system name"),
        "country": fields.text(where.get("country"), "country"),
        "city": fields.text(where.get("city"), "city"),
    }
