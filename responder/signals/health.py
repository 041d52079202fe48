"""AWS Health's ``AWS_RISK_CREDENTIALS_EXPOSED``: AWS found an access key of the account in public.

AWS often tells the account before GuardDuty sees any use of the key. The event (``source:
aws.health``, ``detail-type: AWS Health Event``) names the key in ``detail.affectedEntities[].entityValue``
and says where it was found in ``detail.eventDescription[].latestDescription`` (the public URL:
a repository file, a paste). The key is contained at once, and the human is told to remove the
copy at that URL.

Anyone with ``states:StartExecution`` can hand the workflow an event of this shape: the key and the
account are validated, the key is only acted on once IAM shows it is this account's, and the URLs
and the description are display data (encoded wherever they are shown, never followed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from responder import fields
from responder.errors import InvalidInput, UnsupportedFinding
from responder.models import iso

SOURCE = "aws.health"
DETAIL_TYPE = "AWS Health Event"
EXPOSED = "AWS_RISK_CREDENTIALS_EXPOSED"
SIGNAL = "aws-health"  # the incident's ``signal``: which AWS signal started the run
EVENT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:health:[a-z0-9-]*::event/[A-Za-z0-9_./:-]{1,1500}\Z")
ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}\Z")
# A URL in AWS's text ends at whitespace, a quote or a bracket; trailing punctuation is the sentence's.
URL_RE = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+", re.IGNORECASE)
MAX_URLS = 5
MAX_URL = 2048
MAX_DESCRIPTION = 2000
MAX_KEYS = 10  # one event names one key in practice; more is a forged or broken event


@dataclass(frozen=True)
class Exposure:
    """What AWS Health says: which keys, where they were found, when."""

    event_arn: str
    account_id: str
    access_keys: list[str]
    exposed_urls: list[str] = field(default_factory=list)
    description: str | None = None
    start_time: str | None = None
    status: str | None = None
    event_region: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"source": SOURCE, "event_type": EXPOSED, **asdict(self)}


def is_health_event(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("source") == SOURCE


def parse_exposure(event: Mapping[str, Any]) -> Exposure:
    """The exposure an AWS Health EventBridge event reports; :class:`UnsupportedFinding` for any other
    Health event (maintenance, outages: not this responder's), :class:`InvalidInput` when malformed."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidInput("AWS Health event has no 'detail' object")
    if event.get("detail-type") != DETAIL_TYPE:
        raise UnsupportedFinding(
            f"aws.health event of detail-type {fields.short(str(event.get('detail-type')), 60)!r}"
        )
    code = detail.get("eventTypeCode")
    if code != EXPOSED:
        raise UnsupportedFinding(
            f"AWS Health event {fields.short(str(code), 80)!r} is not {EXPOSED}: not handled"
        )
    arn = detail.get("eventArn")
    if not isinstance(arn, str) or not EVENT_ARN_RE.match(arn):
        raise InvalidInput("AWS Health event needs detail.eventArn, an arn:aws:health:...:event/... ARN")
    account = fields.account(detail.get("affectedAccount") or event.get("account"), "affected account")
    keys = _keys(detail.get("affectedEntities"))
    description = _description(detail.get("eventDescription"))
    return Exposure(
        event_arn=arn,
        account_id=account,
        access_keys=keys,
        exposed_urls=exposed_urls(description or ""),
        description=fields.short(description, MAX_DESCRIPTION) if description else None,
        start_time=health_time(detail.get("startTime")) or fields.first_time(event.get("time")),
        status=fields.text(detail.get("statusCode"), "statusCode"),
        event_region=fields.text(detail.get("eventRegion"), "eventRegion"),
    )


def _keys(entities: Any) -> list[str]:
    out: list[str] = []
    for entity in fields.items(entities):
        value = entity.get("entityValue") if isinstance(entity, Mapping) else None
        if value is None:
            continue
        if not isinstance(value, str) or not ACCESS_KEY_RE.match(value):
            raise InvalidInput("AWS Health event: an affected entity is not an AKIA/ASIA access key id")
        if value not in out:
            out.append(value)
    if not out:
        raise InvalidInput("AWS Health event names no access key in detail.affectedEntities")
    if len(out) > MAX_KEYS:
        raise InvalidInput(f"AWS Health event names {len(out)} access keys; at most {MAX_KEYS} are taken")
    return out


def _description(value: Any) -> str | None:
    """The English description (else the first), as text."""
    entries = [e for e in fields.items(value) if isinstance(e, Mapping)]
    chosen = next((e for e in entries if e.get("language") == "en_US"), entries[0] if entries else None)
    text = chosen.get("latestDescription") if chosen else None
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInput("AWS Health event: latestDescription must be text")
    return text[: MAX_DESCRIPTION * 4]


def exposed_urls(text: str) -> list[str]:
    """The http(s) URLs in AWS's description, at most :data:`MAX_URLS`, each a well-formed absolute URL."""
    out: list[str] = []
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        if len(url) > MAX_URL or url in out:
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            out.append(url)
        if len(out) == MAX_URLS:
            break
    return out


def health_time(value: Any) -> str | None:
    """AWS Health writes ``Fri, 27 Jan 2023 01:43:21 GMT`` (RFC 2822) in EventBridge; ISO also taken."""
    if isinstance(value, str) and "," in value:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return fields.iso_time(value)
