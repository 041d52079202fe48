"""Keep secrets out of reports: CloudTrail records carry session tokens, and sometimes passwords.

:func:`redact` replaces each secret with ``<redacted sha256:...>`` (the digest lets an analyst match
it against evidence without reading it) and lists what it removed. It looks at key names (anywhere,
also inside JSON text) and at values that look like AWS secrets whatever their key.

A plain SHA-256 of a low-entropy secret (a password) can be guessed offline. Pass ``key`` (a
secret pepper, e.g. from Secrets Manager) to get ``<redacted hmac-sha256:...>`` instead: still
matchable by whoever holds the key, useless for guessing without it.

:class:`RedactingFilter` applies the same to log records (message, args and ``extra`` fields).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

REDACTED_PREFIX = "<redacted sha256:"
KEYED_PREFIX = "<redacted hmac-sha256:"
_ANY_PREFIX = "<redacted "

# Keys compared lower-cased with '_' and '-' removed.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "newpassword",
        "oldpassword",
        "masteruserpassword",
        "sessiontoken",
        "securitytoken",
        "xamzsecuritytoken",
        "secretaccesskey",
        "awssecretaccesskey",
        "secretkey",
        "privatekey",
        "secretstring",
        "secretbinary",
        "authorizationtoken",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "clientsecret",
        "keymaterial",
        "plaintext",
        "userdata",
    }
)
_SECRET_SUFFIXES = ("password", "secretaccesskey", "sessiontoken", "privatekey", "secretstring")

# Secrets that may sit under any key, or inside free text (a command line, a policy, user data).
_VALUE_PATTERNS = (
    # STS session tokens (current and legacy formats).
    re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]{20,}"),
    # PEM private keys.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # A 40-character secret access key standing alone (mixed case and a digit or / or +).
    re.compile(
        r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
        r"(?=[A-Za-z0-9/+]{0,39}[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
)


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hmac_text(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def placeholder(digest: str, keyed: bool = False) -> str:
    return f"{KEYED_PREFIX if keyed else REDACTED_PREFIX}{digest}>"


class _Removed(list[dict[str, str]]):
    """What was removed, and how digests are made (plain SHA-256, or HMAC with a key)."""

    def __init__(self, key: bytes | None) -> None:
        super().__init__()
        self.key = key

    def take(self, value: str, path: str) -> str:
        if self.key is None:
            digest = sha256_text(value)
            self.append({"path": path, "sha256": digest})
        else:
            digest = hmac_text(value, self.key)
            self.append({"path": path, "hmac_sha256": digest})
        return placeholder(digest, keyed=self.key is not None)


def is_secret_key(key: str) -> bool:
    norm = key.lower().replace("_", "").replace("-", "")
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)


def _secret_value(value: Any, path: str, removed: _Removed) -> Any:
    """A value under a secret key: strings are replaced; flags and nulls stay; structures are searched."""
    if isinstance(value, dict | list):
        return _walk(value, path, removed)
    if value is None or isinstance(value, bool | int | float) or value == "":
        return value
    if isinstance(value, str) and value.startswith(_ANY_PREFIX):
        return value
    return removed.take(str(value), path)


def _scrub_text(value: str, path: str, removed: _Removed) -> str:
    def replace(match: re.Match[str]) -> str:
        return removed.take(match.group(0), path)

    for pattern in _VALUE_PATTERNS:
        value = pattern.sub(replace, value)
    return value


def _walk(obj: Any, path: str, removed: _Removed) -> Any:
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            child = f"{path}.{key}"
            if isinstance(key, str) and is_secret_key(key):
                out[key] = _secret_value(value, child, removed)
            else:
                out[key] = _walk(value, child, removed)
        return out
    if isinstance(obj, list | tuple):
        return [_walk(item, f"{path}[{i}]", removed) for i, item in enumerate(obj)]
    if isinstance(obj, str):
        stripped = obj.lstrip()
        if stripped[:1] in {"{", "["}:
            # JSON text (a row's request_parameters, a policy document): look inside by key.
            try:
                parsed = json.loads(obj)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                before = len(removed)
                cleaned = _walk(parsed, path, removed)
                if len(removed) > before:
                    return json.dumps(cleaned, sort_keys=True)
                return obj
        return _scrub_text(obj, path, removed)
    return obj


def redact(obj: Any, *, key: bytes | None = None) -> tuple[Any, list[dict[str, str]]]:
    """A copy of ``obj`` with every secret replaced, and what was removed.

    Removed items are ``{"path", "sha256"}``, or ``{"path", "hmac_sha256"}`` with ``key``.
    """
    removed = _Removed(key)
    return _walk(obj, "$", removed), list(removed)


def redacted(obj: Any, *, key: bytes | None = None) -> Any:
    """The redacted copy alone."""
    return redact(obj, key=key)[0]


def redact_text(value: str, *, key: bytes | None = None) -> str:
    """Free text (a rendered page, a log line) with secret-looking values replaced."""
    return _scrub_text(value, "$", _Removed(key))


# Attributes every LogRecord has: anything else came from ``extra=`` and is scrubbed too.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets in the message, its args and ``extra`` fields.

    Attach it to the handlers' logger (``logger.addFilter(RedactingFilter())``); a secret logged by
    mistake then reaches CloudWatch as a digest.
    """

    def __init__(self, key: bytes | None = None, name: str = "") -> None:
        super().__init__(name)
        self._key = key

    def filter(self, record: logging.LogRecord) -> bool:
        clean: Callable[[Any], Any] = lambda v: redacted(v, key=self._key)  # noqa: E731
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg, key=self._key)
        else:
            record.msg = clean(record.msg)
        if isinstance(record.args, dict):
            record.args = clean(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(clean(a) for a in record.args)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRS:
                setattr(record, name, clean(value) if not is_secret_key(name) else clean({name: value})[name])
        return True
